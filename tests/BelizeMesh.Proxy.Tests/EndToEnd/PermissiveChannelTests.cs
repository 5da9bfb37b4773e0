using System.Net;
using System.Net.Http;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>Inbound PERMISSIVE: PQ channel callers and plaintext callers on one port, told apart by their first bytes.</summary>
public sealed class PermissiveChannelTests : IAsyncLifetime
{
    private const string Nawal = "spiffe://cluster.local/ns/belizechain/sa/nawal";
    private const string Pakit = "spiffe://cluster.local/ns/belizechain/sa/pakit";

    private TestApp _app = null!;
    private Sidecar _nawal = null!;
    private Sidecar _pakit = null!;

    public async Task InitializeAsync()
    {
        TestMesh mesh = TestMesh.Instance;
        _app = await TestApp.StartAsync("nawal-app");
        _nawal = await Sidecar.StartAsync(
            Sidecar.Policy(_app.Url, inboundExtra: """
                    authorization:
                      rules:
                        - from: { principals: ["cluster.local/ns/belizechain/sa/pakit"] }
                          to: { paths: ["/echo"] }
                        - to: { paths: ["/upload"] }
                """).Replace("mode: DISABLE", "mode: PERMISSIVE", StringComparison.Ordinal),
            certs: mesh.NawalCerts);
        _pakit = await Sidecar.StartAsync(
            Sidecar.Policy("http://127.0.0.1:1", outboundRoutes:
                Sidecar.Route("nawal.test", $"\"{_nawal.InboundEndpoint}\"", $"        identity: {Nawal}"))
            .Replace("  outbound:\n", "  outbound:\n    mode: STRICT\n", StringComparison.Ordinal),
            certs: mesh.PakitCerts);
    }

    public async Task DisposeAsync()
    {
        await _pakit.DisposeAsync();
        await _nawal.DisposeAsync();
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Channel_caller_is_identified_and_matches_principal_rules()
    {
        using HttpClient http = _pakit.CreateOutboundClient();

        using HttpResponseMessage response = await http.GetAsync("http://nawal.test/echo");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains($"identity: {Pakit}\n", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plaintext_caller_is_served_without_identity_and_only_by_rules_without_principals()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{_nawal.InboundEndpoint}"), Timeout = TimeSpan.FromSeconds(10) };
        using var spoofed = new HttpRequestMessage(HttpMethod.Get, "/echo");
        spoofed.Headers.Add("x-belizemesh-peer-identity", Pakit);

        using HttpResponseMessage denied = await http.SendAsync(spoofed);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);

        using var content = new ByteArrayContent(new byte[1000]);
        using HttpResponseMessage allowed = await http.PostAsync("/upload", content);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal("1000", await allowed.Content.ReadAsStringAsync());

        string metrics = await _nawal.CreateAdminClient().GetStringAsync("/metrics");
        Assert.Matches("belizemesh_channel_handshakes_total\\{[^}]*result=\"plaintext\"[^}]*\\} [1-9]", metrics);
    }
}
