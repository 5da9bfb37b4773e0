using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using BelizeMesh.Quantum.Keccak;

namespace BelizeMesh.Quantum.Dsa;

/// <summary>
/// Pseudorandom sampling for ML-DSA (FIPS 204, section 7.3): SampleInBall (Algorithm 29), RejNTTPoly (30),
/// RejBoundedPoly (31), ExpandA (32), ExpandS (33), ExpandMask (34). G is SHAKE128 and H is SHAKE256 (section 3.7).
/// </summary>
/// <remarks>
/// Where 256-bit vectors are available (<see cref="KeccakX4.IsSupported"/>), ExpandA, ExpandS and ExpandMask run four
/// XOF instances at once with <see cref="KeccakX4"/>; the output is identical to the scalar path, which tests compare.
/// Rejection sampling necessarily takes a number of XOF bytes that depends on the XOF output; for ExpandS that output
/// is secret, which FIPS 204 accepts (the number of rejections is independent of the accepted values). The value of an
/// accepted coefficient is computed without branches or table lookups.
/// </remarks>
internal static class MLDsaSampling
{
    private const int N = MLDsaField.N;

    /// <summary>ExpandA (FIPS 204, Algorithm 32): the k×l matrix Â, row-major, each entry RejNTTPoly(ρ‖s‖r).</summary>
    [SkipLocalsInit]
    public static void ExpandA(ReadOnlySpan<byte> rho, int k, int l, Span<int> aHat) => ExpandA(rho, k, l, aHat, KeccakX4.IsSupported);

    /// <summary>ExpandA, choosing the four-way or the scalar sponge (tests compare the two).</summary>
    [SkipLocalsInit]
    internal static void ExpandA(ReadOnlySpan<byte> rho, int k, int l, Span<int> aHat, bool useX4)
    {
        Debug.Assert(rho.Length == 32 && aHat.Length == k * l * N);
        if (useX4)
        {
            ExpandAX4(rho, k, l, aHat);
            return;
        }

        Span<byte> seed = stackalloc byte[34];
        rho.CopyTo(seed);
        for (int r = 0; r < k; r++)
        {
            for (int s = 0; s < l; s++)
            {
                seed[32] = (byte)s;
                seed[33] = (byte)r;
                RejNttPoly(seed, aHat.Slice(((r * l) + s) * N, N));
            }
        }
    }

    /// <summary>ExpandA with four RejNTTPoly instances at a time (same output as the scalar loop).</summary>
    [SkipLocalsInit]
    private static void ExpandAX4(ReadOnlySpan<byte> rho, int k, int l, Span<int> aHat)
    {
        const int Rate = KeccakSponge.Shake128Rate;
        const int InitialBlocks = 5; // 280 candidates each; more are squeezed when rejections leave one short
        int total = k * l;
        Span<byte> seeds = stackalloc byte[4 * 34];
        Span<byte> buffers = stackalloc byte[4 * InitialBlocks * Rate];
        Span<int> filled = stackalloc int[4];
        for (int start = 0; start < total; start += 4)
        {
            for (int t = 0; t < 4; t++)
            {
                int index = Math.Min(start + t, total - 1); // a short last group repeats its last entry
                Span<byte> seed = seeds.Slice(34 * t, 34);
                rho.CopyTo(seed);
                seed[32] = (byte)(index % l);
                seed[33] = (byte)(index / l);
            }

            var x = KeccakX4.Shake128(seeds[..34], seeds.Slice(34, 34), seeds.Slice(68, 34), seeds.Slice(102, 34));
            int size = InitialBlocks * Rate;
            x.SqueezeBlocks(buffers[..size], buffers.Slice(size, size), buffers.Slice(2 * size, size), buffers.Slice(3 * size, size));

            bool done = true;
            for (int t = 0; t < 4; t++)
            {
                int index = Math.Min(start + t, total - 1);
                filled[t] = ParseUniform(buffers.Slice(t * size, size), aHat.Slice(index * N, N), 0);
                done &= filled[t] == N;
            }

            while (!done)
            {
                x.SqueezeBlocks(buffers[..Rate], buffers.Slice(size, Rate), buffers.Slice(2 * size, Rate), buffers.Slice(3 * size, Rate));
                done = true;
                for (int t = 0; t < 4; t++)
                {
                    int index = Math.Min(start + t, total - 1);
                    filled[t] = ParseUniform(buffers.Slice(t * size, Rate), aHat.Slice(index * N, N), filled[t]);
                    done &= filled[t] == N;
                }
            }

            x.Clear();
        }
    }

    /// <summary>CoeffFromThreeBytes (FIPS 204, Algorithm 14) over a buffer: appends accepted coefficients from position j; returns the new j.</summary>
    private static int ParseUniform(ReadOnlySpan<byte> buffer, Span<int> aHat, int j)
    {
        for (int pos = 0; pos + 3 <= buffer.Length && j < N; pos += 3)
        {
            // b2' = b2 mod 128; z = 2^16·b2' + 2^8·b1 + b0; reject z ≥ q (public data).
            int z = buffer[pos] | (buffer[pos + 1] << 8) | ((buffer[pos + 2] & 0x7F) << 16);
            if (z < MLDsaField.Q)
            {
                aHat[j++] = z;
            }
        }

        return j;
    }

    /// <summary>RejNTTPoly (FIPS 204, Algorithm 30) with CoeffFromThreeBytes (Algorithm 14): uniform â in T_q.</summary>
    [SkipLocalsInit]
    public static void RejNttPoly(ReadOnlySpan<byte> seed, Span<int> aHat)
    {
        var g = KeccakSponge.CreateShake128();
        g.Absorb(seed);

        // Five blocks give 280 candidates; each is rejected with probability (2^23 − q)/2^23 ≈ 0.001, so 25
        // rejections are needed to run short (probability below 2^-100). More blocks are squeezed if it happens.
        Span<byte> buffer = stackalloc byte[5 * KeccakSponge.Shake128Rate];
        g.SqueezeBlocks(buffer);
        int j = ParseUniform(buffer, aHat, 0);
        while (j < N)
        {
            g.SqueezeBlocks(buffer[..KeccakSponge.Shake128Rate]);
            j = ParseUniform(buffer[..KeccakSponge.Shake128Rate], aHat, j);
        }

        g.Clear();
    }

    /// <summary>ExpandS (FIPS 204, Algorithm 33): s1 = RejBoundedPoly(ρ′‖r), s2 = RejBoundedPoly(ρ′‖(r+l)), 2-byte r.</summary>
    [SkipLocalsInit]
    public static void ExpandS(ReadOnlySpan<byte> rhoPrime, int eta, int k, int l, Span<int> s1, Span<int> s2) =>
        ExpandS(rhoPrime, eta, k, l, s1, s2, KeccakX4.IsSupported);

    /// <summary>ExpandS, choosing the four-way or the scalar sponge (tests compare the two).</summary>
    [SkipLocalsInit]
    internal static void ExpandS(ReadOnlySpan<byte> rhoPrime, int eta, int k, int l, Span<int> s1, Span<int> s2, bool useX4)
    {
        Debug.Assert(rhoPrime.Length == 64 && s1.Length == l * N && s2.Length == k * N);
        if (useX4)
        {
            ExpandSX4(rhoPrime, eta, k, l, s1, s2);
            return;
        }

        Span<byte> seed = stackalloc byte[66];
        rhoPrime.CopyTo(seed);
        for (int r = 0; r < l + k; r++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(seed[64..], (ushort)r);
            Span<int> target = r < l ? s1.Slice(r * N, N) : s2.Slice((r - l) * N, N);
            RejBoundedPoly(seed, eta, target);
        }

        seed.Clear();
    }

    /// <summary>ExpandS with four RejBoundedPoly instances at a time (same output as the scalar loop).</summary>
    [SkipLocalsInit]
    private static void ExpandSX4(ReadOnlySpan<byte> rhoPrime, int eta, int k, int l, Span<int> s1, Span<int> s2)
    {
        const int Rate = KeccakSponge.Shake256Rate;
        int total = k + l;
        Span<byte> seeds = stackalloc byte[4 * 66];
        Span<byte> buffers = stackalloc byte[4 * Rate];
        Span<int> filled = stackalloc int[4];
        for (int start = 0; start < total; start += 4)
        {
            for (int t = 0; t < 4; t++)
            {
                Span<byte> seed = seeds.Slice(66 * t, 66);
                rhoPrime.CopyTo(seed);
                BinaryPrimitives.WriteUInt16LittleEndian(seed[64..], (ushort)Math.Min(start + t, total - 1));
            }

            var x = KeccakX4.Shake256(seeds[..66], seeds.Slice(66, 66), seeds.Slice(132, 66), seeds.Slice(198, 66));
            filled.Clear();
            bool done = false;
            while (!done)
            {
                x.SqueezeBlocks(buffers[..Rate], buffers.Slice(Rate, Rate), buffers.Slice(2 * Rate, Rate), buffers.Slice(3 * Rate, Rate));
                done = true;
                for (int t = 0; t < 4; t++)
                {
                    int r = Math.Min(start + t, total - 1);
                    Span<int> target = r < l ? s1.Slice(r * N, N) : s2.Slice((r - l) * N, N);
                    filled[t] = ParseBounded(buffers.Slice(t * Rate, Rate), eta, target, filled[t]);
                    done &= filled[t] == N;
                }
            }

            x.Clear();
        }

        seeds.Clear();
        buffers.Clear();
    }

    /// <summary>The loop body of RejBoundedPoly (FIPS 204, Algorithm 31) over a buffer from position j; returns the new j.</summary>
    private static int ParseBounded(ReadOnlySpan<byte> buffer, int eta, Span<int> a, int j)
    {
        int bound = eta == 2 ? 15 : 9;
        for (int pos = 0; pos < buffer.Length && j < N; pos++)
        {
            int z0 = buffer[pos] & 0x0F;
            int z1 = buffer[pos] >> 4;
            if (z0 < bound)
            {
                a[j++] = CoeffFromHalfByte(z0, eta);
            }

            if (z1 < bound && j < N)
            {
                a[j++] = CoeffFromHalfByte(z1, eta);
            }
        }

        return j;
    }

    /// <summary>RejBoundedPoly (FIPS 204, Algorithm 31) with CoeffFromHalfByte (Algorithm 15): coefficients in [−η, η].</summary>
    [SkipLocalsInit]
    public static void RejBoundedPoly(ReadOnlySpan<byte> seed, int eta, Span<int> a)
    {
        var h = KeccakSponge.CreateShake256();
        h.Absorb(seed);
        Span<byte> block = stackalloc byte[KeccakSponge.Shake256Rate];
        int j = 0;
        while (j < N)
        {
            h.SqueezeBlocks(block);
            j = ParseBounded(block, eta, a, j);
        }

        block.Clear();
        h.Clear();
    }

    /// <summary>CoeffFromHalfByte (FIPS 204, Algorithm 15) for an accepted b: η=2 gives 2 − (b mod 5), η=4 gives 4 − b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int CoeffFromHalfByte(int b, int eta)
    {
        // b mod 5 for 0 ≤ b < 15 without a division: ⌊b·205 / 1024⌋ = ⌊b/5⌋ on that range (checked exhaustively in tests).
        int mod5 = b - (5 * ((b * 205) >> 10));
        int isEta2 = -((eta >> 2) ^ 1); // all ones when η = 2, zero when η = 4
        return eta - ((mod5 & isEta2) | (b & ~isEta2));
    }

    /// <summary>Test hook for <see cref="CoeffFromHalfByte"/>.</summary>
    internal static int CoeffFromHalfByteForTest(int b, int eta) => CoeffFromHalfByte(b, eta);

    /// <summary>
    /// ExpandMask (FIPS 204, Algorithm 34): y[r] = BitUnpack(H(ρ″‖IntegerToBytes(κ+r, 2), 32c), γ1 − 1, γ1) with
    /// c = 1 + bitlen(γ1 − 1), coefficients in (−γ1, γ1].
    /// </summary>
    [SkipLocalsInit]
    public static void ExpandMask(ReadOnlySpan<byte> rhoPrimePrime, int kappa, int gamma1Bits, int l, Span<int> y) =>
        ExpandMask(rhoPrimePrime, kappa, gamma1Bits, l, y, KeccakX4.IsSupported);

    /// <summary>ExpandMask, choosing the four-way or the scalar sponge (tests compare the two).</summary>
    [SkipLocalsInit]
    internal static void ExpandMask(ReadOnlySpan<byte> rhoPrimePrime, int kappa, int gamma1Bits, int l, Span<int> y, bool useX4)
    {
        Debug.Assert(rhoPrimePrime.Length == 64 && y.Length == l * N);
        int c = gamma1Bits + 1;
        Span<byte> seed = stackalloc byte[66];
        Span<byte> v = stackalloc byte[32 * 20];
        v = v[..(32 * c)];
        rhoPrimePrime.CopyTo(seed);
        if (useX4)
        {
            ExpandMaskX4(rhoPrimePrime, kappa, gamma1Bits, l, y);
            seed.Clear();
            return;
        }

        for (int r = 0; r < l; r++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(seed[64..], (ushort)(kappa + r));
            var h = KeccakSponge.CreateShake256();
            h.Absorb(seed);
            h.Squeeze(v);
            h.Clear();
            MLDsaEncoding.BitUnpack(v, c, 1 << gamma1Bits, y.Slice(r * N, N));
        }

        seed.Clear();
        v.Clear();
    }

    /// <summary>ExpandMask with four SHAKE256 instances at a time (same output as the scalar loop).</summary>
    [SkipLocalsInit]
    private static void ExpandMaskX4(ReadOnlySpan<byte> rhoPrimePrime, int kappa, int gamma1Bits, int l, Span<int> y)
    {
        const int Rate = KeccakSponge.Shake256Rate;
        const int Blocks = 5; // 680 bytes ≥ 32·c for c = 18 or 20
        int c = gamma1Bits + 1;
        Span<byte> seeds = stackalloc byte[4 * 66];
        Span<byte> v = stackalloc byte[4 * Blocks * Rate];
        int size = Blocks * Rate;
        for (int start = 0; start < l; start += 4)
        {
            for (int t = 0; t < 4; t++)
            {
                Span<byte> seed = seeds.Slice(66 * t, 66);
                rhoPrimePrime.CopyTo(seed);
                BinaryPrimitives.WriteUInt16LittleEndian(seed[64..], (ushort)(kappa + Math.Min(start + t, l - 1)));
            }

            var x = KeccakX4.Shake256(seeds[..66], seeds.Slice(66, 66), seeds.Slice(132, 66), seeds.Slice(198, 66));
            x.SqueezeBlocks(v[..size], v.Slice(size, size), v.Slice(2 * size, size), v.Slice(3 * size, size));

            x.Clear();
            for (int t = 0; t < 4 && start + t < l; t++)
            {
                MLDsaEncoding.BitUnpack(v.Slice(t * size, 32 * c), c, 1 << gamma1Bits, y.Slice((start + t) * N, N));
            }
        }

        seeds.Clear();
        v.Clear();
    }

    /// <summary>
    /// SampleInBall (FIPS 204, Algorithm 29): c with τ coefficients ±1, the rest 0, from c̃ (all λ/4 bytes of it).
    /// The input is public (c̃ is part of the signature), so the data-dependent loop is as the spec writes it.
    /// </summary>
    [SkipLocalsInit]
    public static void SampleInBall(ReadOnlySpan<byte> cTilde, int tau, Span<int> c)
    {
        Debug.Assert(c.Length == N);
        c.Clear();
        var h = KeccakSponge.CreateShake256();
        h.Absorb(cTilde);
        Span<byte> block = stackalloc byte[KeccakSponge.Shake256Rate];
        h.SqueezeBlocks(block);
        ulong signs = BinaryPrimitives.ReadUInt64LittleEndian(block);
        int pos = 8;
        for (int i = N - tau; i < N; i++)
        {
            int j;
            do
            {
                if (pos == block.Length)
                {
                    h.SqueezeBlocks(block);
                    pos = 0;
                }

                j = block[pos++];
            }
            while (j > i);

            c[i] = c[j];
            c[j] = 1 - (2 * (int)(signs & 1));
            signs >>= 1;
        }
    }
}
