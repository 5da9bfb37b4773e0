using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace BelizeMesh.Quantum.Dsa;

/// <summary>
/// Arithmetic in Z_q and in R_q = Z_q[X]/(X^256 + 1) for ML-DSA (FIPS 204, sections 2.3 and 7.5), with the NTT
/// (Algorithms 41 and 42) and the NTT-domain product (Algorithm 45).
/// </summary>
/// <remarks>
/// <para>
/// Coefficients are <see cref="int"/>. Products use Montgomery reduction with R = 2^32: the multiply, the shift and
/// the subtraction take the same time for every input, so nothing here branches on or indexes by a coefficient
/// (secret coefficients of s1, s2, t0 and y go through these functions). There is no <c>%</c> on secret data.
/// </para>
/// <para>
/// Differences from the text of FIPS 204, none of them observable: the zetas are stored multiplied by R so that a
/// Montgomery product with them is an ordinary product mod q; sums inside the NTT are reduced lazily (bounds are
/// given at each function); the inverse NTT folds the factor 256^-1 together with the R^-1 left by
/// <see cref="PointwiseMontgomery"/>, so NTT^-1(NTT(a) ∘ NTT(b)) computes a·b exactly as the spec does.
/// </para>
/// </remarks>
internal static class MLDsaField
{
    /// <summary>The modulus q = 2^23 − 2^13 + 1.</summary>
    public const int Q = 8380417;

    /// <summary>Number of coefficients of a polynomial.</summary>
    public const int N = 256;

    /// <summary>Dropped bits of t, d (FIPS 204, Table 1).</summary>
    public const int D = 13;

    /// <summary>q^-1 mod 2^32.</summary>
    private const int QInv = 58728449;

    /// <summary>ζ = 1753, a primitive 512th root of unity mod q (FIPS 204, section 7.5).</summary>
    private const int Zeta = 1753;

    /// <summary>zetas[i] = ζ^BitRev8(i) · 2^32 mod q, centered in (−q/2, q/2) (FIPS 204, Appendix B, times R).</summary>
    private static readonly int[] s_zetas = ComputeZetas();

    /// <summary>256^-1 · 2^64 mod q: undoes the 256 of the inverse transform and the R^-1 of one Montgomery product.</summary>
    private static readonly int s_inverseScale = ComputeInverseScale();

    internal static ReadOnlySpan<int> Zetas => s_zetas;

    private static int[] ComputeZetas()
    {
        var zetas = new int[N];
        long r = (1L << 32) % Q;
        for (int i = 0; i < N; i++)
        {
            int rev = 0;
            for (int bit = 0; bit < 8; bit++)
            {
                rev |= ((i >> bit) & 1) << (7 - bit);
            }

            long z = ModPow(Zeta, rev) * r % Q;
            zetas[i] = (int)(z > Q / 2 ? z - Q : z);
        }

        return zetas;
    }

    private static int ComputeInverseScale()
    {
        long r = (1L << 32) % Q;
        long scale = r * r % Q * ModPow(N, Q - 2) % Q;
        return (int)(scale > Q / 2 ? scale - Q : scale);
    }

    /// <summary>b^e mod q for table construction only (variable time; public inputs).</summary>
    internal static long ModPow(long b, long e)
    {
        long result = 1;
        b %= Q;
        while (e > 0)
        {
            if ((e & 1) != 0)
            {
                result = result * b % Q;
            }

            b = b * b % Q;
            e >>= 1;
        }

        return result;
    }

    /// <summary>Montgomery reduction: for |a| &lt; 2^31·q returns a·2^-32 mod q in (−q, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int MontgomeryReduce(long a)
    {
        int t = unchecked((int)a * QInv);
        return (int)((a - ((long)t * Q)) >> 32);
    }

    /// <summary>For a ≤ 2^31 − 2^22 − 1 returns r ≡ a (mod q) with −6283009 ≤ r ≤ 6283008.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Reduce32(int a)
    {
        int t = (a + (1 << 22)) >> 23;
        return a - (t * Q);
    }

    /// <summary>For −2^31 ≤ a &lt; 2^31 − q with a &gt; −q: adds q when a is negative, branch-free.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ConditionalAddQ(int a) => a + ((a >> 31) & Q);

    /// <summary>a mod q in [0, q) for any a with |a| ≤ 2^31 − 2^22 − 1 (Reduce32, then ConditionalAddQ).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Freeze(int a) => ConditionalAddQ(Reduce32(a));

    /// <summary>a mod± q in [−(q−1)/2, (q−1)/2] for |a| ≤ 2^31 − 2^22 − 1, branch-free (FIPS 204, section 2.3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Center(int a)
    {
        int r = Freeze(a);
        return r - (((((Q - 1) / 2) - r) >> 31) & Q);
    }

    /// <summary>NTT (FIPS 204, Algorithm 41), in place. Input |w_i| &lt; q; output |ŵ_i| &lt; 9q, not reduced.</summary>
    public static void Ntt(Span<int> w) => Ntt(w, Avx2.IsSupported);

    /// <summary>NTT with or without AVX2 (tests compare the two: the results are identical).</summary>
    internal static void Ntt(Span<int> w, bool useAvx2)
    {
        Debug.Assert(w.Length == N);
        if (useAvx2)
        {
            NttAvx2(w);
        }
        else
        {
            NttScalar(w);
        }
    }

    /// <summary>NTT^-1 times 2^32 (see <see cref="InverseNttToMontScalar"/>), with AVX2 when available.</summary>
    public static void InverseNttToMont(Span<int> w) => InverseNttToMont(w, Avx2.IsSupported);

    /// <summary>NTT^-1 with or without AVX2 (tests compare the two: the results are identical).</summary>
    internal static void InverseNttToMont(Span<int> w, bool useAvx2)
    {
        Debug.Assert(w.Length == N);
        if (useAvx2)
        {
            InverseNttToMontAvx2(w);
        }
        else
        {
            InverseNttToMontScalar(w);
        }
    }

    [SkipLocalsInit]
    private static void NttScalar(Span<int> w)
    {
        Debug.Assert(w.Length == N);
        ref int a = ref MemoryMarshal.GetReference(w);
        ref int zetas = ref MemoryMarshal.GetArrayDataReference(s_zetas);
        int m = 0;
        for (int len = 128; len >= 1; len >>= 1)
        {
            for (int start = 0; start < N; start += 2 * len)
            {
                m++;
                long z = Unsafe.Add(ref zetas, m);
                ref int lo = ref Unsafe.Add(ref a, start);
                ref int hi = ref Unsafe.Add(ref a, start + len);
                for (int j = 0; j < len; j++)
                {
                    int t = MontgomeryReduce(z * Unsafe.Add(ref hi, j));
                    int x = Unsafe.Add(ref lo, j);
                    Unsafe.Add(ref hi, j) = x - t;
                    Unsafe.Add(ref lo, j) = x + t;
                }
            }
        }
    }

    /// <summary>
    /// Scalar NTT^-1 (FIPS 204, Algorithm 42), in place, times 2^32: applied to a Montgomery product it yields the plain
    /// product. Input |ŵ_i| &lt; q; output |w_i| &lt; q. (Sums grow to at most 256q &lt; 2^31 before the final scaling.)
    /// </summary>
    [SkipLocalsInit]
    private static void InverseNttToMontScalar(Span<int> w)
    {
        Debug.Assert(w.Length == N);
        ref int a = ref MemoryMarshal.GetReference(w);
        ref int zetas = ref MemoryMarshal.GetArrayDataReference(s_zetas);
        int m = N;
        for (int len = 1; len < N; len <<= 1)
        {
            for (int start = 0; start < N; start += 2 * len)
            {
                m--;
                long z = -Unsafe.Add(ref zetas, m);
                ref int lo = ref Unsafe.Add(ref a, start);
                ref int hi = ref Unsafe.Add(ref a, start + len);
                for (int j = 0; j < len; j++)
                {
                    int t = Unsafe.Add(ref lo, j);
                    int u = Unsafe.Add(ref hi, j);
                    Unsafe.Add(ref lo, j) = t + u;
                    Unsafe.Add(ref hi, j) = MontgomeryReduce(z * (t - u));
                }
            }
        }

        long f = s_inverseScale;
        for (int j = 0; j < N; j++)
        {
            Unsafe.Add(ref a, j) = MontgomeryReduce(f * Unsafe.Add(ref a, j));
        }
    }

    /// <summary>
    /// Eight Montgomery products a_i·b_i·2^-32 in (−q, q), each exactly <see cref="MontgomeryReduce"/>((long)a_i·b_i).
    /// <paramref name="bQInv"/> is b·q^-1 mod 2^32 lane-wise. With t = a·b·q^-1 mod 2^32, a·b − t·q ≡ 0 mod 2^32, so
    /// (a·b − t·q)/2^32 is the difference of the high halves of a·b and t·q; vpmuldq forms the 64-bit products of the
    /// even lanes, and the odd lanes are shifted down to be multiplied the same way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> MontgomeryMultiply(Vector256<int> a, Vector256<int> b, Vector256<int> bQInv)
    {
        Vector256<int> q = Vector256.Create(Q);
        Vector256<int> t = Avx2.MultiplyLow(a, bQInv);
        Vector256<int> aOdd = Avx2.ShiftRightLogical(a.AsInt64(), 32).AsInt32();
        Vector256<int> bOdd = Avx2.ShiftRightLogical(b.AsInt64(), 32).AsInt32();
        Vector256<int> tOdd = Avx2.ShiftRightLogical(t.AsInt64(), 32).AsInt32();
        Vector256<long> abEven = Avx2.Multiply(a, b);
        Vector256<long> abOdd = Avx2.Multiply(aOdd, bOdd);
        Vector256<long> tqEven = Avx2.Multiply(t, q);
        Vector256<long> tqOdd = Avx2.Multiply(tOdd, q);

        // High halves: the even products' sit in odd int positions, so shift them down; the odd products' stay put.
        Vector256<int> abHigh = Avx2.Blend(Avx2.ShiftRightLogical(abEven, 32).AsInt32(), abOdd.AsInt32(), 0b1010_1010);
        Vector256<int> tqHigh = Avx2.Blend(Avx2.ShiftRightLogical(tqEven, 32).AsInt32(), tqOdd.AsInt32(), 0b1010_1010);
        return abHigh - tqHigh;
    }

    /// <summary>NTT (Algorithm 41) with the layers of length ≥ 8 on eight lanes at a time; the last three layers scalar.</summary>
    [SkipLocalsInit]
    private static void NttAvx2(Span<int> w)
    {
        ref int a = ref MemoryMarshal.GetReference(w);
        ref int zetas = ref MemoryMarshal.GetArrayDataReference(s_zetas);
        Vector256<int> qInv = Vector256.Create(QInv);
        int m = 0;
        int len = 128;
        for (; len >= 8; len >>= 1)
        {
            for (int start = 0; start < N; start += 2 * len)
            {
                m++;
                Vector256<int> z = Vector256.Create(Unsafe.Add(ref zetas, m));
                Vector256<int> zQInv = Avx2.MultiplyLow(z, qInv);
                for (int j = start; j < start + len; j += 8)
                {
                    Vector256<int> lo = Vector256.LoadUnsafe(ref a, (nuint)j);
                    Vector256<int> hi = Vector256.LoadUnsafe(ref a, (nuint)(j + len));
                    Vector256<int> t = MontgomeryMultiply(hi, z, zQInv);
                    (lo - t).StoreUnsafe(ref a, (nuint)(j + len));
                    (lo + t).StoreUnsafe(ref a, (nuint)j);
                }
            }
        }

        for (; len >= 1; len >>= 1)
        {
            for (int start = 0; start < N; start += 2 * len)
            {
                m++;
                long z = Unsafe.Add(ref zetas, m);
                for (int j = start; j < start + len; j++)
                {
                    int t = MontgomeryReduce(z * Unsafe.Add(ref a, j + len));
                    int x = Unsafe.Add(ref a, j);
                    Unsafe.Add(ref a, j + len) = x - t;
                    Unsafe.Add(ref a, j) = x + t;
                }
            }
        }
    }

    /// <summary>NTT^-1 (Algorithm 42) times 2^32: first three layers scalar, then eight lanes at a time, then the scaling.</summary>
    [SkipLocalsInit]
    private static void InverseNttToMontAvx2(Span<int> w)
    {
        ref int a = ref MemoryMarshal.GetReference(w);
        ref int zetas = ref MemoryMarshal.GetArrayDataReference(s_zetas);
        int m = N;
        int len = 1;
        for (; len < 8; len <<= 1)
        {
            for (int start = 0; start < N; start += 2 * len)
            {
                m--;
                long z = -Unsafe.Add(ref zetas, m);
                for (int j = start; j < start + len; j++)
                {
                    int t = Unsafe.Add(ref a, j);
                    int u = Unsafe.Add(ref a, j + len);
                    Unsafe.Add(ref a, j) = t + u;
                    Unsafe.Add(ref a, j + len) = MontgomeryReduce(z * (t - u));
                }
            }
        }

        Vector256<int> qInv = Vector256.Create(QInv);
        for (; len < N; len <<= 1)
        {
            for (int start = 0; start < N; start += 2 * len)
            {
                m--;
                Vector256<int> z = Vector256.Create(-Unsafe.Add(ref zetas, m));
                Vector256<int> zQInv = Avx2.MultiplyLow(z, qInv);
                for (int j = start; j < start + len; j += 8)
                {
                    Vector256<int> t = Vector256.LoadUnsafe(ref a, (nuint)j);
                    Vector256<int> u = Vector256.LoadUnsafe(ref a, (nuint)(j + len));
                    (t + u).StoreUnsafe(ref a, (nuint)j);
                    MontgomeryMultiply(t - u, z, zQInv).StoreUnsafe(ref a, (nuint)(j + len));
                }
            }
        }

        Vector256<int> f = Vector256.Create(s_inverseScale);
        Vector256<int> fQInv = Avx2.MultiplyLow(f, qInv);
        for (nuint j = 0; j < N; j += 8)
        {
            MontgomeryMultiply(Vector256.LoadUnsafe(ref a, j), f, fQInv).StoreUnsafe(ref a, j);
        }
    }

    /// <summary>ĉ = â ∘ b̂ · 2^-32 (FIPS 204, Algorithm 45, in Montgomery form). Inputs |x| &lt; 9q; output |ĉ_i| &lt; q.</summary>
    public static void PointwiseMontgomery(ReadOnlySpan<int> a, ReadOnlySpan<int> b, Span<int> c)
    {
        Debug.Assert(a.Length == N && b.Length == N && c.Length == N);
        if (Avx2.IsSupported)
        {
            ref int ra = ref MemoryMarshal.GetReference(a);
            ref int rb = ref MemoryMarshal.GetReference(b);
            ref int rc = ref MemoryMarshal.GetReference(c);
            for (nuint i = 0; i < N; i += 8)
            {
                var vb = Vector256.LoadUnsafe(ref rb, i);
                MontgomeryMultiply(Vector256.LoadUnsafe(ref ra, i), vb, Avx2.MultiplyLow(vb, Vector256.Create(QInv))).StoreUnsafe(ref rc, i);
            }

            return;
        }

        for (int i = 0; i < N; i++)
        {
            c[i] = MontgomeryReduce((long)a[i] * b[i]);
        }
    }

    /// <summary>ĉ += â ∘ b̂ · 2^-32. Callers reduce the sum before it can exceed 2^31 (at most 200 terms of |x| &lt; q).</summary>
    public static void PointwiseMontgomeryAccumulate(ReadOnlySpan<int> a, ReadOnlySpan<int> b, Span<int> c)
    {
        Debug.Assert(a.Length == N && b.Length == N && c.Length == N);
        if (Avx2.IsSupported)
        {
            ref int ra = ref MemoryMarshal.GetReference(a);
            ref int rb = ref MemoryMarshal.GetReference(b);
            ref int rc = ref MemoryMarshal.GetReference(c);
            for (nuint i = 0; i < N; i += 8)
            {
                var vb = Vector256.LoadUnsafe(ref rb, i);
                var product = MontgomeryMultiply(Vector256.LoadUnsafe(ref ra, i), vb, Avx2.MultiplyLow(vb, Vector256.Create(QInv)));
                (Vector256.LoadUnsafe(ref rc, i) + product).StoreUnsafe(ref rc, i);
            }

            return;
        }

        for (int i = 0; i < N; i++)
        {
            c[i] += MontgomeryReduce((long)a[i] * b[i]);
        }
    }

    /// <summary>
    /// û = Â ∘ v̂ (FIPS 204, Algorithm 48, MatrixVectorNTT) for a k×l matrix stored row-major, then NTT^-1: the
    /// result <paramref name="u"/> (k polynomials) is A·v in the normal domain, each coefficient in (−q, q).
    /// </summary>
    public static void MatrixVectorMultiply(ReadOnlySpan<int> aHat, ReadOnlySpan<int> vHat, Span<int> u, int k, int l)
    {
        for (int i = 0; i < k; i++)
        {
            Span<int> ui = u.Slice(i * N, N);
            PointwiseMontgomery(aHat.Slice(i * l * N, N), vHat[..N], ui);
            for (int j = 1; j < l; j++)
            {
                PointwiseMontgomeryAccumulate(aHat.Slice(((i * l) + j) * N, N), vHat.Slice(j * N, N), ui);
            }

            for (int c = 0; c < N; c++)
            {
                ui[c] = Reduce32(ui[c]);
            }

            InverseNttToMont(ui);
        }
    }
}
