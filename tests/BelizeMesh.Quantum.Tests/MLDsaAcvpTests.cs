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
