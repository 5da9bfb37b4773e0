using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Analysis;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Model;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.TestSupport;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Mesh.Tests;

/// <summary>
/// A route destination written as <c>host:</c> that names a service of the mesh (its full name, or a short name Istio
/// reads in the route's namespace) is that service to Envoy, so it is that service to the analysis and to the callers'
/// quantum sidecars too.
/// </summary>
public sealed class HostDestinationTests
{
    private const string Header = "apiVersion: belizemesh.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: t\nspec:\n  namespace: shop\n  services:\n";

    private static MeshDescription Parse(string destinations)
    {
        string text = Header + $$"""
                - name: front
                  ports: [{ name: http, number: 8080 }]
                  routes:
                    - name: split
                      destinations: {{destinations}}
                - name: cart
                  ports: [{ name: http, number: 8080 }]
                  subsets:
                    - { name: v1, labels: { version: v1 } }
                    - { name: v2, labels: { version: v2 } }
                - name: web
                  ports: [{ name: http, number: 8080 }]

            """;
        var result = MeshParser.Parse(text, "mesh.yaml");
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Mesh!;
    }

    [Fact]
    public void Callers_sidecars_route_a_host_naming_a_mesh_service_to_its_subset_endpoints_as_envoy_does()
    {
        var mesh = Parse("[{ host: cart.shop.svc.cluster.local, subset: v1, weight: 90 }, { host: cart, subset: v2, weight: 10 }]");
        Assert.DoesNotContain(MeshAnalyzer.Analyze(mesh), f => f.Code == FindingCodes.TrafficNotOnQuantumChannel);

        var configMap = Assert.Single(MeshEmitter.Emit(mesh), r => r.Kind == ResourceKind.ConfigMap && r.Name == "belizemesh-policy-web").Document;
        var policy = YamlJson.Load((string)configMap["data"]!["policy.yaml"]!)!;
        var front = policy["spec"]!["outbound"]!["routes"]!.AsArray().Single(r => (string?)r!["host"] == "front.shop.svc.cluster.local")!;
        var expected = JsonNode.Parse("""
            [{"name":"split","destinations":[
              {"subset":"v1","weight":90,"endpoints":["cart-v1-pq.shop.svc.cluster.local:16443"],"identity":"spiffe://cluster.local/ns/shop/sa/cart"},
              {"subset":"v2","weight":10,"endpoints":["cart-v2-pq.shop.svc.cluster.local:16443"],"identity":"spiffe://cluster.local/ns/shop/sa/cart"}]}]
            """);
        Assert.True(JsonNode.DeepEquals(expected, front["http"]), front["http"]?.ToJsonString());
    }

    [Theory]
    [InlineData("cart.shop.svc.cluster.local")]
    [InlineData("cart")]
    public void Subset_a_host_naming_a_mesh_service_does_not_define_is_an_error(string host)
    {
        var mesh = Parse($"[{{ host: {host}, subset: v3 }}]");
        var finding = Assert.Single(MeshAnalyzer.Analyze(mesh), f => f.Severity == FindingSeverity.Error);
        Assert.Equal(
            "mesh.yaml:12:26: error BM0001: route \"split\" of service \"front\" sends traffic to subset \"v3\" of \"cart\", which defines only v1, v2; Envoy answers 503 (no healthy upstream)",
            finding.ToString().Split('\n')[0]);
    }

    [Fact]
    public void Host_outside_the_mesh_stays_external()
    {
        var mesh = Parse("[{ host: api.example.com }]");
        var findings = MeshAnalyzer.Analyze(mesh);
        Assert.Contains(findings, f => f.Code == FindingCodes.UnknownHost);
        Assert.Contains(findings, f => f.Code == FindingCodes.TrafficNotOnQuantumChannel);
    }
}
