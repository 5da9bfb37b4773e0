using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Model;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Mesh.Tests;

/// <summary>
/// Weighted destinations in the callers' sidecar rules: the sidecar takes several destinations only with every weight
/// written and adding up to 100 (as an Istio VirtualService), so what emit leaves out or Istio leaves implicit must not
/// break the rule — or the whole caller policy.
/// </summary>
public sealed class SidecarWeightTests
{
    private const string Header = "apiVersion: belizemesh.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: t\nspec:\n  namespace: shop\n  services:\n";

    private static (JsonNode? Http, PolicyParseResult Loaded) CallerView(string destinations)
    {
        string text = Header + $$"""
                - name: front
                  ports: [{ name: http, number: 8080 }]
                  routes:
                    - name: split
                      destinations: {{destinations}}
                    - name: rest
                - name: cart
                  ports: [{ name: http, number: 8080 }]
                  subsets:
                    - { name: v1, labels: { version: v1 } }
                    - { name: v2, labels: { version: v2 } }
                - name: web
                  ports: [{ name: http, number: 8080 }]

            """;
        var parsed = MeshParser.Parse(text, "mesh.yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        var configMap = Assert.Single(MeshEmitter.Emit(parsed.Mesh!), r => r.Kind == ResourceKind.ConfigMap && r.Name == "belizemesh-policy-web").Document;
        string policyText = (string)configMap["data"]!["policy.yaml"]!;
        var policy = YamlJson.Load(policyText)!;
        var front = policy["spec"]!["outbound"]!["routes"]!.AsArray().Single(r => (string?)r!["host"] == "front.shop.svc.cluster.local")!;
        return (front["http"], PolicyParser.Parse(policyText, "policy.yaml", new PolicyParserOptions { PqChannelAvailable = true }));
    }

    private static void AssertWeights(JsonNode? http, params (string Subset, int Weight)[] expected)
    {
        var split = http!.AsArray().Single(r => (string?)r!["name"] == "split")!;
        var actual = split["destinations"]!.AsArray().Select(d => ((string)d!["subset"]!, (int)(long)d["weight"]!)).ToArray();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Reachable_destinations_share_the_weight_of_one_left_out_and_the_policy_loads()
    {
        var (http, loaded) = CallerView("[{ service: cart, subset: v1, weight: 50 }, { service: cart, subset: v2, weight: 30 }, { host: api.example.com, weight: 20 }]");
        Assert.Empty(loaded.Errors);
        AssertWeights(http, ("v1", 63), ("v2", 37));
    }

    [Fact]
    public void Omitted_weight_next_to_weighted_destinations_is_written_as_istios_zero_and_the_policy_loads()
    {
        var (http, loaded) = CallerView("[{ service: cart, subset: v1, weight: 100 }, { service: cart, subset: v2 }]");
        Assert.Empty(loaded.Errors);
        AssertWeights(http, ("v1", 100), ("v2", 0));
    }

    [Fact]
    public void Rule_whose_reachable_destinations_envoy_sends_nothing_is_left_out()
    {
        var (http, loaded) = CallerView("[{ service: cart, subset: v1, weight: 0 }, { host: api.example.com, weight: 100 }]");
        Assert.Empty(loaded.Errors);
        Assert.Equal(["rest"], http!.AsArray().Select(r => (string)r!["name"]!));
    }
}
