using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.TestSupport;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Mesh.Tests;

public sealed class EmitterTests
{
    private static IReadOnlyList<EmittedResource> Emit(string example)
    {
        var parsed = MeshParser.ParseFile(RepoPaths.RepoFile("examples", example, "mesh.yaml"));
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        return MeshEmitter.Emit(parsed.Mesh!);
    }

    private static JsonNode Find(IReadOnlyList<EmittedResource> resources, ResourceKind kind, string ns, string name) =>
        Assert.Single(resources, r => r.Kind == kind && r.Namespace == ns && r.Name == name).Document;

    private static JsonNode Policy(IReadOnlyList<EmittedResource> resources, string ns, string serviceAccount)
    {
        var configMap = Find(resources, ResourceKind.ConfigMap, ns, "belizemesh-policy-" + serviceAccount);
        return YamlJson.Load((string)configMap["data"]!["policy.yaml"]!)!;
    }

    private static JsonNode? OutboundRoute(JsonNode policy, string host) =>
        policy["spec"]!["outbound"]!["routes"]!.AsArray().SingleOrDefault(r => (string?)r!["host"] == host);

    [Fact]
    public void Sidecar_policy_has_the_design_contract_fields_and_callee_settings()
    {
        var policy = Policy(Emit("belizechain"), "belizechain", "pakit");
        Assert.Equal("belizemesh.io/v1alpha1", (string?)policy["apiVersion"]);
        Assert.Equal("SidecarPolicy", (string?)policy["kind"]);
        var spec = policy["spec"]!;
        Assert.Equal("spiffe://cluster.local/ns/belizechain/sa/pakit", (string?)spec["identity"]);
        Assert.Equal("0.0.0.0:16090", (string?)spec["admin"]!["listen"]);
        Assert.Equal("0.0.0.0:16443", (string?)spec["inbound"]!["listen"]);
        Assert.Equal("http://127.0.0.1:8080", (string?)spec["inbound"]!["app"]);
        Assert.Equal("PERMISSIVE", (string?)spec["inbound"]!["mode"]);
        Assert.Equal("127.0.0.1:16001", (string?)spec["outbound"]!["listen"]);

        // The DESIGN.md example route, generated from nawal's settings (plus its outlier detection, in the proxy's terms).
        var nawal = OutboundRoute(policy, "nawal.belizechain.svc.cluster.local")!.DeepClone().AsObject();

        // Istio's retry conditions and the routes as http rules are checked in SidecarTrafficEmitTests.
        Assert.Equal("connect-failure,refused-stream,unavailable,cancelled,503", (string?)nawal["retries"]!["retryOn"]);
        nawal["retries"]!.AsObject().Remove("retryOn");
        Assert.True(nawal.Remove("http"));
        var expected = JsonNode.Parse("""
            {"host":"nawal.belizechain.svc.cluster.local","endpoints":["nawal-pq.belizechain.svc.cluster.local:16443"],
             "identity":"spiffe://cluster.local/ns/belizechain/sa/nawal","timeout":"300s","retries":{"attempts":1},
             "loadBalancing":{"policy":"ConsistentHash","header":"X-Participant-ID"},
             "outlierDetection":{"consecutiveFailures":5,"ejectionTime":"120s"}}
            """);
        Assert.True(JsonNode.DeepEquals(expected, nawal), nawal.ToJsonString());
    }

    [Fact]
    public void Sidecar_inbound_rules_mirror_the_allow_rules()
    {
        var rules = Policy(Emit("belizechain"), "belizechain", "pakit")["spec"]!["inbound"]!["authorization"]!["rules"]!;
        var expected = JsonNode.Parse("""
            [{"to":{"methods":["GET","POST"],"paths":["/api/v1/upload*","/api/v1/download*"]}},
             {"from":{"principals":["cluster.local/ns/belizechain/sa/blockchain"]},"to":{"paths":["/api/v1/proofs/*"]}}]
            """);
        Assert.True(JsonNode.DeepEquals(expected, rules), rules.ToJsonString());
    }

    [Fact]
    public void Services_without_the_quantum_sidecar_get_no_policy_and_no_outbound_route()
    {
        var resources = Emit("belizechain");
        Assert.DoesNotContain(resources, r => r.Kind == ResourceKind.ConfigMap && r.Name == "belizemesh-policy-postgres");
        Assert.Null(OutboundRoute(Policy(resources, "belizechain", "nawal"), "postgres.belizechain.svc.cluster.local"));
    }

    [Fact]
    public void Payment_service_allows_frontend_and_order_service_with_jwt_and_is_rate_limited()
    {
        var resources = Emit("payments");
        var allow = Find(resources, ResourceKind.AuthorizationPolicy, "default", "payment-service-allow");
        var expectedRules = JsonNode.Parse("""
            [{"from":[{"source":{"principals":["cluster.local/ns/default/sa/frontend","cluster.local/ns/default/sa/order-service"],"requestPrincipals":["*"]}}],
              "to":[{"operation":{"methods":["GET","POST"]}}]}]
            """);
        Assert.True(JsonNode.DeepEquals(expectedRules, allow["spec"]!["rules"]), allow.ToJsonString());

        var jwt = Find(resources, ResourceKind.RequestAuthentication, "default", "payment-service-jwt");
        Assert.Equal("https://auth.example.com/.well-known/jwks.json", (string?)jwt["spec"]!["jwtRules"]![0]!["jwksUri"]);

        var limits = Policy(resources, "default", "payment-service")["spec"]!["inbound"]!["rateLimits"]!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""[{"name":"payments","match":{"paths":["*"]},"key":"sourcePrincipal","requestsPerSecond":100,"burst":100}]"""), limits));
        var gateway = Policy(resources, "default", "api-gateway")["spec"]!["inbound"]!["rateLimits"]![0]!;
        Assert.Equal(1000L, (long)gateway["requestsPerSecond"]!);
        Assert.Equal(2000L, (long)gateway["burst"]!);
    }

    [Fact]
    public void Backend_is_reachable_only_from_frontend()
    {
        var resources = Emit("payments");
        const string backend = "backend.production.svc.cluster.local";
        var callers = resources
            .Where(r => r.Kind == ResourceKind.ConfigMap)
            .Where(r => OutboundRoute(YamlJson.Load((string)r.Document["data"]!["policy.yaml"]!)!, backend) is not null)
            .Select(r => $"{r.Namespace}/{r.Name}")
            .ToList();
        Assert.Equal(["production/belizemesh-policy-frontend"], callers);

        var denyAll = Find(resources, ResourceKind.AuthorizationPolicy, "production", "default-deny");
        Assert.True(JsonNode.DeepEquals(new JsonObject(), denyAll["spec"]));
        var inbound = Policy(resources, "production", "backend")["spec"]!["inbound"]!["authorization"]!["rules"]!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""[{"from":{"principals":["cluster.local/ns/production/sa/frontend"]},"to":{"methods":["GET","POST"]}}]"""), inbound));
    }

    [Fact]
    public void Nawal_canary_routes_x_version_v2_and_splits_the_rest_90_10()
    {
        var http = Find(Emit("belizechain"), ResourceKind.VirtualService, "belizechain", "nawal")["spec"]!["http"]!;
        var expected = JsonNode.Parse("""
            [{"name":"canary","match":[{"headers":{"x-version":{"exact":"v2"}}}],
              "route":[{"destination":{"host":"nawal.belizechain.svc.cluster.local","subset":"v2"}}],"timeout":"300s","retries":{"attempts":1}},
             {"name":"split","route":[{"destination":{"host":"nawal.belizechain.svc.cluster.local","subset":"v1"},"weight":90},
                                      {"destination":{"host":"nawal.belizechain.svc.cluster.local","subset":"v2"},"weight":10}],"timeout":"300s","retries":{"attempts":1}}]
            """);
        Assert.True(JsonNode.DeepEquals(expected, http), http.ToJsonString());
    }

    [Fact]
    public void Blockchain_p2p_port_has_mtls_disabled_on_both_sides()
    {
        var resources = Emit("belizechain");
        var peer = Find(resources, ResourceKind.PeerAuthentication, "belizechain", "blockchain")["spec"]!;
        Assert.Equal("DISABLE", (string?)peer["portLevelMtls"]!["30333"]!["mode"]);
        Assert.Equal("PERMISSIVE", (string?)peer["portLevelMtls"]!["9933"]!["mode"]);
        var rule = Find(resources, ResourceKind.DestinationRule, "belizechain", "blockchain")["spec"]!["trafficPolicy"]!;
        Assert.Equal("ISTIO_MUTUAL", (string?)rule["tls"]!["mode"]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""[{"port":{"number":30333},"tls":{"mode":"DISABLE"}}]"""), rule["portLevelSettings"]));
    }

    [Fact]
    public void Pakit_public_gateway_serves_only_the_public_route()
    {
        var vs = Find(Emit("belizechain"), ResourceKind.VirtualService, "belizechain", "pakit-pakit-public-gateway")["spec"]!;
        Assert.Equal(["storage.belizechain.bz"], vs["hosts"]!.AsArray().Select(h => (string?)h));
        Assert.Equal(["pakit-public-gateway"], vs["gateways"]!.AsArray().Select(h => (string?)h));
        Assert.Equal(["public"], vs["http"]!.AsArray().Select(r => (string?)r!["name"]));
    }

    [Fact]
    public void Every_object_carries_the_managed_by_label()
    {
        foreach (var example in Golden.Examples())
        {
            Assert.All(Emit(example), r => Assert.Equal("belizemesh", (string?)r.Document["metadata"]!["labels"]!["app.kubernetes.io/managed-by"]));
        }
    }
}
