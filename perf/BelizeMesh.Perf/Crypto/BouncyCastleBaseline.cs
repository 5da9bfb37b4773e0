using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Kems;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;
using BcParameters = Org.BouncyCastle.Crypto.Parameters;

namespace BelizeMesh.Perf.Crypto;

/// <summary>
/// BouncyCastle.Cryptography's managed ML-KEM and ML-DSA (the package the tests use as an oracle), measured in this
/// process with the same <see cref="Sampler"/> right after ours, operation for operation: keygen through its key-pair
/// generator, encaps/decaps through an initialised encapsulator/decapsulator, hedged sign and verify of the same
/// 64-byte message through <see cref="MLDsaSigner"/>.
/// </summary>
internal static class BouncyCastleBaseline
{
    public const string Name = "BouncyCastle 2.7.0";

    private static readonly SecureRandom s_random = new();

    private static BcParameters.MLKemParameters Kem(string name) => name switch
    {
        "ML-KEM-512" => BcParameters.MLKemParameters.ml_kem_512,
        "ML-KEM-768" => BcParameters.MLKemParameters.ml_kem_768,
        "ML-KEM-1024" => BcParameters.MLKemParameters.ml_kem_1024,
        _ => throw new ArgumentException($"no BouncyCastle ML-KEM parameter set named {name}", nameof(name)),
    };

    private static BcParameters.MLDsaParameters Dsa(string name) => name switch
    {
        "ML-DSA-44" => BcParameters.MLDsaParameters.ml_dsa_44,
        "ML-DSA-65" => BcParameters.MLDsaParameters.ml_dsa_65,
        "ML-DSA-87" => BcParameters.MLDsaParameters.ml_dsa_87,
        _ => throw new ArgumentException($"no BouncyCastle ML-DSA parameter set named {name}", nameof(name)),
    };

    /// <summary>keygen, encaps, decaps; a note instead of figures if BouncyCastle's own round trip disagrees.</summary>
    public static List<(string Op, Measurement? M, string? Note)> MeasureMLKem(string name, bool quick)
    {
        var parameters = Kem(name);
        var generator = new MLKemKeyPairGenerator();
        generator.Init(new BcParameters.MLKemKeyGenerationParameters(s_random, parameters));
        var keygen = Sampler.Measure(() => generator.GenerateKeyPair(), quick);

        var pair = generator.GenerateKeyPair();
        var encapsulator = new MLKemEncapsulator(parameters);
        encapsulator.Init(new BcParameters.ParametersWithRandom(pair.Public, s_random));
        var decapsulator = new MLKemDecapsulator(parameters);
        decapsulator.Init(pair.Private);
        byte[] c = new byte[encapsulator.EncapsulationLength], k = new byte[encapsulator.SecretLength], k2 = new byte[decapsulator.SecretLength];

        encapsulator.Encapsulate(c, 0, c.Length, k, 0, k.Length);
        decapsulator.Decapsulate(c, 0, c.Length, k2, 0, k2.Length);
        if (!k.AsSpan().SequenceEqual(k2))
        {
            return [("keygen", keygen, null), ("encaps", null, "BouncyCastle round trip disagreed"), ("decaps", null, "BouncyCastle round trip disagreed")];
        }

        var encaps = Sampler.Measure(() => encapsulator.Encapsulate(c, 0, c.Length, k, 0, k.Length), quick);
        encapsulator.Encapsulate(c, 0, c.Length, k, 0, k.Length);
        var decaps = Sampler.Measure(() => decapsulator.Decapsulate(c, 0, c.Length, k2, 0, k2.Length), quick);
        return [("keygen", keygen, null), ("encaps", encaps, null), ("decaps", decaps, null)];
    }

    /// <summary>keygen, sign (hedged), verify; a note instead of the verify figure if its own signature fails.</summary>
    public static List<(string Op, Measurement? M, string? Note)> MeasureMLDsa(string name, byte[] message, bool quick)
    {
        var parameters = Dsa(name);
        var generator = new MLDsaKeyPairGenerator();
        generator.Init(new BcParameters.MLDsaKeyGenerationParameters(s_random, parameters));
        var keygen = Sampler.Measure(() => generator.GenerateKeyPair(), quick);

        var pair = generator.GenerateKeyPair();
        var signer = new MLDsaSigner(parameters, deterministic: false);
        signer.Init(true, new BcParameters.ParametersWithRandom(pair.Private, s_random));
        byte[] signature = [];
        var sign = Sampler.Measure(
            () =>
            {
                signer.BlockUpdate(message, 0, message.Length);
                signature = signer.GenerateSignature();
            },
            quick);

        var verifier = new MLDsaSigner(parameters, deterministic: false);
        verifier.Init(false, pair.Public);
        verifier.BlockUpdate(message, 0, message.Length);
        if (!verifier.VerifySignature(signature))
        {
            return [("keygen", keygen, null), ("sign", sign, null), ("verify", null, "own signature did not verify")];
        }

        var verify = Sampler.Measure(
            () =>
            {
                verifier.BlockUpdate(message, 0, message.Length);
                verifier.VerifySignature(signature);
            },
            quick);
        return [("keygen", keygen, null), ("sign", sign, null), ("verify", verify, null)];
    }
}
