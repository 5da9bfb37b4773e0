using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Proxy.Tests.Configuration;

/// <summary>The idle <c>timeout</c> an app entry and a route get when none is written: none for an app entry with
/// <c>appProtocol: grpc</c> (Istio's inbound <c>stream_idle_timeout: 0s</c>), 60 s otherwise; a written value wins.</summary>
public sealed class GrpcTimeoutDefaultsParserTests
{
    private static readonly PolicyParserOptions s_options = new() { PqChannelAvailable = true };

    private static string Policy(string inboundExtra, string routeExtra = "") => $"""
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        spec:
          inbound:
            app: "http://127.0.0.1:8080"
            mode: DISABLE
        {inboundExtra}
          outbound:
            mode: DISABLE
            routes:
              - host: nawal.test
                endpoints: ["127.0.0.1:9"]
        {routeExtra}
        """;

    private static SidecarPolicy Parse(string inboundExtra, string routeExtra = "", PolicyParserOptions? options = null)
    {
        PolicyParseResult result = PolicyParser.Parse(Policy(inboundExtra, routeExtra), "policy.yaml", options ?? s_options);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Policy!;
    }

    private static TimeSpan EntryTimeout(InboundSpec inbound, int port)
        => Assert.Single(inbound.Apps, a => a.Port == port).Timeout;

    [Fact]
    public void Without_a_written_timeout_http_apps_and_routes_have_60_seconds()
    {
        SidecarPolicy policy = Parse("    apps: [{ port: 9944 }, { port: 9945, appProtocol: http2 }]");
        Assert.Equal(TimeSpan.FromSeconds(60), policy.Spec.Inbound.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(60), EntryTimeout(policy.Spec.Inbound, 9944));
        Assert.Equal(TimeSpan.FromSeconds(60), EntryTimeout(policy.Spec.Inbound, 9945));
        Assert.Equal(TimeSpan.FromSeconds(60), Assert.Single(policy.Spec.Outbound.Routes).Timeout);
    }

    [Fact]
    public void A_grpc_app_without_a_written_timeout_has_none()
    {
        SidecarPolicy policy = Parse("    appProtocol: grpc\n    apps: [{ port: 9944 }, { port: 9933, appProtocol: http }]");
        Assert.Equal(TimeSpan.Zero, policy.Spec.Inbound.Timeout);
        Assert.Equal(TimeSpan.Zero, EntryTimeout(policy.Spec.Inbound, 9944)); // inherits grpc
        Assert.Equal(TimeSpan.FromSeconds(60), EntryTimeout(policy.Spec.Inbound, 9933));
    }

    [Fact]
    public void A_grpc_entry_next_to_an_http_app_without_a_written_timeout_has_none()
    {
        SidecarPolicy policy = Parse("    apps: [{ port: 9944, appProtocol: grpc }]");
        Assert.Equal(TimeSpan.FromSeconds(60), policy.Spec.Inbound.Timeout);
        Assert.Equal(TimeSpan.Zero, EntryTimeout(policy.Spec.Inbound, 9944));
    }

    [Fact]
    public void A_timeout_written_on_the_entry_wins_over_the_grpc_default()
    {
        SidecarPolicy policy = Parse("    appProtocol: grpc\n    apps: [{ port: 9944, timeout: 30s }]");
        Assert.Equal(TimeSpan.Zero, policy.Spec.Inbound.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(30), EntryTimeout(policy.Spec.Inbound, 9944));
    }

    [Fact]
    public void A_timeout_written_on_the_inbound_applies_to_the_grpc_app_and_to_entries_without_their_own()
    {
        SidecarPolicy policy = Parse("    appProtocol: grpc\n    timeout: 45s\n    apps: [{ port: 9944 }, { port: 9945, appProtocol: grpc, timeout: 0 }, { port: 9933, appProtocol: http }]");
        Assert.Equal(TimeSpan.FromSeconds(45), policy.Spec.Inbound.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(45), EntryTimeout(policy.Spec.Inbound, 9944));
        Assert.Equal(TimeSpan.Zero, EntryTimeout(policy.Spec.Inbound, 9945));
        Assert.Equal(TimeSpan.FromSeconds(45), EntryTimeout(policy.Spec.Inbound, 9933));
    }

    [Fact]
    public void A_route_keeps_its_written_timeout_and_the_default_otherwise_whatever_the_app_protocol()
    {
        Assert.Equal(TimeSpan.FromSeconds(5), Assert.Single(Parse("    appProtocol: grpc", "        timeout: 5s").Spec.Outbound.Routes).Timeout);
        Assert.Equal(TimeSpan.Zero, Assert.Single(Parse("", "        timeout: 0s").Spec.Outbound.Routes).Timeout);
        Assert.Equal(TimeSpan.FromSeconds(60), Assert.Single(Parse("    appProtocol: grpc").Spec.Outbound.Routes).Timeout);
    }

    [Fact]
    public void The_default_timeout_option_sets_the_unwritten_timeouts_except_a_grpc_entrys()
    {
        var options = new PolicyParserOptions { PqChannelAvailable = true, DefaultTimeout = TimeSpan.FromSeconds(2) };
        SidecarPolicy policy = Parse("    apps: [{ port: 9944, appProtocol: grpc }, { port: 9945 }]", options: options);
        Assert.Equal(TimeSpan.FromSeconds(2), policy.Spec.Inbound.Timeout);
        Assert.Equal(TimeSpan.Zero, EntryTimeout(policy.Spec.Inbound, 9944));
        Assert.Equal(TimeSpan.FromSeconds(2), EntryTimeout(policy.Spec.Inbound, 9945));
        Assert.Equal(TimeSpan.FromSeconds(2), Assert.Single(policy.Spec.Outbound.Routes).Timeout);
    }
}
