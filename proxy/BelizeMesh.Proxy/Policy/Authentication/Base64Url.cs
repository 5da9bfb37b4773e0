namespace BelizeMesh.Proxy.Policy.Authentication;

/// <summary>
/// Strict base64url (RFC 4648 §5) as JWS requires (RFC 7515 §2): the URL-safe alphabet only, no padding, no white
/// space, and canonical — the unused low bits of the last character must be zero, so one token has one spelling.
/// </summary>
internal static class Base64Url
{
    // -1 = not in the alphabet.
    private static ReadOnlySpan<sbyte> Map =>
    [
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
        52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
        -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
        15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
        -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    ];

    /// <summary>The decoded length of <paramref name="chars"/> characters, or -1 when no base64url text has that length.</summary>
    public static int DecodedLength(int chars) => (chars % 4) switch
    {
        0 => chars / 4 * 3,
        2 => chars / 4 * 3 + 1,
        3 => chars / 4 * 3 + 2,
        _ => -1,
    };

    /// <summary>Decodes <paramref name="text"/> into <paramref name="destination"/> (at least <see cref="DecodedLength"/> bytes).</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, Span<byte> destination, out int written)
    {
        written = 0;
        int length = DecodedLength(text.Length);
        if (length < 0 || destination.Length < length)
        {
            return false;
        }

        ReadOnlySpan<sbyte> map = Map;
        int full = text.Length / 4 * 4;
        int o = 0;
        for (int i = 0; i < full; i += 4)
        {
            int a = Value(map, text[i]), b = Value(map, text[i + 1]), c = Value(map, text[i + 2]), d = Value(map, text[i + 3]);
            if ((a | b | c | d) < 0)
            {
                return false;
            }

            int v = (a << 18) | (b << 12) | (c << 6) | d;
            destination[o++] = (byte)(v >> 16);
            destination[o++] = (byte)(v >> 8);
            destination[o++] = (byte)v;
        }

        int rest = text.Length - full;
        if (rest == 2)
        {
            int a = Value(map, text[full]), b = Value(map, text[full + 1]);
            if ((a | b) < 0 || (b & 0x0F) != 0)
            {
                return false;
            }

            destination[o++] = (byte)((a << 2) | (b >> 4));
        }
        else if (rest == 3)
        {
            int a = Value(map, text[full]), b = Value(map, text[full + 1]), c = Value(map, text[full + 2]);
            if ((a | b | c) < 0 || (c & 0x03) != 0)
            {
                return false;
            }

            int v = (a << 12) | (b << 6) | c;
            destination[o++] = (byte)(v >> 10);
            destination[o++] = (byte)(v >> 2);
        }

        written = o;
        return true;
    }

    /// <summary>Decodes into a new array (configuration only, never per request); null when the text is not strict base64url.</summary>
    public static byte[]? Decode(string text)
    {
        int length = DecodedLength(text.Length);
        if (length < 0)
        {
            return null;
        }

        byte[] bytes = new byte[length];
        return TryDecode(text, bytes, out _) ? bytes : null;
    }

    private static int Value(ReadOnlySpan<sbyte> map, char c) => c < 128 ? map[c] : -1;
}
