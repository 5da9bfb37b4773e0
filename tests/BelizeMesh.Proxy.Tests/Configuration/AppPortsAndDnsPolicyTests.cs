using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Proxy.Tests.Configuration;

/// <summary><c>spec.inbound.apps</c> and <c>routes[].dnsRefresh</c>: values, defaults and located errors.</summary>
public class AppPortsAndDnsPolicyTests
{
    private const string Head = """
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        spec:
          inbound:
            app: "http://127.0.0.1:9933"
            mode: DISABLE
            timeout: 30s

        """;

    private static PolicySpec Parse(string yaml)
    {
        PolicyParseResult result = PolicyParser.Parse(yaml, "policy.yaml");
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Policy!.Spec;
    }

    private static void AssertSingleError(string yaml, int line, int column, string message)
    {
        PolicyParseResult result = PolicyParser.Parse(yaml, "policy.yaml");
        Assert.False(result.Succeeded);
        PolicyError error = Assert.Single(result.Errors);
        Assert.Equal($"policy.yaml:{line}:{column}: {message}", error.ToString());
    }

    [Fact]
    public void Apps_list_more_app_ports_with_their_own_url_and_timeout()
    {
        PolicySpec spec = Parse(Head + """
                apps:
                  - port: 9944
                    timeout: 0
                  - { port: 8545, app: "http://localhost:18545" }

            """);

        Assert.Equal(new Uri("http://127.0.0.1:9933"), spec.Inbound.App);
        Assert.Collection(spec.Inbound.Apps,
            a => Assert.Equal(new InboundAppSpec(9944, new Uri("http://127.0.0.1:9944"), TimeSpan.Zero), a),
            a => Assert.Equal(new InboundAppSpec(8545, new Uri("http://localhost:18545"), TimeSpan.FromSeconds(30)), a));
    }

    [Fact]
    public void Without_apps_the_inbound_has_only_its_app() => Assert.Empty(Parse(Head).Inbound.Apps);

    [Fact]
    public void Duplicate_app_port_is_reported_at_the_second_entry()
        => AssertSingleError(Head + "    apps:\n      - port: 9944\n      - port: 9944\n", 10, 15,
            "spec.inbound.apps[1].port: 9944 is listed by an earlier entry of spec.inbound.apps; each port goes to one app");

    [Theory]
    [InlineData("port: 0", 9, 15, "spec.inbound.apps[0].port: 0 is out of range; expected a port number from 1 to 65535")]
    [InlineData("port: 70000", 9, 15, "spec.inbound.apps[0].port: 70000 is out of range; expected a port number from 1 to 65535")]
    [InlineData("port: ws", 9, 15, "spec.inbound.apps[0].port: expected a port number from 1 to 65535, got \"ws\"")]
    [InlineData("app: \"http://127.0.0.1:9944\"", 9, 9, "spec.inbound.apps[0].port: missing required field \"port\" (the port callers address (the port in their Host), e.g. port: 9944)")]
    [InlineData("{ port: 9944, app: \"https://127.0.0.1:9944\" }", 9, 28, "spec.inbound.apps[0].app: \"https://127.0.0.1:9944\" is not a plain http URL of the local app; write e.g. \"http://127.0.0.1:8080\"")]
    [InlineData("{ port: 9944, prot: 1 }", 9, 23, "spec.inbound.apps[0].prot: unknown field \"prot\"; did you mean \"port\"? (allowed here: app, appProtocol, port, timeout)")]
    public void Bad_app_entry_is_reported_where_it_is(string entry, int line, int column, string message)
        => AssertSingleError(Head + "    apps:\n      - " + entry + "\n", line, column, message);

    [Fact]
    public void Route_dns_refresh_defaults_to_five_seconds_and_can_be_set()
    {
        PolicySpec spec = Parse(Head + """
              outbound:
                routes:
                  - { host: a.test, endpoints: ["a-pq.ns.svc.cluster.local:16443"] }
                  - { host: b.test, endpoints: ["b-pq.ns.svc.cluster.local:16443"], dnsRefresh: 30s }

            """);

        Assert.Equal(TimeSpan.FromSeconds(5), spec.Outbound.Routes[0].DnsRefresh);
        Assert.Equal(TimeSpan.FromSeconds(30), spec.Outbound.Routes[1].DnsRefresh);
    }

    [Fact]
    public void Dns_refresh_under_a_second_is_refused()
        => AssertSingleError(Head + "  outbound:\n    routes:\n      - { host: a.test, endpoints: [\"a:1\"], dnsRefresh: 100ms }\n", 10, 57,
            "spec.outbound.routes[0].dnsRefresh: 100ms is too short; re-resolving more often than once a second loads the cluster DNS for nothing (records live 5 s), use at least 1s");

    [Fact]
    public void Route_app_port_is_optional_and_read_when_given()
    {
        PolicySpec spec = Parse(Head + """
              outbound:
                routes:
                  - { host: a.test, endpoints: ["a:1"] }
                  - { host: b.test, endpoints: ["b:1"], appPort: 9944 }

            """);

        Assert.Null(spec.Outbound.Routes[0].AppPort);
        Assert.Equal(9944, spec.Outbound.Routes[1].AppPort);
    }

    [Fact]
    public void Route_app_port_out_of_range_is_refused()
        => AssertSingleError(Head + "  outbound:\n    routes:\n      - { host: a.test, endpoints: [\"a:1\"], appPort: 0 }\n", 10, 54,
            "spec.outbound.routes[0].appPort: 0 is out of range; expected a port number (the peer's app port, one of its spec.inbound.apps) from 1 to 65535");

    [Fact]
    public void Destination_app_port_is_read_and_checked()
    {
        const string routes = "  outbound:\n    routes:\n      - host: a.test\n        endpoints: [\"a:1\"]\n        http:\n          - name: r\n";
        Assert.Equal(9944, Parse(Head + routes + "            destinations: [{ appPort: 9944 }]\n").Outbound.Routes[0].Http[0].Destinations[0].AppPort);
        AssertSingleError(Head + routes + "            destinations: [{ appPort: 0 }]\n", 14, 39,
            "spec.outbound.routes[0].http[0].destinations[0].appPort: 0 is out of range; expected a port number (the peer's app port, one of its spec.inbound.apps) from 1 to 65535");
    }
}
