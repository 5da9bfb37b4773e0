using System.Security.Cryptography;

namespace BelizeMesh.Quantum.Tests;

/// <summary>
/// sigDecode / HintBitUnpack (FIPS 204, Algorithms 27 and 21) must reject every non-canonical signature: several of the
/// malformations below keep the hint set unchanged, so a lax decoder would accept them.
/// </summary>
public class MLDsaSignatureEncodingTests
{
    public static TheoryData<string> Algorithms => new() { "ML-DSA-44", "ML-DSA-65", "ML-DSA-87" };

    private sealed record Fixture(MLDsaKey Key, byte[] Message, byte[] Signature, int HintOffset, int Omega, int K);

    /// <summary>A deterministic signature whose hint has a polynomial with at least two ones and fewer than ω ones in total.</summary>
    private static Fixture Make(string name)
    {
        var algorithm = MLDsaParameterSet.FromName(name)!;
        var key = MLDsaKey.ImportPrivateSeed(algorithm, SHA256.HashData([7, (byte)name.Length]));
        int omega = algorithm.Omega, k = algorithm.K;
        int offset = algorithm.SignatureSizeInBytes - omega - k;
        for (int attempt = 0; ; attempt++)
        {
            byte[] message = BitConverter.GetBytes(attempt);
            byte[] signature = new byte[algorithm.SignatureSizeInBytes];
            key.SignDataDeterministic(message, signature);
            int total = signature[offset + omega + k - 1];
            bool twoInOne = false;
            for (int i = 0, previous = 0; i < k; i++)
            {
                int count = signature[offset + omega + i];
                twoInOne |= count - previous >= 2;
                previous = count;
            }

            if (twoInOne && total < omega)
            {
                Assert.True(key.VerifyData(message, signature));
                return new Fixture(key, message, signature, offset, omega, k);
            }
        }
    }

    private static (int Start, int End) FirstPolynomialWithTwoHints(Fixture f)
    {
        for (int i = 0, previous = 0; i < f.K; i++)
        {
            int count = f.Signature[f.HintOffset + f.Omega + i];
            if (count - previous >= 2)
            {
                return (previous, count);
            }

            previous = count;
        }

        throw new InvalidOperationException("fixture has no polynomial with two hints");
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Hint_indices_out_of_order_are_rejected_even_though_the_hint_set_is_the_same(string name)
    {
        var f = Make(name);
        var (start, _) = FirstPolynomialWithTwoHints(f);
        byte[] tampered = (byte[])f.Signature.Clone();
        (tampered[f.HintOffset + start], tampered[f.HintOffset + start + 1]) = (tampered[f.HintOffset + start + 1], tampered[f.HintOffset + start]);
        Assert.False(f.Key.VerifyData(f.Message, tampered));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Repeated_hint_index_is_rejected(string name)
    {
        var f = Make(name);
        var (start, _) = FirstPolynomialWithTwoHints(f);
        byte[] tampered = (byte[])f.Signature.Clone();
        tampered[f.HintOffset + start + 1] = tampered[f.HintOffset + start];
        Assert.False(f.Key.VerifyData(f.Message, tampered));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Nonzero_padding_after_the_last_hint_index_is_rejected(string name)
    {
        var f = Make(name);
        int total = f.Signature[f.HintOffset + f.Omega + f.K - 1];
        foreach (int position in new[] { total, f.Omega - 1 })
        {
            byte[] tampered = (byte[])f.Signature.Clone();
            tampered[f.HintOffset + position] = 1;
            Assert.False(f.Key.VerifyData(f.Message, tampered), $"padding byte {position}");
        }
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Hint_counts_that_decrease_or_exceed_omega_are_rejected(string name)
    {
        var f = Make(name);
        int countsAt = f.HintOffset + f.Omega;

        byte[] decreasing = (byte[])f.Signature.Clone();
        int nonZero = Enumerable.Range(0, f.K).First(i => decreasing[countsAt + i] > 0);
        if (nonZero + 1 < f.K)
        {
            decreasing[countsAt + nonZero + 1] = (byte)(decreasing[countsAt + nonZero] - 1);
        }
        else
        {
            decreasing[countsAt + nonZero - 1] = (byte)(decreasing[countsAt + nonZero] + 1);
        }

        Assert.False(f.Key.VerifyData(f.Message, decreasing));

        byte[] overOmega = (byte[])f.Signature.Clone();
        overOmega[countsAt + f.K - 1] = (byte)(f.Omega + 1);
        Assert.False(f.Key.VerifyData(f.Message, overOmega));

        byte[] allOnes = (byte[])f.Signature.Clone();
        allOnes.AsSpan(f.HintOffset).Fill(0xFF);
        Assert.False(f.Key.VerifyData(f.Message, allOnes));

        byte[] maxCounts = (byte[])f.Signature.Clone();
        maxCounts.AsSpan(countsAt, f.K).Fill((byte)f.Omega); // well-formed counts, but indices 0,0,... are not increasing
        Assert.False(f.Key.VerifyData(f.Message, maxCounts));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Z_coefficients_at_or_beyond_gamma1_minus_beta_fail_without_exception(string name)
    {
        var f = Make(name);
        var algorithm = f.Key.Algorithm;
        int cTildeSize = algorithm.SignatureSizeInBytes switch { 2420 => 32, 3309 => 48, _ => 64 };
        int gamma1Bits = name == "ML-DSA-44" ? 17 : 19;
        int bits = gamma1Bits + 1;
        int gamma1 = 1 << gamma1Bits;
        int beta = algorithm.Beta;

        // z_0 is stored as γ1 − z_0 in the first `bits` bits after c̃ (BitPack, Algorithm 17).
        foreach (int z in new[] { gamma1, gamma1 - beta, -(gamma1 - beta), -gamma1 + 1 })
        {
            byte[] tampered = (byte[])f.Signature.Clone();
            ulong field = 0;
            for (int i = 0; i < 3; i++)
            {
                field |= (ulong)tampered[cTildeSize + i] << (8 * i);
            }

            ulong mask = (1UL << bits) - 1;
            field = (field & ~mask) | ((ulong)(gamma1 - z) & mask);
            for (int i = 0; i < 3; i++)
            {
                tampered[cTildeSize + i] = (byte)(field >> (8 * i));
            }

            Assert.False(f.Key.VerifyData(f.Message, tampered), $"z_0 = {z}");
        }
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Random_bytes_as_signature_or_public_key_never_verify_and_never_throw(string name)
    {
        var algorithm = MLDsaParameterSet.FromName(name)!;
        var random = new Random(name.Length);
        byte[] message = [1, 2, 3];
        for (int i = 0; i < 50; i++)
        {
            byte[] pk = new byte[algorithm.PublicKeySizeInBytes];
            byte[] signature = new byte[algorithm.SignatureSizeInBytes];
            random.NextBytes(pk);
            random.NextBytes(signature);
            if (i % 2 == 0)
            {
                // Make the hint section well-formed half of the time so decoding reaches the arithmetic.
                signature.AsSpan(algorithm.SignatureSizeInBytes - algorithm.Omega - algorithm.K).Clear();
            }

            using var key = MLDsaKey.ImportPublicKey(algorithm, pk);
            Assert.False(key.VerifyData(message, signature));
            Assert.False(key.VerifyMu(new byte[64], signature));
        }
    }
}
