using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Analysis;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.TestSupport;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Mesh.Tests;

/// <summary>DENY rules, not-clauses and JWT: one mesh file gives the Istio resources and the same rules in the sidecar policy.</summary>
public sealed class SecurityEmitTests
{
    private const string Jwks = """{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"7c4-G2g5NVhKis4yjzMw3-k3TnWHCBvIRcfSuNbqLnU","y":"VCH_z1d9sa2uIgPmUasIraQ2xBk-i-57oex97F82O8g"}]}""";

    private const string Header = "apiVersion: belizemesh.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: t\nspec:\n  namespace: shop\n  services:\n";

    private static readonly string Mesh = Header + $$"""
            - name: cart
              ports: [{ name: http, number: 8080 }, { name: http-admin, number: 9090 }]
              authorization:
                allow:
                  - from: { serviceAccounts: [web], notPrincipals: ["*/sa/intruder"] }
                    to: { methods: [GET, POST], notPaths: ["/internal*"] }
                  - from: { namespaces: [ops] }
                    to: { ports: [9090] }
                deny:
                  - policy: deny-outsiders
                    from: { notNamespaces: [shop, ops] }
                  - from: { notRequestPrincipals: ["*"] }
                    to: { notMethods: [GET], paths: ["/orders*"] }
              jwt:
                required: true
                issuers:
                  - issuer: https://inline.example.com
                    jwks: '{{Jwks}}'
                    audiences: [cart]
                  - issuer: https://auth.example.com
                    jwksUri: https://auth.example.com/jwks.json
                    jwksFile: /etc/belizemesh/jwks/auth.json
            - name: web
              ports: [{ name: http, number: 8080 }]

        """;

    private static IReadOnlyList<EmittedResource> Emit(string text)
    {
        var parsed = MeshParser.Parse(text, "mesh.yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        return MeshEmitter.Emit(parsed.Mesh!);
    }

    private static JsonNode Find(IReadOnlyList<EmittedResource> resources, ResourceKind kind, string name) =>
        Assert.Single(resources, r => r.Kind == kind && r.Name == name).Document;

    private static string SidecarPolicyText(IReadOnlyList<EmittedResource> resources, string serviceAccount)
        => (string)Find(resources, ResourceKind.ConfigMap, "belizemesh-policy-" + serviceAccount)["data"]!["policy.yaml"]!;

    [Fact]
    public void Istio_and_the_sidecar_get_the_same_allow_and_deny_rules()
    {
        var resources = Emit(Mesh);
        var inbound = YamlJson.Load(SidecarPolicyText(resources, "cart"))!["spec"]!["inbound"]!;

        var expectedRules = JsonNode.Parse("""
            [{"from":{"principals":["cluster.local/ns/shop/sa/web"],"notPrincipals":["*/sa/intruder"],"requestPrincipals":["*"]},
              "to":{"methods":["GET","POST"],"notPaths":["/internal*"]}},
             {"from":{"namespaces":["ops"],"requestPrincipals":["*"]},"to":{"ports":[9090]}}]
            """);
        var expectedDeny = JsonNode.Parse("""
            [{"from":{"notNamespaces":["shop","ops"]}},
             {"from":{"notRequestPrincipals":["*"]},"to":{"notMethods":["GET"],"paths":["/orders*"]}}]
            """);
        // The ALLOW rule for port 9090 keeps its port: the sidecar serves 8080 (app) and 9090 (inbound.apps) and matches it.
        Assert.True(JsonNode.DeepEquals(expectedRules, inbound["authorization"]!["rules"]), inbound["authorization"]!.ToJsonString());
        Assert.True(JsonNode.DeepEquals(expectedDeny, inbound["authorization"]!["denyRules"]), inbound["authorization"]!.ToJsonString());

        var deny = Find(resources, ResourceKind.AuthorizationPolicy, "deny-outsiders")["spec"]!;
        Assert.Equal("DENY", (string?)deny["action"]);
        var second = Find(resources, ResourceKind.AuthorizationPolicy, "cart-deny")["spec"]!["rules"]![0]!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"from":[{"source":{"notRequestPrincipals":["*"]}}],"to":[{"operation":{"notMethods":["GET"],"paths":["/orders*"]}}]}"""), second), second.ToJsonString());
        var allow = Find(resources, ResourceKind.AuthorizationPolicy, "cart-allow")["spec"]!["rules"]![0]!;
        Assert.Equal("*/sa/intruder", (string?)allow["from"]![0]!["source"]!["notPrincipals"]![0]);
        Assert.Equal("/internal*", (string?)allow["to"]![0]!["operation"]!["notPaths"]![0]);
    }

    [Fact]
    public void Jwt_issuers_go_to_istio_by_jwks_or_jwksUri_and_to_the_sidecar_by_jwks_or_jwksFile()
    {
        var resources = Emit(Mesh);
        var istio = Find(resources, ResourceKind.RequestAuthentication, "cart-jwt")["spec"]!["jwtRules"]!;
        Assert.Equal(Jwks, (string?)istio[0]!["jwks"]);
        Assert.Null(istio[0]!["jwksUri"]);
        Assert.Equal("https://auth.example.com/jwks.json", (string?)istio[1]!["jwksUri"]);
        Assert.Null(istio[1]!["jwksFile"]); // sidecar only

        string policyText = SidecarPolicyText(resources, "cart");
        var sidecar = YamlJson.Load(policyText)!["spec"]!["inbound"]!["jwtRules"]!;
        var expected = new JsonArray(
            new JsonObject { ["issuer"] = "https://inline.example.com", ["audiences"] = new JsonArray("cart"), ["jwks"] = Jwks },
            new JsonObject { ["issuer"] = "https://auth.example.com", ["jwksFile"] = "/etc/belizemesh/jwks/auth.json" });
        Assert.True(JsonNode.DeepEquals(expected, sidecar), sidecar.ToJsonString());

        // The proxy's own parser accepts what emit wrote (the inline JWKS included).
        PolicyParseResult parsed = PolicyParser.Parse(policyText, "policy.yaml", new PolicyParserOptions { PqChannelAvailable = true });
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        Assert.Equal(2, parsed.Policy!.Spec.Inbound.JwtRules.Count);
    }

    [Fact]
    public void Issuer_with_jwksUri_alone_goes_to_the_sidecar_as_jwksUri_and_is_not_a_finding()
    {
        string text = Mesh.Replace("            jwksFile: /etc/belizemesh/jwks/auth.json\n", "", StringComparison.Ordinal);
        var parsed = MeshParser.Parse(text, "mesh.yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        Assert.Empty(MeshAnalyzer.Analyze(parsed.Mesh!));

        string policyText = SidecarPolicyText(MeshEmitter.Emit(parsed.Mesh!), "cart");
        var rule = YamlJson.Load(policyText)!["spec"]!["inbound"]!["jwtRules"]![1]!;
        Assert.True(JsonNode.DeepEquals(new JsonObject { ["issuer"] = "https://auth.example.com", ["jwksUri"] = "https://auth.example.com/jwks.json" }, rule), rule.ToJsonString());
        PolicyParseResult sidecar = PolicyParser.Parse(policyText, "policy.yaml", new PolicyParserOptions { PqChannelAvailable = true });
        Assert.True(sidecar.Succeeded, string.Join("\n", sidecar.Errors));
        Assert.Equal(new Uri("https://auth.example.com/jwks.json"), sidecar.Policy!.Spec.Inbound.JwtRules[1].JwksUri);
    }

    [Fact]
    public void Analyze_reports_keys_fetched_over_plain_http()
    {
        var parsed = MeshParser.Parse(Mesh.Replace("jwksUri: https://", "jwksUri: http://", StringComparison.Ordinal), "mesh.yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        var finding = Assert.Single(MeshAnalyzer.Analyze(parsed.Mesh!));
        Assert.Equal(("BM0024", FindingSeverity.Warning), (finding.Code, finding.Severity));
        Assert.Contains("from http://auth.example.com/jwks.json; istiod fetches them over plain http", finding.Message, StringComparison.Ordinal); // the sidecar reads jwksFile
    }

    [Fact]
    public void Rules_keep_their_ports_for_a_sidecar_with_two_app_ports()
    {
        string text = Header + """
                - name: blockchain
                  ports: [{ name: http-rpc, number: 9933 }, { name: http-ws, number: 9944 }, { name: tcp-p2p, number: 30333 }]
                  authorization:
                    allow:
                      - from: { namespaces: [shop] }
                        to: { ports: [9933] }
                      - from: { namespaces: [p2p] }
                        to: { ports: [30333] }
                      - from: { namespaces: [ops] }
                        to: { notPorts: [9933] }
                    deny:
                      - from: { notNamespaces: [shop] }
                        to: { ports: [9944] }
                      - to: { notPorts: [9933, 9944] }

            """;
        var resources = Emit(text);
        string policyText = SidecarPolicyText(resources, "blockchain");
        var inbound = YamlJson.Load(policyText)!["spec"]!["inbound"]!;
        var expected = JsonNode.Parse("""
            {"rules":[{"from":{"namespaces":["shop"]},"to":{"ports":[9933]}},
                      {"from":{"namespaces":["ops"]},"to":{"notPorts":[9933]}}],
             "denyRules":[{"from":{"notNamespaces":["shop"]},"to":{"ports":[9944]}}]}
            """);
        // 30333 is not an app port of the sidecar: the rule for it (and the DENY rule for every other port) cannot match there.
        Assert.True(JsonNode.DeepEquals(expected, inbound["authorization"]), inbound["authorization"]!.ToJsonString());
        Assert.Equal(9944L, (long)inbound["apps"]![0]!["port"]!);

        PolicyParseResult sidecar = PolicyParser.Parse(policyText, "policy.yaml", new PolicyParserOptions { PqChannelAvailable = true });
        Assert.True(sidecar.Succeeded, string.Join("\n", sidecar.Errors));
        Assert.Equal([9933], sidecar.Policy!.Spec.Inbound.Authorization!.Rules[0].To!.Ports!);
        Assert.Equal([9944], sidecar.Policy.Spec.Inbound.Authorization.DenyRules[0].To!.Ports!);

        // Istio gets every rule, ports as strings.
        var deny = Find(resources, ResourceKind.AuthorizationPolicy, "blockchain-deny")["spec"]!["rules"]!;
        Assert.Equal("9944", (string?)deny[0]!["to"]![0]!["operation"]!["ports"]![0]);
        Assert.Equal("9933", (string?)deny[1]!["to"]![0]!["operation"]!["notPorts"]![0]);
        Assert.Equal(3, Find(resources, ResourceKind.AuthorizationPolicy, "blockchain-allow")["spec"]!["rules"]!.AsArray().Count);
        foreach (var policy in resources.Where(r => r.Kind == ResourceKind.AuthorizationPolicy))
        {
            Assert.Empty(IstioCrdSchemas.ValidateResource(policy.Document)); // notPorts is Istio's field
        }
    }

    [Fact]
    public void Equivalence_mesh_gives_the_sidecar_policy_the_proxy_tests_run()
    {
        string mesh = File.ReadAllText(Golden.TestData("security", "equivalence.mesh.yaml"));
        var resources = Emit(mesh);
        Golden.AssertMatches(Golden.TestData("security", "nawal.policy.yaml"), SidecarPolicyText(resources, "nawal"));

        // The Istio side of the same file: the DENY policies and the RequestAuthentication Envoy enforces.
        Assert.Equal("DENY", (string?)Find(resources, ResourceKind.AuthorizationPolicy, "deny-outsiders")["spec"]!["action"]);
        Assert.Equal("DENY", (string?)Find(resources, ResourceKind.AuthorizationPolicy, "deny-db-admin")["spec"]!["action"]);
        Assert.Equal("https://auth.example.com", (string?)Find(resources, ResourceKind.RequestAuthentication, "nawal-jwt")["spec"]!["jwtRules"]![0]!["issuer"]);
        Assert.Empty(MeshAnalyzer.Analyze(MeshParser.Parse(mesh, "equivalence.mesh.yaml").Mesh!));
    }

    [Theory]
    [InlineData("jwks: 'not json'", "not a JWKS")]
    [InlineData("jwksUri: https://a/j.json\n            jwksFile: jwks.json", "is not an absolute path")]
    [InlineData("audiences: [a]", "give exactly one of jwksUri (istiod and the quantum sidecar fetch it) or jwks (the JWKS inline)")]
    [InlineData("jwksUri: https://a/j.json\n            jwks: '{\"keys\":[]}'", "give exactly one of jwksUri")]
    [InlineData("jwks: '{\"keys\":[]}'\n            jwksFile: /k.json", "not needed with jwks")]
    public void Jwt_key_sources_are_checked(string keys, string message)
    {
        string text = Header + $$"""
                - name: api
                  ports: [{ name: http, number: 8080 }]
                  jwt:
                    issuers:
                      - issuer: https://a
                        {{keys}}

            """;
        var result = MeshParser.Parse(text, "mesh.yaml");
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Errors);
        Assert.Contains(message, error.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("mesh.yaml:", error.ToString(), StringComparison.Ordinal);
    }
}
