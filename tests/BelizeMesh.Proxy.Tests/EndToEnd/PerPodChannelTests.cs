using System.Net;
using System.Net.Http;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// Per-pod balancing through the PQ channel: one name resolves to two "pods" (a STRICT sidecar each, on the same port
/// of 127.0.0.1 and 127.0.0.2, both proving nawal's identity). The caller's HTTP/2 channels are pooled per pod, so
/// its requests alternate between them instead of staying on the pod its first connection reached.
/// </summary>
public sealed class PerPodChannelTests : IAsyncLifetime
{
    private const string Name = "nawal-pq.belizechain.svc.cluster.local";

    private readonly FakeResolver _dns = new();
    private TestApp _appA = null!;
    private TestApp _appB = null!;
    private Sidecar _podA = null!;
    private Sidecar _podB = null!;
    private Sidecar _pakit = null!;

    private static string Pod(string appUrl, string listen)
        => TwoSidecarMesh.InboundPolicy(appUrl)
            .Replace("    listen: \"127.0.0.1:0\"\n    app:", $"    listen: \"{listen}\"\n    app:", StringComparison.Ordinal);

    public async Task InitializeAsync()
    {
        TestMesh mesh = TestMesh.Instance;
        _appA = await TestApp.StartAsync("pod-a");
        _appB = await TestApp.StartAsync("pod-b");
        _podA = await Sidecar.StartAsync(Pod(_appA.Url, "127.0.0.1:0"), certs: mesh.NawalCerts);
        int port = _podA.Host.InboundEndPoint.Port;
        _podB = await Sidecar.StartAsync(Pod(_appB.Url, $"127.0.0.2:{port}"), certs: mesh.NawalCerts);
        _dns.Set(Name, IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.1"));
        _pakit = await Sidecar.StartAsync(TwoSidecarMesh.OutboundPolicy(TwoSidecarMesh.PqRoute("nawal.test", $"{Name}:{port}")), certs: mesh.PakitCerts, resolver: _dns);
    }

    public async Task DisposeAsync()
    {
        await _pakit.DisposeAsync();
        await _podB.DisposeAsync();
        await _podA.DisposeAsync();
        await _appB.DisposeAsync();
        await _appA.DisposeAsync();
    }

    [Fact]
    public async Task Requests_over_http2_channels_alternate_between_the_pods_of_one_name()
    {
        using HttpClient http = _pakit.CreateOutboundClient(HttpVersion.Version20);

        var seen = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            using HttpResponseMessage response = await http.GetAsync("http://nawal.test/echo");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            string body = await response.Content.ReadAsStringAsync();
            Assert.Contains("identity: spiffe://cluster.local/ns/belizechain/sa/pakit\n", body, StringComparison.Ordinal);
            seen.Add(body[5..body.IndexOf('\n', StringComparison.Ordinal)]);
        }

        Assert.Equal(["pod-a", "pod-b", "pod-a", "pod-b", "pod-a", "pod-b"], seen);

        // one channel per pod, each reused: not a handshake per request
        Assert.InRange(await _podA.ServerHandshakesAsync(), 1, 2);
        Assert.InRange(await _podB.ServerHandshakesAsync(), 1, 2);
    }
}
