using System.Text.Json.Nodes;
using BelizeMesh.Quantum.Acvp;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Quantum.Tests;

/// <summary>
/// Every case of the NIST ACVP ML-DSA vectors in ../shared/vectors, through <see cref="AcvpRunner.Run"/> (the code path of
/// <c>belizemesh pqc acvp</c>): expected outputs are removed from a copy, the runner fills them in, and every case is
/// compared with the original.
/// </summary>
public class MLDsaAcvpTests
{
    /// <summary>Pre-hash functions this build cannot compute (none since MLDsaExtraHashes); cases using them must come back "unsupported", and only they.</summary>
    private static readonly HashSet<string> s_unsupportedHashes = [];

    [Theory]
    [InlineData("mldsa-keygen.json", new[] { "pk", "sk" }, 38)]
    [InlineData("mldsa-siggen.json", new[] { "signature" }, 180)]
    [InlineData("mldsa-siggen-tr1.json", new[] { "signature" }, 180)]
    [InlineData("mldsa-sigver.json", new[] { "testPassed", "reason" }, 90)]
    public void Every_acvp_case_matches_the_expected_result(string file, string[] outputs, int expectedCases)
    {
        JsonNode original = JsonNode.Parse(File.ReadAllText(RepoPaths.SharedFile("vectors", file)))!;
        JsonNode prompt = original.DeepClone();
        foreach (var test in Tests(prompt))
        {
            foreach (string field in outputs)
            {
                test.Remove(field);
            }
        }

        JsonNode result = AcvpRunner.Run(prompt);

        var expectedByTcId = Tests(original).ToDictionary(t => (int)t["tcId"]!);
        var mismatches = new List<string>();
        var unsupported = new List<int>();
        var shouldBeUnsupported = new List<int>();
        int cases = 0;
        foreach (var test in Tests(result))
        {
            cases++;
            int tcId = (int)test["tcId"]!;
            var expected = expectedByTcId[tcId];
            string? hashAlg = (string?)expected["hashAlg"];
            if (hashAlg is not null && s_unsupportedHashes.Contains(hashAlg))
            {
                shouldBeUnsupported.Add(tcId);
            }

            if (test["unsupported"] is not null)
            {
                unsupported.Add(tcId);
                continue;
            }

            foreach (string field in outputs)
            {
                if (field == "reason")
                {
                    continue;
                }

                if (!JsonNode.DeepEquals(expected[field], test[field]))
                {
                    mismatches.Add($"tcId {tcId}: {field} differs ({expected["reason"] ?? "no reason"})");
                }
            }
        }

        Assert.Equal(expectedCases, cases);
        Assert.Empty(mismatches);
        Assert.Equal(shouldBeUnsupported, unsupported);
    }

    [Theory]
    [InlineData("""{"algorithm":"ML-DSA","mode":"keyGen","testGroups":[{"tgId":1,"parameterSet":"ML-DSA-99","tests":[{"tcId":1,"seed":"00"}]}]}""",
        "group 1, test 1: unknown ML-DSA parameterSet \"ML-DSA-99\" (expected ML-DSA-44, ML-DSA-65 or ML-DSA-87)")]
    [InlineData("""{"algorithm":"ML-DSA","mode":"keyGen","testGroups":[{"tgId":1,"parameterSet":"ML-DSA-44","tests":[{"tcId":4}]}]}""",
        "group 1, test 4: the test has no string field \"seed\"")]
    [InlineData("""{"algorithm":"ML-DSA","mode":"keyGen","testGroups":[{"tgId":2,"parameterSet":"ML-DSA-44","tests":[{"tcId":1,"seed":"0011"}]}]}""",
        "group 2, test 1: \"seed\" is 2 bytes; an ML-DSA seed is 32")]
    [InlineData("""{"algorithm":"ML-DSA","mode":"sigVer","testGroups":[{"tgId":1,"parameterSet":"ML-DSA-44","signatureInterface":"sideways","tests":[{"tcId":1,"pk":"","signature":""}]}]}""",
        "group 1, test 1: \"pk\" is 0 bytes; an ML-DSA-44 public key is 1312")]
    [InlineData("""{"algorithm":"ML-DSA","mode":"sigGen","testGroups":[{"tgId":1,"parameterSet":"ML-DSA-44","deterministic":true,"signatureInterface":"sideways","tests":[{"tcId":1,"sk":""}]}]}""",
        "group 1, test 1: \"sk\" is 0 bytes; an ML-DSA-44 private key is 2560")]
    public void Malformed_ml_dsa_cases_name_the_group_test_and_field(string json, string expected)
    {
        var e = Assert.Throws<AcvpFormatException>(() => AcvpRunner.Run(JsonNode.Parse(json)!));
        Assert.Equal(expected, e.Message);
    }

    [Fact]
    public void Unknown_signature_interface_is_reported()
    {
        var algorithm = MLDsaParameterSet.MLDsa44;
        using var key = MLDsaKey.ImportPrivateSeed(algorithm, new byte[32]);
        byte[] pk = new byte[algorithm.PublicKeySizeInBytes];
        key.ExportPublicKey(pk);
        string json = "{\"algorithm\":\"ML-DSA\",\"mode\":\"sigVer\",\"testGroups\":[{\"tgId\":3,\"parameterSet\":\"ML-DSA-44\"," +
            "\"signatureInterface\":\"sideways\",\"tests\":[{\"tcId\":9,\"pk\":\"" + Convert.ToHexString(pk) + "\",\"signature\":\"00\"}]}]}";
        var e = Assert.Throws<AcvpFormatException>(() => AcvpRunner.Run(JsonNode.Parse(json)!));
        Assert.Equal("group 3, test 9: unknown signatureInterface \"sideways\" (expected external or internal)", e.Message);
    }

    private static IEnumerable<JsonObject> Tests(JsonNode document)
    {
        foreach (var group in document["testGroups"]!.AsArray())
        {
            foreach (var test in group!["tests"]!.AsArray())
            {
                yield return test!.AsObject();
            }
        }
    }
}
