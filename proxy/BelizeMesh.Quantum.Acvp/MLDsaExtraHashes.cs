using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using BelizeMesh.Quantum.Keccak;

namespace BelizeMesh.Quantum.Acvp;

/// <summary>
/// The four HashML-DSA pre-hashes that .NET does not offer: SHA-224, SHA-512/224, SHA-512/256 (FIPS 180-4) and
/// SHA3-224 (FIPS 202). One-shot, for pre-hashing public messages only (not constant-time, no secrets go in).
/// </summary>
/// <remarks>
/// SHA-224 runs SHA-256's compression function (<see cref="Sha256"/>, the sidecar's, section 6.3) from its own initial
/// value. The SHA-512 constants are derived, not typed in: K are the first 64 bits of the fractional parts of the cube
/// roots of the first 80 primes (FIPS 180-4, section 4.2.3), the SHA-224 initial value is the second 32 bits of
/// the fractional parts of the square roots of the 9th to 16th primes (section 5.3.2), and the SHA-512/t initial values
/// come from the IV generation function of section 5.3.6.1. Tests check the compression functions against .NET's
/// SHA-256 and SHA-512 and the results against known answers.
/// </remarks>
internal static class MLDsaExtraHashes
{
    private static readonly ulong[] s_k512 = PrimeRoots(80, cube: true, skip: 0);
    private static readonly uint[] s_sha224Iv = Array.ConvertAll(PrimeRoots(8, cube: false, skip: 8), h => (uint)h);
    private static readonly ulong[] s_sha512Iv = PrimeRoots(8, cube: false, skip: 0);
    private static readonly ulong[] s_sha512_224Iv = Sha512TIv(224);
    private static readonly ulong[] s_sha512_256Iv = Sha512TIv(256);

    /// <summary>SHA-224 (FIPS 180-4, section 6.3).</summary>
    public static void Sha224(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        Debug.Assert(destination.Length == 28);
        Span<uint> h = stackalloc uint[8];
        s_sha224Iv.CopyTo(h);
        Sha256Hash(h, data);
        Span<byte> full = stackalloc byte[32];
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(full[(4 * i)..], h[i]);
        }

        full[..28].CopyTo(destination);
    }

    /// <summary>SHA-512/224 (FIPS 180-4, section 6.7).</summary>
    public static void Sha512_224(ReadOnlySpan<byte> data, Span<byte> destination) => Sha512T(s_sha512_224Iv, data, destination);

    /// <summary>SHA-512/256 (FIPS 180-4, section 6.7).</summary>
    public static void Sha512_256(ReadOnlySpan<byte> data, Span<byte> destination) => Sha512T(s_sha512_256Iv, data, destination);

    /// <summary>SHA3-224 (FIPS 202, section 6.1): rate 144 bytes, domain bits 01, over Keccak-f[1600].</summary>
    public static void Sha3_224(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        Debug.Assert(destination.Length == 28);
        const int Rate = 144;
        KeccakLanes lanes = default;
        Span<byte> state = System.Runtime.InteropServices.MemoryMarshal.AsBytes((Span<ulong>)lanes);
        while (data.Length >= Rate)
        {
            Xor(state, data[..Rate]);
            KeccakSponge.Permute(ref lanes);
            data = data[Rate..];
        }

        Xor(state, data);
        state[data.Length] ^= 0x06;
        state[Rate - 1] ^= 0x80;
        KeccakSponge.Permute(ref lanes);
        state[..28].CopyTo(destination);

        static void Xor(Span<byte> state, ReadOnlySpan<byte> block)
        {
            for (int i = 0; i < block.Length; i++)
            {
                state[i] ^= block[i];
            }
        }
    }

    /// <summary>SHA-512 with the standard IV, for tests of the compression function.</summary>
    internal static void Sha512ForTest(ReadOnlySpan<byte> data, Span<byte> destination) => Sha512T(s_sha512Iv, data, destination);

    /// <summary>SHA-256 with the standard IV (first 32 bits of the square-root fractions), for tests.</summary>
    internal static void Sha256ForTest(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        Span<uint> h = stackalloc uint[8];
        for (int i = 0; i < 8; i++)
        {
            h[i] = (uint)(s_sha512Iv[i] >> 32);
        }

        Sha256Hash(h, data);
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination[(4 * i)..], h[i]);
        }
    }

    private static void Sha512T(ulong[] iv, ReadOnlySpan<byte> data, Span<byte> destination)
    {
        Span<ulong> h = stackalloc ulong[8];
        iv.CopyTo(h);
        Sha512Hash(h, data);
        Span<byte> full = stackalloc byte[64];
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(full[(8 * i)..], h[i]);
        }

        full[..destination.Length].CopyTo(destination);
    }

    /// <summary>SHA-512/t IV generation (FIPS 180-4, section 5.3.6.1): SHA-512 with IV ⊕ a5a5… over "SHA-512/t".</summary>
    private static ulong[] Sha512TIv(int t)
    {
        ulong[] h = new ulong[8];
        for (int i = 0; i < 8; i++)
        {
            h[i] = s_sha512Iv[i] ^ 0xa5a5a5a5a5a5a5a5UL;
        }

        Sha512Hash(h, System.Text.Encoding.ASCII.GetBytes($"SHA-512/{t}"));
        return h;
    }

    /// <summary>
    /// The first 64 bits of the fractional parts of the square or cube roots of the primes after the first
    /// <paramref name="skip"/>: ⌊root(p · 2^(64·e)) ⌋ mod 2^64, with an exact integer root.
    /// </summary>
    private static ulong[] PrimeRoots(int count, bool cube, int skip)
    {
        var result = new ulong[count];
        int found = 0, index = 0;
        for (int candidate = 2; found < count; candidate++)
        {
            bool prime = true;
            for (int d = 2; d * d <= candidate; d++)
            {
                prime &= candidate % d != 0;
            }

            if (!prime || index++ < skip)
            {
                continue;
            }

            int exponent = cube ? 3 : 2;
            BigInteger n = new BigInteger(candidate) << (64 * exponent);
            BigInteger root = IntegerRoot(n, exponent);
            result[found++] = (ulong)(root & ulong.MaxValue);
        }

        return result;
    }

    /// <summary>⌊n^(1/e)⌋ for e = 2 or 3 by Newton's method from above.</summary>
    private static BigInteger IntegerRoot(BigInteger n, int e)
    {
        BigInteger x = BigInteger.One << (int)((n.GetBitLength() / e) + 1);
        while (true)
        {
            BigInteger next = (((e - 1) * x) + (n / BigInteger.Pow(x, e - 1))) / e;
            if (next >= x)
            {
                return x;
            }

            x = next;
        }
    }

    private static void Sha256Hash(Span<uint> h, ReadOnlySpan<byte> data)
    {
        long bitLength = (long)data.Length * 8;
        while (data.Length >= 64)
        {
            Sha256.Compress(h, data[..64]);
            data = data[64..];
        }

        Span<byte> tail = stackalloc byte[128];
        tail.Clear();
        data.CopyTo(tail);
        tail[data.Length] = 0x80;
        int tailLength = data.Length + 9 <= 64 ? 64 : 128;
        BinaryPrimitives.WriteInt64BigEndian(tail[(tailLength - 8)..], bitLength);
        for (int i = 0; i < tailLength; i += 64)
        {
            Sha256.Compress(h, tail.Slice(i, 64));
        }
    }

    private static void Sha512Hash(Span<ulong> h, ReadOnlySpan<byte> data)
    {
        long bitLength = (long)data.Length * 8;
        while (data.Length >= 128)
        {
            Sha512Block(h, data[..128]);
            data = data[128..];
        }

        Span<byte> tail = stackalloc byte[256];
        tail.Clear();
        data.CopyTo(tail);
        tail[data.Length] = 0x80;
        int tailLength = data.Length + 17 <= 128 ? 128 : 256;
        BinaryPrimitives.WriteInt64BigEndian(tail[(tailLength - 8)..], bitLength); // high 64 bits of the 128-bit length stay 0
        for (int i = 0; i < tailLength; i += 128)
        {
            Sha512Block(h, tail.Slice(i, 128));
        }
    }

    private static void Sha512Block(Span<ulong> h, ReadOnlySpan<byte> block)
    {
        Span<ulong> w = stackalloc ulong[80];
        for (int t = 0; t < 16; t++)
        {
            w[t] = BinaryPrimitives.ReadUInt64BigEndian(block[(8 * t)..]);
        }

        for (int t = 16; t < 80; t++)
        {
            ulong s0 = ulong.RotateRight(w[t - 15], 1) ^ ulong.RotateRight(w[t - 15], 8) ^ (w[t - 15] >> 7);
            ulong s1 = ulong.RotateRight(w[t - 2], 19) ^ ulong.RotateRight(w[t - 2], 61) ^ (w[t - 2] >> 6);
            w[t] = s1 + w[t - 7] + s0 + w[t - 16];
        }

        ulong a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int t = 0; t < 80; t++)
        {
            ulong t1 = hh + (ulong.RotateRight(e, 14) ^ ulong.RotateRight(e, 18) ^ ulong.RotateRight(e, 41)) + ((e & f) ^ (~e & g)) + s_k512[t] + w[t];
            ulong t2 = (ulong.RotateRight(a, 28) ^ ulong.RotateRight(a, 34) ^ ulong.RotateRight(a, 39)) + ((a & b) ^ (a & c) ^ (b & c));
            hh = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }

        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
        h[5] += f;
        h[6] += g;
        h[7] += hh;
    }
}
