using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// One service, two app ports behind one sidecar (the seed's RPC 9933 and WebSocket 9944), reached through the PQ path:
/// client → pakit's outbound → PQ channel (HTTP/2 inside) → nawal's STRICT inbound → the app port the caller addressed.
/// </summary>
public sealed class AppPortsTests : IAsyncLifetime
{
    private TestApp _rpc = null!;
    private TestApp _ws = null!;
    private TwoSidecarMesh _mesh = null!;

    public async Task InitializeAsync()
    {
        _rpc = await TestApp.StartAsync("rpc");
        _ws = await TestApp.StartAsync("ws");
        _mesh = await TwoSidecarMesh.Create()
            .Inbound(extra: $"""
                    apps:
                      - port: 9944
                        app: "{_ws.Url}"
                        timeout: 0
                    authorization:
                      rules:
                        - from: {"{"} principals: ["cluster.local/ns/belizechain/sa/pakit"] {"}"}
                          to: {"{"} methods: [GET] {"}"}
                """)
            .Route("nawal.test", "timeout: 0")
            .Route("nawal-ws.test", "timeout: 0\nappPort: 9944")
            .Route("nawal-rules.test", """
                timeout: 0
                http:
                  - name: websocket
                    match: [{ headers: { upgrade: { exact: websocket } } }]
                    destinations: [{ appPort: 9944 }]
                  - name: rpc
                    destinations: [{ appPort: 9933 }]
                """)
            .StartAsync(_rpc.Url, _rpc, _ws);
    }

    public Task DisposeAsync() => _mesh.DisposeAsync().AsTask();

    private static Dictionary<string, string> Lines(string text)
        => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(": ", 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");

    [Theory]
    [InlineData("http://nawal.test:9944/echo", "ws", "nawal.test:9944")]
    [InlineData("http://nawal.test:9933/echo", "rpc", "nawal.test:9933")]
    [InlineData("http://nawal.test/echo", "rpc", "nawal.test")]
    public async Task Port_in_the_host_selects_the_app_port_and_any_other_reaches_the_default_app(string url, string app, string host)
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();

        using HttpResponseMessage response = await http.GetAsync(url);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Dictionary<string, string> echo = Lines(await response.Content.ReadAsStringAsync());
        Assert.Equal(app, echo["app"]);
        Assert.Equal(host, echo["host"]);
        Assert.Equal("spiffe://cluster.local/ns/belizechain/sa/pakit", echo["identity"]);
    }

    [Fact]
    public async Task Route_app_port_selects_the_app_whatever_the_host_says()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();

        using HttpResponseMessage response = await http.GetAsync("http://nawal-ws.test:9933/echo");

        Dictionary<string, string> echo = Lines(await response.Content.ReadAsStringAsync());
        Assert.Equal("ws", echo["app"]);
        Assert.Equal("nawal-ws.test:9933", echo["host"]);
        Assert.Equal("x-belizemesh-peer-identity", echo["sidecar-headers"]); // the app-port header stays between the sidecars
    }

    [Theory]
    [InlineData("x-belizemesh-app-port")]
    [InlineData("X_BelizeMesh_App_Port")]
    public async Task App_port_header_sent_by_a_client_is_removed(string spelling)
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://nawal.test/echo");
        request.Headers.TryAddWithoutValidation(spelling, "9944");

        using HttpResponseMessage response = await http.SendAsync(request);

        Dictionary<string, string> echo = Lines(await response.Content.ReadAsStringAsync());
        Assert.Equal("rpc", echo["app"]);
        Assert.Equal("x-belizemesh-peer-identity", echo["sidecar-headers"]);
    }

    [Fact]
    public async Task Rule_destination_app_port_sends_plain_requests_to_the_rpc_port()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();

        using HttpResponseMessage response = await http.GetAsync("http://nawal-rules.test:9944/echo");

        Assert.Equal("rpc", Lines(await response.Content.ReadAsStringAsync())["app"]); // the rule's appPort wins over the Host's
    }

    [Fact]
    public async Task Rules_apply_to_every_app_port()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();

        using HttpResponseMessage response = await http.PostAsync("http://nawal.test:9944/echo", new StringContent("x"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Theory]
    [InlineData("ws://nawal.test:9944/ws", "1.1")]
    [InlineData("ws://nawal-ws.test/ws", "1.1")]
    [InlineData("ws://nawal-rules.test/ws", "1.1")] // a rule matching the Upgrade header, destination appPort 9944 (the emitted blockchain route)
    [InlineData("ws://nawal.test:9944/ws", "2.0")] // an h2c app opens it with an extended CONNECT on the outbound too
    public async Task WebSocket_through_the_pq_path_is_authorized_as_get_and_reaches_the_app_as_an_http11_upgrade(string url, string version)
    {
        using var invoker = new HttpMessageInvoker(_mesh.Pakit.CreateOutboundHandler());
        using var ws = new ClientWebSocket();
        ws.Options.HttpVersion = Version.Parse(version);
        ws.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        await ws.ConnectAsync(new Uri(url), invoker, cts.Token);
        var received = new byte[1024];
        for (int i = 0; i < 3; i++)
        {
            byte[] message = Encoding.UTF8.GetBytes($"block {i}");
            await ws.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, cts.Token);
            WebSocketReceiveResult result = await ws.ReceiveAsync(received, cts.Token);
            Assert.Equal($"block {i}", Encoding.UTF8.GetString(received, 0, result.Count));
        }

        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
        Assert.Equal(["GET HTTP/1.1 upgrade=websocket"], _ws.WebSocketHandshakes);
        Assert.Empty(_rpc.WebSocketHandshakes);
    }
}
