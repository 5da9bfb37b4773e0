using System.Net;
using System.Net.Http;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>Inbound PERMISSIVE: PQ channel callers and plaintext callers on one port, told apart by their first bytes.</summary>
public sealed class PermissiveChannelTests : IAsyncLifetime
{
    private const string Pakit = "spiffe://cluster.local/ns/belizechain/sa/pakit";

    private TwoSidecarMesh _mesh = null!;

    public async Task InitializeAsync()
    {
        TestApp app = await TestApp.StartAsync("nawal-app");
        _mesh = await TwoSidecarMesh.Create()
            .Inbound("PERMISSIVE", """
                    authorization:
                      rules:
                        - from: { principals: ["cluster.local/ns/belizechain/sa/pakit"] }
                          to: { paths: ["/echo"] }
                        - to: { paths: ["/upload"] }
                """)
            .StartAsync(app.Url, app);
    }

    public Task DisposeAsync() => _mesh.DisposeAsync().AsTask();

    [Fact]
    public async Task Channel_caller_is_identified_and_matches_principal_rules()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();

        using HttpResponseMessage response = await http.GetAsync("http://nawal.test/echo");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains($"identity: {Pakit}\n", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plaintext_caller_is_served_without_identity_and_only_by_rules_without_principals()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{_mesh.Nawal.InboundEndpoint}"), Timeout = TimeSpan.FromSeconds(10) };
        using var spoofed = new HttpRequestMessage(HttpMethod.Get, "/echo");
        spoofed.Headers.Add("x-belizemesh-peer-identity", Pakit);

        using HttpResponseMessage denied = await http.SendAsync(spoofed);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);

        using var content = new ByteArrayContent(new byte[1000]);
        using HttpResponseMessage allowed = await http.PostAsync("/upload", content);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal("1000", await allowed.Content.ReadAsStringAsync());

        string metrics = await _mesh.Nawal.CreateAdminClient().GetStringAsync("/metrics");
        Assert.Matches("belizemesh_channel_handshakes_total\\{[^}]*result=\"plaintext\"[^}]*\\} [1-9]", metrics);
    }
}
