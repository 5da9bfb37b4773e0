using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using BelizeMesh.Quantum.Keccak;

namespace BelizeMesh.Quantum;

/// <summary>
/// The arithmetic under ML-KEM (FIPS 203, sections 4.2 and 4.3): the field Z_q, polynomials in R_q and T_q,
/// the NTT, byte encodings, compression and sampling.
/// </summary>
/// <remarks>
/// <para>
/// Representation: a polynomial (an element of R_q, or of T_q after <see cref="Ntt"/>) is 256 <see cref="ushort"/>
/// coefficients, always canonical, in [0, q). A vector of k polynomials is k·256 consecutive coefficients.
/// </para>
/// <para>
/// Constant time: nothing here branches on or indexes by a secret. Reductions are Barrett or Shoup
/// multiplications followed by <see cref="ConditionalSubtractQ(uint)"/>, which subtracts q under a mask; there is no
/// <c>%</c> or <c>/</c> on secrets. The one data-dependent loop, <see cref="SampleNtt"/>, rejects bytes of XOF
/// output expanded from the public seed ρ, which FIPS 203 permits to be variable time.
/// </para>
/// </remarks>
internal static partial class MLKemMath
{
    /// <summary>The modulus q = 3329 = 2^8·13 + 1.</summary>
    public const int Q = 3329;

    /// <summary>Number of coefficients of a polynomial.</summary>
    public const int N = 256;

    /// <summary>Size of ByteEncode_12 of one polynomial, in bytes.</summary>
    public const int EncodedPolySize = 384;

    /// <summary>floor(2^32 / q), the Barrett multiplier of <see cref="Reduce"/>.</summary>
    private const ulong BarrettMultiplier = 1290167;

    /// <summary>128^-1 mod q, the final scaling of NTT^-1 (FIPS 203, Algorithm 10, line 14).</summary>
    private const uint InverseOf128 = 3303;

    /// <summary>ζ^BitRev7(i) mod q for i = 0..127, ζ = 17 (FIPS 203, section 4.3 and Appendix A).</summary>
    private static readonly ushort[] s_zetas = new ushort[128];

    /// <summary>Shoup companions floor(ζ_i·2^16 / q) of <see cref="s_zetas"/>.</summary>
    private static readonly ushort[] s_zetasShoup = new ushort[128];

    /// <summary>ζ^(2·BitRev7(i)+1) mod q for i = 0..127: the γ of each BaseCaseMultiply (FIPS 203, Algorithm 11).</summary>
    private static readonly ushort[] s_gammas = new ushort[128];

#pragma warning disable CA1810 // the tables are computed from ζ = 17 so a reviewer need not trust hard-coded numbers
    static MLKemMath()
#pragma warning restore CA1810
    {
        for (int i = 0; i < 128; i++)
        {
            int r = BitRev7(i);
            s_zetas[i] = (ushort)Power(17, r);
            s_zetasShoup[i] = (ushort)(((uint)s_zetas[i] << 16) / Q);
            s_gammas[i] = (ushort)Power(17, (2 * r) + 1);
        }
    }

    internal static ReadOnlySpan<ushort> Zetas => s_zetas;

    internal static ReadOnlySpan<ushort> Gammas => s_gammas;

    internal static int BitRev7(int i)
    {
        int r = 0;
        for (int b = 0; b < 7; b++)
        {
            r |= ((i >> b) & 1) << (6 - b);
        }

        return r;
    }

    private static int Power(int x, int e)
    {
        int r = 1;
        for (int i = 0; i < e; i++)
        {
            r = r * x % Q; // public constants only
        }

        return r;
    }

    // ---------------------------------------------------------------------------------------------
    // Field arithmetic (FIPS 203, section 2.3)

    /// <summary>x − q if x ≥ q, else x, for x &lt; 2q; without a branch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint ConditionalSubtractQ(uint x)
    {
        x -= Q;
        return x + ((uint)((int)x >> 31) & Q);
    }

    /// <summary>x mod q for any 32-bit x, by Barrett reduction with the multiplier floor(2^32/q).</summary>
    /// <remarks>The estimated quotient floor(x·m / 2^32) is the true quotient or one less, so the remainder is below 2q.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Reduce(uint x)
    {
        uint quotient = (uint)((x * BarrettMultiplier) >> 32);
        return ConditionalSubtractQ(x - (quotient * Q));
    }

    /// <summary>a·b mod q for a, b &lt; q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Multiply(uint a, uint b) => Reduce(a * b);

    /// <summary>a·ζ mod q for a &lt; 2^16 by Shoup's method, with ζ' = floor(ζ·2^16/q) precomputed.</summary>
    /// <remarks>floor(a·ζ'/2^16) is the quotient floor(a·ζ/q) or one less, so a·ζ − that·q lies in [0, 2q).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint MultiplyShoup(uint a, uint zeta, uint zetaShoup)
    {
        uint quotient = (a * zetaShoup) >> 16;
        return ConditionalSubtractQ((a * zeta) - (quotient * Q));
    }

    // ---------------------------------------------------------------------------------------------
    // NTT (FIPS 203, section 4.3)

    /// <summary>The number-theoretic transform, in place (FIPS 203, Algorithm 9).</summary>
    internal static void Ntt(Span<ushort> f)
    {
        if (Vector256.IsHardwareAccelerated && Avx2.IsSupported)
        {
            NttAvx2(f);
        }
        else
        {
            NttScalar(f);
        }
    }

    /// <summary>The inverse NTT, in place (FIPS 203, Algorithm 10).</summary>
    internal static void InverseNtt(Span<ushort> f)
    {
        if (Vector256.IsHardwareAccelerated && Avx2.IsSupported)
        {
            InverseNttAvx2(f);
        }
        else
        {
            InverseNttScalar(f);
        }
    }

    /// <summary>Algorithm 9 exactly as written, one butterfly at a time: the portable path and the reference the
    /// vector path is tested against.</summary>
    internal static void NttScalar(Span<ushort> f)
    {
        Debug.Assert(f.Length == N);
        ref ushort f0 = ref MemoryMarshal.GetReference(f);
        ref ushort zetas = ref MemoryMarshal.GetArrayDataReference(s_zetas);
        ref ushort shoup = ref MemoryMarshal.GetArrayDataReference(s_zetasShoup);
        int i = 1;
        for (int len = 128; len >= 2; len >>= 1)
        {
            for (int start = 0; start < N; start += 2 * len)
            {
                uint zeta = Unsafe.Add(ref zetas, i);
                uint zetaShoup = Unsafe.Add(ref shoup, i);
                i++;
                ref ushort lo = ref Unsafe.Add(ref f0, start);
                ref ushort hi = ref Unsafe.Add(ref f0, start + len);
                for (int j = 0; j < len; j++)
                {
                    uint t = MultiplyShoup(Unsafe.Add(ref hi, j), zeta, zetaShoup);
                    uint a = Unsafe.Add(ref lo, j);
                    Unsafe.Add(ref hi, j) = (ushort)ConditionalSubtractQ(a + Q - t);
                    Unsafe.Add(ref lo, j) = (ushort)ConditionalSubtractQ(a + t);
                }
            }
        }
    }

    /// <summary>Algorithm 10 exactly as written: the portable path and the reference for the vector path.</summary>
    internal static void InverseNttScalar(Span<ushort> f)
    {
        Debug.Assert(f.Length == N);
        ref ushort f0 = ref MemoryMarshal.GetReference(f);
        ref ushort zetas = ref MemoryMarshal.GetArrayDataReference(s_zetas);
        ref ushort shoup = ref MemoryMarshal.GetArrayDataReference(s_zetasShoup);
        int i = 127;
        for (int len = 2; len <= 128; len <<= 1)
        {
            for (int start = 0; start < N; start += 2 * len)
            {
                uint zeta = Unsafe.Add(ref zetas, i);
                uint zetaShoup = Unsafe.Add(ref shoup, i);
                i--;
                ref ushort lo = ref Unsafe.Add(ref f0, start);
                ref ushort hi = ref Unsafe.Add(ref f0, start + len);
                for (int j = 0; j < len; j++)
                {
                    uint t = Unsafe.Add(ref lo, j);
                    uint b = Unsafe.Add(ref hi, j);
                    Unsafe.Add(ref lo, j) = (ushort)ConditionalSubtractQ(t + b);
                    Unsafe.Add(ref hi, j) = (ushort)MultiplyShoup(ConditionalSubtractQ(b + Q - t), zeta, zetaShoup);
                }
            }
        }

        // Multiply by 128^-1 (3303): a constant, so Shoup again.
        const uint scaleShoup = (InverseOf128 << 16) / Q;
        for (int j = 0; j < N; j++)
        {
            ref ushort c = ref Unsafe.Add(ref f0, j);
            c = (ushort)MultiplyShoup(c, InverseOf128, scaleShoup);
        }
    }

    /// <summary>
    /// h = Σ_j a_j × b_j in T_q, the sum of k MultiplyNTTs products (FIPS 203, Algorithms 11 and 12), plus
    /// <paramref name="addend"/> when it is not empty. <paramref name="a"/> and <paramref name="b"/> hold k
    /// polynomials each, with a stride of <paramref name="aStride"/> polynomials between consecutive a_j.
    /// </summary>
    /// <remarks>
    /// Each BaseCaseMultiply term is below 2q², so k ≤ 4 terms and an addend below q accumulate in 32 bits and are
    /// reduced once. Only a1·b1 is reduced before it is multiplied by γ.
    /// </remarks>
    internal static void MultiplyAccumulate(ReadOnlySpan<ushort> a, int aStride, ReadOnlySpan<ushort> b, int k, ReadOnlySpan<ushort> addend, Span<ushort> h)
    {
        Debug.Assert(h.Length == N && b.Length >= k * N && a.Length >= (((k - 1) * aStride) + 1) * N);
        ref ushort gammas = ref MemoryMarshal.GetArrayDataReference(s_gammas);
        ref ushort a0 = ref MemoryMarshal.GetReference(a);
        ref ushort b0 = ref MemoryMarshal.GetReference(b);
        ref ushort h0 = ref MemoryMarshal.GetReference(h);
        bool hasAddend = !addend.IsEmpty;
        ref ushort e0 = ref MemoryMarshal.GetReference(addend);
        for (int i = 0; i < 128; i++)
        {
            uint gamma = Unsafe.Add(ref gammas, i);
            uint c0 = 0, c1 = 0;
            if (hasAddend)
            {
                c0 = Unsafe.Add(ref e0, 2 * i);
                c1 = Unsafe.Add(ref e0, (2 * i) + 1);
            }

            for (int j = 0; j < k; j++)
            {
                ref ushort aj = ref Unsafe.Add(ref a0, (j * aStride * N) + (2 * i));
                ref ushort bj = ref Unsafe.Add(ref b0, (j * N) + (2 * i));
                uint x0 = aj, x1 = Unsafe.Add(ref aj, 1);
                uint y0 = bj, y1 = Unsafe.Add(ref bj, 1);

                // BaseCaseMultiply (Algorithm 12): c0 = a0·b0 + a1·b1·γ, c1 = a0·b1 + a1·b0.
                c0 += (x0 * y0) + (Multiply(x1, y1) * gamma);
                c1 += (x0 * y1) + (x1 * y0);
            }

            Unsafe.Add(ref h0, 2 * i) = (ushort)Reduce(c0);
            Unsafe.Add(ref h0, (2 * i) + 1) = (ushort)Reduce(c1);
        }
    }

    /// <summary>f = f + g coefficient-wise in R_q.</summary>
    internal static void Add(Span<ushort> f, ReadOnlySpan<ushort> g)
    {
        Debug.Assert(f.Length == g.Length);
        for (int i = 0; i < f.Length; i++)
        {
            f[i] = (ushort)ConditionalSubtractQ((uint)f[i] + g[i]);
        }
    }

    /// <summary>f = g − f coefficient-wise in R_q (note the order: the result replaces the subtrahend).</summary>
    internal static void SubtractFrom(ReadOnlySpan<ushort> g, Span<ushort> f)
    {
        Debug.Assert(f.Length == g.Length);
        for (int i = 0; i < f.Length; i++)
        {
            f[i] = (ushort)ConditionalSubtractQ((uint)g[i] + Q - f[i]);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Compression (FIPS 203, section 4.2.1)

    /// <summary>Compress_d(x) = ⌈(2^d/q)·x⌋ mod 2^d for x &lt; q, 1 ≤ d ≤ 11 (equation 4.7), without division.</summary>
    /// <remarks>
    /// ⌈2^d·x/q⌋ = floor((2^(d+1)·x + q) / 2q). The numerator is below 2^24, and for such numerators
    /// floor(n·M / 2^40) with M = ceil(2^40 / 2q) is exactly floor(n / 2q) (the error n·(M·2q − 2^40)/2^40 &lt; 1/2q).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Compress(uint x, int d)
    {
        const ulong m = ((1UL << 40) + (2 * Q) - 1) / (2 * Q);
        ulong numerator = ((ulong)x << (d + 1)) + Q;
        return (uint)((numerator * m) >> 40) & ((1u << d) - 1);
    }

    /// <summary>Decompress_d(y) = ⌈(q/2^d)·y⌋ for y &lt; 2^d (equation 4.8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint Decompress(uint y, int d) => ((y * Q) + (1u << (d - 1))) >> d;

    // ---------------------------------------------------------------------------------------------
    // Byte encodings (FIPS 203, section 4.2.1, Algorithms 5 and 6)

    /// <summary>ByteEncode_12 of one canonical polynomial (Algorithm 5, d = 12): two coefficients per three bytes.</summary>
    internal static void ByteEncode12(ReadOnlySpan<ushort> f, Span<byte> b)
    {
        Debug.Assert(f.Length == N && b.Length == EncodedPolySize);
        for (int i = 0, o = 0; i < N; i += 2, o += 3)
        {
            uint x = f[i] | ((uint)f[i + 1] << 12);
            b[o] = (byte)x;
            b[o + 1] = (byte)(x >> 8);
            b[o + 2] = (byte)(x >> 16);
        }
    }

    /// <summary>ByteDecode_12 (Algorithm 6, d = 12) reducing each coefficient mod q, as the algorithm specifies.
    /// Constant time: used on the secret ŝ.</summary>
    internal static void ByteDecode12(ReadOnlySpan<byte> b, Span<ushort> f)
    {
        Debug.Assert(f.Length == N && b.Length == EncodedPolySize);
        for (int i = 0, o = 0; i < N; i += 2, o += 3)
        {
            uint x = b[o] | ((uint)b[o + 1] << 8) | ((uint)b[o + 2] << 16);
            f[i] = (ushort)ConditionalSubtractQ(x & 0xFFF);
            f[i + 1] = (ushort)ConditionalSubtractQ(x >> 12);
        }
    }

    /// <summary>
    /// ByteDecode_12 of a public polynomial with the modulus check of FIPS 203, section 7.2: returns false when a
    /// coefficient is ≥ q, i.e. when ByteEncode_12(ByteDecode_12(b)) ≠ b.
    /// </summary>
    internal static bool TryByteDecode12Canonical(ReadOnlySpan<byte> b, Span<ushort> f)
    {
        Debug.Assert(f.Length == N && b.Length == EncodedPolySize);
        uint tooLarge = 0;
        for (int i = 0, o = 0; i < N; i += 2, o += 3)
        {
            uint x = b[o] | ((uint)b[o + 1] << 8) | ((uint)b[o + 2] << 16);
            uint lo = x & 0xFFF, hi = x >> 12;
            tooLarge |= (Q - 1 - lo) | (Q - 1 - hi); // wraps to a value with bit 31 set exactly when ≥ q
            f[i] = (ushort)lo;
            f[i + 1] = (ushort)hi;
        }

        return (tooLarge >> 31) == 0;
    }

    /// <summary>ByteEncode_d(Compress_d(f)) for d in {1, 4, 5, 10, 11} (Algorithm 5 after equation 4.7).</summary>
    internal static void CompressAndEncode(ReadOnlySpan<ushort> f, int d, Span<byte> b)
    {
        Debug.Assert(f.Length == N && b.Length == 32 * d);
        ulong acc = 0;
        int bits = 0, o = 0;
        for (int i = 0; i < N; i++)
        {
            acc |= (ulong)Compress(f[i], d) << bits;
            bits += d;
            if (bits >= 32)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(b.Slice(o, 4), (uint)acc);
                o += 4;
                acc >>= 32;
                bits -= 32;
            }
        }

        Debug.Assert(bits == 0 && o == b.Length);
    }

    /// <summary>Decompress_d(ByteDecode_d(b)) for d in {1, 4, 5, 10, 11} (Algorithm 6 then equation 4.8).</summary>
    internal static void DecodeAndDecompress(ReadOnlySpan<byte> b, int d, Span<ushort> f)
    {
        Debug.Assert(f.Length == N && b.Length == 32 * d);
        ulong acc = 0;
        int bits = 0, o = 0;
        uint mask = (1u << d) - 1;
        for (int i = 0; i < N; i++)
        {
            if (bits < d)
            {
                acc |= (ulong)BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(o, 4)) << bits;
                o += 4;
                bits += 32;
            }

            f[i] = (ushort)Decompress((uint)acc & mask, d);
            acc >>= d;
            bits -= d;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Sampling (FIPS 203, section 4.2.2)

    /// <summary>Bytes of SHAKE128 output squeezed up front by <see cref="SampleNtt"/>: three blocks, 336 candidates,
    /// which yield 256 accepted coefficients except with small probability.</summary>
    internal const int SampleNttInitialBytes = 3 * KeccakSponge.Shake128Rate;

    /// <summary>
    /// SampleNTT (Algorithm 7): Â[i, j] from SHAKE128(ρ‖j‖i) by rejection sampling of 12-bit candidates.
    /// Variable time in the public seed only.
    /// </summary>
    internal static void SampleNtt(ReadOnlySpan<byte> rho, byte j, byte i, Span<ushort> a)
    {
        Span<byte> seed = stackalloc byte[34];
        rho.CopyTo(seed);
        seed[32] = j;
        seed[33] = i;
        var xof = KeccakSponge.CreateShake128();
        xof.Absorb(seed);
        Span<byte> buffer = stackalloc byte[SampleNttInitialBytes];
        xof.SqueezeBlocks(buffer);
        int count = RejectionSample(buffer, a);
        Span<byte> block = buffer[..KeccakSponge.Shake128Rate];
        while (count < N)
        {
            xof.SqueezeBlocks(block);
            count += RejectionSample(block, a[count..]);
        }
    }

    /// <summary>Lines 5–14 of Algorithm 7 over a buffer of XOF output (a multiple of 3 bytes, at most
    /// <see cref="SampleNttInitialBytes"/>): writes accepted coefficients into <paramref name="a"/> until it is full
    /// and returns how many were written.</summary>
    /// <remarks>
    /// Branch-free compaction: every candidate is stored and the write position advances by the comparison
    /// d &lt; q, so rejections (about one candidate in five) cost no mispredicted branches.
    /// </remarks>
    [SkipLocalsInit]
    internal static int RejectionSample(ReadOnlySpan<byte> buffer, Span<ushort> a)
    {
        Debug.Assert(buffer.Length % 3 == 0 && buffer.Length <= SampleNttInitialBytes);
        Span<ushort> accepted = stackalloc ushort[(SampleNttInitialBytes / 3 * 2) + 1];
        ref ushort acc = ref MemoryMarshal.GetReference(accepted);
        ref byte b = ref MemoryMarshal.GetReference(buffer);
        nuint j = 0;
        for (int o = 0; o < buffer.Length; o += 3)
        {
            uint b0 = Unsafe.Add(ref b, o), b1 = Unsafe.Add(ref b, o + 1), b2 = Unsafe.Add(ref b, o + 2);
            uint d1 = b0 | ((b1 & 0x0F) << 8);
            uint d2 = (b1 >> 4) | (b2 << 4);
            Unsafe.Add(ref acc, j) = (ushort)d1;
            j += (d1 - Q) >> 31; // 1 when d1 < q
            Unsafe.Add(ref acc, j) = (ushort)d2;
            j += (d2 - Q) >> 31;
        }

        int count = Math.Min((int)j, a.Length);
        accepted[..count].CopyTo(a);
        return count;
    }

    /// <summary>
    /// SampleNTT (Algorithm 7) for the matrix entries <paramref name="first"/> .. first+count−1 of the row-major k×k
    /// matrix <paramref name="aHat"/>, four at a time through <see cref="KeccakX4"/> when the hardware allows.
    /// </summary>
    internal static void SampleNttMany(ReadOnlySpan<byte> rho, int k, Span<ushort> aHat, int first, int count)
    {
        int e = first;
        int end = first + count;
        if (KeccakX4.IsSupported)
        {
            for (; end - e >= 2; e += 4)
            {
                SampleNttX4(rho, k, aHat, e, Math.Min(4, end - e));
            }
        }

        for (; e < end; e++)
        {
            SampleNtt(rho, (byte)(e % k), (byte)(e / k), aHat.Slice(e * N, N));
        }
    }

    /// <summary>Four SampleNTT calls side by side (entries first .. first+count−1, count 2..4; spare lanes repeat the last entry).</summary>
    [SkipLocalsInit]
    private static void SampleNttX4(ReadOnlySpan<byte> rho, int k, Span<ushort> aHat, int first, int count)
    {
        const int SeedSize = 34;
        Span<byte> seeds = stackalloc byte[4 * SeedSize];
        Span<int> entries = stackalloc int[4];
        Span<int> filled = stackalloc int[4];
        for (int t = 0; t < 4; t++)
        {
            int e = first + Math.Min(t, count - 1);
            entries[t] = e;
            Span<byte> seed = seeds.Slice(t * SeedSize, SeedSize);
            rho.CopyTo(seed);
            seed[32] = (byte)(e % k); // ρ‖j‖i for Â[i, j]
            seed[33] = (byte)(e / k);
        }

        var xof = KeccakX4.Shake128(seeds[..SeedSize], seeds.Slice(SeedSize, SeedSize), seeds.Slice(2 * SeedSize, SeedSize), seeds.Slice(3 * SeedSize, SeedSize));
        Span<byte> buffer = stackalloc byte[4 * SampleNttInitialBytes];
        int size = SampleNttInitialBytes;
        xof.SqueezeBlocks(buffer[..size], buffer.Slice(size, size), buffer.Slice(2 * size, size), buffer.Slice(3 * size, size));
        for (int t = 0; t < count; t++)
        {
            filled[t] = RejectionSample(buffer.Slice(t * size, size), aHat.Slice(entries[t] * N, N));
        }

        // Rarely, 336 candidates are not enough: squeeze one more block for all four and top up the short ones.
        size = KeccakSponge.Shake128Rate;
        while (AnyShort(filled[..count]))
        {
            xof.SqueezeBlocks(buffer[..size], buffer.Slice(size, size), buffer.Slice(2 * size, size), buffer.Slice(3 * size, size));
            for (int t = 0; t < count; t++)
            {
                if (filled[t] < N)
                {
                    filled[t] += RejectionSample(buffer.Slice(t * size, size), aHat.Slice((entries[t] * N) + filled[t], N - filled[t]));
                }
            }
        }

        static bool AnyShort(ReadOnlySpan<int> filled)
        {
            foreach (int f in filled)
            {
                if (f < N)
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>
    /// SamplePolyCBD_η (Algorithm 8) of PRF_η(s, b) = SHAKE256(s‖b, 64η) (equation 4.3), for η in {2, 3}.
    /// </summary>
    [SkipLocalsInit]
    internal static void SamplePolyCbd(ReadOnlySpan<byte> s, byte b, int eta, Span<ushort> f)
    {
        Debug.Assert(s.Length == 32 && f.Length == N && (eta == 2 || eta == 3));
        Span<byte> input = stackalloc byte[33];
        s.CopyTo(input);
        input[32] = b;
        Span<byte> prf = stackalloc byte[64 * 3];
        prf = prf[..(64 * eta)];
        Sha3.Shake256(input, prf);
        Cbd(prf, eta, f);
        CryptographicOperations.ZeroMemory(prf);
        CryptographicOperations.ZeroMemory(input);
    }

    /// <summary>
    /// SamplePolyCBD_η(PRF_η(s, b)) for b = firstB .. firstB+count−1 into consecutive polynomials of
    /// <paramref name="f"/>, four PRF calls at a time through <see cref="KeccakX4"/> when the hardware allows.
    /// </summary>
    [SkipLocalsInit]
    internal static void SamplePolyCbdMany(ReadOnlySpan<byte> s, byte firstB, int eta, Span<ushort> f)
    {
        Debug.Assert(s.Length == 32 && f.Length % N == 0 && (eta == 2 || eta == 3));
        int count = f.Length / N;
        int done = 0;
        if (KeccakX4.IsSupported && count >= 2)
        {
            Span<byte> inputs = stackalloc byte[4 * 33];
            Span<byte> prf = stackalloc byte[4 * 2 * KeccakSponge.Shake256Rate];
            Span<ushort> spare = stackalloc ushort[N];
            int blockBytes = eta == 2 ? KeccakSponge.Shake256Rate : 2 * KeccakSponge.Shake256Rate; // ≥ 64η
            for (; count - done >= 2; done += 4)
            {
                for (int t = 0; t < 4; t++)
                {
                    Span<byte> input = inputs.Slice(t * 33, 33);
                    s.CopyTo(input);
                    input[32] = (byte)(firstB + done + t); // spare lanes compute PRF values nobody uses
                }

                var xof = KeccakX4.Shake256(inputs[..33], inputs.Slice(33, 33), inputs.Slice(66, 33), inputs.Slice(99, 33));
                xof.SqueezeBlocks(prf[..blockBytes], prf.Slice(blockBytes, blockBytes), prf.Slice(2 * blockBytes, blockBytes), prf.Slice(3 * blockBytes, blockBytes));
                xof.Clear();
                for (int t = 0; t < 4; t++)
                {
                    Span<ushort> target = done + t < count ? f.Slice((done + t) * N, N) : spare;
                    Cbd(prf.Slice(t * blockBytes, 64 * eta), eta, target);
                }
            }

            CryptographicOperations.ZeroMemory(inputs);
            CryptographicOperations.ZeroMemory(prf);
            CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(spare));
        }

        for (; done < count; done++)
        {
            SamplePolyCbd(s, (byte)(firstB + done), eta, f.Slice(done * N, N));
        }
    }

    /// <summary>Cbd for η = 2 with vectors: the same bit-slicing, sixteen bytes (32 coefficients) per step.</summary>
    private static void Cbd2Avx2(ReadOnlySpan<byte> prf, Span<ushort> f)
    {
        ref byte source = ref MemoryMarshal.GetReference(prf);
        ref ushort destination = ref MemoryMarshal.GetReference(f);
        var alternateBits = Vector128.Create(0x55555555u);
        var lowNibble = Vector128.Create((byte)0x0F);
        var three = Vector256.Create((ushort)3);
        var q = Vector256.Create((ushort)Q);
        for (int i = 0; i < 8; i++)
        {
            var t = Vector128.LoadUnsafe(ref source, (nuint)(16 * i)).AsUInt32();
            var d = ((t & alternateBits) + ((t >> 1) & alternateBits)).AsByte(); // each nibble: x in bits 0–1, y in bits 2–3
            var lo = d & lowNibble;
            var hi = (d.AsUInt16() >> 4).AsByte() & lowNibble;
            ToCoefficients(Sse2.UnpackLow(lo, hi)).StoreUnsafe(ref destination, (nuint)(32 * i));
            ToCoefficients(Sse2.UnpackHigh(lo, hi)).StoreUnsafe(ref destination, (nuint)((32 * i) + 16));
        }

        Vector256<ushort> ToCoefficients(Vector128<byte> nibbles)
        {
            var w = Avx2.ConvertToVector256Int16(nibbles).AsUInt16();
            var r = (w & three) + q - (w >> 2);
            return Avx2.Min(r, r - q);
        }
    }

    /// <summary>Lines 2–7 of Algorithm 8 over 64η bytes. Bit-sliced: each coefficient is (sum of η bits) − (sum of
    /// the next η bits), mapped into [0, q) with a mask.</summary>
    private static void Cbd(ReadOnlySpan<byte> prf, int eta, Span<ushort> f)
    {
        Debug.Assert(prf.Length == 64 * eta && f.Length == N);
        if (eta == 2 && Avx2.IsSupported)
        {
            Cbd2Avx2(prf, f);
        }
        else if (eta == 2)
        {
            // 4 bits per coefficient: x = b0 + b1, y = b2 + b3.
            for (int w = 0; w < 32; w++)
            {
                uint t = BinaryPrimitives.ReadUInt32LittleEndian(prf.Slice(4 * w, 4));
                uint d = (t & 0x55555555) + ((t >> 1) & 0x55555555);
                for (int c = 0; c < 8; c++)
                {
                    uint x = (d >> (4 * c)) & 3, y = (d >> ((4 * c) + 2)) & 3;
                    f[(8 * w) + c] = (ushort)ConditionalSubtractQ(x + Q - y);
                }
            }
        }
        else
        {
            // 6 bits per coefficient: x = b0 + b1 + b2, y = b3 + b4 + b5; three bytes give four coefficients.
            for (int w = 0; w < 64; w++)
            {
                uint t = prf[3 * w] | ((uint)prf[(3 * w) + 1] << 8) | ((uint)prf[(3 * w) + 2] << 16);
                uint d = (t & 0x249249) + ((t >> 1) & 0x249249) + ((t >> 2) & 0x249249);
                for (int c = 0; c < 4; c++)
                {
                    uint x = (d >> (6 * c)) & 7, y = (d >> ((6 * c) + 3)) & 7;
                    f[(4 * w) + c] = (ushort)ConditionalSubtractQ(x + Q - y);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Constant-time compare and select (FIPS 203, Algorithm 18, lines 9–11)

    /// <summary>−1 (all ones) when <paramref name="a"/> and <paramref name="b"/> are equal, else 0; reads every byte,
    /// with no early exit and no branch on the data.</summary>
    internal static int EqualMask(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        Debug.Assert(a.Length == b.Length);
        ulong difference = 0;
        int i = 0;
        for (; i + 8 <= a.Length; i += 8)
        {
            difference |= BinaryPrimitives.ReadUInt64LittleEndian(a[i..]) ^ BinaryPrimitives.ReadUInt64LittleEndian(b[i..]);
        }

        for (; i < a.Length; i++)
        {
            difference |= (uint)(a[i] ^ b[i]);
        }

        // difference | −difference has bit 63 set exactly when difference ≠ 0.
        ulong nonZero = (difference | (0 - difference)) >> 63;
        return (int)nonZero - 1;
    }

    /// <summary>destination = mask == −1 ? ifEqual : otherwise, byte by byte through the mask, without a branch.</summary>
    internal static void Select(int mask, ReadOnlySpan<byte> ifEqual, ReadOnlySpan<byte> otherwise, Span<byte> destination)
    {
        Debug.Assert(ifEqual.Length == otherwise.Length && destination.Length == ifEqual.Length);
        byte m = (byte)mask;
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (byte)(otherwise[i] ^ ((otherwise[i] ^ ifEqual[i]) & m));
        }
    }
}
