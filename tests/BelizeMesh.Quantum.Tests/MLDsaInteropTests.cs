using System.Security.Cryptography;
using System.Text.Json.Nodes;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Quantum.Tests;

/// <summary>A fact that is skipped, with the reason, when Node 26 / @noble/post-quantum are not installed.</summary>
public sealed class MLDsaInteropFactAttribute : FactAttribute
{
    public MLDsaInteropFactAttribute()
    {
        Skip = NodeInterop.MissingReason;
    }
}

/// <summary>
/// Interop both ways with OpenSSL 3.5.8 (inside Node 26) and @noble/post-quantum 0.7.1, for all three parameter sets, in
/// one Node run (tests/interop/mldsa-interop.mjs): keys from the same seed are identical, each side verifies the other's
/// signatures (pure with context, and HashML-DSA-SHA512 with noble), OpenSSL's own fresh keys import from their seed,
/// and deterministic signatures (rnd = 0, and a given rnd) are byte-identical to noble's.
/// </summary>
public class MLDsaInteropTests
{
    [MLDsaInteropFact]
    public void Keys_and_signatures_interoperate_with_OpenSSL_and_noble_in_both_directions()
    {
        var cases = new JsonArray();
        var keys = new List<(MLDsaKey Key, byte[] Message, byte[] Context, byte[] Rnd, byte[] SigRnd, byte[] SigDet)>();
        foreach (var algorithm in new[] { MLDsaParameterSet.MLDsa44, MLDsaParameterSet.MLDsa65, MLDsaParameterSet.MLDsa87 })
        {
            byte[] seed = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(algorithm.Name));
            var key = MLDsaKey.ImportPrivateSeed(algorithm, seed);
            byte[] pk = new byte[algorithm.PublicKeySizeInBytes], sk = new byte[algorithm.PrivateKeySizeInBytes];
            key.ExportPublicKey(pk);
            key.ExportPrivateKey(sk);
            byte[] message = System.Text.Encoding.UTF8.GetBytes($"spiffe://cluster.local/ns/default/sa/{algorithm.Name}");
            byte[] context = "belizemesh-interop"u8.ToArray();
            byte[] rnd = SHA256.HashData(message);
            byte[] sigHedged = new byte[algorithm.SignatureSizeInBytes];
            byte[] sigDet = new byte[algorithm.SignatureSizeInBytes];
            byte[] sigRnd = new byte[algorithm.SignatureSizeInBytes];
            byte[] sigPreHash = new byte[algorithm.SignatureSizeInBytes];
            key.SignData(message, sigHedged, context);
            key.SignDataDeterministic(message, sigDet, context);
            key.SignDataCore(message, sigRnd, context, rnd);
            key.SignPreHash(SHA512.HashData(message), sigPreHash, "2.16.840.1.101.3.4.2.3", context);
            cases.Add(new JsonObject
            {
                ["alg"] = algorithm.Name,
                ["seed"] = Convert.ToHexString(seed),
                ["pk"] = Convert.ToHexString(pk),
                ["sk"] = Convert.ToHexString(sk),
                ["msg"] = Convert.ToHexString(message),
                ["ctx"] = Convert.ToHexString(context),
                ["rnd"] = Convert.ToHexString(rnd),
                ["sigHedged"] = Convert.ToHexString(sigHedged),
                ["sigDet"] = Convert.ToHexString(sigDet),
                ["sigPreHash"] = Convert.ToHexString(sigPreHash),
            });
            keys.Add((key, message, context, rnd, sigRnd, sigDet));
        }

        // Bulk: 12 deterministic signatures per parameter set over random seeds, messages (0–300 bytes) and contexts
        // (0–255 bytes), compared byte for byte with noble's: exercises many rejection-loop and hint patterns.
        var bulk = new JsonArray();
        var expectedBulk = new List<string>();
        var random = new Random(204);
        foreach (var algorithm in new[] { MLDsaParameterSet.MLDsa44, MLDsaParameterSet.MLDsa65, MLDsaParameterSet.MLDsa87 })
        {
            for (int i = 0; i < 12; i++)
            {
                byte[] seed = new byte[32];
                byte[] message = new byte[random.Next(0, 301)];
                byte[] context = new byte[i == 0 ? 255 : random.Next(0, 256)];
                random.NextBytes(seed);
                random.NextBytes(message);
                random.NextBytes(context);
                using var key = MLDsaKey.ImportPrivateSeed(algorithm, seed);
                byte[] signature = new byte[algorithm.SignatureSizeInBytes];
                key.SignDataDeterministic(message, signature, context);
                expectedBulk.Add(Convert.ToHexString(signature));
                bulk.Add(new JsonObject
                {
                    ["alg"] = algorithm.Name,
                    ["seed"] = Convert.ToHexString(seed),
                    ["msg"] = Convert.ToHexString(message),
                    ["ctx"] = Convert.ToHexString(context),
                });
            }
        }

        string script = File.ReadAllText(RepoPaths.RepoFile("tests", "interop", "mldsa-interop.mjs"));
        var input = new JsonObject { ["cases"] = cases, ["bulk"] = bulk };
        var output = JsonNode.Parse(NodeInterop.RunModule(script, input.ToJsonString()))!;
        var nobleBulk = output["bulk"]!.AsArray().Select(n => (string)n!).ToList();
        Assert.Equal(expectedBulk.Count, nobleBulk.Count);
        for (int i = 0; i < expectedBulk.Count; i++)
        {
            Assert.True(expectedBulk[i] == nobleBulk[i], $"bulk case {i} ({bulk[i]!["alg"]}): our deterministic signature differs from noble's");
        }

        var results = output["results"]!.AsArray();
        Assert.Equal(3, results.Count);

        for (int i = 0; i < keys.Count; i++)
        {
            var (key, message, context, _, sigRnd, sigDet) = keys[i];
            var r = results[i]!;
            var algorithm = key.Algorithm;
            byte[] pk = new byte[algorithm.PublicKeySizeInBytes], sk = new byte[algorithm.PrivateKeySizeInBytes];
            key.ExportPublicKey(pk);
            key.ExportPrivateKey(sk);
            string name = algorithm.Name;

            // OpenSSL → us, us → OpenSSL.
            Assert.Equal(Convert.ToHexString(pk), (string)r["opensslPkFromSeed"]!);
            Assert.True((bool)r["opensslVerifiesHedged"]!, $"{name}: OpenSSL rejected our hedged signature");
            Assert.True((bool)r["opensslVerifiesDeterministic"]!, $"{name}: OpenSSL rejected our deterministic signature");
            Assert.False((bool)r["opensslVerifiesTampered"]!);
            Assert.True(key.VerifyData(message, Convert.FromHexString((string)r["opensslSig"]!), context), $"{name}: we rejected OpenSSL's signature");

            using var fresh = MLDsaKey.ImportPrivateSeed(algorithm, Convert.FromHexString((string)r["opensslFreshSeed"]!));
            byte[] freshPk = new byte[algorithm.PublicKeySizeInBytes];
            fresh.ExportPublicKey(freshPk);
            Assert.Equal((string)r["opensslFreshPk"]!, Convert.ToHexString(freshPk));
            using var freshPublic = MLDsaKey.ImportPublicKey(algorithm, freshPk);
            Assert.True(freshPublic.VerifyData(message, Convert.FromHexString((string)r["opensslFreshSig"]!), context));

            // noble → us, us → noble, and byte-exact signatures where both sides are deterministic given rnd.
            Assert.Equal(Convert.ToHexString(pk), (string)r["noblePk"]!);
            Assert.Equal(Convert.ToHexString(sk), (string)r["nobleSk"]!);
            Assert.True((bool)r["nobleVerifiesHedged"]!, $"{name}: noble rejected our hedged signature");
            Assert.False((bool)r["nobleVerifiesTampered"]!);
            Assert.Equal(Convert.ToHexString(sigDet), (string)r["nobleSigDet"]!);
            Assert.Equal(Convert.ToHexString(sigRnd), (string)r["nobleSigRnd"]!);
            Assert.True(key.VerifyData(message, Convert.FromHexString((string)r["nobleSigHedged"]!), context), $"{name}: we rejected noble's signature");
            Assert.True((bool)r["nobleVerifiesPreHash"]!, $"{name}: noble rejected our HashML-DSA-SHA512 signature");
            Assert.True(key.VerifyPreHash(SHA512.HashData(message), Convert.FromHexString((string)r["noblePreHashSig"]!), "2.16.840.1.101.3.4.2.3", context));
            key.Dispose();
        }
    }
}
