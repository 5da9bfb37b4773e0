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

    [Fact]
    public void Blockchain_websocket_port_is_an_inbound_app_next_to_the_rpc_port()
    {
        // RPC 9933 (appPort) and WebSocket 9944 are both HTTP ports; P2P 30333 is TCP and stays off the PQ path
        var parsed = MeshParser.ParseFile(RepoPaths.RepoFile("examples", "belizechain", "mesh.yaml"));
        var blockchain = MeshEmitter.Emit(parsed.Mesh!).Single(r => r.Name == "belizemesh-policy-blockchain");
        var policy = PolicyParser.Parse((string)blockchain.Document["data"]!["policy.yaml"]!, "blockchain", s_fullBuild);
        Assert.True(policy.Succeeded, string.Join("\n", policy.Errors));

        InboundSpec inbound = policy.Policy!.Spec.Inbound;
        Assert.Equal(new Uri("http://127.0.0.1:9933"), inbound.App);
        InboundAppSpec ws = Assert.Single(inbound.Apps);
        Assert.Equal((9944, new Uri("http://127.0.0.1:9944")), (ws.Port, ws.App));
    }

    [Fact]
    public void Translated_app_port_emits_no_other_app_ports()
    {
        // appPort 8080 is not a Service port: port 80 is translated, and 9090's container port is unknown
        const string mesh = """
            apiVersion: belizemesh.io/v1alpha1
            kind: Mesh
            metadata: { name: ports }
            spec:
              namespaces: [{ name: demo }]
              services:
                - name: api
                  namespace: demo
                  quantum: true
                  appPort: 8080
                  ports:
                    - { name: http, number: 80 }
                    - { name: http-admin, number: 9090 }
            """;
        var parsed = MeshParser.Parse(mesh, "mesh.yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        var api = MeshEmitter.Emit(parsed.Mesh!).Single(r => r.Name == "belizemesh-policy-api");
        var policy = PolicyParser.Parse((string)api.Document["data"]!["policy.yaml"]!, "api", s_fullBuild);
        Assert.True(policy.Succeeded, string.Join("\n", policy.Errors));
        Assert.Empty(policy.Policy!.Spec.Inbound.Apps);
    }
}
