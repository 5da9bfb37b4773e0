using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Mesh.Tests;

/// <summary>
/// Values in authorization rules and route matches that Istio would read otherwise than written (so the rule silently
/// matches nothing, and a DENY rule refuses nothing) and that the sidecar's policy parser refuses: the mesh parser
/// reports them with their position instead of emitting them.
/// </summary>
public sealed class RuleValueTests
{
    private const string Header = "apiVersion: belizemesh.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: t\nspec:\n  namespace: shop\n  services:\n";

    private static string Mesh(string rule) => Header + $$"""
            - name: cart
              ports: [{ name: http, number: 8080 }]
              authorization:
                deny:
                  - {{rule}}
            - name: web
              ports: [{ name: http, number: 8080 }]

        """;

    private static IReadOnlyList<string> Errors(string text)
    {
        var result = MeshParser.Parse(text, "mesh.yaml");
        Assert.False(result.Succeeded, "parsed without errors");
        return result.Errors.Select(e => e.ToString()).ToList();
    }

    /// <summary>Every SidecarPolicy emitted for <paramref name="text"/> loads in the proxy's own parser.</summary>
    private static void AssertSidecarsLoad(string text)
    {
        var parsed = MeshParser.Parse(text, "mesh.yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        foreach (var r in MeshEmitter.Emit(parsed.Mesh!))
        {
            if (r.Kind == ResourceKind.ConfigMap && r.Name.StartsWith("belizemesh-policy-", StringComparison.Ordinal))
            {
                var policy = PolicyParser.Parse((string)r.Document["data"]!["policy.yaml"]!, "policy.yaml", new PolicyParserOptions { PqChannelAvailable = true });
                Assert.True(policy.Errors.Count == 0, r.Name + ": " + string.Join("\n", policy.Errors));
            }
        }
    }

    [Fact]
    public void Principal_written_as_a_spiffe_id_is_refused_with_the_istio_form()
    {
        Assert.Equal(
            ["mesh.yaml:12:34: spec.services[0].authorization.deny[0].from.principals[0]: \"spiffe://cluster.local/ns/shop/sa/web\" is a SPIFFE ID; Istio compares principals without the scheme, so this matches no peer; write \"cluster.local/ns/shop/sa/web\""],
            Errors(Mesh("from: { principals: [\"spiffe://cluster.local/ns/shop/sa/web\"] }")));
        Assert.Equal(
            ["mesh.yaml:12:37: spec.services[0].authorization.deny[0].from.notPrincipals[0]: \"spiffe://cluster.local/ns/shop/sa/web\" is a SPIFFE ID; Istio compares principals without the scheme, so this matches no peer; write \"cluster.local/ns/shop/sa/web\""],
            Errors(Mesh("from: { notPrincipals: [\"spiffe://cluster.local/ns/shop/sa/web\"] }")));
    }

    [Theory]
    [InlineData("principals", 34)]
    [InlineData("notPrincipals", 37)]
    [InlineData("requestPrincipals", 41)]
    [InlineData("notRequestPrincipals", 44)]
    [InlineData("namespaces", 34)]
    [InlineData("notNamespaces", 37)]
    public void Star_inside_a_source_value_is_refused(string field, int column)
    {
        Assert.Equal(
            [$"mesh.yaml:12:{column}: spec.services[0].authorization.deny[0].from.{field}[0]: \"a*b\" has a '*' Istio does not expand (it matches only '*' alone, at the start or at the end) and would compare literally, matching no one; write an exact value, a prefix such as 'cluster.local/ns/shop/*' or a suffix such as '*/sa/web'"],
            Errors(Mesh($"from: {{ {field}: [\"a*b\"] }}")));
    }

    [Fact]
    public void Namespace_with_a_slash_is_refused()
    {
        Assert.Equal(
            ["mesh.yaml:12:42: spec.services[0].authorization.deny[0].from.notNamespaces[1]: \"shop/web\" is not a namespace name (a namespace has no '/'); write e.g. belizechain, or a pattern such as 'team-*' (use principals for a service account)"],
            Errors(Mesh("from: { notNamespaces: [ops, \"shop/web\"] }")));
    }

    [Theory]
    [InlineData("from: { principals: [\"*\", \"cluster.local/ns/shop/*\", \"*/sa/web\"], notPrincipals: [\"cluster.local/ns/shop/sa/web\"] }")]
    [InlineData("from: { requestPrincipals: [\"https://auth.example.com/*\"], notRequestPrincipals: [\"*/banned\"] }")]
    [InlineData("from: { namespaces: [\"team-*\", \"*-prod\", shop], notNamespaces: [\"*\"] }")]
    public void Exact_prefix_suffix_and_star_values_are_kept_and_load_in_the_sidecar(string rule)
    {
        AssertSidecarsLoad(Mesh(rule));
    }

    [Theory]
    [InlineData("to: { methods: [get] }", "to.methods[0]", 29, "get", "GET")]
    [InlineData("to: { notMethods: [GET, Delete] }", "to.notMethods[1]", 37, "Delete", "DELETE")]
    public void Lower_case_method_in_a_rule_is_refused(string rule, string path, int column, string method, string upper)
    {
        Assert.Equal(
            [$"mesh.yaml:12:{column}: spec.services[0].authorization.deny[0].{path}: \"{method}\" is not an HTTP method as requests carry it; methods are case-sensitive and Istio compares them exactly, so it would match no request; write {upper}"],
            Errors(Mesh(rule)));
    }

    [Fact]
    public void Lower_case_method_in_a_route_match_is_refused()
    {
        string text = Header + """
                - name: cart
                  ports: [{ name: http, number: 8080 }]
                  routes:
                    - name: reads
                      match: { methods: [GET, post] }

            """;
        Assert.Equal(
            ["mesh.yaml:12:35: spec.services[0].routes[0].match.methods[1]: \"post\" is not an HTTP method as requests carry it; methods are case-sensitive and Istio compares them exactly, so it would match no request; write POST"],
            Errors(text));
    }

    [Fact]
    public void Upper_case_methods_are_kept_and_load_in_the_sidecar()
    {
        AssertSidecarsLoad(Mesh("to: { methods: [GET, M-SEARCH], notMethods: [PATCH] }"));
    }

    private static string RouteWithHeaders(string headers) => Header + $$"""
            - name: cart
              ports: [{ name: http, number: 8080 }]
              routes:
                - name: canary
                  match: { headers: { {{headers}} } }
            - name: web
              ports: [{ name: http, number: 8080 }]

        """;

    [Fact]
    public void Header_name_that_is_not_a_token_is_refused()
    {
        Assert.Equal(
            ["mesh.yaml:12:31: spec.services[0].routes[0].match.headers.x version: \"x version\" is not a header name; expected letters, digits and !#$%&'*+-.^_`|~ only (e.g. x-version)"],
            Errors(RouteWithHeaders("\"x version\": v2")));
    }

    [Fact]
    public void Header_matched_twice_in_another_case_is_refused()
    {
        Assert.Equal(
            ["mesh.yaml:12:46: spec.services[0].routes[0].match.headers.x-version: header \"x-version\" is matched twice (header names are case-insensitive); give one condition per header"],
            Errors(RouteWithHeaders("X-Version: v2, x-version: v1")));
    }

    [Fact]
    public void Token_header_names_are_kept_and_load_in_the_callers_sidecars()
    {
        AssertSidecarsLoad(RouteWithHeaders("x-version: v2, X-B3-Sampled: { exact: \"1\" }, \"x_odd.name~\": { prefix: a }"));
    }
}
