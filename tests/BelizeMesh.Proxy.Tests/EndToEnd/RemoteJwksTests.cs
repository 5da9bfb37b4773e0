using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BelizeMesh.Proxy.Hosting;
using BelizeMesh.Proxy.Policy.Authentication;
using BelizeMesh.Proxy.Tests.Policy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// <c>jwtRules[].jwksUri</c>: the sidecar fetches the key set from a real JWKS server on 127.0.0.1, over plain http,
/// and over https with a throwaway CA (trusted through a test-only option of the fetcher's client, or not at all: the
/// system trust store). Waits are on the fetcher's counters and the sidecar's answers, each with a 30 s backstop;
/// nothing asserts on elapsed time.
/// </summary>
public sealed class RemoteJwksTests
{
    // Fetch failures retry after 50 ms, 100 ms, 200 ms, … so a test does not wait seconds for a recovery.
    private static readonly RemoteJwksOptions s_fastRetries = new() { RetryBase = TimeSpan.FromMilliseconds(50), RetryMax = TimeSpan.FromMilliseconds(200) };

    private static string Policy(string appUrl, string jwksUri, string extraRules = "") => Sidecar.Policy(appUrl, inboundExtra: $$"""
                jwtRules:
                  - issuer: {{TestJwt.Issuer}}
                    jwksUri: "{{jwksUri}}"
            {{extraRules}}
            """);

    private static async Task<int> StatusAsync(Sidecar sidecar, string token)
        => (await sidecar.RawInboundAsync("/x", $"Authorization: Bearer {token}\r\n")).Status;

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            Assert.False(deadline.IsCancellationRequested, "timed out waiting until " + what);
            await Task.Delay(20);
        }
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static RemoteJwks Fetcher(Sidecar sidecar, string uri)
        => sidecar.Host.Services.GetRequiredService<RemoteJwksRegistry>().Find(new Uri(uri)) ?? throw new InvalidOperationException("no fetcher for " + uri);

    [Fact]
    public async Task Tokens_get_401_until_the_first_fetch_succeeds_and_readiness_does_not_wait_for_it()
    {
        using var keys = new TestJwt();
        await using JwksServer server = await JwksServer.StartAsync();
        server.Fail(HttpStatusCode.ServiceUnavailable);
        await using TestApp app = await TestApp.StartAsync();
        var logs = new CapturedLogs();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app.Url, server.Uri), watch: false, logs: logs, remoteJwks: s_fastRetries);
        RemoteJwks fetcher = Fetcher(sidecar, server.Uri);
        await WaitUntilAsync(() => fetcher.Failures >= 1, "the first fetch failed");

        using HttpClient admin = sidecar.CreateAdminClient();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz/ready")).StatusCode);
        (int status, string text) = await sidecar.RawInboundAsync("/x", $"Authorization: Bearer {keys.Es256()}\r\n");
        Assert.Equal(401, status);
        Assert.Contains("Jwks remote fetch is failed", text, StringComparison.Ordinal);
        Assert.Equal(200, (await sidecar.RawInboundAsync("/x")).Status); // no token: nothing to validate (no authorization rules)
        Assert.Contains("belizemesh_proxy_jwt_failures_total{reason=\"jwks_fetch_failed\"} 1", await admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Error && e.Message.Contains(server.Uri + " fetch failed: HTTP 503", StringComparison.Ordinal));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("plain http", StringComparison.Ordinal));

        server.Serve(keys.Jwks());
        await WaitUntilAsync(async () => await StatusAsync(sidecar, keys.Es256()) == 200, "the token is accepted after a successful fetch");
        Assert.Equal(200, await StatusAsync(sidecar, keys.Rs256()));
    }

    [Fact]
    public async Task Rotated_keys_are_fetched_again_after_the_cache_duration()
    {
        using var oldKeys = new TestJwt();
        using var newKeys = new TestJwt();
        await using JwksServer server = await JwksServer.StartAsync();
        server.Serve(oldKeys.Jwks());
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app.Url, server.Uri), watch: false,
            remoteJwks: s_fastRetries with { CacheDuration = TimeSpan.FromMilliseconds(200) });
        await WaitUntilAsync(async () => await StatusAsync(sidecar, oldKeys.Es256()) == 200, "the first key set is in force");

        server.Serve(newKeys.Jwks());
        await WaitUntilAsync(async () => await StatusAsync(sidecar, newKeys.Es256()) == 200, "the rotated key set is fetched");

        (int status, string text) = await sidecar.RawInboundAsync("/x", $"Authorization: Bearer {oldKeys.Es256()}\r\n");
        Assert.Equal(401, status);
        Assert.Contains("Jwt verification fails", text, StringComparison.Ordinal); // same kid, new key
        RemoteJwks fetcher = Fetcher(sidecar, server.Uri);
        await WaitUntilAsync(() => fetcher.Successes >= 2, "the second fetch is counted"); // counted just after the keys are published
    }

    [Fact]
    public async Task Server_down_keeps_the_last_good_keys_and_logs_the_reason_once()
    {
        using var keys = new TestJwt();
        await using JwksServer server = await JwksServer.StartAsync();
        server.Serve(keys.Jwks());
        await using TestApp app = await TestApp.StartAsync();
        var logs = new CapturedLogs();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app.Url, server.Uri), watch: false, logs: logs,
            remoteJwks: s_fastRetries with { CacheDuration = TimeSpan.FromMilliseconds(100) });
        RemoteJwks fetcher = Fetcher(sidecar, server.Uri);
        await WaitUntilAsync(async () => await StatusAsync(sidecar, keys.Es256()) == 200, "the key set is in force");

        await server.DisposeAsync();
        int before = fetcher.Failures;
        await WaitUntilAsync(() => fetcher.Failures >= before + 3, "three fetches failed with the server down");

        Assert.Equal(200, await StatusAsync(sidecar, keys.Es256()));
        Assert.NotNull(fetcher.Current);
        Assert.Single(logs.Entries, e => e.Message.Contains("fetch failed", StringComparison.Ordinal) && e.Message.Contains("Connection refused", StringComparison.Ordinal));
        Assert.Contains(logs.Entries, e => e.Message.Contains("keeping the last good key set", StringComparison.Ordinal));
        using HttpClient admin = sidecar.CreateAdminClient();
        Assert.Contains("belizemesh_proxy_jwks_loads_total{result=\"failure\"}", await admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Response_over_one_mebibyte_is_refused(bool withContentLength)
    {
        using var keys = new TestJwt();
        await using JwksServer server = await JwksServer.StartAsync();
        string valid = keys.Jwks();
        server.Serve(valid + new string(' ', JsonWebKeySet.MaxBytes + 1 - valid.Length), withContentLength); // valid JSON, one byte too long
        await using TestApp app = await TestApp.StartAsync();
        var logs = new CapturedLogs();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app.Url, server.Uri), watch: false, logs: logs, remoteJwks: s_fastRetries);
        RemoteJwks fetcher = Fetcher(sidecar, server.Uri);
        await WaitUntilAsync(() => fetcher.Failures >= 1, "the oversized response was refused");

        Assert.Null(fetcher.Current);
        Assert.Equal(401, await StatusAsync(sidecar, keys.Es256()));
        Assert.Contains(logs.Entries, e => e.Message.Contains("a JWKS may have at most 1048576", StringComparison.Ordinal));

        server.Serve(valid, withContentLength);
        await WaitUntilAsync(async () => await StatusAsync(sidecar, keys.Es256()) == 200, "a key set within the cap is accepted");
    }

    [Fact]
    public async Task Issuers_naming_one_uri_share_a_fetcher_that_reloads_keep_and_a_reload_dropping_the_uri_stops()
    {
        using var keys = new TestJwt();
        await using JwksServer server = await JwksServer.StartAsync();
        server.Serve(keys.Jwks());
        await using TestApp app = await TestApp.StartAsync();
        string twoIssuers = Policy(app.Url, server.Uri, $$"""
                  - issuer: https://second.example.com
                    jwksUri: "{{server.Uri}}"
            """);
        await using Sidecar sidecar = await Sidecar.StartAsync(twoIssuers, watch: false, remoteJwks: s_fastRetries);
        RemoteJwksRegistry registry = sidecar.Host.Services.GetRequiredService<RemoteJwksRegistry>();
        RemoteJwks fetcher = Fetcher(sidecar, server.Uri);
        Assert.Equal(1, registry.Count);
        await WaitUntilAsync(async () => await StatusAsync(sidecar, keys.Es256()) == 200, "the key set is in force");
        Assert.Equal(200, await StatusAsync(sidecar, keys.Es256(TestJwt.Claims(iss: "https://second.example.com"))));

        // A reload that keeps the URI keeps the fetcher and its keys: the token is accepted at once.
        await File.WriteAllTextAsync(sidecar.PolicyPath, Policy(app.Url, server.Uri));
        Assert.Equal(ReloadResult.Applied, await sidecar.Host.Policy.ReloadAsync());
        Assert.Same(fetcher, Fetcher(sidecar, server.Uri));
        Assert.Equal(200, await StatusAsync(sidecar, keys.Es256()));

        // A reload that gives the keys inline drops the URI: its fetcher stops.
        await File.WriteAllTextAsync(sidecar.PolicyPath, Sidecar.Policy(app.Url, inboundExtra: $$"""
                    jwtRules:
                      - issuer: {{TestJwt.Issuer}}
                        jwks: '{{keys.Jwks()}}'
                """));
        Assert.Equal(ReloadResult.Applied, await sidecar.Host.Policy.ReloadAsync());
        Assert.True(fetcher.Stopped);
        Assert.Equal(0, registry.Count);
        Assert.Null(registry.Find(new Uri(server.Uri)));
        Assert.Equal(200, await StatusAsync(sidecar, keys.Es256()));
    }

    [Fact]
    public async Task Redirects_are_not_followed()
    {
        using var keys = new TestJwt();
        await using JwksServer server = await JwksServer.StartAsync();
        server.Redirect(keys.Jwks());
        await using TestApp app = await TestApp.StartAsync();
        var logs = new CapturedLogs();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app.Url, server.Uri), watch: false, logs: logs, remoteJwks: s_fastRetries);
        RemoteJwks fetcher = Fetcher(sidecar, server.Uri);
        await WaitUntilAsync(() => fetcher.Failures >= 2, "two fetches were answered with a redirect");

        Assert.Equal(0, fetcher.Successes);
        Assert.Equal(401, await StatusAsync(sidecar, keys.Es256()));
        Assert.Single(logs.Entries, e => e.Message.Contains("fetch failed: HTTP 302: redirects are not followed; write the final URL in jwksUri", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("not json", "the JWKS is not valid JSON")]
    [InlineData("no usable key", "no usable signing key")]
    [InlineData("status 500", "HTTP 500")]
    [InlineData("no answer", "no complete response within 0.5s")]
    public async Task Bad_answer_after_a_good_one_keeps_the_last_good_keys(string answer, string reason)
    {
        using var keys = new TestJwt();
        await using JwksServer server = await JwksServer.StartAsync();
        server.Serve(keys.Jwks());
        await using TestApp app = await TestApp.StartAsync();
        var logs = new CapturedLogs();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app.Url, server.Uri), watch: false, logs: logs,
            remoteJwks: s_fastRetries with
            {
                CacheDuration = TimeSpan.FromMilliseconds(100),
                // short only where the server never answers: elsewhere a slow fetch on a loaded machine must not add a second reason
                Timeout = answer == "no answer" ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromSeconds(5),
            });
        RemoteJwks fetcher = Fetcher(sidecar, server.Uri);
        await WaitUntilAsync(async () => await StatusAsync(sidecar, keys.Es256()) == 200, "the key set is in force");

        switch (answer)
        {
            case "not json": server.Serve("{\"keys\": ["); break;
            case "no usable key": server.Serve("{\"keys\": []}"); break;
            case "status 500": server.Fail(HttpStatusCode.InternalServerError); break;
            default: server.Hang(); break;
        }

        int before = fetcher.Failures;
        await WaitUntilAsync(() => fetcher.Failures >= before + 2, "two fetches failed");
        Assert.Equal(200, await StatusAsync(sidecar, keys.Es256()));
        Assert.Single(logs.Entries, e => e.Message.Contains(reason, StringComparison.Ordinal) && e.Message.Contains("keeping the last good key set", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("trusted CA, right name", true)]
    [InlineData("system trust store", false)]
    [InlineData("trusted CA, wrong name", false)]
    public async Task Https_key_set_is_fetched_only_from_a_server_whose_certificate_verifies(string setup, bool accepted)
    {
        using var keys = new TestJwt();
        using var ca = new ThrowawayCa();
        using X509Certificate2 serverCertificate = setup.EndsWith("wrong name", StringComparison.Ordinal) ? ca.IssueForDnsName("jwks.example.com") : ca.IssueForLoopback();
        await using JwksServer server = await JwksServer.StartAsync(serverCertificate);
        server.Serve(keys.Jwks());
        await using TestApp app = await TestApp.StartAsync();
        var logs = new CapturedLogs();
        RemoteJwksOptions options = setup.StartsWith("trusted CA", StringComparison.Ordinal) ? s_fastRetries with { TestTrustedRoots = [ca.Root] } : s_fastRetries;
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app.Url, server.Uri), watch: false, logs: logs, remoteJwks: options);
        Assert.StartsWith("https://127.0.0.1:", server.Uri, StringComparison.Ordinal);

        if (accepted)
        {
            await WaitUntilAsync(async () => await StatusAsync(sidecar, keys.Es256()) == 200, "the key set fetched over https is in force");
            Assert.DoesNotContain(logs.Entries, e => e.Message.Contains("plain http", StringComparison.Ordinal));
            return;
        }

        RemoteJwks fetcher = Fetcher(sidecar, server.Uri);
        await WaitUntilAsync(() => fetcher.Failures >= 1, "the TLS handshake was refused");
        Assert.Equal(0, fetcher.Successes);
        Assert.Equal(401, await StatusAsync(sidecar, keys.Es256()));
        Assert.Contains(logs.Entries, e => e.Message.Contains("fetch failed: SecureConnectionError", StringComparison.Ordinal));
    }

    /// <summary>A root CA made for one test, and server certificates it issues.</summary>
    private sealed class ThrowawayCa : IDisposable
    {
        private readonly X509Certificate2 _signer;

        public ThrowawayCa()
        {
            using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=BelizeMesh test JWKS CA", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            _signer = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
            Root = X509CertificateLoader.LoadCertificate(_signer.RawData);
        }

        public X509Certificate2 Root { get; }

        public X509Certificate2 IssueForLoopback() => Issue(san => san.AddIpAddress(IPAddress.Loopback));

        public X509Certificate2 IssueForDnsName(string name) => Issue(san => san.AddDnsName(name));

        private X509Certificate2 Issue(Action<SubjectAlternativeNameBuilder> names)
        {
            using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=jwks", key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            names(san);
            request.CertificateExtensions.Add(san.Build());
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, false));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_signer, true, false));
            // Within the root's validity: a fresh UtcNow + 1 day can be a second past the root's own notAfter.
            using X509Certificate2 certificate = request.Create(_signer, _signer.NotBefore, _signer.NotAfter, RandomNumberGenerator.GetBytes(8));
            using X509Certificate2 withKey = certificate.CopyWithPrivateKey(key);
            return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        }

        public void Dispose()
        {
            _signer.Dispose();
            Root.Dispose();
        }
    }

    /// <summary>A JWKS endpoint on 127.0.0.1 whose answer tests change: a key set, or a failure status.</summary>
    private sealed class JwksServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly CancellationTokenSource _stopping = new();
        private volatile Answer _answer = new(503, "", true);
        private volatile string _redirectTarget = "";
        private int _disposed;

        private JwksServer(WebApplication app) => _app = app;

        public string Uri { get; private set; } = "";

        public void Serve(string body, bool withContentLength = true) => _answer = new Answer(200, body, withContentLength);

        public void Fail(HttpStatusCode status) => _answer = new Answer((int)status, "", true);

        /// <summary>302 to another path of this server, which serves <paramref name="body"/>.</summary>
        public void Redirect(string body)
        {
            _redirectTarget = body;
            _answer = new Answer(302, "", true) { Location = "/moved/jwks.json" };
        }

        /// <summary>Sends the headers, then nothing more until the client gives up.</summary>
        public void Hang() => _answer = new Answer(200, "", false) { Hang = true };

        /// <summary>Plain http, or https with <paramref name="certificate"/>.</summary>
        public static async Task<JwksServer> StartAsync(X509Certificate2? certificate = null)
        {
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
            {
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            }));
            WebApplication app = builder.Build();
            var server = new JwksServer(app);
            app.Run(server.HandleAsync);
            await app.StartAsync();
            server.Uri = $"{(certificate is null ? "http" : "https")}://127.0.0.1:{new Uri(app.Urls.First()).Port}/.well-known/jwks.json";
            return server;
        }

        private async Task HandleAsync(HttpContext context)
        {
            Answer answer = context.Request.Path == "/moved/jwks.json" ? new Answer(200, _redirectTarget, true) : _answer;
            if (answer.Location is not null)
            {
                context.Response.Headers.Location = answer.Location;
            }

            if (answer.Hang)
            {
                context.Response.StatusCode = 200;
                await context.Response.Body.FlushAsync(context.RequestAborted);
                using var both = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
                await Task.Delay(Timeout.Infinite, both.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                return;
            }

            context.Response.StatusCode = answer.Status;
            context.Response.ContentType = "application/json";
            byte[] body = System.Text.Encoding.UTF8.GetBytes(answer.Body);
            if (answer.WithContentLength)
            {
                context.Response.ContentLength = body.Length;
            }

            await context.Response.Body.WriteAsync(body, context.RequestAborted);
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                await _stopping.CancelAsync();
                await _app.StopAsync();
                await _app.DisposeAsync();
            }
        }

        private sealed record Answer(int Status, string Body, bool WithContentLength)
        {
            public string? Location { get; init; }

            public bool Hang { get; init; }
        }
    }
}
