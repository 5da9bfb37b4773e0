namespace BelizeMesh.Proxy.Tests.Upstream;

/// <summary>Position-dependent body bytes (mod 251, so no power-of-two window hides a shift) for the HTTP/2 client and
/// server tests: a body read back can be checked byte for byte at any offset.</summary>
internal static class BodyPattern
{
    public static void FillPattern(Span<byte> destination, long offset, int seed = 0)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (byte)((offset + i + (seed * 7)) % 251);
        }
    }

    public static byte[] Pattern(int length, int seed = 0)
    {
        byte[] bytes = new byte[length];
        FillPattern(bytes, 0, seed);
        return bytes;
    }
}
