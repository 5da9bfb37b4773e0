using System.Net;
using System.Net.Http;
using BelizeMesh.Channel;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Identity;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// Issue 14 item 7: <c>limits.handshakesPerSecondPerSource</c> refuses a source's handshakes over its token bucket before
/// the server does any work for them (a plaintext <c>Overloaded</c> alert), so one host's flood cannot stop another
/// host's handshakes. The bucket reads the sidecar's clock, which the test holds still and then moves.
/// </summary>
public sealed class HandshakeAdmissionTests
{
    private const string Nawal = "spiffe://cluster.local/ns/belizechain/sa/nawal";
    private static readonly IPAddress OtherSource = IPAddress.Parse("127.0.0.2");

    private static string StrictPolicy(TestApp app, string limits) =>
        Sidecar.Policy(app.Url, inboundExtra: limits).Replace("mode: DISABLE", "mode: STRICT", StringComparison.Ordinal);

    [Fact]
    public async Task Handshakes_over_the_per_source_rate_are_refused_as_Overloaded_while_another_source_completes()
    {
        var clock = new HeldTimestamps();
        await using TestApp app = await TestApp.StartAsync("nawal-app");
        await using Sidecar nawal = await Sidecar.StartAsync(
            StrictPolicy(app, "    limits: { handshakesPerSecondPerSource: 2, handshakeBurstPerSource: 3 }\n"), clock, certs: TestMesh.Instance.NawalCerts);
        using ServiceCredentials pakit = Caller();
        var trust = new MeshCertificateVerifier(pakit.Validator);

        // A burst of 3 from 127.0.0.1 completes; the 4th is refused before any handshake work, with the reason.
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(200, (await ChannelClient.GetAsync(nawal.Host.InboundEndPoint, pakit, trust, Nawal)).Status);
        }

        var refused = await Assert.ThrowsAsync<PqChannelException>(() => ChannelClient.GetAsync(nawal.Host.InboundEndPoint, pakit, trust, Nawal));
        Assert.Equal(ChannelFailure.Overloaded, refused.Reason);
        Assert.True(refused.ReportedByPeer);

        // Another source has its own bucket.
        Assert.Equal(200, (await ChannelClient.GetAsync(nawal.Host.InboundEndPoint, pakit, trust, Nawal, source: OtherSource)).Status);

        // Half a second refills one token at 2/s: one more from 127.0.0.1, then refused again.
        clock.Advance(TimeSpan.FromMilliseconds(500));
        Assert.Equal(200, (await ChannelClient.GetAsync(nawal.Host.InboundEndPoint, pakit, trust, Nawal)).Status);
        await Assert.ThrowsAsync<PqChannelException>(() => ChannelClient.GetAsync(nawal.Host.InboundEndPoint, pakit, trust, Nawal));

        string metrics = await MetricsAsync(nawal);
        Assert.Contains("belizemesh_proxy_listener_rejections_total{listener=\"inbound\",reason=\"handshake_rate\"} 2\n", metrics, StringComparison.Ordinal);
        Assert.Contains("reason=\"Overloaded\"", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plaintext_callers_of_a_permissive_listener_do_not_spend_the_handshake_budget()
    {
        var clock = new HeldTimestamps();
        await using TestApp app = await TestApp.StartAsync("nawal-app");
        await using Sidecar nawal = await Sidecar.StartAsync(
            StrictPolicy(app, "    limits: { handshakesPerSecondPerSource: 1, handshakeBurstPerSource: 1 }\n").Replace("mode: STRICT", "mode: PERMISSIVE", StringComparison.Ordinal),
            clock, certs: TestMesh.Instance.NawalCerts);
        using ServiceCredentials pakit = Caller();

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(200, (await nawal.RawInboundAsync("/echo", "Connection: close\r\n")).Status);
        }

        Assert.Equal(200, (await ChannelClient.GetAsync(nawal.Host.InboundEndPoint, pakit, new MeshCertificateVerifier(pakit.Validator), Nawal)).Status);
    }

    [Fact]
    public async Task A_reload_that_raises_the_rate_applies_to_the_next_handshake()
    {
        var clock = new HeldTimestamps();
        await using TestApp app = await TestApp.StartAsync("nawal-app");
        string policy = StrictPolicy(app, "    limits: { handshakesPerSecondPerSource: 1, handshakeBurstPerSource: 1 }\n");
        await using Sidecar nawal = await Sidecar.StartAsync(policy, clock, watch: false, certs: TestMesh.Instance.NawalCerts);
        using ServiceCredentials pakit = Caller();
        var trust = new MeshCertificateVerifier(pakit.Validator);
        Assert.Equal(200, (await ChannelClient.GetAsync(nawal.Host.InboundEndPoint, pakit, trust, Nawal)).Status);
        await Assert.ThrowsAsync<PqChannelException>(() => ChannelClient.GetAsync(nawal.Host.InboundEndPoint, pakit, trust, Nawal));

        // 0 turns the rate limit off.
        await File.WriteAllTextAsync(nawal.PolicyPath, policy.Replace("handshakesPerSecondPerSource: 1, handshakeBurstPerSource: 1", "handshakesPerSecondPerSource: 0", StringComparison.Ordinal));
        Assert.Equal(BelizeMesh.Proxy.Hosting.ReloadResult.Applied, await nawal.Host.Policy.ReloadAsync());

        Assert.Equal(200, (await ChannelClient.GetAsync(nawal.Host.InboundEndPoint, pakit, trust, Nawal)).Status);
    }

    private static ServiceCredentials Caller()
    {
        string dir = TestMesh.Instance.PakitCerts;
        return ServiceCredentials.FromPem(File.ReadAllText(Path.Combine(dir, "tls.crt")), File.ReadAllText(Path.Combine(dir, "tls.key")), File.ReadAllText(Path.Combine(dir, "ca.crt")));
    }

    private static async Task<string> MetricsAsync(Sidecar sidecar)
    {
        using HttpClient admin = sidecar.CreateAdminClient();
        return await admin.GetStringAsync("/metrics");
    }

    /// <summary>System time and timers, but <see cref="GetTimestamp"/> (what token buckets read) moves only when told.</summary>
    private sealed class HeldTimestamps : TimeProvider
    {
        private long _ticks = TimeSpan.FromDays(1).Ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
