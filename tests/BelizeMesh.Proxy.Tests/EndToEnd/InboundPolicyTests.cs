using System.Net;
using System.Net.Http;
using BelizeMesh.Proxy.Forwarding;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>The inbound side over real sockets: normalization, authorization, rate limits.</summary>
public sealed class InboundPolicyTests : IAsyncLifetime
{
    private const string Rules = """
            authorization:
              rules:
                - to: { paths: ["/public/*", "/echo"] }
                - from: { principals: ["*"] }
                  to: { paths: ["/admin*"] }
        """;

    private TestApp _app = null!;
    private Sidecar _sidecar = null!;

    public async Task InitializeAsync()
    {
        _app = await TestApp.StartAsync();
        _sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url, inboundExtra: Rules));
    }

    public async Task DisposeAsync()
    {
        await _sidecar.DisposeAsync();
        await _app.DisposeAsync();
    }

    [Theory]
    [InlineData("/public/x", 200, "/public/x")]
    [InlineData("/public//x", 200, "/public/x")]
    [InlineData("/public/./x", 200, "/public/x")]
    [InlineData("/public/a/../x?q=1", 200, "/public/x?q=1")]
    [InlineData("/public/%78", 200, "/public/x")]
    [InlineData("/public/../admin", 403, null)]
    [InlineData("/public/%2e%2e/admin", 403, null)]
    [InlineData("/public/%2E%2E/%2E%2E/admin", 403, null)]
    [InlineData("//admin", 403, null)]
    [InlineData("/admin", 403, null)]
    [InlineData("/public%2F..%2Fadmin", 400, null)]
    [InlineData("/public/..%5Cadmin", 400, null)]
    public async Task Decisions_use_the_normalized_path_which_is_what_the_app_receives(string target, int status, string? appSees)
    {
        (int actual, string text) = await _sidecar.RawInboundAsync(target);

        Assert.Equal(status, actual);
        if (appSees is not null)
        {
            Assert.Contains($"target: {appSees}\n", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Denied_request_gets_403_with_a_short_reason()
    {
        (int status, string text) = await _sidecar.RawInboundAsync("/admin");

        Assert.Equal(403, status);
        Assert.EndsWith("belizemesh: RBAC: access denied: no authorization rule allows this request from an unauthenticated caller\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Encoded_slash_gets_400_with_the_reason()
    {
        (int status, string text) = await _sidecar.RawInboundAsync("/public%2Fx");

        Assert.Equal(400, status);
        Assert.EndsWith("belizemesh: encoded '/' or '\\' (%2F, %5C) is not allowed in the path\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Spoofed_identity_header_cannot_satisfy_a_principal_rule()
    {
        (int status, _) = await _sidecar.RawInboundAsync("/admin", $"{ProxyHeaders.PeerIdentity}: spiffe://cluster.local/ns/a/sa/b\r\n");
        Assert.Equal(403, status);
    }
}

/// <summary>Rate limits end to end with a clock the test moves.</summary>
public sealed class InboundRateLimitTests : IAsyncLifetime
{
    private const string Limits = """
            rateLimits:
              - name: api
                match: { paths: ["/api/*"] }
                key: header:X-Participant-ID
                requestsPerSecond: 0.5
                burst: 3
        """;

    private readonly ManualTimeProvider _time = new();
    private TestApp _app = null!;
    private Sidecar _sidecar = null!;

    public async Task InitializeAsync()
    {
        _app = await TestApp.StartAsync();
        _sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url, inboundExtra: Limits), _time);
    }

    public async Task DisposeAsync()
    {
        await _sidecar.DisposeAsync();
        await _app.DisposeAsync();
    }

    private async Task<HttpResponseMessage> GetAsync(HttpClient http, string path, string participant)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{_sidecar.InboundEndpoint}{path}");
        request.Headers.Add("X-Participant-ID", participant);
        return await http.SendAsync(request);
    }

    [Fact]
    public async Task Burst_then_429_with_retry_after_then_refill_per_key()
    {
        using var http = new HttpClient();

        for (int i = 0; i < 3; i++)
        {
            using HttpResponseMessage ok = await GetAsync(http, "/api/x", "alice");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using (HttpResponseMessage limited = await GetAsync(http, "/api/x", "alice"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
            Assert.Equal("2", limited.Headers.GetValues("Retry-After").Single());
            Assert.Equal("belizemesh: rate limit 'api' exceeded; retry after 2s\n", await limited.Content.ReadAsStringAsync());
        }

        // another key has its own bucket; unmatched paths take no tokens
        using (HttpResponseMessage bob = await GetAsync(http, "/api/x", "bob"))
        {
            Assert.Equal(HttpStatusCode.OK, bob.StatusCode);
        }

        using (HttpResponseMessage other = await GetAsync(http, "/echo", "alice"))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        _time.Advance(TimeSpan.FromSeconds(1.5));
        using (HttpResponseMessage stillLimited = await GetAsync(http, "/api/x", "alice"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, stillLimited.StatusCode);
            Assert.Equal("1", stillLimited.Headers.GetValues("Retry-After").Single());
        }

        _time.Advance(TimeSpan.FromSeconds(0.5));
        using (HttpResponseMessage refilled = await GetAsync(http, "/api/x", "alice"))
        {
            Assert.Equal(HttpStatusCode.OK, refilled.StatusCode);
        }

        using (HttpResponseMessage empty = await GetAsync(http, "/api/x", "alice"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, empty.StatusCode);
        }
    }
}
