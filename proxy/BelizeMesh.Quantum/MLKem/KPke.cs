using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using BelizeMesh.Quantum.Keccak;
using static BelizeMesh.Quantum.MLKemMath;

namespace BelizeMesh.Quantum;

/// <summary>
/// K-PKE, the CPA-secure public-key encryption scheme inside ML-KEM (FIPS 203, section 5).
/// </summary>
/// <remarks>
/// What differs from the text of the standard, deliberately: the matrix Â and the vector t̂ are expanded once
/// when a key is created or imported and passed in decoded (the standard re-derives them from ek in every
/// K-PKE.Encrypt); the result is identical. Scratch lives on the stack and secret scratch is zeroed before return.
/// </remarks>
internal static class KPke
{
    /// <summary>Largest module rank, k = 4 (ML-KEM-1024).</summary>
    public const int MaxK = 4;

    /// <summary>Expands Â[i, j] = SampleNTT(ρ‖j‖i) for all i, j &lt; k, row-major (FIPS 203, Algorithm 13 lines 3–7).</summary>
    internal static void ExpandA(ReadOnlySpan<byte> rho, int k, Span<ushort> aHat)
    {
        Debug.Assert(aHat.Length == k * k * N);
        SampleNttMany(rho, k, aHat, 0, k * k);
    }

    /// <summary>
    /// K-PKE.KeyGen (FIPS 203, Algorithm 13) from the seed d: writes ρ, the expanded Â, ŝ and t̂ = Â∘ŝ + ê.
    /// ek_PKE is ByteEncode_12(t̂)‖ρ and dk_PKE is ByteEncode_12(ŝ); the caller encodes them.
    /// </summary>
    [SkipLocalsInit]
    internal static void KeyGen(MLKemParameterSet p, ReadOnlySpan<byte> d, Span<byte> rho, Span<ushort> aHat, Span<ushort> sHat, Span<ushort> tHat)
    {
        int k = p.K;
        Debug.Assert(d.Length == 32 && rho.Length == 32);

        // (ρ, σ) ← G(d‖k)  (line 1; the domain-separating byte k was added in the final standard)
        Span<byte> gInput = stackalloc byte[33];
        Span<byte> g = stackalloc byte[64];
        Span<ushort> se = stackalloc ushort[2 * MaxK * N];
        se = se[..(2 * k * N)];
        Span<ushort> sPrepared = stackalloc ushort[MaxK * PreparedPolySize];
        sPrepared = sPrepared[..(k * PreparedPolySize)];
        try
        {
            d.CopyTo(gInput);
            gInput[32] = (byte)k;
            Sha3.Sha3_512(gInput, g);
            g[..32].CopyTo(rho);
            ReadOnlySpan<byte> sigma = g[32..];

            ExpandA(rho, k, aHat);

            // s[i] ← SamplePolyCBD_η1(PRF_η1(σ, N)), then e[i] likewise (lines 8–15): the 2k PRF outputs N = 0..2k−1
            // are sampled as one batch (four at a time) into s‖e, then s is copied out.
            SamplePolyCbdMany(sigma, 0, p.Eta1, se);
            se[..(k * N)].CopyTo(sHat);
            Span<ushort> eHat = se[(k * N)..];

            // ŝ ← NTT(s), ê ← NTT(e), t̂ ← Â∘ŝ + ê (lines 16–18).
            for (int i = 0; i < k; i++)
            {
                Ntt(sHat.Slice(i * N, N));
                Ntt(eHat.Slice(i * N, N));
            }

            PrepareMultiplicand(sHat, sPrepared);
            for (int i = 0; i < k; i++)
            {
                // Row i of Â: Â[i, 0..k−1] are consecutive, stride 1.
                MultiplyAccumulatePrepared(aHat.Slice(i * k * N, k * N), 1, sPrepared, k, eHat.Slice(i * N, N), tHat.Slice(i * N, N));
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(sPrepared));
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(se));
            CryptographicOperations.ZeroMemory(g);
            CryptographicOperations.ZeroMemory(gInput);
        }
    }

    /// <summary>
    /// K-PKE.Encrypt (FIPS 203, Algorithm 14) of the 32-byte message m with randomness r, to the key given by its
    /// expanded Â and t̂. Writes c = c1‖c2.
    /// </summary>
    [SkipLocalsInit]
    internal static void Encrypt(MLKemParameterSet p, ReadOnlySpan<ushort> aHat, ReadOnlySpan<ushort> tHat, ReadOnlySpan<byte> m, ReadOnlySpan<byte> r, Span<byte> c)
    {
        int k = p.K;
        Debug.Assert(m.Length == 32 && r.Length == 32 && c.Length == p.CiphertextSizeInBytes);

        // y, e1 and e2 are PRF outputs N = 0..k−1 (η1), k..2k−1 and 2k (η2 = 2), sampled in batches up front.
        Span<ushort> noise = stackalloc ushort[((2 * MaxK) + 1) * N];
        Span<ushort> u = stackalloc ushort[MaxK * N];
        Span<ushort> v = stackalloc ushort[N];
        Span<ushort> mu = stackalloc ushort[N];
        Span<ushort> yPrepared = stackalloc ushort[MaxK * PreparedPolySize];
        yPrepared = yPrepared[..(k * PreparedPolySize)];
        noise = noise[..(((2 * k) + 1) * N)];
        u = u[..(k * N)];
        Span<ushort> yHat = noise[..(k * N)];
        Span<ushort> e1 = noise.Slice(k * N, k * N);
        Span<ushort> e2 = noise.Slice(2 * k * N, N);
        try
        {
            if (p.Eta1 == 2)
            {
                SamplePolyCbdMany(r, 0, 2, noise);
            }
            else
            {
                SamplePolyCbdMany(r, 0, p.Eta1, yHat);
                SamplePolyCbdMany(r, (byte)k, 2, noise[(k * N)..]);
            }

            // ŷ ← NTT(y) (lines 9–12, 18).
            for (int i = 0; i < k; i++)
            {
                Ntt(yHat.Slice(i * N, N));
            }

            PrepareMultiplicand(yHat, yPrepared);

            // u ← NTT^-1(Â^T∘ŷ) + e1 (lines 13–16, 19): u[i] = Σ_j Â[j, i]∘ŷ[j], so column i of Â, stride k.
            for (int i = 0; i < k; i++)
            {
                Span<ushort> ui = u.Slice(i * N, N);
                MultiplyAccumulatePrepared(aHat[(i * N)..], k, yPrepared, k, default, ui);
                InverseNtt(ui);
                Add(ui, e1.Slice(i * N, N));
            }

            // μ ← Decompress_1(ByteDecode_1(m)) (line 20); v ← NTT^-1(t̂^T∘ŷ) + e2 + μ (line 21).
            DecodeAndDecompress(m, 1, mu);
            MultiplyAccumulatePrepared(tHat, 1, yPrepared, k, default, v);
            InverseNtt(v);
            Add(v, e2);
            Add(v, mu);

            // c1 ← ByteEncode_du(Compress_du(u)), c2 ← ByteEncode_dv(Compress_dv(v)) (lines 22–23).
            int du = p.Du, dv = p.Dv;
            for (int i = 0; i < k; i++)
            {
                CompressAndEncode(u.Slice(i * N, N), du, c.Slice(i * 32 * du, 32 * du));
            }

            CompressAndEncode(v, dv, c.Slice(k * 32 * du, 32 * dv));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(u));
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(noise));
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(yPrepared));
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v));
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(mu));
        }
    }

    /// <summary>K-PKE.Decrypt (FIPS 203, Algorithm 15) of c with the decoded secret ŝ: writes the 32-byte m.</summary>
    [SkipLocalsInit]
    internal static void Decrypt(MLKemParameterSet p, ReadOnlySpan<ushort> sHat, ReadOnlySpan<byte> c, Span<byte> m)
    {
        int k = p.K;
        int du = p.Du, dv = p.Dv;
        Debug.Assert(c.Length == p.CiphertextSizeInBytes && m.Length == 32);

        Span<ushort> uHat = stackalloc ushort[MaxK * N];
        Span<ushort> w = stackalloc ushort[N];
        Span<ushort> v = stackalloc ushort[N];
        uHat = uHat[..(k * N)];
        Span<ushort> sPrepared = stackalloc ushort[MaxK * PreparedPolySize];
        sPrepared = sPrepared[..(k * PreparedPolySize)];

        try
        {
            // u′ ← Decompress_du(ByteDecode_du(c1)), v′ ← Decompress_dv(ByteDecode_dv(c2)) (lines 3–4).
            for (int i = 0; i < k; i++)
            {
                Span<ushort> ui = uHat.Slice(i * N, N);
                DecodeAndDecompress(c.Slice(i * 32 * du, 32 * du), du, ui);
                Ntt(ui);
            }

            DecodeAndDecompress(c.Slice(k * 32 * du, 32 * dv), dv, v);

            // w ← v′ − NTT^-1(ŝ^T∘NTT(u′)) (line 6); m ← ByteEncode_1(Compress_1(w)) (line 7).
            PrepareMultiplicand(sHat, sPrepared);
            MultiplyAccumulatePrepared(uHat, 1, sPrepared, k, default, w);
            InverseNtt(w);
            SubtractFrom(v, w);
            CompressAndEncode(w, 1, m);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(sPrepared));
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(w));
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(uHat));
        }
    }
}
