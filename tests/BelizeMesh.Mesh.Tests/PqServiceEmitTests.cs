using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.TestSupport;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Mesh.Tests;

/// <summary>The headless <c>&lt;svc&gt;-pq</c> Services, the route endpoints that resolve them, and the injector's exclusion list.</summary>
public sealed class PqServiceEmitTests
{
    private static IReadOnlyList<EmittedResource> Emit(string example)
    {
        var parsed = MeshParser.ParseFile(RepoPaths.RepoFile("examples", example, "mesh.yaml"));
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        return MeshEmitter.Emit(parsed.Mesh!);
    }

    [Fact]
    public void Every_quantum_service_gets_a_headless_pq_service_selecting_its_pods()
    {
        var resources = Emit("belizechain");
        var services = resources.Where(r => r.Kind == ResourceKind.Service).ToDictionary(r => r.Name);
        var nawal = services["nawal-pq"].Document;
        var expected = JsonNode.Parse("""
            {"apiVersion":"v1","kind":"Service",
             "metadata":{"name":"nawal-pq","namespace":"belizechain","labels":{"app.kubernetes.io/managed-by":"belizemesh"}},
             "spec":{"clusterIP":"None","selector":{"app":"nawal"},
                     "ports":[{"name":"tcp-belizemesh-pq","port":16443,"targetPort":16443,"protocol":"TCP"}]}}
            """);
        Assert.True(JsonNode.DeepEquals(expected, nawal), nawal.ToJsonString());

        // One per quantum service and one per subset; none for postgres and redis (quantum: false, no sidecar).
        string[] names =
        [
            "blockchain-pq", "blue-hole-portal-pq", "kijka-explorer-pq", "kinich-pq", "maya-wallet-pq",
            "nawal-pq", "nawal-v1-pq", "nawal-v2-pq", "pakit-internal-pq", "pakit-pq", "pakit-public-pq",
        ];
        Assert.Equal(names, services.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Subset_pq_service_selects_the_service_labels_and_the_subset_labels()
    {
        var v2 = Emit("belizechain").Single(r => r.Kind == ResourceKind.Service && r.Name == "nawal-v2-pq").Document;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"app":"nawal","version":"v2"}"""), v2["spec"]!["selector"]), v2.ToJsonString());
        Assert.Equal("None", (string?)v2["spec"]!["clusterIP"]);
    }

    [Fact]
    public void Route_endpoints_name_the_headless_service_so_the_sidecar_resolves_pods()
    {
        var resources = Emit("belizechain");
        var pakit = resources.Single(r => r.Kind == ResourceKind.ConfigMap && r.Name == "belizemesh-policy-pakit").Document;
        var policy = YamlJson.Load((string)pakit["data"]!["policy.yaml"]!)!;
        var endpoints = policy["spec"]!["outbound"]!["routes"]!.AsArray()
            .SelectMany(r => r!["endpoints"]!.AsArray().Select(e => (string)e!))
            .ToList();
        Assert.NotEmpty(endpoints);
        var headless = resources.Where(r => r.Kind == ResourceKind.Service).Select(r => $"{r.Name}.{r.Namespace}.svc.cluster.local:16443").ToHashSet();
        Assert.All(endpoints, e => Assert.Contains(e, headless));
        Assert.Contains("nawal-pq.belizechain.svc.cluster.local:16443", endpoints);
    }

    [Fact]
    public void Quantum_false_services_are_listed_for_the_injector_to_skip()
    {
        var exclusions = Assert.Single(Emit("belizechain"), r => r.Kind == ResourceKind.InjectorExclusions);
        Assert.Equal("ConfigMap", (string?)exclusions.Document["kind"]);
        Assert.Equal("belizemesh-system", exclusions.Namespace);
        Assert.Equal("belizemesh-injector-exclusions", exclusions.Name);
        var list = YamlJson.Load((string)exclusions.Document["data"]!["exclusions.yaml"]!)!;
        var expected = JsonNode.Parse("""
            {"mesh":"belizechain","exclude":[
              {"namespace":"belizechain","service":"postgres","matchLabels":{"app":"postgres"}},
              {"namespace":"belizechain","service":"redis","matchLabels":{"app":"redis"}}]}
            """);
        Assert.True(JsonNode.DeepEquals(expected, list), list.ToJsonString());
    }

    [Fact]
    public void Exclusion_list_is_written_empty_when_every_service_is_quantum()
    {
        var exclusions = Assert.Single(Emit("fault-injection"), r => r.Kind == ResourceKind.InjectorExclusions);
        var list = YamlJson.Load((string)exclusions.Document["data"]!["exclusions.yaml"]!)!;
        Assert.Empty(list["exclude"]!.AsArray());
    }

    [Fact]
    public void Headless_service_schema_check_rejects_an_unknown_field()
    {
        // Guards the Kubernetes schema checks in SchemaTests against passing vacuously.
        var service = Emit("belizechain").First(r => r.Kind == ResourceKind.Service).Document.DeepClone();
        Assert.Empty(KubernetesSchemaSet.Validate(service));
        service["spec"]!["headless"] = true;
        Assert.NotEmpty(KubernetesSchemaSet.Validate(service));
    }

    [Fact]
    public void Deploy_mounts_the_exclusion_configmap_emit_writes_in_the_namespace_it_writes_it_to()
    {
        var deployment = YamlJson.Load(File.ReadAllText(RepoPaths.RepoFile("deploy", "base", "injector-deployment.yaml")))!;
        Assert.Equal(MeshEmitter.InjectorNamespace, (string?)deployment["metadata"]!["namespace"]);
        var volume = deployment["spec"]!["template"]!["spec"]!["volumes"]!.AsArray().Single(v => (string?)v!["name"] == "exclusions")!;
        Assert.Equal(MeshEmitter.InjectorExclusionsName, (string?)volume["configMap"]!["name"]);
        var args = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => (string)a!).ToList();
        Assert.EndsWith("/" + MeshEmitter.InjectorExclusionsKey, args[args.IndexOf("--exclusions") + 1], StringComparison.Ordinal);
        var kustomization = YamlJson.Load(File.ReadAllText(RepoPaths.RepoFile("deploy", "base", "kustomization.yaml")))!;
        Assert.Equal(MeshEmitter.InjectorNamespace, (string?)kustomization["namespace"]);
    }

    [Fact]
    public void Emit_injector_namespace_moves_only_the_exclusion_list()
    {
        string mesh = RepoPaths.RepoFile("examples", "belizechain", "mesh.yaml");
        var (code, defaults, _) = Cli.Run("emit", "--mesh", mesh);
        Assert.Equal(0, code);
        (code, var moved, var stderr) = Cli.Run("emit", "--mesh", mesh, "--injector-namespace", "mesh-control");
        Assert.True(code == 0, stderr);
        var before = YamlJson.LoadAll(defaults);
        var after = YamlJson.LoadAll(moved);
        Assert.Equal(before.Count, after.Count);
        int changed = 0;
        for (int i = 0; i < before.Count; i++)
        {
            if (!JsonNode.DeepEquals(before[i], after[i]))
            {
                changed++;
                Assert.Equal("belizemesh-injector-exclusions", (string?)after[i]!["metadata"]!["name"]);
                Assert.Equal("mesh-control", (string?)after[i]!["metadata"]!["namespace"]);
            }
        }

        Assert.Equal(1, changed);
    }

    [Theory]
    [InlineData("Mesh-Control")]
    [InlineData("-x")]
    [InlineData("")]
    public void Emit_rejects_an_injector_namespace_that_is_not_a_namespace_name(string value)
    {
        var (code, stdout, stderr) = Cli.Run("emit", "--mesh", RepoPaths.RepoFile("examples", "payments", "mesh.yaml"), "--injector-namespace", value);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains("--injector-namespace", stderr, StringComparison.Ordinal);
    }
}
