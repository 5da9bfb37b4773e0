using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Proxy.Tests.Configuration;

/// <summary><c>h2UpgradePolicy</c>: per route under <c>connectionPool</c> (Istio's DestinationRule field) and for all
/// routes under <c>spec.outbound</c> (Istio's mesh-wide setting).</summary>
public sealed class H2UpgradePolicyParserTests
{
    private static readonly PolicyParserOptions s_options = new() { PqChannelAvailable = true };

    // Line 8 is outboundExtra's line, line 12 the first of routeExtra.
    private static string Policy(string routeExtra, string outboundExtra = "") => $"""
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        spec:
          inbound:
            app: "http://127.0.0.1:8080"
            mode: DISABLE
          outbound:
            mode: DISABLE{outboundExtra}
            routes:
              - host: nawal.belizechain.svc.cluster.local
                endpoints: ["nawal-pq.belizechain.svc.cluster.local:16443"]
        {routeExtra}
        """;

    private static OutboundSpec Outbound(string routeExtra, string outboundExtra = "")
    {
        PolicyParseResult result = PolicyParser.Parse(Policy(routeExtra, outboundExtra), "policy.yaml", s_options);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Policy!.Spec.Outbound;
    }

    private static PolicyError SingleError(string routeExtra, string outboundExtra = "")
    {
        PolicyParseResult result = PolicyParser.Parse(Policy(routeExtra, outboundExtra), "policy.yaml", s_options);
        Assert.False(result.Succeeded);
        return Assert.Single(result.Errors);
    }

    [Fact]
    public void Without_the_setting_the_sidecar_chooses_per_request()
    {
        OutboundSpec outbound = Outbound("");
        Assert.Equal(H2UpgradePolicy.Default, outbound.H2UpgradePolicy);
        Assert.Equal(H2UpgradePolicy.Default, Assert.Single(outbound.Routes).H2UpgradePolicy);
    }

    [Theory]
    [InlineData("DEFAULT", H2UpgradePolicy.Default)]
    [InlineData("DO_NOT_UPGRADE", H2UpgradePolicy.DoNotUpgrade)]
    [InlineData("UPGRADE", H2UpgradePolicy.Upgrade)]
    public void Route_connection_pool_reads_each_istio_value(string text, H2UpgradePolicy expected)
        => Assert.Equal(expected, Assert.Single(Outbound($"        connectionPool: {{ h2UpgradePolicy: {text} }}").Routes).H2UpgradePolicy);

    [Fact]
    public void Outbound_default_is_read_and_routes_may_override_it()
    {
        OutboundSpec outbound = Outbound("        connectionPool: { h2UpgradePolicy: DO_NOT_UPGRADE }", "\n    h2UpgradePolicy: UPGRADE");
        Assert.Equal(H2UpgradePolicy.Upgrade, outbound.H2UpgradePolicy);
        Assert.Equal(H2UpgradePolicy.DoNotUpgrade, Assert.Single(outbound.Routes).H2UpgradePolicy);
    }

    [Fact]
    public void Misspelt_route_value_is_reported_where_it_is_with_a_suggestion()
    {
        PolicyError error = SingleError("        connectionPool: { h2UpgradePolicy: UPGRADED }");
        Assert.Equal(("policy.yaml", 12, 44), (error.File, error.Line, error.Column));
        Assert.Equal("spec.outbound.routes[0].connectionPool.h2UpgradePolicy: expected one of DEFAULT, DO_NOT_UPGRADE, UPGRADE, got \"UPGRADED\"; did you mean \"UPGRADE\"?", error.Message);
    }

    [Fact]
    public void Outbound_default_cannot_be_DEFAULT()
    {
        PolicyError error = SingleError("", "\n    h2UpgradePolicy: DEFAULT");
        Assert.Equal(("policy.yaml", 9, 22), (error.File, error.Line, error.Column));
        Assert.StartsWith("spec.outbound.h2UpgradePolicy: expected one of DO_NOT_UPGRADE, UPGRADE, got \"DEFAULT\"", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_connection_pool_field_lists_the_known_ones()
    {
        PolicyError error = SingleError("        connectionPool: { maxConnections: 10 }");
        Assert.Equal("spec.outbound.routes[0].connectionPool.maxConnections: unknown field \"maxConnections\" (allowed here: h2UpgradePolicy)", error.Message);
    }
}
