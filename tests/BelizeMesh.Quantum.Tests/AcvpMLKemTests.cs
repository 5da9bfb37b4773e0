using System.Text.Json.Nodes;
using BelizeMesh.Quantum.Acvp;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Quantum.Tests;

/// <summary>
/// Every ML-KEM case of the NIST ACVP files in <c>shared/vectors</c>, run through <see cref="AcvpRunner.Run"/> (the
/// code path of <c>belizemesh pqc acvp</c>) with the expected outputs removed first, then compared with them.
/// </summary>
public class AcvpMLKemTests
{
    private static readonly string[] s_files = ["mlkem-keygen.json", "mlkem-encapdecap.json", "mlkem-encapdecap-tr1.json"];

    public static TheoryData<string, int, int, string> Cases()
    {
        var data = new TheoryData<string, int, int, string>();
        foreach (string file in s_files)
        {
            var document = AcvpTestData.Load(file);
            foreach (var (group, test) in AcvpTestData.Cases(document))
            {
                string what = $"{group["parameterSet"]} {group["function"] ?? "keyGen"}";
                if (group["keyFormat"] is { } keyFormat)
                {
                    what += $"/{keyFormat}";
                }

                if (test["reason"] is { } reason)
                {
                    what += $" ({reason})";
                }

                data.Add(file, (int)group["tgId"]!, (int)test["tcId"]!, what);
            }
        }

        return data;
    }

    /// <summary>The fields a case's answer consists of, by mode and function.</summary>
    internal static string[] Outputs(JsonObject group) => (string?)group["function"] switch
    {
        null => ["ek", "dk"],
        "encapsulation" => ["c", "k"],
        "decapsulation" => ["k"],
        _ => ["testPassed"],
    };

    /// <summary>Outputs plus every informational field the runner must not need (the key it is not given, the reason).</summary>
    internal static IEnumerable<string> Strip(JsonObject group)
    {
        string[] informational = (string?)group["function"] switch
        {
            "encapsulation" => ["dk"],
            "decapsulation" when (string?)group["keyFormat"] == "seed" => ["ek", "dk"],
            "decapsulation" => ["ek"],
            _ => [],
        };
        return [.. Outputs(group), .. informational, "reason"];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Acvp_case_computes_the_expected_outputs(string file, int tgId, int tcId, string what)
    {
        _ = what;
        var (document, expected) = AcvpTestData.PrepareCase(file, tgId, tcId, Strip);
        var group = (JsonObject)document["testGroups"]![0]!;
        string[] outputs = Outputs(group);
        foreach (string field in outputs)
        {
            Assert.Null(group["tests"]![0]![field]);
        }

        var result = AcvpRunner.Run(document);

        var got = (JsonObject)result["testGroups"]![0]!["tests"]![0]!;
        Assert.Null(got["unsupported"]);
        foreach (string field in outputs)
        {
            Assert.Equal(expected[field]!.ToJsonString(), got[field]?.ToJsonString());
        }
    }
}
