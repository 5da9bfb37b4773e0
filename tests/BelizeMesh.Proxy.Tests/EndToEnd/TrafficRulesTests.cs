using System.Net;
using System.Net.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// Istio's traffic semantics through real sidecars on 127.0.0.1, the way the emitted VirtualService describes them:
/// weighted subsets, header matches, retries on another endpoint, fault injection, the retry budget. The sidecars run in
/// mode DISABLE (plaintext between them): what is under test is the routing, not the channel, and 10,000 requests
/// through the PQ handshake path would only add time (StrictChannelTests cover the channel).
/// </summary>
public sealed class TrafficRulesTests : IAsyncLifetime
{
    private TestApp _v1 = null!;
    private TestApp _v2 = null!;
    private Sidecar _calleeV1 = null!;
    private Sidecar _calleeV2 = null!;

    public async Task InitializeAsync()
    {
        _v1 = await TestApp.StartAsync("v1");
        _v2 = await TestApp.StartAsync("v2");
        _calleeV1 = await Sidecar.StartAsync(Sidecar.Policy(_v1.Url));
        _calleeV2 = await Sidecar.StartAsync(Sidecar.Policy(_v2.Url));
    }

    public async Task DisposeAsync()
    {
        await _calleeV1.DisposeAsync();
        await _calleeV2.DisposeAsync();
        await _v1.DisposeAsync();
        await _v2.DisposeAsync();
    }

    /// <summary>
    /// The SidecarPolicy <c>belizemesh emit</c> wrote for <paramref name="serviceAccount"/> (the emitter's golden file),
    /// made runnable here: listeners on free loopback ports, mode DISABLE, and each emitted endpoint replaced by a local
    /// one. Everything else — the http rules, weights, matches, retries, faults — is the emitted text.
    /// </summary>
    private static string EmittedPolicy(string goldenFile, string serviceAccount, string appUrl, params (string Emitted, string Local)[] endpoints)
    {
        string path = BelizeMesh.TestSupport.RepoPaths.RepoFile("tests", "BelizeMesh.Mesh.Tests", "testdata", "golden", goldenFile);
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(path)));
        string policy = stream.Documents
            .Select(d => (YamlMappingNode)d.RootNode)
            .Where(root => root["kind"].ToString() == "ConfigMap" && ((YamlMappingNode)root["metadata"])["name"].ToString() == "belizemesh-policy-" + serviceAccount)
            .Select(root => ((YamlMappingNode)root["data"])["policy.yaml"].ToString())
            .Single();
        policy = policy
            // the listeners' fixed ports become ephemeral ones on loopback (quoted or plain, as the emitter writes them)
            .Replace("0.0.0.0:16090", "127.0.0.1:0", StringComparison.Ordinal)
            .Replace("0.0.0.0:16443", "127.0.0.1:0", StringComparison.Ordinal)
            .Replace("127.0.0.1:16001", "127.0.0.1:0", StringComparison.Ordinal)
            .Replace("mode: STRICT", "mode: DISABLE", StringComparison.Ordinal)
            .Replace("mode: PERMISSIVE", "mode: DISABLE", StringComparison.Ordinal);
        policy = System.Text.RegularExpressions.Regex.Replace(policy, "app: http://127.0.0.1:[0-9]+", "app: " + appUrl);
        Assert.DoesNotContain("0.0.0.0:", policy, StringComparison.Ordinal); // no listener on a fixed port of every interface
        foreach ((string emitted, string local) in endpoints)
        {
            Assert.Contains(emitted, policy, StringComparison.Ordinal);
            policy = policy.Replace(emitted, local, StringComparison.Ordinal);
        }

        return policy;
    }

    /// <summary>blockchain's emitted policy: its route to nawal carries the canary and the 90/10 split.</summary>
    private string EmittedBlockchainPolicy() => EmittedPolicy("belizechain.v1.yaml", "blockchain", _v1.Url,
        ("nawal-v1-pq.belizechain.svc.cluster.local:16443", _calleeV1.InboundEndpoint),
        ("nawal-v2-pq.belizechain.svc.cluster.local:16443", _calleeV2.InboundEndpoint));

    private static async Task<string> AppOf(HttpClient http, string url, string? version = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (version is not null)
        {
            request.Headers.Add("x-version", version);
        }

        using HttpResponseMessage response = await http.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        return body[5..body.IndexOf('\n', StringComparison.Ordinal)];
    }

    /// <summary>Runs <paramref name="count"/> requests on <paramref name="workers"/> concurrent loops.</summary>
    private static async Task<Dictionary<string, int>> CountAsync(int count, int workers, Func<int, Task<string>> send)
    {
        var counts = new Dictionary<string, int>();
        int next = -1;
        var lockObject = new Lock();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                string outcome = await send(i);
                lock (lockObject)
                {
                    counts[outcome] = counts.GetValueOrDefault(outcome) + 1;
                }
            }
        }));
        return counts;
    }

    [Fact]
    public async Task Emitted_split_90_10_lands_within_2_percent_on_each_subset_over_10000_requests()
    {
        await using Sidecar caller = await Sidecar.StartAsync(EmittedBlockchainPolicy());
        using HttpClient http = caller.CreateOutboundClient();

        Dictionary<string, int> counts = await CountAsync(10_000, 8, _ => AppOf(http, "http://nawal.belizechain.svc.cluster.local/echo"));

        // ±2% of 10,000 is ±200 around 9,000 / 1,000; the binomial standard deviation is 30, so this is a 6.7σ margin
        Assert.InRange(counts.GetValueOrDefault("v1"), 8_800, 9_200);
        Assert.InRange(counts.GetValueOrDefault("v2"), 800, 1_200);
        Assert.Equal(10_000, counts.Values.Sum());
    }

    [Fact]
    public async Task Emitted_header_match_always_reaches_v2_and_only_that_header_value_does()
    {
        await using Sidecar caller = await Sidecar.StartAsync(EmittedBlockchainPolicy());
        using HttpClient http = caller.CreateOutboundClient();

        Dictionary<string, int> tagged = await CountAsync(1_000, 4, _ => AppOf(http, "http://nawal.belizechain.svc.cluster.local/echo", "v2"));
        Assert.Equal(1_000, tagged.GetValueOrDefault("v2"));

        // exact match: "v2x" is not "v2", so it takes the split like untagged traffic (mostly v1)
        Dictionary<string, int> other = await CountAsync(200, 4, _ => AppOf(http, "http://nawal.belizechain.svc.cluster.local/echo", "v2x"));
        Assert.True(other.GetValueOrDefault("v1") > 100, string.Join(",", other));
    }

    [Fact]
    public async Task Request_no_rule_matches_is_a_404_naming_the_route()
    {
        await using Sidecar caller = await Sidecar.StartAsync(Sidecar.Policy(_v1.Url, outboundRoutes: $$"""
                  - host: nawal.test
                    endpoints: ["{{_calleeV1.InboundEndpoint}}"]
                    http:
                      - name: rounds
                        match: [{ uri: { prefix: /api/v1/rounds/ }, method: { exact: POST } }, { uri: { regex: "/api/v[0-9]+/status" } }]
                        destinations: [{ subset: v1 }]
            """));

        (int status, string text) = await caller.RawOutboundAsync("nawal.test", "/api/v1/rounds/7", method: "POST");
        Assert.Equal(200, status);
        (status, _) = await caller.RawOutboundAsync("nawal.test", "/api/v12/status");
        Assert.Equal(200, status);

        // the regex must match the whole path; the method must match with the prefix
        (status, text) = await caller.RawOutboundAsync("nawal.test", "/api/v12/status/x");
        Assert.Equal(404, status);
        Assert.Contains("belizemesh: no http rule of outbound route 'nawal.test' matches GET /api/v12/status/x", text, StringComparison.Ordinal);
        (status, _) = await caller.RawOutboundAsync("nawal.test", "/api/v1/rounds/7");
        Assert.Equal(404, status);
    }

    [Fact]
    public async Task Retry_on_503_reaches_another_endpoint_and_replays_a_small_body()
    {
        await using ScriptedApp failing = await ScriptedApp.StartAsync(async (context, _) =>
        {
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("overloaded");
        });
        await using Sidecar caller = await Sidecar.StartAsync(Sidecar.Policy(_v1.Url, outboundRoutes: $$"""
                  - host: nawal.test
                    endpoints: ["127.0.0.1:{{failing.Port}}", "{{_calleeV1.InboundEndpoint}}"]
                    retries: { attempts: 1, retryOn: "5xx" }
                    outlierDetection: { consecutiveFailures: 0 }
            """));
        using HttpClient http = caller.CreateOutboundClient();

        for (int i = 0; i < 6; i++)
        {
            Assert.Equal("v1", await AppOf(http, "http://nawal.test/echo"));
            using HttpResponseMessage upload = await http.PostAsync("http://nawal.test/upload", new ByteArrayContent(new byte[10_000]));
            Assert.Equal(HttpStatusCode.OK, upload.StatusCode);
            Assert.Equal("10000", await upload.Content.ReadAsStringAsync());
        }

        // Round robin sends first tries to the failing endpoint (a retry's pick advances it too); every one of them was
        // a first try (the retry went to the other endpoint) and was retried, so all 12 requests succeeded.
        Assert.InRange(failing.Hits, 1, 12);
        Assert.Equal(["1"], failing.AttemptCounts.Distinct());
        Assert.Contains($"belizemesh_proxy_retries_total{{route=\"nawal.test\"}} {failing.Hits}\n", await caller.CreateAdminClient().GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_retry_goes_to_an_untried_endpoint_rather_than_back_to_the_first_that_failed()
    {
        static Task<ScriptedApp> Failing() => ScriptedApp.StartAsync(async (context, _) =>
        {
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("overloaded");
        });
        await using ScriptedApp first = await Failing();
        await using ScriptedApp second = await Failing();

        // LeastRequests with nothing in flight picks the first candidate in order: the first try goes to `first`, the
        // retry (avoiding it) to `second`; the next retry must avoid both, as Istio's previous_hosts predicate does.
        await using Sidecar caller = await Sidecar.StartAsync(Sidecar.Policy(_v1.Url, outboundRoutes: $$"""
                  - host: nawal.test
                    endpoints: ["127.0.0.1:{{first.Port}}", "127.0.0.1:{{second.Port}}", "{{_calleeV1.InboundEndpoint}}"]
                    retries: { attempts: 2, retryOn: "5xx" }
                    loadBalancing: { policy: LeastRequests }
                    outlierDetection: { consecutiveFailures: 0 }
            """));
        using HttpClient http = caller.CreateOutboundClient();

        Assert.Equal("v1", await AppOf(http, "http://nawal.test/echo"));
        Assert.Equal(1, first.Hits);
        Assert.Equal(1, second.Hits);
    }

    [Fact]
    public async Task Body_too_large_to_buffer_is_not_retried_and_a_small_one_is()
    {
        await using ScriptedApp failing = await ScriptedApp.StartAsync(async (context, _) =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.StatusCode = 503;
        });
        await using Sidecar caller = await Sidecar.StartAsync(Sidecar.Policy(_v1.Url, outboundRoutes: $$"""
                  - host: nawal.test
                    endpoints: ["127.0.0.1:{{failing.Port}}"]
                    retries: { attempts: 2, retryOn: "gateway-error" }
                    outlierDetection: { consecutiveFailures: 0 }
            """));
        using HttpClient http = caller.CreateOutboundClient();

        using (HttpResponseMessage small = await http.PostAsync("http://nawal.test/upload", new ByteArrayContent(new byte[64 * 1024])))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, small.StatusCode);
        }

        Assert.Equal(3, failing.Hits);
        using (HttpResponseMessage large = await http.PostAsync("http://nawal.test/upload", new ByteArrayContent(new byte[64 * 1024 + 1])))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, large.StatusCode);
        }

        Assert.Equal(4, failing.Hits);
    }

    [Fact]
    public async Task Per_try_timeout_moves_a_silent_attempt_to_another_endpoint_and_answers_504_when_none_is_left()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using ScriptedApp silent = await ScriptedApp.StartAsync(async (context, _) =>
        {
            try
            {
                await release.Task.WaitAsync(context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
        });
        string Route(string endpoints, string retries) => $$"""
                  - host: nawal.test
                    endpoints: [{{endpoints}}]
                    retries: {{retries}}
                    outlierDetection: { consecutiveFailures: 0 }
            """;

        await using (Sidecar caller = await Sidecar.StartAsync(Sidecar.Policy(_v1.Url, outboundRoutes:
            Route($"\"127.0.0.1:{silent.Port}\", \"{_calleeV1.InboundEndpoint}\"", "{ attempts: 1, perTryTimeout: 200ms, retryOn: reset }"))))
        {
            using HttpClient http = caller.CreateOutboundClient();
            Assert.Equal("v1", await AppOf(http, "http://nawal.test/echo"));
            Assert.Equal("v1", await AppOf(http, "http://nawal.test/echo"));
            Assert.InRange(silent.Hits, 1, 2);
            Assert.Equal(["1"], silent.AttemptCounts.Distinct());
        }

        await using (Sidecar caller = await Sidecar.StartAsync(Sidecar.Policy(_v1.Url, outboundRoutes:
            Route($"\"127.0.0.1:{silent.Port}\"", "{ attempts: 1, perTryTimeout: 100ms, retryOn: connect-failure }"))))
        {
            (int status, string text) = await caller.RawOutboundAsync("nawal.test", "/echo");
            Assert.Equal(504, status);
            Assert.Contains($"belizemesh: upstream 127.0.0.1:{silent.Port} of route nawal.test timed out (no response within the per-try timeout 100ms)", text, StringComparison.Ordinal);
        }

        release.SetResult();
    }

    [Fact]
    public async Task Retry_budget_caps_retries_in_flight_at_the_minimum_concurrency()
    {
        // First tries fail together once all 10 have arrived (so all 10 requests are active when the retries are
        // decided, however slowly the machine starts them); retries wait until released, so they hold their slots.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int firstTries = 0;
        int retries = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using ScriptedApp flaky = await ScriptedApp.StartAsync(async (context, _) =>
        {
            if (context.Request.Headers["x-envoy-attempt-count"] == "1")
            {
                if (Interlocked.Increment(ref firstTries) == 10)
                {
                    allArrived.TrySetResult();
                }

                await allArrived.Task.WaitAsync(TimeSpan.FromSeconds(20));
                context.Response.StatusCode = 503;
                return;
            }

            Interlocked.Increment(ref retries);
            await release.Task;
            await context.Response.WriteAsync("retried");
        });
        await using Sidecar caller = await Sidecar.StartAsync(Sidecar.Policy(_v1.Url, outboundRoutes: $$"""
                  - host: nawal.test
                    endpoints: ["127.0.0.1:{{flaky.Port}}"]
                    retries: { attempts: 3, retryOn: "503", budget: { percent: 20, minConcurrency: 3 } }
                    outlierDetection: { consecutiveFailures: 0 }
            """));
        using HttpClient http = caller.CreateOutboundClient();

        // 10 requests at once: 20% of 10 is 2, below the minimum, so 3 retries may be in flight.
        Task<HttpResponseMessage>[] requests = [.. Enumerable.Range(0, 10).Select(_ => http.GetAsync("http://nawal.test/flaky"))];
        var refused = new List<HttpResponseMessage>();
        var pending = requests.ToList();
        while (refused.Count < 7)
        {
            Task<HttpResponseMessage> done = await Task.WhenAny(pending).WaitAsync(TimeSpan.FromSeconds(20));
            pending.Remove(done);
            refused.Add(await done);
        }

        Assert.All(refused, r => Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode));

        // The three admitted retries may still be on their way to the app (backoff, a new connection) when the seventh
        // refusal comes back: wait for them to arrive, then make sure no fourth follows.
        for (int i = 0; i < 200 && Volatile.Read(ref retries) < 3; i++)
        {
            await Task.Delay(50);
        }

        await Task.Delay(200);
        Assert.Equal(3, Volatile.Read(ref retries));
        release.SetResult();
        foreach (Task<HttpResponseMessage> request in pending)
        {
            using HttpResponseMessage response = await request;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(10, Volatile.Read(ref firstTries));
        Assert.Equal(3, Volatile.Read(ref retries));
        string metrics = await caller.CreateAdminClient().GetStringAsync("/metrics");
        Assert.Contains("belizemesh_proxy_retry_budget_exhausted_total{route=\"nawal.test\"} 7", metrics, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_retries_total{route=\"nawal.test\"} 3", metrics, StringComparison.Ordinal);
        foreach (HttpResponseMessage response in refused)
        {
            response.Dispose();
        }
    }

    private string FaultRoute(string fault) => $$"""
              - host: pakit.test
                endpoints: ["{{_v1.Url[7..]}}"]
                http:
                  - name: pakit-fault-injection
                    destinations: [{ subset: v1 }]
                    fault: {{fault}}
        """;

    private static async Task<int> AbortedOf(Sidecar caller, int count, string host = "pakit.test")
    {
        using HttpClient http = caller.CreateOutboundClient();
        Dictionary<string, int> outcomes = await CountAsync(count, 8, async _ =>
        {
            using HttpResponseMessage response = await http.GetAsync($"http://{host}/echo");
            string body = await response.Content.ReadAsStringAsync();
            return response.StatusCode == HttpStatusCode.InternalServerError && body == "fault filter abort" ? "aborted" : ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        });
        Assert.Equal(count, outcomes.GetValueOrDefault("aborted") + outcomes.GetValueOrDefault("200"));
        return outcomes.GetValueOrDefault("aborted");
    }

    [Fact]
    public async Task Emitted_fault_at_10_percent_aborts_10_percent_with_a_seeded_random_source()
    {
        // examples/fault-injection: nawal's route to pakit aborts 10% with 500
        await using Sidecar caller = await Sidecar.StartAsync(EmittedPolicy("fault-injection.v1.yaml", "nawal", _v1.Url,
            ("pakit-pq.belizechain.svc.cluster.local:16443", _v1.Url[7..])), trafficRandom: new Random(20261204));

        int aborted = await AbortedOf(caller, 10_000, "pakit.belizechain.svc.cluster.local");

        Assert.InRange(aborted, 900, 1_100);
        Assert.Contains($"belizemesh_proxy_faults_total{{kind=\"abort\",route=\"pakit.belizechain.svc.cluster.local#pakit-fault-injection\"}} {aborted}",
            await caller.CreateAdminClient().GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fault_at_10_percent_aborts_10_percent_with_the_real_random_source()
    {
        await using Sidecar caller = await Sidecar.StartAsync(Sidecar.Policy(_v1.Url, outboundRoutes:
            FaultRoute("{ abort: { percentage: 10, httpStatus: 500 } }")));

        // ±1% of 20,000 is ±200; the binomial standard deviation is 42, so a false failure is a 4.7σ event
        int aborted = await AbortedOf(caller, 20_000);

        Assert.InRange(aborted, 1_800, 2_200);
    }

    [Fact]
    public async Task Delay_fault_holds_the_request_for_the_fixed_delay_before_forwarding()
    {
        await using Sidecar caller = await Sidecar.StartAsync(Sidecar.Policy(_v1.Url, outboundRoutes:
            FaultRoute("{ delay: { percentage: 100, fixedDelay: 300ms } }")));
        using HttpClient http = caller.CreateOutboundClient();

        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        Assert.Equal("v1", await AppOf(http, "http://pakit.test/echo"));

        // a lower bound only, less the timer's coarseness (Task.Delay may complete up to a tick before the stopwatch says 300 ms)
        TimeSpan elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(start);
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(280), $"the request came back after {elapsed.TotalMilliseconds:0} ms");
    }
}

/// <summary>An HTTP/1.1 app on a free loopback port whose answer a test scripts; counts requests and attempt numbers.</summary>
internal sealed class ScriptedApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<string> _attempts = [];
    private int _hits;

    private ScriptedApp(WebApplication app) => _app = app;

    public int Port { get; private set; }

    public int Hits => Volatile.Read(ref _hits);

    public IReadOnlyList<string> AttemptCounts
    {
        get
        {
            lock (_attempts)
            {
                return [.. _attempts];
            }
        }
    }

    public static async Task<ScriptedApp> StartAsync(Func<HttpContext, ScriptedApp, Task> handler)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http1AndHttp2));
        WebApplication app = builder.Build();
        var scripted = new ScriptedApp(app);
        app.Run(async context =>
        {
            Interlocked.Increment(ref scripted._hits);
            lock (scripted._attempts)
            {
                scripted._attempts.Add(context.Request.Headers["x-envoy-attempt-count"].ToString());
            }

            await handler(context, scripted);
        });
        await app.StartAsync();
        scripted.Port = new Uri(app.Urls.First()).Port;
        return scripted;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

/// <summary>http rules on the production path: outbound STRICT, every destination a PQ channel that must prove its identity.</summary>
public sealed class StrictTrafficRulesTests : IAsyncLifetime
{
    private const string Nawal = "spiffe://cluster.local/ns/belizechain/sa/nawal";
    private const string Pakit = "spiffe://cluster.local/ns/belizechain/sa/pakit";

    private TestApp _v1 = null!;
    private TestApp _v2 = null!;
    private Sidecar _nawalV1 = null!;
    private Sidecar _nawalV2 = null!;
    private Sidecar _pakit = null!;

    public async Task InitializeAsync()
    {
        TestMesh mesh = TestMesh.Instance;
        _v1 = await TestApp.StartAsync("v1");
        _v2 = await TestApp.StartAsync("v2");
        _nawalV1 = await Sidecar.StartAsync(TwoSidecarMesh.InboundPolicy(_v1.Url), certs: mesh.NawalCerts);
        _nawalV2 = await Sidecar.StartAsync(TwoSidecarMesh.InboundPolicy(_v2.Url), certs: mesh.NawalCerts);
        _pakit = await Sidecar.StartAsync(
            TwoSidecarMesh.OutboundPolicy($$"""
                      - host: nawal.test
                        endpoints: ["{{_nawalV1.InboundEndpoint}}"]
                        identity: {{Nawal}}
                        http:
                          - name: impostor
                            match: [{ headers: { x-impostor: { present: true } } }]
                            destinations: [{ subset: v2, endpoints: ["{{_nawalV2.InboundEndpoint}}"], identity: {{Pakit}} }]
                          - name: canary
                            match: [{ headers: { x-version: { exact: v2 } } }]
                            destinations: [{ subset: v2, endpoints: ["{{_nawalV2.InboundEndpoint}}"] }]
                          - name: split
                            destinations:
                              - { subset: v1, weight: 50, endpoints: ["{{_nawalV1.InboundEndpoint}}"] }
                              - { subset: v2, weight: 50, endpoints: ["{{_nawalV2.InboundEndpoint}}"] }
                """),
            certs: mesh.PakitCerts);
    }

    public async Task DisposeAsync()
    {
        await _pakit.DisposeAsync();
        await _nawalV1.DisposeAsync();
        await _nawalV2.DisposeAsync();
        await _v1.DisposeAsync();
        await _v2.DisposeAsync();
    }

    private static async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpClient http, string header, string value)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://nawal.test/echo");
        request.Headers.Add(header, value);
        using HttpResponseMessage response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Rules_route_over_pq_channels_and_each_destination_must_prove_its_identity()
    {
        using HttpClient http = _pakit.CreateOutboundClient();

        for (int i = 0; i < 50; i++)
        {
            (HttpStatusCode status, string body) = await SendAsync(http, "x-version", "v2");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.StartsWith("app: v2\n", body, StringComparison.Ordinal);
            Assert.Contains($"identity: {Pakit}\n", body, StringComparison.Ordinal);
        }

        var counts = new Dictionary<string, int>();
        for (int i = 0; i < 400; i++)
        {
            (HttpStatusCode status, string body) = await SendAsync(http, "x-participant", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(HttpStatusCode.OK, status);
            string app = body[5..body.IndexOf('\n', StringComparison.Ordinal)];
            counts[app] = counts.GetValueOrDefault(app) + 1;
        }

        // 50/50 over 400 requests: σ = 10, so "more than 100 on each side" has a 10σ margin
        Assert.True(counts.GetValueOrDefault("v1") > 100 && counts.GetValueOrDefault("v2") > 100, string.Join(",", counts));

        // the impostor rule expects pakit's identity from nawal's v2 sidecar: the handshake fails, a 502
        (HttpStatusCode impostor, _) = await SendAsync(http, "x-impostor", "1");
        Assert.Equal(HttpStatusCode.BadGateway, impostor);
    }
}
