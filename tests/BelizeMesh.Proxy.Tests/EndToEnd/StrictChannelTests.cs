using System.Net;
using System.Net.Http;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>client → outbound (PQ channel, HTTP/2 inside) → inbound STRICT → app, with real ML-KEM/ML-DSA certificates.</summary>
public sealed class StrictChannelTests : IAsyncLifetime
{
    private const string Pakit = "spiffe://cluster.local/ns/belizechain/sa/pakit";

    private TwoSidecarMesh _mesh = null!;

    public async Task InitializeAsync()
    {
        TestApp app = await TestApp.StartAsync("nawal-app");
        _mesh = await TwoSidecarMesh.Create()
            .Inbound(extra: """
                    authorization:
                      rules:
                        - from: { principals: ["cluster.local/ns/belizechain/sa/pakit"] }
                          to: { paths: ["/echo", "/upload"] }
                """)
            .Route("nawal.test")
            .Route("impostor.test", identity: Pakit)
            .StartAsync(app.Url, app);
    }

    public Task DisposeAsync() => _mesh.DisposeAsync().AsTask();

    [Fact]
    public async Task App_receives_the_verified_caller_identity_and_rules_match_its_principal()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://nawal.test/echo");
        request.Headers.Add("x-belizemesh-peer-identity", "spiffe://cluster.local/ns/belizechain/sa/admin");

        using HttpResponseMessage response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string body = await response.Content.ReadAsStringAsync();
        Assert.Contains($"identity: {Pakit}\n", body, StringComparison.Ordinal);
        Assert.Contains("protocol: HTTP/1.1\n", body, StringComparison.Ordinal);

        using HttpResponseMessage denied = await http.GetAsync("http://nawal.test/admin");
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("belizemesh: RBAC: access denied: no authorization rule allows this request\n", await denied.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Many_requests_share_channels_and_large_bodies_stream_through()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version20);
        Task<HttpResponseMessage>[] requests = Enumerable.Range(0, 20).Select(_ => http.GetAsync("http://nawal.test/echo")).ToArray();
        foreach (HttpResponseMessage response in await Task.WhenAll(requests))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        // HTTP/2 inside the channel: 20 concurrent requests did not need 20 handshakes.
        string metrics = await _mesh.Nawal.CreateAdminClient().GetStringAsync("/metrics");
        System.Text.RegularExpressions.Match handshakes = System.Text.RegularExpressions.Regex.Match(
            metrics, "belizemesh_channel_handshakes_total\\{[^}]*result=\"success\"[^}]*side=\"server\"[^}]*\\} (\\d+)\n");
        Assert.True(handshakes.Success, metrics);
        Assert.InRange(int.Parse(handshakes.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 1, 4);

        using var content = new ByteArrayContent(new byte[5 * 1024 * 1024]);
        using HttpResponseMessage upload = await http.PostAsync("http://nawal.test/upload", content);
        Assert.Equal((5 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture), await upload.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Peer_that_cannot_prove_the_expected_identity_is_refused()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();

        using HttpResponseMessage response = await http.GetAsync("http://impostor.test/echo");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    [BelizeMesh.TestSupport.PromtoolFact]
    public async Task Metrics_with_channel_and_certificate_series_pass_promtool_check()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();
        (await http.GetAsync("http://nawal.test/echo")).Dispose();

        await BelizeMesh.TestSupport.Promtool.CheckAsync(await _mesh.Nawal.CreateAdminClient().GetStringAsync("/metrics"));
        await BelizeMesh.TestSupport.Promtool.CheckAsync(await _mesh.Pakit.CreateAdminClient().GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task Plaintext_caller_cannot_reach_a_strict_listener()
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(_mesh.Nawal.Host.InboundEndPoint);
        await using var stream = new System.Net.Sockets.NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync("GET /echo HTTP/1.1\r\nHost: nawal\r\n\r\n"u8.ToArray());

        // The handshake fails and the connection is closed without a single byte of HTTP.
        var received = new MemoryStream();
        try
        {
            await stream.CopyToAsync(received).WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch (IOException)
        {
            // reset by the server: also a refusal
        }

        Assert.False(received.ToArray().AsSpan().StartsWith("HTTP/"u8), System.Text.Encoding.ASCII.GetString(received.ToArray()));
        Assert.DoesNotContain("app: nawal-app", System.Text.Encoding.ASCII.GetString(received.ToArray()), StringComparison.Ordinal);
    }
}
