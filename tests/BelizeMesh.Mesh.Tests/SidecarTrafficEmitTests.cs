using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Analysis;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Model;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.TestSupport;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Mesh.Tests;

/// <summary>The callee's VirtualService intent, emitted into its callers' SidecarPolicy routes (docs/mesh.md).</summary>
public sealed class SidecarTrafficEmitTests
{
    private const string Header = "apiVersion: belizemesh.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: t\nspec:\n  namespace: shop\n  services:\n";

    private static MeshDescription Parse(string services)
    {
        var result = MeshParser.Parse(Header + services, "mesh.yaml");
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Mesh!;
    }

    private static JsonObject RouteTo(MeshDescription mesh, string caller, string calleeHost)
    {
        var configMap = Assert.Single(MeshEmitter.Emit(mesh), r => r.Kind == ResourceKind.ConfigMap && r.Name == "belizemesh-policy-" + caller).Document;
        var policy = YamlJson.Load((string)configMap["data"]!["policy.yaml"]!)!;
        return policy["spec"]!["outbound"]!["routes"]!.AsArray().Single(r => (string?)r!["host"] == calleeHost)!.AsObject();
    }

    private static void AssertJson(string expected, JsonNode? actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), actual), actual?.ToJsonString());

    [Fact]
    public void The_seed_canary_becomes_ordered_rules_with_a_header_match_and_a_90_10_split_over_subset_endpoints()
    {
        var parsed = MeshParser.ParseFile(RepoPaths.RepoFile("examples", "belizechain", "mesh.yaml"));
        Assert.True(parsed.Succeeded);
        JsonObject nawal = RouteTo(parsed.Mesh!, "blockchain", "nawal.belizechain.svc.cluster.local");

        AssertJson("""
            [{"name":"canary","match":[{"headers":{"x-version":{"exact":"v2"}}}],
              "destinations":[{"subset":"v2","endpoints":["nawal-v2-pq.belizechain.svc.cluster.local:16443"]}]},
             {"name":"split",
              "destinations":[{"subset":"v1","weight":90,"endpoints":["nawal-v1-pq.belizechain.svc.cluster.local:16443"]},
                              {"subset":"v2","weight":10,"endpoints":["nawal-v2-pq.belizechain.svc.cluster.local:16443"]}]}]
            """, nawal["http"]);

        // nawal's retries { attempts: 1 } name no retryOn: Istio's default conditions apply, as in Envoy
        AssertJson("""{"attempts":1,"retryOn":"connect-failure,refused-stream,unavailable,cancelled,503"}""", nawal["retries"]);
    }

    [Fact]
    public void Fault_injection_and_per_route_timeouts_and_retries_are_carried_into_the_rules()
    {
        var parsed = MeshParser.ParseFile(RepoPaths.RepoFile("examples", "fault-injection", "mesh.yaml"));
        Assert.True(parsed.Succeeded);
        var mesh = parsed.Mesh!;
        AssertJson("""
            [{"name":"pakit-fault-injection",
              "destinations":[{"endpoints":["pakit-pq.belizechain.svc.cluster.local:16443"]}],
              "fault":{"abort":{"httpStatus":500,"percentage":10}}}]
            """, RouteTo(mesh, "nawal", "pakit.belizechain.svc.cluster.local")["http"]);

        JsonNode rule = RouteTo(mesh, "pakit", "nawal.belizechain.svc.cluster.local")["http"]![0]!;
        AssertJson("""{"delay":{"fixedDelay":"2s","percentage":5},"abort":{"httpStatus":503,"percentage":0.5}}""", rule["fault"]);
        Assert.Equal(2, rule["match"]!.AsArray().Count);

        var blockchain = MeshParser.ParseFile(RepoPaths.RepoFile("examples", "belizechain", "mesh.yaml")).Mesh!;
        JsonNode ws = RouteTo(blockchain, "nawal", "blockchain.belizechain.svc.cluster.local")["http"]![0]!;
        Assert.Equal("websocket", (string?)ws["name"]);
        Assert.Equal("0s", (string?)ws["timeout"]);
        AssertJson("""{"attempts":0}""", ws["retries"]);
    }

    [Fact]
    public void Retry_conditions_the_sidecar_lacks_are_dropped_and_reported_and_attempts_are_capped()
    {
        var mesh = Parse("""
                - name: cart
                  ports: [{ name: http, number: 8080 }]
                  retries: { attempts: 12, perTryTimeout: 2s, retryOn: "gateway-error,envoy-ratelimited,409" }
                - name: web
                  ports: [{ name: http, number: 8080 }]
            """);
        AssertJson("""{"attempts":10,"perTryTimeout":"2s","retryOn":"gateway-error,409"}""", RouteTo(mesh, "web", "cart.shop.svc.cluster.local")["retries"]);

        var findings = MeshAnalyzer.Analyze(mesh).Where(f => f.Code == FindingCodes.TrafficNotOnQuantumChannel).Select(f => f.Message).ToList();
        Assert.Equal(
        [
            "service \"cart\" allows 12 retries; the quantum sidecars make at most 10",
            "service \"cart\" retries on \"envoy-ratelimited\", which the quantum sidecars do not implement; they retry on the other conditions only",
        ], findings);
    }

    [Fact]
    public void Retry_backoff_reaches_the_virtual_service_and_the_callers_sidecar_route_and_rules()
    {
        var mesh = Parse("""
                - name: cart
                  ports: [{ name: http, number: 8080 }]
                  retries: { attempts: 2, backoff: 100ms, retryOn: 5xx }
                  routes:
                    - name: slow
                      match: { paths: ["/slow/*"] }
                      retries: { attempts: 1, backoff: 2s }
                      destinations: [{ service: cart }]
                    - name: rest
                      destinations: [{ service: cart }]
                - name: web
                  ports: [{ name: http, number: 8080 }]
            """);
        var resources = MeshEmitter.Emit(mesh);

        // Istio: each route's retries, the service's inherited by the route that sets none; valid against the CRD
        var vs = Assert.Single(resources, r => r.Kind == ResourceKind.VirtualService && r.Name == "cart");
        Assert.Empty(IstioCrdSchemas.ValidateResource(vs.Document));
        JsonArray http = vs.Document["spec"]!["http"]!.AsArray();
        AssertJson("""{"attempts":1,"backoff":"2s"}""", http[0]!["retries"]);
        AssertJson("""{"attempts":2,"backoff":"0.1s","retryOn":"5xx"}""", http[1]!["retries"]);

        // the callers' sidecar: the route's retries and the rule that sets its own (Istio's default conditions filled in)
        JsonObject route = RouteTo(mesh, "web", "cart.shop.svc.cluster.local");
        AssertJson("""{"attempts":2,"backoff":"0.1s","retryOn":"5xx"}""", route["retries"]);
        AssertJson("""{"attempts":1,"backoff":"2s","retryOn":"connect-failure,refused-stream,unavailable,cancelled,503"}""", route["http"]![0]!["retries"]);

        // and the sidecar reads them back as the base intervals
        var configMap = Assert.Single(resources, r => r.Kind == ResourceKind.ConfigMap && r.Name == "belizemesh-policy-web");
        var policy = BelizeMesh.Proxy.Configuration.PolicyParser.Parse((string)configMap.Document["data"]!["policy.yaml"]!, "policy.yaml", new() { PqChannelAvailable = true, PermissiveAvailable = true });
        Assert.True(policy.Succeeded, string.Join("\n", policy.Errors));
        var parsed = policy.Policy!.Spec.Outbound.Routes.Single(r => r.Host == "cart.shop.svc.cluster.local");
        Assert.Equal(TimeSpan.FromMilliseconds(100), parsed.Retries!.Backoff);
        Assert.Equal(TimeSpan.FromSeconds(2), parsed.Http[0].Retries!.Backoff);
    }

    [Theory]
    [InlineData("0s", "mesh.yaml:10:40: spec.services[0].retries.backoff: 0s is too short; Istio requires at least 1ms between retries (leave 'backoff' out for Envoy's 25ms)")]
    [InlineData("soon", "mesh.yaml:10:40: spec.services[0].retries.backoff: \"soon\" is not a duration; expected a number with unit h, m, s or ms, e.g. 300s, 5m, 1h, 100ms (0 means none)")]
    public void Retry_backoff_below_a_millisecond_or_not_a_duration_is_a_located_error(string backoff, string expected)
    {
        var result = MeshParser.Parse(Header + $"    - name: cart\n      ports: [{{ name: http, number: 80 }}]\n      retries: {{ attempts: 2, backoff: {backoff} }}\n", "mesh.yaml");
        Assert.False(result.Succeeded);
        Assert.Equal([expected], result.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void Destinations_the_sidecar_cannot_reach_are_left_out_and_reported()
    {
        var mesh = Parse("""
                - name: cart
                  ports: [{ name: http, number: 8080 }]
                  subsets: [{ name: v1, labels: { version: v1 } }]
                  routes:
                    - name: legacy
                      match: { paths: ["/legacy/*"] }
                      destinations: [{ service: db }]
                    - name: split
                      destinations: [{ subset: v1, weight: 80 }, { service: db, weight: 20 }]
                - name: db
                  quantum: false
                  ports: [{ name: http, number: 8080 }]
                - name: web
                  ports: [{ name: http, number: 8080 }]
            """);

        AssertJson("""
            [{"name":"split","destinations":[{"subset":"v1","weight":80,"endpoints":["cart-v1-pq.shop.svc.cluster.local:16443"]}]}]
            """, RouteTo(mesh, "web", "cart.shop.svc.cluster.local")["http"]);
        var findings = MeshAnalyzer.Analyze(mesh).Where(f => f.Code == FindingCodes.TrafficNotOnQuantumChannel).ToList();
        Assert.Equal(3, findings.Count);
        Assert.All(findings, f => Assert.Equal(FindingSeverity.Warning, f.Severity));
        Assert.Contains(findings, f => f.Message.StartsWith("route \"legacy\" of service \"cart\" has no destination the quantum sidecars can reach", StringComparison.Ordinal));
    }

    [Fact]
    public void A_header_regex_the_sidecar_engine_refuses_is_an_error()
    {
        var mesh = Parse("""
                - name: cart
                  ports: [{ name: http, number: 8080 }]
                  routes:
                    - name: echo
                      match: { headers: { x-pair: { regex: "(a)\\1" } } }
            """);
        MeshFinding finding = Assert.Single(MeshAnalyzer.Analyze(mesh), f => f.Code == FindingCodes.TrafficNotOnQuantumChannel);
        Assert.Equal(FindingSeverity.Error, finding.Severity);
        Assert.StartsWith("route \"echo\" of service \"cart\": header regex \"(a)\\1\" for x-pair cannot run", finding.Message, StringComparison.Ordinal);
    }
}

/// <summary><c>connectionPool.h2UpgradePolicy</c>: into the DestinationRule (checked against Istio's CRD) and into the
/// callers' sidecar routes (read by the sidecar's own parser).</summary>
public sealed class H2UpgradePolicyEmitTests
{
    private const string Header = "apiVersion: belizemesh.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: t\nspec:\n  namespace: shop\n  services:\n";

    private static string Services(string pool) => $"""
            - name: cart
              ports: [{"{"} name: http, number: 8080 {"}"}]
              connectionPool: {pool}
            - name: web
              ports: [{"{"} name: http, number: 8080 {"}"}]
        """;

    [Fact]
    public void Upgrade_reaches_the_destination_rule_and_the_callers_sidecar_route()
    {
        var parsed = MeshParser.Parse(Header + Services("{ maxConnections: 10, h2UpgradePolicy: UPGRADE }"), "mesh.yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        IReadOnlyList<EmittedResource> resources = MeshEmitter.Emit(parsed.Mesh!);

        JsonObject rule = Assert.Single(resources, r => r.Kind == ResourceKind.DestinationRule && r.Name == "cart").Document;
        Assert.Equal("UPGRADE", (string?)rule["spec"]!["trafficPolicy"]!["connectionPool"]!["http"]!["h2UpgradePolicy"]);
        Assert.Empty(IstioCrdSchemas.ValidateResource(rule));

        var configMap = Assert.Single(resources, r => r.Kind == ResourceKind.ConfigMap && r.Name == "belizemesh-policy-web").Document;
        string yaml = (string)configMap["data"]!["policy.yaml"]!;
        var policy = BelizeMesh.Proxy.Configuration.PolicyParser.Parse(yaml, "web", new() { PqChannelAvailable = true, PermissiveAvailable = true });
        Assert.True(policy.Succeeded, string.Join("\n", policy.Errors));
        var route = Assert.Single(policy.Policy!.Spec.Outbound.Routes, r => r.Host == "cart.shop.svc.cluster.local");
        Assert.Equal(BelizeMesh.Proxy.Configuration.H2UpgradePolicy.Upgrade, route.H2UpgradePolicy);
    }

    [Fact]
    public void Without_h2_upgrade_policy_the_sidecar_route_has_no_connection_pool()
    {
        var parsed = MeshParser.Parse(Header + Services("{ maxConnections: 10 }"), "mesh.yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        var configMap = Assert.Single(MeshEmitter.Emit(parsed.Mesh!), r => r.Kind == ResourceKind.ConfigMap && r.Name == "belizemesh-policy-web").Document;
        var policy = YamlJson.Load((string)configMap["data"]!["policy.yaml"]!)!;
        JsonNode route = policy["spec"]!["outbound"]!["routes"]!.AsArray().Single(r => (string?)r!["host"] == "cart.shop.svc.cluster.local")!;
        Assert.Null(route["connectionPool"]);
    }

    [Fact]
    public void Misspelt_h2_upgrade_policy_is_reported_with_a_suggestion()
    {
        var parsed = MeshParser.Parse(Header + Services("{ h2UpgradePolicy: UPGRADES }"), "mesh.yaml");
        Assert.False(parsed.Succeeded);
        Assert.Equal(
            ["mesh.yaml:10:42: spec.services[0].connectionPool.h2UpgradePolicy: expected one of DEFAULT, DO_NOT_UPGRADE, UPGRADE, got \"UPGRADES\"; did you mean \"UPGRADE\"?"],
            parsed.Errors.Select(e => e.ToString()).ToList());
    }
}
