using System.Net;
using System.Net.Http;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// Authorization <c>to.ports</c> with two app ports behind one inbound (<c>inbound.app</c> for the RPC port and an
/// <c>inbound.apps</c> entry for the WebSocket port): a rule matches the port of the app the request is forwarded to,
/// chosen by the port the caller addresses, so a rule for one port neither opens nor blocks the other.
/// </summary>
public sealed class AppPortAuthorizationTests : IAsyncLifetime
{
    private TestApp _rpc = null!;
    private TestApp _ws = null!;

    public async Task InitializeAsync()
    {
        _rpc = await TestApp.StartAsync("rpc");
        _ws = await TestApp.StartAsync("ws");
    }

    public async Task DisposeAsync()
    {
        await _ws.DisposeAsync();
        await _rpc.DisposeAsync();
    }

    /// <summary>Callers address 9933 (not listed: the default app, rpc) and 9944 (the ws entry); the rules name the
    /// apps' own ports, as Istio's rules name the workload's ports.</summary>
    private Task<Sidecar> StartAsync(string authorization) => Sidecar.StartAsync(Sidecar.Policy(_rpc.Url, inboundExtra: $$"""
                apps:
                  - port: 9944
                    app: "{{_ws.Url}}"
                authorization:
            {{authorization}}
            """), watch: false);

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(Sidecar sidecar, int callerPort)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{sidecar.InboundEndpoint}/echo");
        request.Headers.Host = $"blockchain.test:{callerPort}";
        using HttpResponseMessage response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Allow_rule_for_the_rpc_port_does_not_open_the_websocket_port()
    {
        await using Sidecar sidecar = await StartAsync($$"""
                  rules:
                    - to: { ports: [{{_rpc.Port}}] }
            """);

        (HttpStatusCode rpcStatus, string rpcBody) = await GetAsync(sidecar, 9933);
        Assert.Equal(HttpStatusCode.OK, rpcStatus);
        Assert.Contains("app: rpc\n", rpcBody, StringComparison.Ordinal);

        (HttpStatusCode wsStatus, string wsBody) = await GetAsync(sidecar, 9944);
        Assert.Equal(HttpStatusCode.Forbidden, wsStatus);
        Assert.Contains("RBAC: access denied", wsBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deny_rule_for_the_websocket_port_does_not_block_the_rpc_port()
    {
        await using Sidecar sidecar = await StartAsync($$"""
                  denyRules:
                    - to: { ports: [{{_ws.Port}}] }
            """);

        (HttpStatusCode rpcStatus, string rpcBody) = await GetAsync(sidecar, 9933);
        Assert.Equal(HttpStatusCode.OK, rpcStatus);
        Assert.Contains("app: rpc\n", rpcBody, StringComparison.Ordinal);

        (HttpStatusCode wsStatus, string wsBody) = await GetAsync(sidecar, 9944);
        Assert.Equal(HttpStatusCode.Forbidden, wsStatus);
        Assert.Contains("a DENY rule matches this request", wsBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Not_ports_rule_opens_every_port_but_the_one_it_names()
    {
        await using Sidecar sidecar = await StartAsync($$"""
                  rules:
                    - to: { notPorts: [{{_rpc.Port}}] }
            """);

        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(sidecar, 9933)).Status);
        (HttpStatusCode wsStatus, string wsBody) = await GetAsync(sidecar, 9944);
        Assert.Equal(HttpStatusCode.OK, wsStatus);
        Assert.Contains("app: ws\n", wsBody, StringComparison.Ordinal);
    }
}

/// <summary>
/// The same over the PQ path: pakit's routes pick nawal's app port (the Host's, or <c>appPort</c> sent as
/// <c>x-belizemesh-app-port</c>), and nawal's STRICT inbound authorizes on the port of the app that request goes to.
/// </summary>
public sealed class AppPortAuthorizationPqTests : IAsyncLifetime
{
    private TestApp _rpc = null!;
    private TestApp _ws = null!;
    private TwoSidecarMesh _mesh = null!;

    public async Task InitializeAsync()
    {
        _rpc = await TestApp.StartAsync("rpc");
        _ws = await TestApp.StartAsync("ws");
        _mesh = await TwoSidecarMesh.Create()
            .Inbound(extra: $$"""
                    apps:
                      - port: 9944
                        app: "{{_ws.Url}}"
                    authorization:
                      rules:
                        - from: { principals: ["cluster.local/ns/belizechain/sa/pakit"] }
                          to: { ports: [{{_rpc.Port}}] }
                """)
            .Route("nawal.test")
            .Route("nawal-ws.test", "appPort: 9944")
            .WithoutPolicyWatch()
            .StartAsync(_rpc.Url, _rpc, _ws);
    }

    public Task DisposeAsync() => _mesh.DisposeAsync().AsTask();

    [Theory]
    [InlineData("http://nawal.test/echo", HttpStatusCode.OK)]          // no port: the default app (rpc), which the rule names
    [InlineData("http://nawal.test:9944/echo", HttpStatusCode.Forbidden)] // the Host's port picks the ws app
    [InlineData("http://nawal-ws.test/echo", HttpStatusCode.Forbidden)]   // the route's appPort picks the ws app
    public async Task Rule_for_the_rpc_port_admits_only_requests_forwarded_to_it(string url, HttpStatusCode expected)
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();

        using HttpResponseMessage response = await http.GetAsync(url);

        Assert.Equal(expected, response.StatusCode);
        if (expected == HttpStatusCode.OK)
        {
            Assert.Contains("app: rpc\n", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }
}
