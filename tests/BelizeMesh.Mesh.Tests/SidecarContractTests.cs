using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.Perf.Mesh;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Mesh.Tests;

/// <summary>The SidecarPolicy contract, checked from the other side: the proxy's own parser accepts every policy emit writes.</summary>
public sealed class SidecarContractTests
{
    // Parse as a build with the PQ channel would: STRICT and PERMISSIVE are what emit writes for an mTLS mesh.
    private static readonly PolicyParserOptions s_fullBuild = new() { PqChannelAvailable = true, PermissiveAvailable = true };

    public static TheoryData<string> Meshes()
    {
        var data = new TheoryData<string>();
        foreach (var example in Golden.Examples())
        {
            data.Add("examples/" + example);
        }

        foreach (var name in Golden.Cases("analyze"))
        {
            data.Add("analyze/" + name);
        }

        data.Add("synthetic/60");
        return data;
    }

    private static string Text(string mesh) => mesh switch
    {
        _ when mesh.StartsWith("examples/", StringComparison.Ordinal) => File.ReadAllText(RepoPaths.RepoFile("examples", mesh[9..], "mesh.yaml")),
        _ when mesh.StartsWith("analyze/", StringComparison.Ordinal) => File.ReadAllText(Golden.TestData("analyze", mesh[8..] + ".yaml")),
        _ => SyntheticMesh.Generate(int.Parse(mesh[10..], System.Globalization.CultureInfo.InvariantCulture)),
    };

    [Theory]
    [MemberData(nameof(Meshes))]
    public void Proxy_parser_accepts_every_emitted_sidecar_policy(string mesh)
    {
        var parsed = MeshParser.Parse(Text(mesh), mesh);
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        var problems = new List<string>();
        int policies = 0;
        foreach (var r in MeshEmitter.Emit(parsed.Mesh!))
        {
            if (r.Kind != ResourceKind.ConfigMap)
            {
                continue;
            }

            policies++;
            string yaml = (string)r.Document["data"]!["policy.yaml"]!;
            var result = PolicyParser.Parse(yaml, $"{r.Namespace}/{r.Name}/policy.yaml", s_fullBuild);
            problems.AddRange(result.Errors.Select(e => e.ToString()));
        }

        Assert.True(policies > 0 || mesh.Contains("rate-limits", StringComparison.Ordinal), "no sidecar policy emitted");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void Unauthenticated_public_callers_stay_allowed_on_pakit_public_paths()
    {
        // A rule without a source must not become principals ["*"], which would refuse plaintext callers in PERMISSIVE mode.
        var parsed = MeshParser.ParseFile(RepoPaths.RepoFile("examples", "belizechain", "mesh.yaml"));
        var pakit = MeshEmitter.Emit(parsed.Mesh!).Single(r => r.Name == "belizemesh-policy-pakit");
        var policy = PolicyParser.Parse((string)pakit.Document["data"]!["policy.yaml"]!, "pakit", s_fullBuild);
        Assert.True(policy.Succeeded, string.Join("\n", policy.Errors));
        var yaml = BelizeMesh.TestSupport.Schemas.YamlJson.Load((string)pakit.Document["data"]!["policy.yaml"]!)!;
        var firstRule = yaml["spec"]!["inbound"]!["authorization"]!["rules"]![0]!;
        Assert.Null(firstRule["from"]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"methods":["GET","POST"],"paths":["/api/v1/upload*","/api/v1/download*"]}"""), firstRule["to"]));
    }
}
