using BelizeMesh.Proxy.Forwarding;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// Issue 14, items 4–6, over real sockets: what the app receives is exactly what the sidecar matched — no header
/// that a CGI-style stack reads as the identity, no method the rate limiter did not see, no path it did not authorize.
/// </summary>
public sealed class HttpFacesTests : IAsyncLifetime
{
    private const string Rules = """
            authorization:
              rules:
                - to: { paths: ["/public/*", "/api/*"] }
            rateLimits:
              - name: writes
                match: { paths: ["/api/*"], methods: ["POST"] }
                key: header:X-Participant-ID
                requestsPerSecond: 0.001
                burst: 1
        """;

    private TestApp _app = null!;
    private Sidecar _sidecar = null!;

    public async Task InitializeAsync()
    {
        _app = await TestApp.StartAsync();
        _sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url, inboundExtra: Rules, outboundRoutes:
            Sidecar.Route("nawal.test", $"\"127.0.0.1:{_app.Port}\"")));
    }

    public async Task DisposeAsync()
    {
        await _sidecar.DisposeAsync();
        await _app.DisposeAsync();
    }

    [Theory]
    [InlineData("x_belizemesh_peer_identity")]
    [InlineData("X_BELIZEMESH_PEER_IDENTITY")]
    [InlineData("x-belizemesh_peer-identity")]
    [InlineData("X-BelizeMesh-Peer-Identity")]
    public async Task Header_spellings_that_normalise_to_the_identity_header_never_reach_the_app(string name)
    {
        (int inbound, string inboundText) = await _sidecar.RawInboundAsync("/public/x", $"{name}: spiffe://cluster.local/ns/a/sa/admin\r\n");
        (int outbound, string outboundText) = await _sidecar.RawOutboundAsync("nawal.test", "/public/x", $"{name}: spiffe://cluster.local/ns/a/sa/admin\r\n");

        Assert.Equal(200, inbound);
        Assert.Contains("identity: (none)\n", inboundText, StringComparison.Ordinal);
        Assert.Contains("sidecar-headers: \n", inboundText, StringComparison.Ordinal);
        Assert.Equal(200, outbound);
        Assert.Contains("sidecar-headers: \n", outboundText, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("X-Forwarded-Client-Cert")]
    [InlineData("x_forwarded_client_cert")]
    public async Task A_client_sent_forwarded_client_cert_never_reaches_the_app(string name)
    {
        // Istio's sidecars sanitize it outbound and append the verified peer inbound, so apps read the caller from it:
        // passed through, a caller could name any identity there.
        string forged = $"{name}: By=spiffe://cluster.local/ns/a/sa/app;URI=spiffe://cluster.local/ns/a/sa/admin\r\n";
        (int inbound, string inboundText) = await _sidecar.RawInboundAsync("/public/client-cert", forged);
        (int outbound, string outboundText) = await _sidecar.RawOutboundAsync("nawal.test", "/public/client-cert", forged);

        Assert.Equal(200, inbound);
        Assert.Contains("\nend\n", inboundText, StringComparison.Ordinal);
        Assert.DoesNotContain("client-cert:", inboundText, StringComparison.Ordinal);
        Assert.Equal(200, outbound);
        Assert.Contains("\nend\n", outboundText, StringComparison.Ordinal);
        Assert.DoesNotContain("client-cert:", outboundText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unrelated_headers_with_underscores_are_forwarded()
    {
        (int status, string text) = await _sidecar.RawInboundAsync("/public/x", "x_belizemesh_note: kept\r\n");

        Assert.Equal(200, status);
        Assert.Contains("sidecar-headers: x_belizemesh_note\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("post")]
    [InlineData("Post")]
    [InlineData("get")]
    [InlineData("dElEtE")]
    public async Task A_standard_method_in_another_case_is_rejected_rather_than_forwarded_as_something_else(string method)
    {
        (int inbound, string inboundText) = await _sidecar.RawInboundAsync("/api/x", "X-Participant-ID: p\r\n", method);
        (int outbound, string outboundText) = await _sidecar.RawOutboundAsync("nawal.test", "/api/x", "", method);

        string expected = $"belizemesh: method '{method}' must be spelled '{method.ToUpperInvariant()}' (HTTP methods are case-sensitive)\n";
        Assert.Equal(400, inbound);
        Assert.EndsWith(expected, inboundText, StringComparison.Ordinal);
        Assert.Equal(400, outbound);
        Assert.EndsWith(expected, outboundText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lower_case_post_cannot_dodge_an_empty_POST_bucket()
    {
        (int first, _) = await _sidecar.RawInboundAsync("/api/x", "X-Participant-ID: p\r\n", "POST");
        (int second, _) = await _sidecar.RawInboundAsync("/api/x", "X-Participant-ID: p\r\n", "POST");
        (int lower, _) = await _sidecar.RawInboundAsync("/api/x", "X-Participant-ID: p\r\n", "post");

        Assert.Equal(200, first);
        Assert.Equal(429, second);
        Assert.NotEqual(200, lower);
    }

    [Fact]
    public async Task An_extension_method_is_forwarded_exactly_as_received()
    {
        (int status, string text) = await _sidecar.RawInboundAsync("/public/x", "", "PROPFIND");

        Assert.Equal(200, status);
        Assert.Contains("method: PROPFIND\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/public/..%3bx", "/public/..%3Bx")]
    [InlineData("/public/a%3Bb", "/public/a%3Bb")]
    [InlineData("/public/%FF", "/public/%FF")]
    [InlineData("/public/a%20b?q=%2F%3B", "/public/a%20b?q=%2F%3B")]
    [InlineData("/public/%7Ex/../y", "/public/y")]
    public async Task Inbound_app_receives_the_authorized_path_byte_for_byte(string target, string appSees)
    {
        (int status, string text) = await _sidecar.RawInboundAsync(target);

        Assert.Equal(200, status);
        Assert.Contains($"target: {appSees}\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/public/a%2Fb")]
    [InlineData("/public/..%3bx")]
    [InlineData("/public/%FF")]
    [InlineData("/public/a%20b?q=%2F")]
    public async Task Outbound_forwards_the_request_target_as_received(string target)
    {
        (int status, string text) = await _sidecar.RawOutboundAsync("nawal.test", target);

        Assert.Equal(200, status);
        Assert.Contains($"target: {target}\n", text, StringComparison.Ordinal);
    }
}
