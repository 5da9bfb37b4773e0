using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Policy.Authorization;

namespace BelizeMesh.Proxy.Tests.Policy;

/// <summary>DENY rules, the <c>not</c> clauses, namespaces and request principals, with Istio's semantics.</summary>
public class DenyRuleTests
{
    private const string Blockchain = "cluster.local/ns/belizechain/sa/blockchain";
    private const string Guest = "cluster.local/ns/guests/sa/visitor";
    private const string User = "https://auth.example.com/user-1";

    private static AuthorizationPolicy Policy(AuthorizationRuleSpec[]? allow, params AuthorizationRuleSpec[] deny)
        => AuthorizationPolicy.Create(new AuthorizationSpec(allow ?? []) { DenyRules = deny, HasAllowPolicy = allow is not null });

    private static AuthorizationRuleSpec From(FromSpec from, ToSpec? to = null) => new(from, to);

    [Fact]
    public void A_matching_deny_rule_beats_a_matching_allow_rule()
    {
        AuthorizationPolicy policy = Policy(
            [new AuthorizationRuleSpec(null, null)],                                        // allow everything
            From(new FromSpec(null) { NotNamespaces = ["belizechain"] }));                  // deny-postgres

        AuthorizationDecision denied = policy.Evaluate(Guest, "GET", "/");
        Assert.False(denied.Allowed);
        Assert.True(denied.ByDenyRule);
        Assert.Equal("a DENY rule matches this request", denied.Reason);
        Assert.True(policy.Evaluate(Blockchain, "GET", "/").Allowed);
    }

    [Fact]
    public void Deny_rules_alone_allow_what_they_do_not_match()
    {
        AuthorizationPolicy policy = Policy(null, From(new FromSpec(["*/sa/visitor"])));
        Assert.True(policy.Evaluate(Blockchain, "GET", "/").Allowed);
        Assert.True(policy.Evaluate(null, "GET", "/").Allowed);
        Assert.False(policy.Evaluate(Guest, "GET", "/").Allowed);
    }

    [Fact]
    public void Not_clauses_match_callers_without_that_identity_so_notPrincipals_star_denies_plaintext()
    {
        AuthorizationPolicy policy = Policy(null, From(new FromSpec(null) { NotPrincipals = ["*"] }));
        Assert.False(policy.Evaluate(null, "GET", "/").Allowed);
        Assert.True(policy.Evaluate(Guest, "GET", "/").Allowed);

        AuthorizationPolicy notNs = Policy(null, From(new FromSpec(null) { NotNamespaces = ["belizechain"] }));
        Assert.False(notNs.Evaluate(null, "GET", "/").Allowed); // plaintext has no namespace: "not belizechain"
    }

    [Theory]
    [InlineData("belizechain", Blockchain, true)]
    [InlineData("belize*", Blockchain, true)]
    [InlineData("*chain", Blockchain, true)]
    [InlineData("guests", Blockchain, false)]
    [InlineData("*", null, false)]
    public void Namespaces_come_from_the_verified_principal(string pattern, string? caller, bool allowed)
        => Assert.Equal(allowed, Policy([From(new FromSpec(null) { Namespaces = [pattern] })]).Evaluate(caller, "GET", "/").Allowed);

    [Fact]
    public void Request_principals_need_a_valid_jwt_and_not_request_principals_catch_requests_without_one()
    {
        AuthorizationPolicy require = Policy([From(new FromSpec(null) { RequestPrincipals = ["*"] })]);
        Assert.True(require.Evaluate(Blockchain, User, "GET", "/").Allowed);
        Assert.False(require.Evaluate(Blockchain, null, "GET", "/").Allowed);

        AuthorizationPolicy exact = Policy([From(new FromSpec(null) { RequestPrincipals = ["https://auth.example.com/*"] })]);
        Assert.True(exact.Evaluate(null, User, "GET", "/").Allowed);
        Assert.False(exact.Evaluate(null, "https://evil.example.com/user-1", "GET", "/").Allowed);

        AuthorizationPolicy denyWithoutToken = Policy(null, From(new FromSpec(null) { NotRequestPrincipals = ["*"] }));
        Assert.False(denyWithoutToken.Evaluate(Blockchain, null, "GET", "/").Allowed);
        Assert.True(denyWithoutToken.Evaluate(Blockchain, User, "GET", "/").Allowed);
    }

    [Fact]
    public void Every_from_clause_must_hold()
    {
        AuthorizationPolicy policy = Policy([From(new FromSpec([Blockchain]) { RequestPrincipals = ["*"], NotNamespaces = ["guests"] })]);
        Assert.True(policy.Evaluate(Blockchain, User, "GET", "/").Allowed);
        Assert.False(policy.Evaluate(Blockchain, null, "GET", "/").Allowed);
        Assert.False(policy.Evaluate(Guest, User, "GET", "/").Allowed);
    }

    [Fact]
    public void Not_methods_and_not_paths_exclude()
    {
        AuthorizationPolicy policy = Policy(null, new AuthorizationRuleSpec(null, new ToSpec(null, ["/admin*"]) { NotMethods = ["GET"], NotPaths = ["/admin/health"] }));
        Assert.False(policy.Evaluate(Blockchain, "POST", "/admin/users").Allowed);
        Assert.True(policy.Evaluate(Blockchain, "GET", "/admin/users").Allowed);
        Assert.True(policy.Evaluate(Blockchain, "POST", "/admin/health").Allowed);
        Assert.True(policy.Evaluate(Blockchain, "POST", "/public").Allowed);
    }

    [Fact]
    public void Evaluation_allocates_nothing()
    {
        AuthorizationPolicy policy = Policy(
            [From(new FromSpec(["*/sa/web"]) { RequestPrincipals = ["https://auth.example.com/*"], NotNamespaces = ["guests"] }, new ToSpec(["GET"], ["/api/*"]) { NotPaths = ["/api/admin*"] })],
            From(new FromSpec(null) { NotNamespaces = ["belizechain", "shop"] }, new ToSpec(null, null) { NotMethods = ["GET"] }));
        const string web = "cluster.local/ns/shop/sa/web";
        policy.Evaluate(web, User, "GET", "/api/x"); // warm up

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            policy.Evaluate(web, User, "GET", "/api/x");
            policy.Evaluate(Guest, null, "POST", "/api/admin");
            policy.Evaluate(null, null, "GET", "/");
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(policy.Evaluate(web, User, "GET", "/api/x").Allowed);
        Assert.False(policy.Evaluate(Guest, null, "POST", "/api/admin").Allowed);
    }

    [Theory]
    [InlineData("cluster.local/ns/belizechain/sa/x", "belizechain")]
    [InlineData("example.org/ns/a/sa/b", "a")]
    [InlineData("example.org/sa/b", "")]
    public void Namespace_of_a_principal(string principal, string ns)
        => Assert.Equal(ns, AuthorizationPolicy.NamespaceOf(principal).ToString());
}
