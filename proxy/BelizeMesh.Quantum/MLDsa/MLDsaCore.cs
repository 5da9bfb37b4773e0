using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using BelizeMesh.Quantum.Keccak;

namespace BelizeMesh.Quantum.Dsa;

/// <summary>
/// The internal ML-DSA functions of FIPS 204, section 6: ML-DSA.KeyGen_internal (Algorithm 6),
/// ML-DSA.Sign_internal (Algorithm 7) and ML-DSA.Verify_internal (Algorithm 8), plus the message representative
/// µ = H(BytesToBits(tr) ‖ M′, 64) that Algorithms 2–5 feed them.
/// </summary>
/// <remarks>
/// <para>
/// Polynomial vectors are spans of k·256 or l·256 <see cref="int"/>s. Scratch space comes from
/// <see cref="ArrayPool{T}"/> and is zeroed before it goes back, as are the seeds derived on the stack; so an
/// operation allocates nothing beyond its outputs once the pool is warm.
/// </para>
/// <para>
/// Deliberate differences from the text, none observable in outputs: Sign_internal takes Â, NTT(s1), NTT(s2) and
/// NTT(t0) precomputed by the key (the spec recomputes them from sk each call); it computes ⟨⟨cs2⟩⟩ and ⟨⟨ct0⟩⟩ only
/// after the z check passed, since a rejection then skips them; Verify_internal takes Â and NTT(t1·2^d) from the key.
/// </para>
/// </remarks>
internal static class MLDsaCore
{
    private const int N = MLDsaField.N;

    /// <summary>
    /// Bound on the rejection loop of Sign_internal. FIPS 204, Appendix C allows a bound when it is large enough that
    /// a correct implementation fails with negligible probability: one iteration succeeds with probability above
    /// 1/5.1 for every parameter set (ML-DSA-65 is the worst, section 3.6 Table 1 “expected number of repetitions”),
    /// so 814 iterations all fail with probability below (1 − 1/5.1)^814 &lt; 2^-256.
    /// </summary>
    public const int MaxSigningIterations = 814;

    /// <summary>
    /// ML-DSA.KeyGen_internal (FIPS 204, Algorithm 6): pk and sk from ξ. <paramref name="aHat"/> (k·l·256 coefficients)
    /// is the caller's space for Â.
    /// </summary>
    [SkipLocalsInit]
    public static void KeyGenInternal(MLDsaParameterSet p, ReadOnlySpan<byte> xi, Span<byte> pk, Span<byte> sk, Span<int> aHat)
    {
        Debug.Assert(xi.Length == 32 && pk.Length == p.PublicKeySizeInBytes && sk.Length == p.PrivateKeySizeInBytes);
        int k = p.K, l = p.L;

        // Everything secret is derived inside the try, so the finally zeroes it on every path, an exception included
        // (before, ρ′ and K were derived, and the pool rented, ahead of the try).
        Span<byte> seeds = stackalloc byte[128];
        int scratchLength = ((2 * l) + (2 * k)) * N;
        int[]? rented = null;
        try
        {
            // (ρ, ρ′, K) ← H(ξ ‖ IntegerToBytes(k, 1) ‖ IntegerToBytes(l, 1), 128) (Algorithm 6, line 1)
            var h = KeccakSponge.CreateShake256();
            h.Absorb(xi);
            Span<byte> kl = [(byte)k, (byte)l];
            h.Absorb(kl);
            h.Squeeze(seeds);
            h.Clear();
            ReadOnlySpan<byte> rho = seeds[..32];
            ReadOnlySpan<byte> rhoPrime = seeds.Slice(32, 64);
            ReadOnlySpan<byte> key = seeds.Slice(96, 32);

            rented = ArrayPool<int>.Shared.Rent(scratchLength);
            Span<int> s1 = rented.AsSpan(0, l * N);
            Span<int> s2 = rented.AsSpan(l * N, k * N);
            Span<int> s1Hat = rented.AsSpan((l + k) * N, l * N);
            Span<int> t = rented.AsSpan(((2 * l) + k) * N, k * N);

            MLDsaSampling.ExpandA(rho, k, l, aHat);
            MLDsaSampling.ExpandS(rhoPrime, p.Eta, k, l, s1, s2);

            // t ← NTT^-1(Â ∘ NTT(s1)) + s2
            s1.CopyTo(s1Hat);
            for (int j = 0; j < l; j++)
            {
                MLDsaField.Ntt(s1Hat.Slice(j * N, N));
            }

            MLDsaField.MatrixVectorMultiply(aHat, s1Hat, t, k, l);

            // (t1, t0) ← Power2Round(t), one polynomial at a time: t0 overwrites t, t1 is packed into pk at once.
            Span<int> t0 = t;
            Span<byte> pkT1 = pk[32..];
            Span<int> t1Poly = stackalloc int[N];
            t1Poly.Clear();
            for (int i = 0; i < k; i++)
            {
                Span<int> ti = t.Slice(i * N, N);
                for (int c = 0; c < N; c++)
                {
                    int r = MLDsaField.Freeze(ti[c] + s2[(i * N) + c]);
                    t1Poly[c] = MLDsaRounding.Power2Round(r, out int r0);
                    ti[c] = r0;
                }

                MLDsaEncoding.SimpleBitPack(t1Poly, 10, pkT1.Slice(i * 320, 320));
            }

            rho.CopyTo(pk);

            // tr ← H(pk, 64); sk ← skEncode(ρ, K, tr, s1, s2, t0)
            Span<byte> tr = stackalloc byte[64];
            Shake256(pk, tr);
            MLDsaEncoding.SkEncode(rho, key, tr, s1, s2, t0, p.Eta, k, l, sk);
        }
        finally
        {
            if (rented is not null)
            {
                CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(rented.AsSpan(0, scratchLength)));
                ArrayPool<int>.Shared.Return(rented);
            }

            CryptographicOperations.ZeroMemory(seeds);
        }
    }

    /// <summary>H(input, output.Length) with H = SHAKE256.</summary>
    public static void Shake256(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var h = KeccakSponge.CreateShake256();
        h.Absorb(input);
        h.Squeeze(output);
        h.Clear();
    }

    /// <summary>
    /// µ ← H(BytesToBits(tr) ‖ M′, 64) where M′ = prefix ‖ ctx ‖ oid ‖ message (Algorithm 7 line 6 with M′ of
    /// Algorithm 2 line 10 or Algorithm 4 line 23). For the internal interface pass the whole M′ as
    /// <paramref name="message"/> and empty other parts.
    /// </summary>
    public static void ComputeMu(
        ReadOnlySpan<byte> tr, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> context, ReadOnlySpan<byte> oid,
        ReadOnlySpan<byte> message, Span<byte> mu)
    {
        Debug.Assert(tr.Length == 64 && mu.Length == 64);
        var h = KeccakSponge.CreateShake256();
        h.Absorb(tr);
        h.Absorb(prefix);
        h.Absorb(context);
        h.Absorb(oid);
        h.Absorb(message);
        h.Squeeze(mu);
        h.Clear();
    }

    /// <summary>True when some |v_i| ≥ bound, for centered v. Branch-free over the coefficients: reveals only the answer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool InfinityNormAtLeast(ReadOnlySpan<int> v, int bound)
    {
        int flag = 0;
        for (int i = 0; i < v.Length; i++)
        {
            int x = v[i];
            int abs = x - ((x >> 31) & (2 * x));
            flag |= bound - 1 - abs;
        }

        return flag < 0;
    }

    /// <summary>
    /// ML-DSA.Sign_internal (FIPS 204, Algorithm 7) from precomputed Â, NTT(s1), NTT(s2), NTT(t0), K and µ (the
    /// caller computes µ from tr and M′, or takes it from outside for external µ). rnd is 32 bytes: zeros for the
    /// deterministic variant, fresh randomness for the hedged one.
    /// </summary>
    /// <exception cref="CryptographicException">The rejection loop exceeded <paramref name="maxIterations"/> (a test hook; callers leave the default).</exception>
    [SkipLocalsInit]
    public static void SignInternal(
        MLDsaParameterSet p, ReadOnlySpan<int> aHat, ReadOnlySpan<int> s1Hat, ReadOnlySpan<int> s2Hat, ReadOnlySpan<int> t0Hat,
        ReadOnlySpan<byte> key, ReadOnlySpan<byte> mu, ReadOnlySpan<byte> rnd, Span<byte> signature,
        int maxIterations = MaxSigningIterations)
    {
        Debug.Assert(key.Length == 32 && mu.Length == 64 && rnd.Length == 32 && signature.Length == p.SignatureSizeInBytes);
        int k = p.K, l = p.L;
        MLDsaRounding rounding = p.Rounding;
        int gamma1 = 1 << p.Gamma1Bits;
        int beta = p.Beta;

        Span<byte> rhoPrimePrime = stackalloc byte[64];
        Span<byte> cTilde = stackalloc byte[64];
        cTilde = cTilde[..p.CTildeSize];
        Span<byte> w1Encoded = stackalloc byte[8 * 32 * 6];
        w1Encoded = w1Encoded[..(k * 32 * p.W1Bits)];

        // Scratch: y, ŷ, z (l each); w, w1, cs2, ct0, hint (k each); c, ĉ.
        int total = ((3 * l) + (5 * k) + 2) * N;
        int[]? rented = null;

        // ρ″ is derived and the pool rented inside the try, so the finally zeroes ρ″ on every path, an exception
        // included (before, both happened ahead of the try).
        try
        {
            // ρ″ ← H(K ‖ rnd ‖ µ, 64) (Algorithm 7, line 7)
            var h = KeccakSponge.CreateShake256();
            h.Absorb(key);
            h.Absorb(rnd);
            h.Absorb(mu);
            h.Squeeze(rhoPrimePrime);
            h.Clear();

            rented = ArrayPool<int>.Shared.Rent(total);
            Span<int> all = rented.AsSpan(0, total);
            Span<int> y = all[..(l * N)];
            Span<int> yHat = all.Slice(l * N, l * N);
            Span<int> z = all.Slice(2 * l * N, l * N);
            Span<int> w = all.Slice(3 * l * N, k * N);
            Span<int> w1 = all.Slice(((3 * l) + k) * N, k * N);
            Span<int> cs2 = all.Slice(((3 * l) + (2 * k)) * N, k * N);
            Span<int> ct0 = all.Slice(((3 * l) + (3 * k)) * N, k * N);
            Span<int> hint = all.Slice(((3 * l) + (4 * k)) * N, k * N);
            Span<int> c = all.Slice(((3 * l) + (5 * k)) * N, N);
            Span<int> cHat = all.Slice((((3 * l) + (5 * k)) * N) + N, N);

            for (int iteration = 0, kappa = 0; iteration < maxIterations; iteration++, kappa += l)
            {
                // y ← ExpandMask(ρ″, κ); w ← NTT^-1(Â ∘ NTT(y)); w1 ← HighBits(w)
                MLDsaSampling.ExpandMask(rhoPrimePrime, kappa, p.Gamma1Bits, l, y);
                y.CopyTo(yHat);
                for (int j = 0; j < l; j++)
                {
                    MLDsaField.Ntt(yHat.Slice(j * N, N));
                }

                MLDsaField.MatrixVectorMultiply(aHat, yHat, w, k, l);
                for (int i = 0; i < w.Length; i++)
                {
                    int wi = MLDsaField.ConditionalAddQ(w[i]);
                    w[i] = wi;
                    w1[i] = rounding.HighBits(wi);
                }

                // c̃ ← H(µ ‖ w1Encode(w1), λ/4); c ← SampleInBall(c̃); ĉ ← NTT(c)
                MLDsaEncoding.W1Encode(w1, p.W1Bits, k, w1Encoded);
                h = KeccakSponge.CreateShake256();
                h.Absorb(mu);
                h.Absorb(w1Encoded);
                h.Squeeze(cTilde);
                h.Clear();
                MLDsaSampling.SampleInBall(cTilde, p.Tau, c);
                c.CopyTo(cHat);
                MLDsaField.Ntt(cHat);

                // ⟨⟨cs1⟩⟩ ← NTT^-1(ĉ ∘ ŝ1); z ← y + ⟨⟨cs1⟩⟩; reject when ‖z‖∞ ≥ γ1 − β
                for (int j = 0; j < l; j++)
                {
                    Span<int> zj = z.Slice(j * N, N);
                    MLDsaField.PointwiseMontgomery(cHat, s1Hat.Slice(j * N, N), zj);
                    MLDsaField.InverseNttToMont(zj);
                    ReadOnlySpan<int> yj = y.Slice(j * N, N);
                    for (int i = 0; i < N; i++)
                    {
                        zj[i] = MLDsaField.Center(zj[i]) + yj[i];
                    }
                }

                if (InfinityNormAtLeast(z, gamma1 - beta))
                {
                    continue;
                }

                // ⟨⟨cs2⟩⟩ ← NTT^-1(ĉ ∘ ŝ2); r0 ← LowBits(w − ⟨⟨cs2⟩⟩); reject when ‖r0‖∞ ≥ γ2 − β.
                // w − cs2 (in [0, q)) replaces cs2; r0 goes to w1's space, which is no longer needed.
                for (int i = 0; i < k; i++)
                {
                    Span<int> cs2i = cs2.Slice(i * N, N);
                    MLDsaField.PointwiseMontgomery(cHat, s2Hat.Slice(i * N, N), cs2i);
                    MLDsaField.InverseNttToMont(cs2i);
                    ReadOnlySpan<int> wi = w.Slice(i * N, N);
                    Span<int> r0 = w1.Slice(i * N, N);
                    for (int j = 0; j < N; j++)
                    {
                        int wMinusCs2 = MLDsaField.Freeze(wi[j] - MLDsaField.Center(cs2i[j]));
                        cs2i[j] = wMinusCs2;
                        r0[j] = rounding.LowBits(wMinusCs2);
                    }
                }

                if (InfinityNormAtLeast(w1, p.Gamma2 - beta))
                {
                    continue;
                }

                // ⟨⟨ct0⟩⟩ ← NTT^-1(ĉ ∘ t̂0); h ← MakeHint(−⟨⟨ct0⟩⟩, w − ⟨⟨cs2⟩⟩ + ⟨⟨ct0⟩⟩);
                // reject when ‖⟨⟨ct0⟩⟩‖∞ ≥ γ2 or the number of 1's in h exceeds ω.
                for (int i = 0; i < k; i++)
                {
                    Span<int> ct0i = ct0.Slice(i * N, N);
                    MLDsaField.PointwiseMontgomery(cHat, t0Hat.Slice(i * N, N), ct0i);
                    MLDsaField.InverseNttToMont(ct0i);
                    for (int j = 0; j < N; j++)
                    {
                        ct0i[j] = MLDsaField.Center(ct0i[j]);
                    }
                }

                if (InfinityNormAtLeast(ct0, p.Gamma2))
                {
                    continue;
                }

                int ones = 0;
                for (int i = 0; i < hint.Length; i++)
                {
                    int wMinusCs2 = cs2[i];
                    int hi = rounding.MakeHint(MLDsaField.Freeze(wMinusCs2 + ct0[i]), wMinusCs2);
                    hint[i] = hi;
                    ones += hi;
                }

                if (ones > p.Omega)
                {
                    continue;
                }

                // σ ← sigEncode(c̃, z mod± q, h): z is already centered.
                MLDsaEncoding.SigEncode(cTilde, z, hint, p, signature);
                return;
            }

            throw new CryptographicException(
                $"{p.Name} signing found no signature within {maxIterations} iterations of the rejection loop " +
                "(FIPS 204, Appendix C); this has negligible probability for a valid key: check the private key.");
        }
        finally
        {
            if (rented is not null)
            {
                CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(rented.AsSpan(0, total)));
                ArrayPool<int>.Shared.Return(rented);
            }

            CryptographicOperations.ZeroMemory(rhoPrimePrime);

            // Rejected candidates' w1 and c̃ are not part of any output; do not leave them behind either.
            CryptographicOperations.ZeroMemory(w1Encoded);
            CryptographicOperations.ZeroMemory(cTilde);
        }
    }

    /// <summary>
    /// ML-DSA.Verify_internal (FIPS 204, Algorithm 8) from Â and NTT(t1·2^d) precomputed by the key and µ computed by
    /// the caller. The signature has the right length (callers check); every other malformation returns false.
    /// </summary>
    [SkipLocalsInit]
    public static bool VerifyInternal(MLDsaParameterSet p, ReadOnlySpan<int> aHat, ReadOnlySpan<int> t1Hat, ReadOnlySpan<byte> mu, ReadOnlySpan<byte> sigma)
    {
        Debug.Assert(mu.Length == 64 && sigma.Length == p.SignatureSizeInBytes);
        int k = p.K, l = p.L;
        MLDsaRounding rounding = p.Rounding;

        int total = ((2 * l) + (2 * k) + 1) * N;
        int[] rented = ArrayPool<int>.Shared.Rent(total);
        try
        {
            Span<int> all = rented.AsSpan(0, total);
            Span<int> zHat = all[..(l * N)];
            Span<int> h = all.Slice(l * N, k * N);
            Span<int> wApprox = all.Slice((l + k) * N, k * N);
            Span<int> cHat = all.Slice(((l + (2 * k)) * N), N);

            // (c̃, z, h) ← sigDecode(σ); h = ⊥ → false. The norm check of line 13 is done first: both are public.
            if (!MLDsaEncoding.SigDecode(sigma, p, zHat, h))
            {
                return false;
            }

            if (InfinityNormAtLeast(zHat, (1 << p.Gamma1Bits) - p.Beta))
            {
                return false;
            }

            ReadOnlySpan<byte> cTilde = sigma[..p.CTildeSize];
            MLDsaSampling.SampleInBall(cTilde, p.Tau, cHat);
            MLDsaField.Ntt(cHat);
            for (int j = 0; j < l; j++)
            {
                MLDsaField.Ntt(zHat.Slice(j * N, N));
            }

            // w′_Approx ← NTT^-1(Â ∘ NTT(z) − NTT(c) ∘ NTT(t1·2^d)); w1′ ← UseHint(h, w′_Approx)
            for (int i = 0; i < k; i++)
            {
                Span<int> wi = wApprox.Slice(i * N, N);
                MLDsaField.PointwiseMontgomery(aHat.Slice(i * l * N, N), zHat[..N], wi);
                for (int j = 1; j < l; j++)
                {
                    MLDsaField.PointwiseMontgomeryAccumulate(aHat.Slice(((i * l) + j) * N, N), zHat.Slice(j * N, N), wi);
                }

                ReadOnlySpan<int> t1i = t1Hat.Slice(i * N, N);
                for (int c = 0; c < N; c++)
                {
                    wi[c] = MLDsaField.Reduce32(wi[c] - MLDsaField.MontgomeryReduce((long)cHat[c] * t1i[c]));
                }

                MLDsaField.InverseNttToMont(wi);
                ReadOnlySpan<int> hi = h.Slice(i * N, N);
                for (int c = 0; c < N; c++)
                {
                    wi[c] = rounding.UseHint(hi[c], MLDsaField.ConditionalAddQ(wi[c]));
                }
            }

            // c̃′ ← H(µ ‖ w1Encode(w1′), λ/4); accept iff c̃ = c̃′ (and ‖z‖∞ < γ1 − β, checked above)
            Span<byte> w1Encoded = stackalloc byte[8 * 32 * 6];
            w1Encoded = w1Encoded[..(k * 32 * p.W1Bits)];
            MLDsaEncoding.W1Encode(wApprox, p.W1Bits, k, w1Encoded);
            Span<byte> cTildePrime = stackalloc byte[64];
            cTildePrime = cTildePrime[..p.CTildeSize];
            var sponge = KeccakSponge.CreateShake256();
            sponge.Absorb(mu);
            sponge.Absorb(w1Encoded);
            sponge.Squeeze(cTildePrime);
            sponge.Clear();
            return CryptographicOperations.FixedTimeEquals(cTilde, cTildePrime);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rented);
        }
    }
}
