using System.Text.Json.Nodes;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Quantum.Tests;

/// <summary>
/// ML-KEM-768 and ML-KEM-1024 against OpenSSL 3.5 (Node 26's <c>node:crypto</c>) and <c>@noble/post-quantum</c>,
/// in both directions, through <c>tests/interop/mlkem-interop.mjs</c> (one node process for all checks).
/// </summary>
public class MLKemInteropTests
{
    /// <summary>A fact that skips, saying why, when Node 26 or @noble/post-quantum is not installed.</summary>
    private sealed class InteropFactAttribute : FactAttribute
    {
        public InteropFactAttribute()
        {
            if (NodeInterop.MissingReason is { } reason)
            {
                Skip = reason;
            }
        }
    }

    private sealed record OurSide(MLKemParameterSet Algorithm, byte[] Seed, byte[] Ek, byte[] Dk, byte[] C, byte[] K, byte[] PeerSeed, byte[] PeerEk, byte[] PeerC, byte[] PeerK);

    private static readonly Lazy<(List<OurSide> Ours, JsonArray Theirs)> s_run = new(Run);

    private static (List<OurSide>, JsonArray) Run()
    {
        var rng = new Random(2031);
        var ours = new List<OurSide>();
        var cases = new JsonArray();
        foreach (var algorithm in new[] { MLKemParameterSet.MLKem768, MLKemParameterSet.MLKem1024 })
        {
            byte[] seed = new byte[64], peerSeed = new byte[64], m = new byte[32];
            rng.NextBytes(seed);
            rng.NextBytes(peerSeed);
            rng.NextBytes(m);
            using var key = MLKemKey.ImportPrivateSeed(algorithm, seed);
            byte[] ek = new byte[algorithm.EncapsulationKeySizeInBytes], dk = new byte[algorithm.DecapsulationKeySizeInBytes];
            key.ExportEncapsulationKey(ek);
            key.ExportDecapsulationKey(dk);
            byte[] c = new byte[algorithm.CiphertextSizeInBytes], k = new byte[32];
            key.Encapsulate(c, k);
            using var peer = MLKemKey.ImportPrivateSeed(algorithm, peerSeed);
            byte[] peerEk = new byte[algorithm.EncapsulationKeySizeInBytes], peerC = new byte[algorithm.CiphertextSizeInBytes], peerK = new byte[32];
            peer.ExportEncapsulationKey(peerEk);
            using (var peerPublic = MLKemKey.ImportEncapsulationKey(algorithm, peerEk))
            {
                peerPublic.Encapsulate(peerC, peerK);
            }

            ours.Add(new OurSide(algorithm, seed, ek, dk, c, k, peerSeed, peerEk, peerC, peerK));
            cases.Add(new JsonObject
            {
                ["set"] = algorithm.Name,
                ["seed"] = Convert.ToHexString(seed),
                ["ek"] = Convert.ToHexString(ek),
                ["dk"] = Convert.ToHexString(dk),
                ["c"] = Convert.ToHexString(c),
                ["k"] = Convert.ToHexString(k),
                ["m"] = Convert.ToHexString(m),
                ["peerSeed"] = Convert.ToHexString(peerSeed),
                ["peerC"] = Convert.ToHexString(peerC),
            });
        }

        string script = File.ReadAllText(Path.Combine(NodeInterop.InteropDir, "mlkem-interop.mjs"));
        string stdout = NodeInterop.RunModule(script, new JsonObject { ["cases"] = cases }.ToJsonString());
        return (ours, JsonNode.Parse(stdout)!.AsArray());
    }

    private static IEnumerable<(OurSide Ours, JsonObject Theirs)> Results()
    {
        var (ours, theirs) = s_run.Value;
        Assert.Equal(ours.Count, theirs.Count);
        for (int i = 0; i < ours.Count; i++)
        {
            Assert.Equal(ours[i].Algorithm.Name, (string?)theirs[i]!["set"]);
            yield return (ours[i], theirs[i]!.AsObject());
        }
    }

    private static byte[] Hex(JsonNode? node) => Convert.FromHexString((string)node!);

    private static byte[] Decapsulate(MLKemKey key, byte[] ciphertext)
    {
        byte[] k = new byte[32];
        key.Decapsulate(ciphertext, k);
        return k;
    }

    [InteropFact]
    public void Noble_derives_the_same_raw_keys_from_the_seed_and_decapsulates_our_ciphertext()
    {
        foreach (var (ours, theirs) in Results())
        {
            var noble = theirs["noble"]!;
            Assert.Equal(ours.Ek, Hex(noble["ek"]));
            Assert.Equal(ours.Dk, Hex(noble["dk"]));
            Assert.Equal(ours.K, Hex(noble["decapsulated"]));
            Assert.Equal(ours.PeerK, Hex(noble["peerDecapsulated"]));
        }
    }

    [InteropFact]
    public void We_decapsulate_noble_ciphertexts_and_import_noble_keys()
    {
        foreach (var (ours, theirs) in Results())
        {
            var noble = theirs["noble"]!;
            using var key = MLKemKey.ImportPrivateSeed(ours.Algorithm, ours.Seed);
            Assert.Equal(Hex(noble["k"]), Decapsulate(key, Hex(noble["c"])));

            // noble's expanded dk and ek, imported with the section 7 checks, agree with the same seed expanded here.
            using var peerDk = MLKemKey.ImportDecapsulationKey(ours.Algorithm, Hex(noble["peerDk"]));
            using var peerEk = MLKemKey.ImportEncapsulationKey(ours.Algorithm, Hex(noble["peerEk"]));
            byte[] exported = new byte[ours.Algorithm.EncapsulationKeySizeInBytes];
            peerDk.ExportEncapsulationKey(exported);
            Assert.Equal(ours.PeerEk, exported);
            Assert.Equal(ours.PeerK, Decapsulate(peerDk, ours.PeerC));
        }
    }

    [InteropFact]
    public void OpenSsl_imports_our_raw_keys_and_decapsulates_our_ciphertext()
    {
        foreach (var (ours, theirs) in Results())
        {
            var openssl = theirs["openssl"]!;
            Assert.Equal(ours.Ek, Hex(openssl["ekFromSeed"]));
            Assert.Equal(ours.K, Hex(openssl["decapsulated"]));
            Assert.Equal(ours.PeerEk, Hex(openssl["peerEk"]));
            Assert.Equal(ours.PeerK, Hex(openssl["peerDecapsulated"]));

            // SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID id-alg-ml-kem-* }, BIT STRING ek } (NIST OIDs 2.16.840.1.101.3.4.4.1–3).
            byte[] spki = Hex(openssl["spki"]);
            Assert.Equal(ours.Ek, spki[^ours.Ek.Length..]);
        }
    }

    [InteropFact]
    public void We_decapsulate_OpenSsl_ciphertexts_to_our_key_and_to_a_key_OpenSsl_generated()
    {
        foreach (var (ours, theirs) in Results())
        {
            var openssl = theirs["openssl"]!;
            using var key = MLKemKey.ImportPrivateSeed(ours.Algorithm, ours.Seed);
            Assert.Equal(Hex(openssl["k"]), Decapsulate(key, Hex(openssl["c"])));

            using var generated = MLKemKey.ImportPrivateSeed(ours.Algorithm, Hex(openssl["generatedSeed"]));
            byte[] ek = new byte[ours.Algorithm.EncapsulationKeySizeInBytes];
            generated.ExportEncapsulationKey(ek);
            Assert.Equal(Hex(openssl["generatedEk"]), ek);
            Assert.Equal(Hex(openssl["generatedK"]), Decapsulate(generated, Hex(openssl["generatedC"])));
        }
    }

    [InteropFact]
    public void All_three_return_the_same_implicit_rejection_key_for_a_modified_ciphertext()
    {
        foreach (var (ours, theirs) in Results())
        {
            using var key = MLKemKey.ImportPrivateSeed(ours.Algorithm, ours.Seed);
            byte[] tampered = (byte[])ours.C.Clone();
            tampered[0] ^= 1;
            byte[] k = Decapsulate(key, tampered);
            Assert.NotEqual(ours.K, k);
            Assert.Equal(k, Hex(theirs["tamperedNoble"]));
            Assert.Equal(k, Hex(theirs["tamperedOpenssl"]));
        }
    }
}
