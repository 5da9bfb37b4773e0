using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using BelizeMesh.Identity;
using BelizeMesh.Proxy.Hosting;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// Certificate hot reload over real loopback sockets: app → frontend sidecar (outbound, PQ channel) → backend sidecar
/// (inbound STRICT) → app, with the certificates in Kubernetes-style Secret volumes updated by a <c>..data</c> swap
/// and picked up by the sidecars' directory watchers.
/// </summary>
public sealed class CertificateReloadTests : IAsyncLifetime
{
    private const string Nawal = "spiffe://cluster.local/ns/belizechain/sa/nawal";
    private const string Pakit = "spiffe://cluster.local/ns/belizechain/sa/pakit";
    private const string Kinich = "spiffe://cluster.local/ns/belizechain/sa/kinich";
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    private TestApp _app = null!;

    public async Task InitializeAsync() => _app = await TestApp.StartAsync("nawal-app");

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private static RotationPki Pki => RotationPki.Instance;

    // A new handshake per request from one address (Traffic, ChannelClient): rotation is under test here, not the
    // per-source handshake rate, which a fast machine would reach.
    private static string BackendPolicy(string appUrl) =>
        Sidecar.Policy(appUrl, specExtra: $"  identity: {Nawal}", inboundExtra: "    limits: { handshakesPerSecondPerSource: 0 }\n")
            .Replace("mode: DISABLE", "mode: STRICT", StringComparison.Ordinal);

    private static string FrontendPolicy(string backendInbound, string probeEndpoint) =>
        Sidecar.Policy("http://127.0.0.1:1", specExtra: $"  identity: {Pakit}", outboundRoutes:
            Sidecar.Route("nawal.test", $"\"{backendInbound}\"", $"        identity: {Nawal}") +
            Sidecar.Route("probe.test", $"\"{probeEndpoint}\"", $"        identity: {Kinich}\n        connectionPool: {{ h2UpgradePolicy: UPGRADE }}")) // the probe speaks HTTP/2 only
        .Replace("  outbound:\n", "  outbound:\n    mode: STRICT\n", StringComparison.Ordinal);

    [Fact]
    public async Task Certificate_rotation_while_requests_flow_fails_no_request()
    {
        string bundle = RotationPki.Bundle(Pki.RootA);
        using SecretVolume nawalCerts = SecretVolume.Create(Pki.Issue(Pki.RootA, "nawal"), bundle);
        using SecretVolume pakitCerts = SecretVolume.Create(Pki.Issue(Pki.RootA, "pakit"), bundle);
        using ServiceCredentials kinich = RotationPki.Load(Pki.Issue(Pki.RootA, "kinich"), Pki.RootA);
        await using ProbeServer probe = await ProbeServer.StartAsync(kinich, RotationPki.Trusting(Pki.RootA));
        await using Sidecar backend = await Sidecar.StartAsync(BackendPolicy(_app.Url), certs: nawalCerts.Path);
        await using Sidecar frontend = await Sidecar.StartAsync(FrontendPolicy(backend.InboundEndpoint, probe.Endpoint), certs: pakitCerts.Path);

        // Long-lived channels (frontend → backend, pooled, HTTP/2) and a new handshake per request on the backend.
        await using var traffic = Traffic.Start(frontend, backend, newChannelsAs: kinich, trust: RotationPki.Trusting(Pki.RootA));
        await traffic.WaitForProgressAsync();

        var replaced = new List<ServiceCredentials>();
        IssuedPem nawal = null!, pakit = null!;
        for (int i = 0; i < 3; i++)
        {
            nawal = Pki.Issue(Pki.RootA, "nawal");
            replaced.Add(backend.Host.Certificates!.Current.Service);
            nawalCerts.Publish(nawal, bundle);
            await WaitForCertificateAsync(backend, nawal);
            await traffic.WaitForProgressAsync();

            pakit = Pki.Issue(Pki.RootA, "pakit");
            replaced.Add(frontend.Host.Certificates!.Current.Service);
            pakitCerts.Publish(pakit, bundle);
            await WaitForCertificateAsync(frontend, pakit);
            await traffic.WaitForProgressAsync();
        }

        await traffic.StopAsync();
        Assert.Empty(traffic.Failures);

        // New channels present the new certificates: inbound ...
        var (status, presented) = await ChannelClient.GetAsync(backend.Host.InboundEndPoint, kinich, RotationPki.Trusting(Pki.RootA), Nawal);
        Assert.Equal(200, status);
        Assert.Equal(nawal.Fingerprint, presented);

        // ... and outbound (the frontend's first request to the probe opens a new channel).
        using (HttpClient http = frontend.CreateOutboundClient())
        using (HttpResponseMessage response = await http.GetAsync("http://probe.test/"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(pakit.Fingerprint, probe.LastClientFingerprint);

        // Every replaced private key is zeroed once the handshakes that started with it are over.
        await WaitUntilAsync(() => replaced.TrueForAll(IsZeroed), "the replaced private keys are disposed");
        Assert.Contains("belizemesh_certificate_reloads_total{result=\"success\"} 3\n", await MetricsAsync(backend), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Permissive_listener_presents_the_rotated_certificate_and_still_admits_plaintext()
    {
        // PERMISSIVE's listener options are a copy of the shared ones: the rotation must reach the copy too.
        string bundle = RotationPki.Bundle(Pki.RootA);
        IssuedPem first = Pki.Issue(Pki.RootA, "nawal"), second = Pki.Issue(Pki.RootA, "nawal");
        using SecretVolume certs = SecretVolume.Create(first, bundle);
        using ServiceCredentials caller = RotationPki.Load(Pki.Issue(Pki.RootA, "kinich"), Pki.RootA);
        await using Sidecar backend = await Sidecar.StartAsync(BackendPolicy(_app.Url).Replace("mode: STRICT", "mode: PERMISSIVE", StringComparison.Ordinal), certs: certs.Path);
        Assert.Equal(first.Fingerprint, (await ChannelClient.GetAsync(backend.Host.InboundEndPoint, caller, RotationPki.Trusting(Pki.RootA), Nawal)).ServerFingerprint);

        certs.Publish(second, bundle);
        await WaitForCertificateAsync(backend, second);

        var (status, presented) = await ChannelClient.GetAsync(backend.Host.InboundEndPoint, caller, RotationPki.Trusting(Pki.RootA), Nawal);
        Assert.Equal(200, status);
        Assert.Equal(second.Fingerprint, presented);
        Assert.Equal(200, (await backend.RawInboundAsync("/echo")).Status);
    }

    [Fact]
    public async Task Root_rotation_through_a_two_root_bundle_keeps_requests_working()
    {
        CertificateAuthority a = Pki.RootA, b = Pki.RootB;
        string bundleA = RotationPki.Bundle(a), bundleAB = RotationPki.Bundle(a, b), bundleB = RotationPki.Bundle(b);
        IssuedPem nawalA = Pki.Issue(a, "nawal"), pakitA = Pki.Issue(a, "pakit");
        using SecretVolume nawalCerts = SecretVolume.Create(nawalA, bundleA);
        using SecretVolume pakitCerts = SecretVolume.Create(pakitA, bundleA);
        using ServiceCredentials callerA = RotationPki.Load(Pki.Issue(a, "kinich"), a);
        using ServiceCredentials callerB = RotationPki.Load(Pki.Issue(b, "kinich"), b);
        await using ProbeServer probeB = await ProbeServer.StartAsync(callerB, RotationPki.Trusting(b)); // knows only the new root
        await using Sidecar backend = await Sidecar.StartAsync(BackendPolicy(_app.Url), certs: nawalCerts.Path);
        await using Sidecar frontend = await Sidecar.StartAsync(FrontendPolicy(backend.InboundEndpoint, probeB.Endpoint), certs: pakitCerts.Path);
        await using var traffic = Traffic.Start(frontend, backend);
        await traffic.WaitForProgressAsync();

        // 1. ca.crt becomes old + new root; the leaves stay. The backend now accepts a caller from the new root.
        nawalCerts.Publish(nawalA, bundleAB);
        pakitCerts.Publish(pakitA, bundleAB);
        await WaitUntilAsync(() => backend.Host.Certificates!.Current.Service.TrustBundle.Roots.Count == 2, "the backend trusts both roots");
        await WaitUntilAsync(() => frontend.Host.Certificates!.Current.Service.TrustBundle.Roots.Count == 2, "the frontend trusts both roots");
        Assert.Equal(200, (await ChannelClient.GetAsync(backend.Host.InboundEndPoint, callerB, RotationPki.Trusting(a), Nawal)).Status);
        await traffic.WaitForProgressAsync();

        // 2. The backend's leaf is reissued by the new root: a caller that trusts only the new root reaches it.
        IssuedPem nawalB = Pki.Issue(b, "nawal");
        nawalCerts.Publish(nawalB, bundleAB);
        await WaitForCertificateAsync(backend, nawalB);
        var (status, presented) = await ChannelClient.GetAsync(backend.Host.InboundEndPoint, callerB, RotationPki.Trusting(b), Nawal);
        Assert.Equal(200, status);
        Assert.Equal(nawalB.Fingerprint, presented);
        await traffic.WaitForProgressAsync();

        // 3. The frontend's leaf too: its new channels trust the new root and present a leaf of it (the probe knows
        //    nothing else).
        IssuedPem pakitB = Pki.Issue(b, "pakit");
        pakitCerts.Publish(pakitB, bundleAB);
        await WaitForCertificateAsync(frontend, pakitB);
        using (HttpClient http = frontend.CreateOutboundClient())
        using (HttpResponseMessage response = await http.GetAsync("http://probe.test/"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(pakitB.Fingerprint, probeB.LastClientFingerprint);
        await traffic.WaitForProgressAsync();

        // 4. The old root leaves the bundle: callers from it are refused; established channels run on.
        nawalCerts.Publish(nawalB, bundleB);
        pakitCerts.Publish(pakitB, bundleB);
        await WaitUntilAsync(() => backend.Host.Certificates!.Current.Service.TrustBundle.Roots.Count == 1, "the backend trusts only the new root");
        await WaitUntilAsync(() => frontend.Host.Certificates!.Current.Service.TrustBundle.Roots.Count == 1, "the frontend trusts only the new root");
        PqChannelRefusal(await Assert.ThrowsAsync<BelizeMesh.Channel.PqChannelException>(
            () => ChannelClient.GetAsync(backend.Host.InboundEndPoint, callerA, RotationPki.Trusting(a, b), Nawal)));
        Assert.Equal(200, (await ChannelClient.GetAsync(backend.Host.InboundEndPoint, callerB, RotationPki.Trusting(b), Nawal)).Status);
        await traffic.WaitForProgressAsync();

        await traffic.StopAsync();
        Assert.Empty(traffic.Failures);
        Assert.Contains("belizemesh_certificate_reloads_total{result=\"failure\"} 0\n", await MetricsAsync(backend), StringComparison.Ordinal);

        static void PqChannelRefusal(BelizeMesh.Channel.PqChannelException refused)
        {
            Assert.Equal(BelizeMesh.Channel.ChannelFailure.UnknownCa, refused.Reason);
            Assert.True(refused.ReportedByPeer, refused.ToString());
        }
    }

    public static TheoryData<string> InvalidSets => ["garbage PEM", "key of another certificate", "certificate for another identity", "expired certificate", "certificate from an unknown CA", "half-written certificate", "missing key",
        "certificate and ca.crt from an unrelated CA", "ca.crt whose second root is truncated"];

    [Theory]
    [MemberData(nameof(InvalidSets))]
    public async Task Invalid_certificate_set_at_reload_keeps_the_last_good_one_and_is_counted(string invalid)
    {
        string bundle = RotationPki.Bundle(Pki.RootA);
        IssuedPem good = Pki.Issue(Pki.RootA, "nawal"), next = Pki.Issue(Pki.RootA, "nawal");
        using SecretVolume certs = SecretVolume.Create(good, bundle);
        using ServiceCredentials caller = RotationPki.Load(Pki.Issue(Pki.RootA, "kinich"), Pki.RootA);
        var logs = new CapturedLogs();
        await using Sidecar backend = await Sidecar.StartAsync(BackendPolicy(_app.Url), certs: certs.Path, logs: logs);
        using HttpClient admin = backend.CreateAdminClient();

        string expected;
        switch (invalid)
        {
            case "garbage PEM":
                certs.Publish("-----BEGIN CERTIFICATE-----\nthis is not base64\n-----END CERTIFICATE-----\n", good.Key, bundle);
                expected = "tls.crt: ";
                break;
            case "key of another certificate":
                certs.Publish(next.Certificate, good.Key, bundle);
                expected = "tls.key: the private key does not match the certificate in tls.crt";
                break;
            case "certificate for another identity":
                certs.Publish(Pki.Issue(Pki.RootA, "kinich"), bundle);
                expected = $"tls.crt: the certificate is for {Kinich}, but this sidecar is {Nawal}";
                break;
            case "expired certificate":
                certs.Publish(Pki.Issue(Pki.RootA, "nawal", validity: TimeSpan.FromDays(90), age: TimeSpan.FromDays(200)), bundle);
                expected = "tls.crt: rejected (Expired)";
                break;
            case "certificate from an unknown CA":
                certs.Publish(Pki.Issue(Pki.Rogue, "nawal"), bundle);
                expected = "tls.crt: rejected (UnknownIssuer)";
                break;
            case "half-written certificate":
                certs.WriteInPlace("tls.crt", next.Certificate[..(next.Certificate.Length / 2)]);
                expected = "tls.crt: ";
                break;
            case "missing key":
                certs.Publish(next.Certificate, null, bundle);
                expected = "tls.key: file not found; the Secret must hold tls.crt, tls.key and ca.crt";
                break;
            case "certificate and ca.crt from an unrelated CA":
                // Valid on its own, but peers trust RootA: taking it would cut the sidecar off while it looked ready.
                certs.Publish(Pki.Issue(Pki.Rogue, "nawal"), RotationPki.Bundle(Pki.Rogue));
                expected = "tls.crt: issued by 'CN=Rogue CA, O=Elsewhere', which is not a root of the ca.crt in force";
                break;
            case "ca.crt whose second root is truncated":
                string second = Pki.RootB.Certificate.ToPem();
                certs.Publish(next, bundle + second[..(second.Length / 2)]);
                expected = "ca.crt: PEM block 2 (line ";
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(invalid), invalid, null);
        }

        string metrics = await WaitForMetricAsync(backend, "belizemesh_certificate_reloads_total{result=\"failure\"} 1\n");
        Assert.Contains("belizemesh_certificate_reloads_total{result=\"success\"} 0\n", metrics, StringComparison.Ordinal);
        Assert.Equal(good.Fingerprint, Convert.ToHexString(backend.Host.Certificates!.Current.Certificate.Sha256Fingerprint.Span));

        // The last good set is in force: a new channel gets it, and the sidecar stays ready.
        var (status, presented) = await ChannelClient.GetAsync(backend.Host.InboundEndPoint, caller, RotationPki.Trusting(Pki.RootA), Nawal);
        Assert.Equal(200, status);
        Assert.Equal(good.Fingerprint, presented);
        using (HttpResponseMessage ready = await admin.GetAsync("/healthz/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        // One clear error, reported once: another look at the same files neither logs nor counts again.
        Assert.Equal(ReloadResult.Unchanged, await backend.Host.Certificates.ReloadAsync());
        string after = await MetricsAsync(backend);
        Assert.Contains("belizemesh_certificate_reloads_total{result=\"failure\"} 1\n", after, StringComparison.Ordinal);
        Assert.Contains("belizemesh_certificate_last_reload_successful 0\n", after, StringComparison.Ordinal); // for as long as the files stay so
        string[] errors = [.. logs.Entries.Where(e => e.Level >= LogLevel.Error).Select(e => e.Message)];
        string error = Assert.Single(errors);
        Assert.Contains($"Certificate reload rejected, keeping the certificate in force ({Nawal}, serial {good.Parsed.SerialNumber}", error, StringComparison.Ordinal);
        Assert.Contains(certs.Path, error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);

        // A valid set afterwards is taken as usual.
        certs.Publish(next, bundle);
        await WaitForCertificateAsync(backend, next);
        string taken = await MetricsAsync(backend);
        Assert.Contains("belizemesh_certificate_reloads_total{result=\"success\"} 1\n", taken, StringComparison.Ordinal);
        Assert.Contains("belizemesh_certificate_last_reload_successful 1\n", taken, StringComparison.Ordinal);
        Assert.Equal(next.Fingerprint, (await ChannelClient.GetAsync(backend.Host.InboundEndPoint, caller, RotationPki.Trusting(Pki.RootA), Nawal)).ServerFingerprint);
    }

    [Fact]
    public async Task A_rejected_certificate_change_undone_and_made_again_is_reported_again()
    {
        string bundle = RotationPki.Bundle(Pki.RootA);
        IssuedPem good = Pki.Issue(Pki.RootA, "nawal"), next = Pki.Issue(Pki.RootA, "nawal");
        using SecretVolume certs = SecretVolume.Create(good, bundle);
        var logs = new CapturedLogs();
        await using Sidecar backend = await Sidecar.StartAsync(BackendPolicy(_app.Url), certs: certs.Path, logs: logs);

        certs.Publish(next.Certificate, good.Key, bundle); // a key that does not match
        await WaitForMetricAsync(backend, "belizemesh_certificate_last_reload_successful 0\n");
        certs.Publish(good, bundle); // undone: the files hold the set in force again
        await WaitForMetricAsync(backend, "belizemesh_certificate_last_reload_successful 1\n");

        // The same change again: rejected, reported and counted again, and the gauge follows.
        certs.Publish(next.Certificate, good.Key, bundle);
        string metrics = await WaitForMetricAsync(backend, "belizemesh_certificate_reloads_total{result=\"failure\"} 2\n");
        Assert.Contains("belizemesh_certificate_last_reload_successful 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("belizemesh_certificate_reloads_total{result=\"success\"} 0\n", metrics, StringComparison.Ordinal);
        Assert.Equal(good.Fingerprint, Convert.ToHexString(backend.Host.Certificates!.Current.Certificate.Sha256Fingerprint.Span));
        string[] errors = [.. logs.Entries.Where(e => e.Level >= LogLevel.Error).Select(e => e.Message)];
        Assert.Equal(2, errors.Length);
        Assert.All(errors, e => Assert.Contains("tls.key: the private key does not match the certificate in tls.crt", e, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Sidecar_is_not_ready_while_its_certificate_is_expired_and_ready_again_after_a_renewal()
    {
        string bundle = RotationPki.Bundle(Pki.RootA);
        IssuedPem first = Pki.Issue(Pki.RootA, "nawal", validity: TimeSpan.FromDays(90));
        using SecretVolume certs = SecretVolume.Create(first, bundle);
        var clock = new ShiftedClock();
        await using Sidecar backend = await Sidecar.StartAsync(BackendPolicy(_app.Url), time: clock, certs: certs.Path);
        using HttpClient admin = backend.CreateAdminClient();
        using (HttpResponseMessage ready = await admin.GetAsync("/healthz/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }

        // 91 days later nobody renewed the Secret: peers reject the certificate, so the pod must leave the endpoints.
        clock.Shift = TimeSpan.FromDays(91);
        using (HttpResponseMessage ready = await admin.GetAsync("/healthz/ready"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            string body = await ready.Content.ReadAsStringAsync();
            Assert.StartsWith($"not ready: the certificate of {Nawal} expired at {first.Parsed.NotAfter.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}; peers reject it.", body, StringComparison.Ordinal);
        }

        // A renewed certificate (valid well past the shifted clock) is taken without a restart and readiness returns.
        IssuedPem renewed = Pki.Issue(Pki.RootA, "nawal", validity: TimeSpan.FromDays(365));
        certs.Publish(renewed, bundle);
        await WaitForCertificateAsync(backend, renewed);
        using (HttpResponseMessage ready = await admin.GetAsync("/healthz/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        }
    }

    [Fact]
    public async Task A_certificate_published_before_its_validity_starts_is_taken_once_it_starts()
    {
        // An issuer whose clock runs ahead (or a renewal pre-staged) publishes a set that is fine but for its start.
        string bundle = RotationPki.Bundle(Pki.RootA);
        IssuedPem good = Pki.Issue(Pki.RootA, "nawal");
        IssuedPem early = Pki.Issue(Pki.RootA, "nawal", age: -TimeSpan.FromHours(1));
        using SecretVolume certs = SecretVolume.Create(good, bundle);
        var clock = new ShiftedClock();
        var logs = new CapturedLogs();
        await using Sidecar backend = await Sidecar.StartAsync(BackendPolicy(_app.Url), time: clock, certs: certs.Path, logs: logs);

        certs.Publish(early, bundle);
        await WaitForMetricAsync(backend, "belizemesh_certificate_reloads_total{result=\"failure\"} 1\n");
        Assert.Equal(good.Fingerprint, Convert.ToHexString(backend.Host.Certificates!.Current.Certificate.Sha256Fingerprint.Span));
        string error = Assert.Single(logs.Entries.Where(e => e.Level >= LogLevel.Error).Select(e => e.Message));
        Assert.Contains("tls.crt: rejected (NotYetValid)", error, StringComparison.Ordinal);
        Assert.Contains("a running sidecar takes these files once it starts", error, StringComparison.Ordinal);

        // Still too early: looked at again, quietly (reported and counted once).
        Assert.Equal(ReloadResult.Unchanged, await backend.Host.Certificates.ReloadAsync());

        // Its validity has started: the same files, untouched, are now taken at the next look.
        clock.Shift = TimeSpan.FromHours(2);
        await backend.Host.Certificates.ReloadAsync(); // the look a poll makes (a watcher's own may come first)
        Assert.Equal(early.Fingerprint, Convert.ToHexString(backend.Host.Certificates.Current.Certificate.Sha256Fingerprint.Span));
        string metrics = await MetricsAsync(backend);
        Assert.Contains("belizemesh_certificate_reloads_total{result=\"success\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("belizemesh_certificate_reloads_total{result=\"failure\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Single(logs.Entries, e => e.Level >= LogLevel.Error);
    }

    /// <summary>The system clock moved by <see cref="Shift"/> for wall time only; timestamps (timers, debounce) stay real.</summary>
    private sealed class ShiftedClock : TimeProvider
    {
        public TimeSpan Shift { get; set; }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Shift;
    }

    [Fact]
    public async Task Trust_domain_comes_from_spec_identity_so_a_mesh_on_example_org_works()
    {
        const string Domain = "example.org";
        string bundle = RotationPki.Bundle(Pki.RootA);
        using SecretVolume certs = SecretVolume.Create(Pki.Issue(Pki.RootA, "nawal", trustDomain: Domain), bundle);
        IssuedPem callerPem = Pki.Issue(Pki.RootA, "kinich", trustDomain: Domain);
        using ServiceCredentials caller = ServiceCredentials.FromPem(callerPem.Certificate, callerPem.Key, bundle, new CertificateValidatorOptions { TrustDomain = Domain });
        string policy = Sidecar.Policy(_app.Url, specExtra: $"  identity: spiffe://{Domain}/ns/belizechain/sa/nawal").Replace("mode: DISABLE", "mode: STRICT", StringComparison.Ordinal);
        await using Sidecar backend = await Sidecar.StartAsync(policy, certs: certs.Path);

        var (status, _) = await ChannelClient.GetAsync(backend.Host.InboundEndPoint, caller, RotationPki.Trusting(Domain, Pki.RootA), $"spiffe://{Domain}/ns/belizechain/sa/nawal");
        Assert.Equal(200, status);

        // A caller from the default trust domain is not of this mesh.
        using ServiceCredentials stranger = RotationPki.Load(Pki.Issue(Pki.RootA, "kinich"), Pki.RootA);
        var refused = await Assert.ThrowsAsync<BelizeMesh.Channel.PqChannelException>(
            () => ChannelClient.GetAsync(backend.Host.InboundEndPoint, stranger, RotationPki.Trusting(Domain, Pki.RootA), $"spiffe://{Domain}/ns/belizechain/sa/nawal"));
        Assert.True(refused.ReportedByPeer, refused.ToString());
        Assert.Equal(BelizeMesh.Channel.ChannelFailure.UnknownCa, refused.Reason);
    }

    [Fact]
    public async Task Expiry_gauge_shows_the_new_notAfter_after_a_rotation()
    {
        string bundle = RotationPki.Bundle(Pki.RootA);
        IssuedPem first = Pki.Issue(Pki.RootA, "nawal", validity: TimeSpan.FromDays(90));
        IssuedPem second = Pki.Issue(Pki.RootA, "nawal", validity: TimeSpan.FromDays(30));
        using SecretVolume certs = SecretVolume.Create(first, bundle);
        await using Sidecar backend = await Sidecar.StartAsync(BackendPolicy(_app.Url), certs: certs.Path);

        string before = await MetricsAsync(backend);
        Assert.Contains(
            "# TYPE belizemesh_certificate_expiry_timestamp_seconds gauge\n" +
            $"belizemesh_certificate_expiry_timestamp_seconds {first.Parsed.NotAfter.ToUnixTimeSeconds()}\n",
            before, StringComparison.Ordinal);
        Assert.Contains("# TYPE belizemesh_certificate_reloads_total counter\n", before, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_certificate_reloads_total{result=\"failure\"} 0\n", before, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_certificate_reloads_total{result=\"success\"} 0\n", before, StringComparison.Ordinal);

        certs.Publish(second, bundle);
        string after = await WaitForMetricAsync(backend, $"belizemesh_certificate_expiry_timestamp_seconds {second.Parsed.NotAfter.ToUnixTimeSeconds()}\n");
        Assert.Contains("belizemesh_certificate_reloads_total{result=\"success\"} 1\n", after, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Identity_is_fixed_a_certificate_for_another_identity_cannot_start_and_the_policy_cannot_change_it()
    {
        string bundle = RotationPki.Bundle(Pki.RootA);
        using SecretVolume certs = SecretVolume.Create(Pki.Issue(Pki.RootA, "kinich"), bundle);
        string directory = Directory.CreateTempSubdirectory("belizemesh-proxy-test-").FullName;
        string path = Path.Combine(directory, "policy.yaml");
        await File.WriteAllTextAsync(path, BackendPolicy(_app.Url));

        ProxyHost? host = ProxyHost.Create(new ProxyHostOptions { PolicyPath = path, CertsPath = certs.Path }, out IReadOnlyList<BelizeMesh.Proxy.Configuration.PolicyError> errors);

        Assert.Null(host);
        BelizeMesh.Proxy.Configuration.PolicyError error = Assert.Single(errors);
        Assert.Equal(certs.Path, error.File);
        Assert.Contains($"tls.crt: the certificate is for {Kinich}, but this sidecar is {Nawal} (spec.identity in the policy)", error.Message, StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);

        certs.Publish(Pki.Issue(Pki.RootA, "nawal"), bundle);
        await using Sidecar backend = await Sidecar.StartAsync(BackendPolicy(_app.Url), watch: false, certs: certs.Path);
        await File.WriteAllTextAsync(backend.PolicyPath, BackendPolicy(_app.Url).Replace("sa/nawal", "sa/kinich", StringComparison.Ordinal));
        Assert.Equal(ReloadResult.Rejected, await backend.Host.Policy.ReloadAsync());
    }

    private static bool IsZeroed(ServiceCredentials credentials)
    {
        try
        {
            credentials.PrivateKey.ExportEncapsulationKey(new byte[credentials.PrivateKey.Algorithm.EncapsulationKeySizeInBytes]);
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }

    private static Task WaitForCertificateAsync(Sidecar sidecar, IssuedPem issued)
        => WaitUntilAsync(() => Convert.ToHexString(sidecar.Host.Certificates!.Current.Certificate.Sha256Fingerprint.Span) == issued.Fingerprint, $"certificate serial {issued.Parsed.SerialNumber} in force");

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        DateTime giveUp = DateTime.UtcNow + s_deadline;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < giveUp, $"timed out after {s_deadline.TotalSeconds} s waiting until {what}");
            await Task.Delay(20);
        }
    }

    private static async Task<string> MetricsAsync(Sidecar sidecar)
    {
        using HttpClient admin = sidecar.CreateAdminClient();
        return await admin.GetStringAsync("/metrics");
    }

    private static async Task<string> WaitForMetricAsync(Sidecar sidecar, string line)
    {
        DateTime giveUp = DateTime.UtcNow + s_deadline;
        while (true)
        {
            string text = await MetricsAsync(sidecar);
            if (text.Contains(line, StringComparison.Ordinal))
            {
                return text;
            }

            Assert.True(DateTime.UtcNow < giveUp, $"timed out after {s_deadline.TotalSeconds} s waiting for {line.TrimEnd()}:\n{text}");
            await Task.Delay(20);
        }
    }

    /// <summary>
    /// Requests that run until stopped: three loops through the frontend's outbound listener (their channel to the
    /// backend is established once and pooled) and, optionally, one loop that opens a new channel to the backend for
    /// every request (a handshake racing every swap). Any status other than 200, or any exception, is a failure.
    /// </summary>
    private sealed class Traffic : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly HttpClient _http;
        private readonly Task[] _loops;
        private int _completed;

        private Traffic(Sidecar frontend, Sidecar backend, ServiceCredentials? newChannelsAs, BelizeMesh.Channel.IPeerCertificateVerifier? trust)
        {
            _http = frontend.CreateOutboundClient();
            var loops = new List<Task> { Run(OutboundAsync), Run(OutboundAsync), Run(OutboundAsync) };
            if (newChannelsAs is not null)
            {
                loops.Add(Run(async () => (await ChannelClient.GetAsync(backend.Host.InboundEndPoint, newChannelsAs, trust!, Nawal)).Status));
            }

            _loops = [.. loops];
        }

        public ConcurrentQueue<string> Failures { get; } = new();

        public static Traffic Start(Sidecar frontend, Sidecar backend, ServiceCredentials? newChannelsAs = null, BelizeMesh.Channel.IPeerCertificateVerifier? trust = null)
            => new(frontend, backend, newChannelsAs, trust);

        private async Task<int> OutboundAsync()
        {
            using HttpResponseMessage response = await _http.GetAsync("http://nawal.test/echo");
            return (int)response.StatusCode;
        }

        private Task Run(Func<Task<int>> request) => Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    int status = await request();
                    if (status != 200)
                    {
                        Failures.Enqueue($"status {status}");
                    }
                }
#pragma warning disable CA1031 // every kind of failure is what the test counts
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Failures.Enqueue(ex.ToString());
                }

                Interlocked.Increment(ref _completed);
            }
        });

        /// <summary>Waits until a few more requests have completed (so some ran after the last change).</summary>
        public async Task WaitForProgressAsync()
        {
            int target = Volatile.Read(ref _completed) + 6;
            await WaitUntilAsync(() => Volatile.Read(ref _completed) >= target, "requests keep completing");
        }

        public async Task StopAsync()
        {
            _stop.Cancel();
            await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(30));
        }

        public async ValueTask DisposeAsync()
        {
            if (!_stop.IsCancellationRequested)
            {
                await StopAsync();
            }

            _http.Dispose();
            _stop.Dispose();
        }
    }
}
