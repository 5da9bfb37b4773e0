using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Policy.Authorization;

namespace BelizeMesh.Proxy.Tests.Policy;

public class AuthorizationPolicyTests
{
    private const string Blockchain = "cluster.local/ns/belizechain/sa/blockchain";

    private static AuthorizationPolicy Rule(string[]? principals, string[]? methods, string[]? paths)
        => AuthorizationPolicy.Create(new AuthorizationSpec([new AuthorizationRuleSpec(principals is null ? null : new FromSpec(principals), methods is null && paths is null ? null : new ToSpec(methods, paths))]));

    [Theory]
    // principal: exact, any, prefix, suffix
    [InlineData(new[] { Blockchain }, Blockchain, true)]
    [InlineData(new[] { Blockchain }, "cluster.local/ns/belizechain/sa/nawal", false)]
    [InlineData(new[] { "*" }, Blockchain, true)]
    [InlineData(new[] { "cluster.local/ns/belizechain/*" }, Blockchain, true)]
    [InlineData(new[] { "cluster.local/ns/other/*" }, Blockchain, false)]
    [InlineData(new[] { "*/sa/blockchain" }, Blockchain, true)]
    [InlineData(new[] { "*/sa/nawal" }, Blockchain, false)]
    // Istio semantics: principals never match an unauthenticated (plaintext) caller, not even "*"
    [InlineData(new[] { "*" }, null, false)]
    [InlineData(new[] { "cluster.local/*" }, null, false)]
    public void Principal_patterns(string[] principals, string? caller, bool allowed)
        => Assert.Equal(allowed, Rule(principals, null, null).Evaluate(caller, "GET", "/x").Allowed);

    [Theory]
    [InlineData(new[] { "GET", "POST" }, "GET", true)]
    [InlineData(new[] { "GET", "POST" }, "POST", true)]
    [InlineData(new[] { "GET", "POST" }, "DELETE", false)]
    [InlineData(new[] { "GET" }, "get", false)]
    public void Methods_match_exactly(string[] methods, string method, bool allowed)
        => Assert.Equal(allowed, Rule(null, methods, null).Evaluate(Blockchain, method, "/x").Allowed);

    [Theory]
    [InlineData("/api/v1/upload", "/api/v1/upload", true)]
    [InlineData("/api/v1/upload", "/api/v1/upload/x", false)]
    [InlineData("/api/v1/upload*", "/api/v1/upload/x", true)]
    [InlineData("/api/v1/upload*", "/api/v1/uploadz", true)]
    [InlineData("/api/v1/upload*", "/api/v2/upload", false)]
    [InlineData("*.json", "/a/b.json", true)]
    [InlineData("*.json", "/a/b.jsonx", false)]
    [InlineData("*", "/anything", true)]
    public void Path_patterns(string pattern, string path, bool allowed)
        => Assert.Equal(allowed, Rule(null, null, [pattern]).Evaluate(null, "GET", path).Allowed);

    [Fact]
    public void A_rule_matches_only_when_every_clause_matches()
    {
        AuthorizationPolicy policy = Rule([Blockchain], ["POST"], ["/api/*"]);

        Assert.True(policy.Evaluate(Blockchain, "POST", "/api/x").Allowed);
        Assert.False(policy.Evaluate(Blockchain, "GET", "/api/x").Allowed);
        Assert.False(policy.Evaluate(Blockchain, "POST", "/admin").Allowed);
        Assert.False(policy.Evaluate("cluster.local/ns/x/sa/y", "POST", "/api/x").Allowed);
    }

    [Fact]
    public void Any_matching_rule_allows()
    {
        AuthorizationPolicy policy = AuthorizationPolicy.Create(new AuthorizationSpec(
        [
            new AuthorizationRuleSpec(new FromSpec(["*"]), new ToSpec(["GET", "POST"], ["/api/v1/upload*"])),
            new AuthorizationRuleSpec(new FromSpec([Blockchain]), new ToSpec(null, ["/api/v1/proofs/*"])),
        ]));

        Assert.True(policy.Evaluate("cluster.local/ns/a/sa/b", "POST", "/api/v1/upload").Allowed);
        Assert.True(policy.Evaluate(Blockchain, "DELETE", "/api/v1/proofs/1").Allowed);
        Assert.False(policy.Evaluate("cluster.local/ns/a/sa/b", "GET", "/api/v1/proofs/1").Allowed);
        AuthorizationDecision denied = policy.Evaluate(null, "POST", "/api/v1/upload");
        Assert.False(denied.Allowed);
        Assert.Equal("no authorization rule allows this request from an unauthenticated caller", denied.Reason);
    }

    [Fact]
    public void A_rule_without_from_matches_plaintext_callers()
        => Assert.True(Rule(null, null, ["/health"]).Evaluate(null, "GET", "/health").Allowed);

    [Fact]
    public void No_authorization_section_allows_all_but_an_empty_rule_list_denies_all()
    {
        Assert.True(AuthorizationPolicy.Create(null).Evaluate(null, "GET", "/").Allowed);
        AuthorizationDecision decision = AuthorizationPolicy.Create(new AuthorizationSpec([])).Evaluate(Blockchain, "GET", "/");
        Assert.False(decision.Allowed);
        Assert.Equal("no authorization rules are configured (an empty rule list denies all)", decision.Reason);
    }
}
