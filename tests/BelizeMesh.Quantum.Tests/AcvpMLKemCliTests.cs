using System.Text.Json.Nodes;

namespace BelizeMesh.Quantum.Tests;

/// <summary><c>belizemesh pqc acvp</c> run in-process on ML-KEM files: a stripped vector file comes back filled in, and bad
/// files get exit code 2 with a message naming the file and the problem.</summary>
public class AcvpMLKemCliTests
{
    private static string[] Outputs(JsonObject group) => AcvpMLKemTests.Outputs(group);

    private static IEnumerable<string> Strip(JsonObject group) => AcvpMLKemTests.Strip(group);

    [Fact]
    public void Cli_pqc_acvp_fills_a_stripped_file_with_the_expected_outputs()
    {
        const string file = "mlkem-encapdecap-tr1.json";
        var original = AcvpTestData.Load(file);
        var stripped = AcvpTestData.Load(file);
        foreach (var (group, test) in AcvpTestData.Cases(stripped))
        {
            foreach (string field in Strip(group))
            {
                test.Remove(field);
            }
        }

        string path = Path.Combine(Path.GetTempPath(), $"belizemesh-mlkem-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, stripped.ToJsonString());
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();

            int exit = BelizeMesh.Cli.Program.Run(["pqc", "acvp", path], stdout, stderr);

            Assert.Equal("", stderr.ToString());
            Assert.Equal(0, exit);
            var result = (JsonObject)JsonNode.Parse(stdout.ToString())!;
            var expectedCases = AcvpTestData.Cases(original).ToList();
            var gotCases = AcvpTestData.Cases(result).ToList();
            Assert.Equal(expectedCases.Count, gotCases.Count);
            for (int i = 0; i < expectedCases.Count; i++)
            {
                foreach (string field in Outputs(expectedCases[i].Group))
                {
                    Assert.Equal(expectedCases[i].Test[field]!.ToJsonString(), gotCases[i].Test[field]?.ToJsonString());
                }
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("{\"algorithm\": \"ML-KEM\", \"mode\": \"encapDecap\", \"testGroups\": [", "is not JSON (line 1, byte")]
    [InlineData("{\"algorithm\": \"ML-KEM\", \"mode\": \"sigGen\", \"testGroups\": []}", "unsupported algorithm/mode \"ML-KEM/sigGen\" (supported: ")]
    [InlineData("{\"algorithm\": \"ML-KEM\", \"mode\": \"encapDecap\", \"testGroups\": [{\"tgId\": 3, \"parameterSet\": \"ML-KEM-2048\", \"function\": \"encapsulation\", \"tests\": [{\"tcId\": 9}]}]}",
        "group 3, test 9: the group has unknown parameterSet \"ML-KEM-2048\" (known: ML-KEM-512, ML-KEM-768, ML-KEM-1024)")]
    [InlineData("{\"algorithm\": \"ML-KEM\", \"mode\": \"encapDecap\", \"testGroups\": [{\"tgId\": 4, \"parameterSet\": \"ML-KEM-768\", \"function\": \"rekey\", \"tests\": [{\"tcId\": 1}]}]}",
        "group 4, test 1: the group has unknown ML-KEM function \"rekey\" (known: encapsulation, decapsulation, encapsulationKeyCheck, decapsulationKeyCheck)")]
    [InlineData("{\"algorithm\": \"ML-KEM\", \"mode\": \"keyGen\", \"testGroups\": [{\"tgId\": 1, \"parameterSet\": \"ML-KEM-512\", \"tests\": [{\"tcId\": 5, \"d\": \"XYZ\", \"z\": \"00\"}]}]}",
        "group 1, test 5: the test case: field \"d\" is not a hex string")]
    [InlineData("{\"algorithm\": \"ML-KEM\", \"mode\": \"keyGen\", \"testGroups\": [{\"tgId\": 1, \"parameterSet\": \"ML-KEM-512\", \"tests\": [{\"tcId\": 5, \"d\": \"00\", \"z\": \"00\"}]}]}",
        "group 1, test 5: ML-KEM key generation seeds d and z must be 32 bytes each, got 1 and 1.")]
    [InlineData("{\"algorithm\": \"ML-KEM\", \"mode\": \"encapDecap\", \"testGroups\": [{\"tgId\": 2, \"parameterSet\": \"ML-KEM-512\", \"function\": \"encapsulation\", \"tests\": [{\"tcId\": 7, \"ek\": \"00\"}]}]}",
        "group 2, test 7: the test case has no string field \"m\"")]
    [InlineData("{\"algorithm\": \"ML-KEM\", \"mode\": \"encapDecap\", \"testGroups\": [{\"tgId\": 2, \"parameterSet\": \"ML-KEM-512\", \"function\": \"encapsulation\", \"tests\": [{\"tcId\": 7, \"ek\": \"00\", \"m\": \"00\"}]}]}",
        "group 2, test 7: encapsulation: ML-KEM-512 encapsulation key must be 800 bytes, got 1 (FIPS 203 section 7.2 length check).")]
    public void Cli_pqc_acvp_rejects_a_bad_file_with_exit_code_2_and_says_why(string content, string expectedError)
    {
        string path = Path.Combine(Path.GetTempPath(), $"belizemesh-mlkem-bad-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, content);
        try
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();

            int exit = BelizeMesh.Cli.Program.Run(["pqc", "acvp", path], stdout, stderr);

            Assert.Equal(2, exit);
            Assert.Equal("", stdout.ToString());
            Assert.StartsWith($"belizemesh pqc acvp: {path}", stderr.ToString(), StringComparison.Ordinal);
            Assert.Contains(expectedError, stderr.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
