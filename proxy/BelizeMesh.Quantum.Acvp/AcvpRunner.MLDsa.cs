using System.Text.Json.Nodes;
using BelizeMesh.Quantum.Dsa;

namespace BelizeMesh.Quantum.Acvp;

/// <summary>ACVP handlers for ML-DSA (FIPS 204): keyGen, sigGen and sigVer, revisions FIPS204 and FIPS204-tr1.</summary>
public static partial class AcvpRunner
{
    static partial void RegisterMLDsa(Dictionary<(string, string), CaseHandler> handlers)
    {
        handlers[("ML-DSA", "keyGen")] = MLDsaKeyGen;
        handlers[("ML-DSA", "sigGen")] = MLDsaSigGen;
        handlers[("ML-DSA", "sigVer")] = MLDsaSigVer;
    }

    /// <summary>keyGen: seed ξ → pk, sk (FIPS 204, Algorithm 6 via Algorithm 1).</summary>
    private static void MLDsaKeyGen(JsonObject group, JsonObject test)
    {
        MLDsaParameterSet algorithm = ReadMLDsaParameterSet(group);
        byte[] seed = RequireHex(test, "seed", "the test");
        if (seed.Length != MLDsaParameterSet.PrivateSeedSizeInBytes)
        {
            throw new AcvpFormatException($"\"seed\" is {seed.Length} bytes; an ML-DSA seed is {MLDsaParameterSet.PrivateSeedSizeInBytes}");
        }

        using var key = MLDsaKey.ImportPrivateSeed(algorithm, seed);
        byte[] pk = new byte[algorithm.PublicKeySizeInBytes];
        byte[] sk = new byte[algorithm.PrivateKeySizeInBytes];
        key.ExportPublicKey(pk);
        key.ExportPrivateKey(sk);
        SetHex(test, "pk", pk);
        SetHex(test, "sk", sk);
    }

    /// <summary>
    /// sigGen: external pure (Algorithm 2) or pre-hash (Algorithm 4) with context; internal on M′ or on µ (Algorithm 7).
    /// The private key is the expanded sk, or the seed when the group says <c>keyFormat: seed</c> (FIPS204-tr1).
    /// </summary>
    private static void MLDsaSigGen(JsonObject group, JsonObject test)
    {
        MLDsaParameterSet algorithm = ReadMLDsaParameterSet(group);
        bool deterministic = RequireBool(group, "deterministic", "the test group");
        byte[] rnd = deterministic ? new byte[32] : RequireHex(test, "rnd", "the test");
        if (rnd.Length != 32)
        {
            throw new AcvpFormatException($"\"rnd\" is {rnd.Length} bytes; ML-DSA signing randomness is 32");
        }

        using MLDsaKey key = MLDsaSigningKey(algorithm, group, test);
        byte[] signature = new byte[algorithm.SignatureSizeInBytes];
        switch (MLDsaInterface(group))
        {
            case "pure":
                byte[] context = MLDsaContext(test);
                key.SignDataCore(RequireHex(test, "message", "the test"), signature, context, rnd);
                break;
            case "preHash":
                var entry = MLDsaHash(test);
                byte[] hash = MLDsaPreHashOf(entry, RequireHex(test, "message", "the test"));
                key.SignPreHashCore(hash, signature, entry.Oid, MLDsaContext(test), rnd);
                break;
            case "externalMu":
                byte[] mu = MLDsaMu(test);
                key.SignMu(mu, signature, rnd);
                break;
            default:
                key.SignInternal(RequireHex(test, "message", "the test"), signature, rnd);
                break;
        }

        SetHex(test, "signature", signature);
    }

    /// <summary>sigVer: Algorithms 3, 5 and 8 (pure, pre-hash, internal on M′ or µ) → testPassed.</summary>
    private static void MLDsaSigVer(JsonObject group, JsonObject test)
    {
        MLDsaParameterSet algorithm = ReadMLDsaParameterSet(group);
        byte[] pk = RequireHex(test, "pk", "the test");
        if (pk.Length != algorithm.PublicKeySizeInBytes)
        {
            throw new AcvpFormatException($"\"pk\" is {pk.Length} bytes; an {algorithm.Name} public key is {algorithm.PublicKeySizeInBytes}");
        }

        using var key = MLDsaKey.ImportPublicKey(algorithm, pk);
        byte[] signature = RequireHex(test, "signature", "the test");
        bool passed = MLDsaInterface(group) switch
        {
            "pure" => key.VerifyData(RequireHex(test, "message", "the test"), signature, MLDsaContext(test)),
            "preHash" => MLDsaVerifyPreHash(key, test, signature),
            "externalMu" => key.VerifyMu(MLDsaMu(test), signature),
            _ => key.VerifyInternal(RequireHex(test, "message", "the test"), signature),
        };
        test["testPassed"] = passed;
    }

    private static bool MLDsaVerifyPreHash(MLDsaKey key, JsonObject test, byte[] signature)
    {
        var entry = MLDsaHash(test);
        byte[] hash = MLDsaPreHashOf(entry, RequireHex(test, "message", "the test"));
        return key.VerifyPreHash(hash, signature, entry.Oid, MLDsaContext(test));
    }

    private static MLDsaParameterSet ReadMLDsaParameterSet(JsonObject group)
    {
        string name = RequireString(group, "parameterSet", "the test group");
        return MLDsaParameterSet.FromName(name)
            ?? throw new AcvpFormatException($"unknown ML-DSA parameterSet \"{name}\" (expected ML-DSA-44, ML-DSA-65 or ML-DSA-87)");
    }

    /// <summary>Which of the four signing forms a group uses: pure, preHash (external), externalMu or internal.</summary>
    private static string MLDsaInterface(JsonObject group)
    {
        string signatureInterface = RequireString(group, "signatureInterface", "the test group");
        switch (signatureInterface)
        {
            case "external":
                string preHash = RequireString(group, "preHash", "the test group");
                return preHash is "pure" or "preHash"
                    ? preHash
                    : throw new AcvpFormatException($"unknown preHash \"{preHash}\" (expected pure or preHash)");
            case "internal":
                return RequireBool(group, "externalMu", "the test group") ? "externalMu" : "internal";
            default:
                throw new AcvpFormatException($"unknown signatureInterface \"{signatureInterface}\" (expected external or internal)");
        }
    }

    private static MLDsaKey MLDsaSigningKey(MLDsaParameterSet algorithm, JsonObject group, JsonObject test)
    {
        string keyFormat = group["keyFormat"] is null ? "expanded" : RequireString(group, "keyFormat", "the test group");
        switch (keyFormat)
        {
            case "seed":
                byte[] seed = RequireHex(test, "seed", "the test");
                return seed.Length == MLDsaParameterSet.PrivateSeedSizeInBytes
                    ? MLDsaKey.ImportPrivateSeed(algorithm, seed)
                    : throw new AcvpFormatException($"\"seed\" is {seed.Length} bytes; an ML-DSA seed is {MLDsaParameterSet.PrivateSeedSizeInBytes}");
            case "expanded":
                byte[] sk = RequireHex(test, "sk", "the test");
                if (sk.Length != algorithm.PrivateKeySizeInBytes)
                {
                    throw new AcvpFormatException($"\"sk\" is {sk.Length} bytes; an {algorithm.Name} private key is {algorithm.PrivateKeySizeInBytes}");
                }

                try
                {
                    return MLDsaKey.ImportPrivateKey(algorithm, sk);
                }
                catch (System.Security.Cryptography.CryptographicException e)
                {
                    throw new AcvpFormatException($"\"sk\" is not a valid {algorithm.Name} private key: {e.Message}");
                }

            default:
                throw new AcvpFormatException($"unknown keyFormat \"{keyFormat}\" (expected seed or expanded)");
        }
    }

    private static byte[] MLDsaContext(JsonObject test)
    {
        byte[] context = RequireHex(test, "context", "the test");
        return context.Length <= MLDsaParameterSet.MaxContextLength
            ? context
            : throw new AcvpFormatException($"\"context\" is {context.Length} bytes; at most {MLDsaParameterSet.MaxContextLength} are allowed");
    }

    private static byte[] MLDsaMu(JsonObject test)
    {
        byte[] mu = RequireHex(test, "mu", "the test");
        return mu.Length == MLDsaParameterSet.MuSizeInBytes
            ? mu
            : throw new AcvpFormatException($"\"mu\" is {mu.Length} bytes; µ is {MLDsaParameterSet.MuSizeInBytes}");
    }

    private static MLDsaPreHash.Entry MLDsaHash(JsonObject test)
    {
        string name = RequireString(test, "hashAlg", "the test");
        return MLDsaPreHash.TryFindByAcvpName(name, out var entry)
            ? entry
            : throw new AcvpFormatException($"unknown hashAlg \"{name}\" for HashML-DSA");
    }

    private static byte[] MLDsaPreHashOf(in MLDsaPreHash.Entry entry, byte[] message)
    {
        byte[] hash = new byte[entry.HashLength];
        return PreHashFunctions.TryComputeHash(entry, message, hash)
            ? hash
            : throw new AcvpUnsupportedException($"HashML-DSA with {entry.AcvpName}: this build has no {entry.AcvpName} implementation");
    }
}
