using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BelizeMesh.Quantum;

/// <summary>
/// AVX2 paths of the NTT: the same butterflies as <see cref="MLKemMath.NttScalar"/> and
/// <see cref="MLKemMath.InverseNttScalar"/>, sixteen 16-bit coefficients per vector, with the same canonical
/// representation and the same Shoup multiplication (tests compare the two paths on random inputs).
/// </summary>
/// <remarks>
/// Layers with len ≥ 16 pair whole vectors and broadcast one ζ per block. Layers with len 8, 4 and 2 pair lanes
/// inside one vector: a permute brings each lane's partner alongside, both halves of the butterfly are computed
/// in every lane, and a blend keeps the right one; ζ comes per lane from a table. Conditional subtraction of q is
/// an unsigned minimum (x − q wraps above x when x &lt; q), so there are no data-dependent branches.
/// </remarks>
internal static partial class MLKemMath
{
    /// <summary>Per-lane ζ for the in-vector layers, laid out [layer (len 8, 4, 2)][coefficient 0..255].</summary>
    private static class LaneZetas
    {
        public static readonly ushort[] Forward = new ushort[3 * N];
        public static readonly ushort[] ForwardShoup = new ushort[3 * N];
        public static readonly ushort[] Inverse = new ushort[3 * N];
        public static readonly ushort[] InverseShoup = new ushort[3 * N];

#pragma warning disable CA1810 // derived from the scalar tables
        static LaneZetas()
#pragma warning restore CA1810
        {
            for (int layer = 0; layer < 3; layer++)
            {
                int len = 8 >> layer;
                for (int p = 0; p < N; p++)
                {
                    int block = p / (2 * len);
                    int forward = (128 / len) + block;     // Algorithm 9: i runs 1, 2, ... across layers
                    int inverse = (256 / len) - 1 - block; // Algorithm 10: i runs 127, 126, ... across layers
                    Forward[(layer * N) + p] = s_zetas[forward];
                    ForwardShoup[(layer * N) + p] = s_zetasShoup[forward];
                    Inverse[(layer * N) + p] = s_zetas[inverse];
                    InverseShoup[(layer * N) + p] = s_zetasShoup[inverse];
                }
            }
        }
    }

    private static Vector256<ushort> VQ => Vector256.Create((ushort)Q);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> ConditionalSubtractQ(Vector256<ushort> x) => Avx2.Min(x, x - VQ);

    /// <summary>a·ζ mod q in every lane, Shoup's method as in the scalar <see cref="MultiplyShoup(uint, uint, uint)"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> MultiplyShoup(Vector256<ushort> a, Vector256<ushort> zeta, Vector256<ushort> zetaShoup)
    {
        var quotient = Avx2.MultiplyHigh(a, zetaShoup);
        return ConditionalSubtractQ(Avx2.MultiplyLow(a, zeta) - Avx2.MultiplyLow(quotient, VQ));
    }

    /// <summary>Brings each lane's butterfly partner (at distance len = 8, 4 or 2) into that lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> Partner(Vector256<ushort> v, int len) => len switch
    {
        8 => Avx2.Permute4x64(v.AsUInt64(), 0b01_00_11_10).AsUInt16(),
        4 => Avx2.Permute4x64(v.AsUInt64(), 0b10_11_00_01).AsUInt16(),
        _ => Avx2.Shuffle(v.AsUInt32(), 0b10_11_00_01).AsUInt16(),
    };

    /// <summary>All-ones in the lanes that hold the upper element of a butterfly pair at distance len.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> UpperLanes(int len) =>
        ~Vector256.Equals(Vector256<ushort>.Indices & Vector256.Create((ushort)len), Vector256<ushort>.Zero);

    internal static void NttAvx2(Span<ushort> f)
    {
        Debug.Assert(f.Length == N);
        ref ushort f0 = ref MemoryMarshal.GetReference(f);
        var q = VQ;

        // len = 128, 64, 32, 16: vector pairs, one ζ per block.
        int i = 1;
        for (int len = 128; len >= 16; len >>= 1)
        {
            for (int start = 0; start < N; start += 2 * len)
            {
                var zeta = Vector256.Create(s_zetas[i]);
                var zetaShoup = Vector256.Create(s_zetasShoup[i]);
                i++;
                for (int j = start; j < start + len; j += 16)
                {
                    var lo = Vector256.LoadUnsafe(ref f0, (nuint)j);
                    var hi = Vector256.LoadUnsafe(ref f0, (nuint)(j + len));
                    var t = MultiplyShoup(hi, zeta, zetaShoup);
                    ConditionalSubtractQ(lo + t).StoreUnsafe(ref f0, (nuint)j);
                    ConditionalSubtractQ(lo + q - t).StoreUnsafe(ref f0, (nuint)(j + len));
                }
            }
        }

        // len = 8, 4, 2 inside each vector, all three layers while the vector is in a register.
        ref ushort zetas = ref MemoryMarshal.GetArrayDataReference(LaneZetas.Forward);
        ref ushort shoup = ref MemoryMarshal.GetArrayDataReference(LaneZetas.ForwardShoup);
        var upper8 = UpperLanes(8);
        var upper4 = UpperLanes(4);
        var upper2 = UpperLanes(2);
        for (int j = 0; j < N; j += 16)
        {
            var v = Vector256.LoadUnsafe(ref f0, (nuint)j);
            v = ButterflyInVector(v, Partner(v, 8), upper8, Vector256.LoadUnsafe(ref zetas, (nuint)j), Vector256.LoadUnsafe(ref shoup, (nuint)j));
            v = ButterflyInVector(v, Partner(v, 4), upper4, Vector256.LoadUnsafe(ref zetas, (nuint)(N + j)), Vector256.LoadUnsafe(ref shoup, (nuint)(N + j)));
            v = ButterflyInVector(v, Partner(v, 2), upper2, Vector256.LoadUnsafe(ref zetas, (nuint)(2 * N + j)), Vector256.LoadUnsafe(ref shoup, (nuint)(2 * N + j)));
            v.StoreUnsafe(ref f0, (nuint)j);
        }
    }

    /// <summary>One layer of Algorithm 9 butterflies (lo, hi) → (lo + ζ·hi, lo − ζ·hi) between lanes of one vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> ButterflyInVector(Vector256<ushort> v, Vector256<ushort> partner, Vector256<ushort> upper, Vector256<ushort> zeta, Vector256<ushort> zetaShoup)
    {
        var lo = Vector256.ConditionalSelect(upper, partner, v);
        var hi = Vector256.ConditionalSelect(upper, v, partner);
        var t = MultiplyShoup(hi, zeta, zetaShoup);
        return Vector256.ConditionalSelect(upper, ConditionalSubtractQ(lo + VQ - t), ConditionalSubtractQ(lo + t));
    }

    /// <summary>One layer of Algorithm 10 butterflies (lo, hi) → (lo + hi, ζ·(hi − lo)) between lanes of one vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ushort> InverseButterflyInVector(Vector256<ushort> v, Vector256<ushort> partner, Vector256<ushort> upper, Vector256<ushort> zeta, Vector256<ushort> zetaShoup)
    {
        var lo = Vector256.ConditionalSelect(upper, partner, v);
        var hi = Vector256.ConditionalSelect(upper, v, partner);
        var sum = ConditionalSubtractQ(lo + hi);
        var t = MultiplyShoup(ConditionalSubtractQ(hi + VQ - lo), zeta, zetaShoup);
        return Vector256.ConditionalSelect(upper, t, sum);
    }

    internal static void InverseNttAvx2(Span<ushort> f)
    {
        Debug.Assert(f.Length == N);
        ref ushort f0 = ref MemoryMarshal.GetReference(f);
        var q = VQ;

        // len = 2, 4, 8 inside each vector.
        ref ushort zetas = ref MemoryMarshal.GetArrayDataReference(LaneZetas.Inverse);
        ref ushort shoup = ref MemoryMarshal.GetArrayDataReference(LaneZetas.InverseShoup);
        var upper8 = UpperLanes(8);
        var upper4 = UpperLanes(4);
        var upper2 = UpperLanes(2);
        for (int j = 0; j < N; j += 16)
        {
            var v = Vector256.LoadUnsafe(ref f0, (nuint)j);
            v = InverseButterflyInVector(v, Partner(v, 2), upper2, Vector256.LoadUnsafe(ref zetas, (nuint)(2 * N + j)), Vector256.LoadUnsafe(ref shoup, (nuint)(2 * N + j)));
            v = InverseButterflyInVector(v, Partner(v, 4), upper4, Vector256.LoadUnsafe(ref zetas, (nuint)(N + j)), Vector256.LoadUnsafe(ref shoup, (nuint)(N + j)));
            v = InverseButterflyInVector(v, Partner(v, 8), upper8, Vector256.LoadUnsafe(ref zetas, (nuint)j), Vector256.LoadUnsafe(ref shoup, (nuint)j));
            v.StoreUnsafe(ref f0, (nuint)j);
        }

        // len = 16, 32, 64: vector pairs, one ζ per block (i continues from 15 down to 2).
        int i = 15;
        for (int len = 16; len <= 64; len <<= 1)
        {
            for (int start = 0; start < N; start += 2 * len)
            {
                var zeta = Vector256.Create(s_zetas[i]);
                var zetaShoup = Vector256.Create(s_zetasShoup[i]);
                i--;
                for (int j = start; j < start + len; j += 16)
                {
                    var lo = Vector256.LoadUnsafe(ref f0, (nuint)j);
                    var hi = Vector256.LoadUnsafe(ref f0, (nuint)(j + len));
                    ConditionalSubtractQ(lo + hi).StoreUnsafe(ref f0, (nuint)j);
                    MultiplyShoup(ConditionalSubtractQ(hi + q - lo), zeta, zetaShoup).StoreUnsafe(ref f0, (nuint)(j + len));
                }
            }
        }

        // len = 128 (i = 1), with the final multiplication by 128^-1 (Algorithm 10, line 14) folded in:
        // lo′ = (lo + hi)·128^-1 and hi′ = (ζ_1·128^-1)·(hi − lo).
        Debug.Assert(i == 1);
        uint scaledZeta = Multiply(s_zetas[1], InverseOf128);
        var inv = Vector256.Create((ushort)InverseOf128);
        var invShoup = Vector256.Create((ushort)((InverseOf128 << 16) / Q));
        var z = Vector256.Create((ushort)scaledZeta);
        var zShoup = Vector256.Create((ushort)((scaledZeta << 16) / Q));
        for (int j = 0; j < 128; j += 16)
        {
            var lo = Vector256.LoadUnsafe(ref f0, (nuint)j);
            var hi = Vector256.LoadUnsafe(ref f0, (nuint)(j + 128));
            MultiplyShoup(ConditionalSubtractQ(lo + hi), inv, invShoup).StoreUnsafe(ref f0, (nuint)j);
            MultiplyShoup(ConditionalSubtractQ(hi + q - lo), z, zShoup).StoreUnsafe(ref f0, (nuint)(j + 128));
        }
    }
}

internal static partial class MLKemMath
{
    /// <summary>2^16 mod q: the Montgomery factor R of <see cref="MultiplyAccumulatePrepared"/>.</summary>
    private const uint MontgomeryR = 2285;

    /// <summary>q^-1 mod 2^16, for Montgomery reduction.</summary>
    private const int QInverseMod2To16 = 62209;

    /// <summary>Per-lane multipliers of <see cref="PrepareMultiplicand"/>: R in even lanes, γ_i·R in odd lanes, with Shoup companions.</summary>
    private static class PairMultipliers
    {
        public static readonly ushort[] Values = new ushort[N];
        public static readonly ushort[] Shoup = new ushort[N];

#pragma warning disable CA1810 // derived from the γ table
        static PairMultipliers()
#pragma warning restore CA1810
        {
            for (int i = 0; i < 128; i++)
            {
                uint gammaR = Multiply(s_gammas[i], MontgomeryR);
                Values[2 * i] = (ushort)MontgomeryR;
                Shoup[2 * i] = (ushort)((MontgomeryR << 16) / Q);
                Values[(2 * i) + 1] = (ushort)gammaR;
                Shoup[(2 * i) + 1] = (ushort)((gammaR << 16) / Q);
            }
        }
    }

    /// <summary>Size of the prepared form of one polynomial, in coefficients.</summary>
    internal const int PreparedPolySize = 2 * N;

    /// <summary>
    /// Prepares the k polynomials of <paramref name="b"/> (in T_q) to be the right-hand side of several
    /// <see cref="MultiplyAccumulatePrepared"/> calls. With AVX2, each polynomial becomes two: the pairs
    /// (b0·R, b1·γ·R) and (b1·R, b0·R), so that one multiply-add of adjacent 16-bit products gives each
    /// BaseCaseMultiply output (Algorithm 12) times R unreduced. Without AVX2 it is a plain copy.
    /// </summary>
    internal static void PrepareMultiplicand(ReadOnlySpan<ushort> b, Span<ushort> prepared)
    {
        Debug.Assert(b.Length % N == 0 && prepared.Length == 2 * b.Length);
        if (!Avx2.IsSupported)
        {
            b.CopyTo(prepared);
            return;
        }

        ref ushort b0 = ref MemoryMarshal.GetReference(b);
        ref ushort p0 = ref MemoryMarshal.GetReference(prepared);
        ref ushort multipliers = ref MemoryMarshal.GetArrayDataReference(PairMultipliers.Values);
        ref ushort shoup = ref MemoryMarshal.GetArrayDataReference(PairMultipliers.Shoup);
        var r = Vector256.Create((ushort)MontgomeryR);
        var rShoup = Vector256.Create((ushort)((MontgomeryR << 16) / Q));
        for (int j = 0; j < b.Length / N; j++)
        {
            for (int i = 0; i < N; i += 16)
            {
                var v = Vector256.LoadUnsafe(ref b0, (nuint)((j * N) + i));
                var withGamma = MultiplyShoup(v, Vector256.LoadUnsafe(ref multipliers, (nuint)i), Vector256.LoadUnsafe(ref shoup, (nuint)i));
                var timesR = MultiplyShoup(v, r, rShoup).AsUInt32();
                var swapped = ((timesR << 16) | (timesR >>> 16)).AsUInt16();
                withGamma.StoreUnsafe(ref p0, (nuint)((j * PreparedPolySize) + i));
                swapped.StoreUnsafe(ref p0, (nuint)((j * PreparedPolySize) + N + i));
            }
        }
    }

    /// <summary>
    /// h = Σ_j a_j × b_j (+ addend) in T_q, as <see cref="MultiplyAccumulate"/>, with b given by
    /// <see cref="PrepareMultiplicand"/>.
    /// </summary>
    /// <remarks>
    /// AVX2: per 8 coefficient pairs, two multiply-adds per term accumulate c0·R and c1·R in 32-bit lanes (each term
    /// below 2q², four terms below 2^27), then one Montgomery reduction per lane removes R:
    /// t = x·q^-1 mod 2^16, r = (x − t·q) / 2^16 ∈ (−2^12, 2^11), and r + 2q lands in [0, 3q) for two conditional
    /// subtractions.
    /// </remarks>
    internal static void MultiplyAccumulatePrepared(ReadOnlySpan<ushort> a, int aStride, ReadOnlySpan<ushort> prepared, int k, ReadOnlySpan<ushort> addend, Span<ushort> h)
    {
        Debug.Assert(h.Length == N && prepared.Length >= k * PreparedPolySize && a.Length >= (((k - 1) * aStride) + 1) * N);
        if (!Avx2.IsSupported)
        {
            MultiplyAccumulate(a, aStride, prepared, k, addend, h);
            return;
        }

        ref ushort a0 = ref MemoryMarshal.GetReference(a);
        ref ushort p0 = ref MemoryMarshal.GetReference(prepared);
        ref ushort h0 = ref MemoryMarshal.GetReference(h);
        ref ushort e0 = ref MemoryMarshal.GetReference(addend);
        bool hasAddend = !addend.IsEmpty;
        var qInverse = Vector256.Create(QInverseMod2To16);
        var q32 = Vector256.Create(Q);
        var twoQ = Vector256.Create((uint)(2 * Q));
        var q32u = Vector256.Create((uint)Q);
        var low16 = Vector256.Create(0xFFFF);
        for (int i = 0; i < N; i += 16)
        {
            var c0 = Vector256<int>.Zero;
            var c1 = Vector256<int>.Zero;
            for (int j = 0; j < k; j++)
            {
                var x = Vector256.LoadUnsafe(ref a0, (nuint)((j * aStride * N) + i)).AsInt16();
                var bGamma = Vector256.LoadUnsafe(ref p0, (nuint)((j * PreparedPolySize) + i)).AsInt16();
                var bSwapped = Vector256.LoadUnsafe(ref p0, (nuint)((j * PreparedPolySize) + N + i)).AsInt16();
                c0 += Avx2.MultiplyAddAdjacent(x, bGamma);   // a0·b0·R + a1·b1·γ·R
                c1 += Avx2.MultiplyAddAdjacent(x, bSwapped); // a0·b1·R + a1·b0·R
            }

            var r0 = MontgomeryReduce(c0, qInverse, q32, low16, twoQ, q32u);
            var r1 = MontgomeryReduce(c1, qInverse, q32, low16, twoQ, q32u);
            var result = (r0 | (r1 << 16)).AsUInt16();
            if (hasAddend)
            {
                result = ConditionalSubtractQ(result + Vector256.LoadUnsafe(ref e0, (nuint)i));
            }

            result.StoreUnsafe(ref h0, (nuint)i);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> MontgomeryReduce(Vector256<int> x, Vector256<int> qInverse, Vector256<int> q, Vector256<int> low16, Vector256<uint> twoQ, Vector256<uint> qu)
    {
        var t = Avx2.MultiplyLow(x, qInverse) & low16;
        var r = ((x - Avx2.MultiplyLow(t, q)) >> 16).AsUInt32() + twoQ;
        r = Avx2.Min(r, r - qu);
        return Avx2.Min(r, r - qu);
    }
}
