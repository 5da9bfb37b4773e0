using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BelizeMesh.Quantum.Dsa;

/// <summary>
/// Encodings of FIPS 204, section 7.1–7.2: SimpleBitPack (Algorithm 16), BitPack (17), SimpleBitUnpack (18),
/// BitUnpack (19), HintBitPack (20), HintBitUnpack (21), pkEncode (22), pkDecode (23), skEncode (24),
/// skDecode (25), sigEncode (26), sigDecode (27), w1Encode (28).
/// </summary>
/// <remarks>
/// Bits are little-endian within bytes and coefficients are packed in order, as BitsToBytes (Algorithm 12) defines.
/// The packers are a shift-and-or loop over a 64-bit accumulator: no branches on coefficient values, so they are
/// safe for s1, s2, t0 and y. Only HintBitUnpack branches on its input, which is public (a signature).
/// </remarks>
internal static class MLDsaEncoding
{
    private const int N = MLDsaField.N;

    /// <summary>SimpleBitPack (FIPS 204, Algorithm 16): w_i ∈ [0, 2^bits) into 32·bits bytes.</summary>
    public static void SimpleBitPack(ReadOnlySpan<int> w, int bits, Span<byte> output) => Pack(w, bits, 0, negate: false, output);

    /// <summary>BitPack (FIPS 204, Algorithm 17): w_i ∈ [b − 2^bits + 1, b] stored as b − w_i in 32·bits bytes.</summary>
    public static void BitPack(ReadOnlySpan<int> w, int bits, int b, Span<byte> output) => Pack(w, bits, b, negate: true, output);

    /// <summary>SimpleBitUnpack (FIPS 204, Algorithm 18): 32·bits bytes into w_i ∈ [0, 2^bits).</summary>
    public static void SimpleBitUnpack(ReadOnlySpan<byte> v, int bits, Span<int> w) => Unpack(v, bits, 0, negate: false, w);

    /// <summary>BitUnpack (FIPS 204, Algorithm 19): 32·bits bytes into w_i = b − x_i, x_i ∈ [0, 2^bits).</summary>
    public static void BitUnpack(ReadOnlySpan<byte> v, int bits, int b, Span<int> w) => Unpack(v, bits, b, negate: true, w);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pack(ReadOnlySpan<int> w, int bits, int b, bool negate, Span<byte> output)
    {
        Debug.Assert(w.Length == N && output.Length == 32 * bits);
        ulong mask = (1UL << bits) - 1;
        ulong acc = 0;
        int accBits = 0;
        int o = 0;
        ref byte dst = ref MemoryMarshal.GetReference(output);
        for (int i = 0; i < N; i++)
        {
            int x = negate ? b - w[i] : w[i];
            acc |= ((ulong)(uint)x & mask) << accBits;
            accBits += bits;
            while (accBits >= 8)
            {
                Unsafe.Add(ref dst, o++) = (byte)acc;
                acc >>= 8;
                accBits -= 8;
            }
        }

        Debug.Assert(o == output.Length && accBits == 0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(ReadOnlySpan<byte> v, int bits, int b, bool negate, Span<int> w)
    {
        Debug.Assert(w.Length == N && v.Length == 32 * bits);
        ulong mask = (1UL << bits) - 1;
        ulong acc = 0;
        int accBits = 0;
        int p = 0;
        ref byte src = ref MemoryMarshal.GetReference(v);
        for (int i = 0; i < N; i++)
        {
            while (accBits < bits)
            {
                acc |= (ulong)Unsafe.Add(ref src, p++) << accBits;
                accBits += 8;
            }

            int x = (int)(acc & mask);
            acc >>= bits;
            accBits -= bits;
            w[i] = negate ? b - x : x;
        }
    }

    /// <summary>bitlen(2η): 3 bits for η = 2, 4 bits for η = 4.</summary>
    public static int EtaBits(int eta) => eta == 2 ? 3 : 4;

    /// <summary>pkEncode (FIPS 204, Algorithm 22): ρ ‖ SimpleBitPack(t1[i], 10) for each i.</summary>
    public static void PkEncode(ReadOnlySpan<byte> rho, ReadOnlySpan<int> t1, int k, Span<byte> pk)
    {
        rho.CopyTo(pk);
        for (int i = 0; i < k; i++)
        {
            SimpleBitPack(t1.Slice(i * N, N), 10, pk.Slice(32 + (i * 320), 320));
        }
    }

    /// <summary>pkDecode (FIPS 204, Algorithm 23): t1 from pk (ρ is pk[..32]). Every 10-bit value is valid.</summary>
    public static void PkDecodeT1(ReadOnlySpan<byte> pk, int k, Span<int> t1)
    {
        for (int i = 0; i < k; i++)
        {
            SimpleBitUnpack(pk.Slice(32 + (i * 320), 320), 10, t1.Slice(i * N, N));
        }
    }

    /// <summary>skEncode (FIPS 204, Algorithm 24): ρ ‖ K ‖ tr ‖ BitPack(s1, η, η) ‖ BitPack(s2, η, η) ‖ BitPack(t0, 2^12 − 1, 2^12).</summary>
    public static void SkEncode(
        ReadOnlySpan<byte> rho, ReadOnlySpan<byte> key, ReadOnlySpan<byte> tr,
        ReadOnlySpan<int> s1, ReadOnlySpan<int> s2, ReadOnlySpan<int> t0, int eta, int k, int l, Span<byte> sk)
    {
        rho.CopyTo(sk);
        key.CopyTo(sk[32..]);
        tr.CopyTo(sk[64..]);
        int etaBits = EtaBits(eta);
        int pos = 128;
        for (int i = 0; i < l; i++, pos += 32 * etaBits)
        {
            BitPack(s1.Slice(i * N, N), etaBits, eta, sk.Slice(pos, 32 * etaBits));
        }

        for (int i = 0; i < k; i++, pos += 32 * etaBits)
        {
            BitPack(s2.Slice(i * N, N), etaBits, eta, sk.Slice(pos, 32 * etaBits));
        }

        for (int i = 0; i < k; i++, pos += 32 * MLDsaField.D)
        {
            BitPack(t0.Slice(i * N, N), MLDsaField.D, 1 << (MLDsaField.D - 1), sk.Slice(pos, 32 * MLDsaField.D));
        }
    }

    /// <summary>
    /// skDecode (FIPS 204, Algorithm 25) of s1, s2 and t0 (ρ, K and tr are sk[0..32], sk[32..64], sk[64..128]).
    /// Returns false when a coefficient of s1 or s2 lies outside [−η, η], which no skEncode output has; the check
    /// accumulates over all coefficients so its timing says only valid/invalid.
    /// </summary>
    public static bool SkDecode(ReadOnlySpan<byte> sk, int eta, int k, int l, Span<int> s1, Span<int> s2, Span<int> t0)
    {
        int etaBits = EtaBits(eta);
        int pos = 128;
        int outOfRange = 0;
        for (int i = 0; i < l + k; i++, pos += 32 * etaBits)
        {
            Span<int> target = i < l ? s1.Slice(i * N, N) : s2.Slice((i - l) * N, N);
            BitUnpack(sk.Slice(pos, 32 * etaBits), etaBits, eta, target);
            for (int j = 0; j < N; j++)
            {
                // −η ≤ x ⇔ x + η ≥ 0; sign bit of (x + η) set means below range (x ≤ η always holds: η − nonneg).
                outOfRange |= target[j] + eta;
            }
        }

        for (int i = 0; i < k; i++, pos += 32 * MLDsaField.D)
        {
            BitUnpack(sk.Slice(pos, 32 * MLDsaField.D), MLDsaField.D, 1 << (MLDsaField.D - 1), t0.Slice(i * N, N));
        }

        return outOfRange >= 0;
    }

    /// <summary>w1Encode (FIPS 204, Algorithm 28): SimpleBitPack(w1[i], (q−1)/(2γ2) − 1) for each i.</summary>
    public static void W1Encode(ReadOnlySpan<int> w1, int w1Bits, int k, Span<byte> output)
    {
        int size = 32 * w1Bits;
        for (int i = 0; i < k; i++)
        {
            SimpleBitPack(w1.Slice(i * N, N), w1Bits, output.Slice(i * size, size));
        }
    }

    /// <summary>
    /// HintBitPack (FIPS 204, Algorithm 20): the positions of the ones of h, then the running counts in the last k
    /// bytes. <paramref name="h"/> holds k polynomials of 0/1 with at most ω ones in total (callers check).
    /// </summary>
    public static void HintBitPack(ReadOnlySpan<int> h, int omega, int k, Span<byte> y)
    {
        Debug.Assert(y.Length == omega + k);
        y.Clear();
        int index = 0;
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < N; j++)
            {
                if (h[(i * N) + j] != 0)
                {
                    y[index++] = (byte)j;
                }
            }

            y[omega + i] = (byte)index;
        }
    }

    /// <summary>
    /// HintBitUnpack (FIPS 204, Algorithm 21): false (⊥) when a count decreases or exceeds ω, when the indices of a
    /// polynomial are not strictly increasing, or when the unused index bytes are not zero.
    /// </summary>
    public static bool HintBitUnpack(ReadOnlySpan<byte> y, int omega, int k, Span<int> h)
    {
        Debug.Assert(y.Length == omega + k && h.Length == k * N);
        h.Clear();
        int index = 0;
        for (int i = 0; i < k; i++)
        {
            int end = y[omega + i];
            if (end < index || end > omega)
            {
                return false;
            }

            int first = index;
            while (index < end)
            {
                if (index > first && y[index - 1] >= y[index])
                {
                    return false;
                }

                h[(i * N) + y[index]] = 1;
                index++;
            }
        }

        for (int i = index; i < omega; i++)
        {
            if (y[i] != 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>sigEncode (FIPS 204, Algorithm 26): c̃ ‖ BitPack(z[i], γ1 − 1, γ1) ‖ HintBitPack(h).</summary>
    public static void SigEncode(ReadOnlySpan<byte> cTilde, ReadOnlySpan<int> z, ReadOnlySpan<int> h, MLDsaParameterSet p, Span<byte> sigma)
    {
        cTilde.CopyTo(sigma);
        int zBits = p.Gamma1Bits + 1;
        int pos = cTilde.Length;
        for (int i = 0; i < p.L; i++, pos += 32 * zBits)
        {
            BitPack(z.Slice(i * N, N), zBits, 1 << p.Gamma1Bits, sigma.Slice(pos, 32 * zBits));
        }

        HintBitPack(h, p.Omega, p.K, sigma.Slice(pos, p.Omega + p.K));
    }

    /// <summary>
    /// sigDecode (FIPS 204, Algorithm 27) of z and h (c̃ is σ[..λ/4]); false when HintBitUnpack returns ⊥. z is
    /// in [−γ1 + 1, γ1] for every input; the caller applies the norm check.
    /// </summary>
    public static bool SigDecode(ReadOnlySpan<byte> sigma, MLDsaParameterSet p, Span<int> z, Span<int> h)
    {
        int zBits = p.Gamma1Bits + 1;
        int pos = p.Lambda / 4;
        for (int i = 0; i < p.L; i++, pos += 32 * zBits)
        {
            BitUnpack(sigma.Slice(pos, 32 * zBits), zBits, 1 << p.Gamma1Bits, z.Slice(i * N, N));
        }

        return HintBitUnpack(sigma.Slice(pos, p.Omega + p.K), p.Omega, p.K, h);
    }
}
