using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Policy.Authorization;

namespace BelizeMesh.Proxy.Tests.Policy;

/// <summary><c>to.ports</c> / <c>to.notPorts</c>: matched against the port of the app the request is forwarded to.</summary>
public class PortRuleTests
{
    private const string Caller = "cluster.local/ns/belizechain/sa/pakit";

    private static AuthorizationPolicy Policy(AuthorizationRuleSpec[]? allow, params AuthorizationRuleSpec[] deny)
        => AuthorizationPolicy.Create(new AuthorizationSpec(allow ?? []) { DenyRules = deny, HasAllowPolicy = allow is not null });

    [Theory]
    [InlineData(9933, true)]
    [InlineData(9944, false)]
    public void Allow_rule_for_one_port_opens_only_that_port(int appPort, bool allowed)
    {
        AuthorizationPolicy policy = Policy([new AuthorizationRuleSpec(null, new ToSpec(null, null) { Ports = [9933] })]);
        Assert.Equal(allowed, policy.Evaluate(Caller, null, "GET", "/", appPort).Allowed);
    }

    [Theory]
    [InlineData(9933, true)]
    [InlineData(9944, false)]
    public void Deny_rule_for_one_port_blocks_only_that_port(int appPort, bool allowed)
    {
        AuthorizationPolicy policy = Policy(null, new AuthorizationRuleSpec(null, new ToSpec(null, null) { Ports = [9944] }));
        AuthorizationDecision decision = policy.Evaluate(Caller, null, "GET", "/", appPort);
        Assert.Equal(allowed, decision.Allowed);
        Assert.Equal(!allowed, decision.ByDenyRule);
    }

    [Theory]
    [InlineData(9933, false)]
    [InlineData(9944, true)]
    [InlineData(8080, true)]
    public void Not_ports_match_every_other_port(int appPort, bool allowed)
    {
        AuthorizationPolicy policy = Policy([new AuthorizationRuleSpec(null, new ToSpec(["GET"], null) { NotPorts = [9933] })]);
        Assert.Equal(allowed, policy.Evaluate(Caller, null, "GET", "/", appPort).Allowed);
        Assert.False(policy.Evaluate(Caller, null, "POST", "/", appPort).Allowed); // every clause must match
    }

    [Fact]
    public void Without_an_app_port_a_ports_rule_does_not_match()
        => Assert.False(Policy([new AuthorizationRuleSpec(null, new ToSpec(null, null) { Ports = [9933] })]).Evaluate(Caller, "GET", "/").Allowed);
}
