using System.Net;
using System.Net.Http;
using System.Net.Sockets;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>Outbound routing: endpoint choice, retries, passive ejection. Endpoints are apps directly (DISABLE mode
/// forwards plaintext HTTP to whatever listens there).</summary>
public sealed class RoutingTests : IAsyncLifetime
{
    private readonly List<TestApp> _apps = [];
    private readonly List<Socket> _deadPorts = [];

    public async Task InitializeAsync()
    {
        for (int i = 0; i < 3; i++)
        {
            _apps.Add(await TestApp.StartAsync("app" + i));
        }
    }

    public async Task DisposeAsync()
    {
        foreach (TestApp app in _apps)
        {
            await app.DisposeAsync();
        }

        foreach (Socket socket in _deadPorts)
        {
            socket.Dispose();
        }
    }

    /// <summary>A loopback port nothing listens on: bound but never listening, and held until the test ends, so a
    /// connect is refused and no other test's server (binding port 0 at the same time) can be handed that port.</summary>
    private int DeadPort()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _deadPorts.Add(socket);
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static async Task<(HttpStatusCode Status, string App)> SendAsync(HttpClient http, HttpMethod method, string url, string? participant = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (participant is not null)
        {
            request.Headers.Add("X-Participant-ID", participant);
        }

        using HttpResponseMessage response = await http.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, body.StartsWith("app: ", StringComparison.Ordinal) ? body[5..body.IndexOf('\n', StringComparison.Ordinal)] : body);
    }

    private string Endpoints(params int[] ports) => string.Join(", ", ports.Select(p => $"\"127.0.0.1:{p}\""));

    [Fact]
    public async Task Consistent_hash_sends_each_participant_to_the_same_endpoint()
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_apps[0].Url, outboundRoutes:
            Sidecar.Route("nawal.test", Endpoints(_apps[0].Port, _apps[1].Port, _apps[2].Port), "        loadBalancing: { policy: ConsistentHash, header: X-Participant-ID }")));
        using HttpClient http = sidecar.CreateOutboundClient();

        var chosen = new Dictionary<string, string>();
        for (int round = 0; round < 3; round++)
        {
            for (int p = 0; p < 12; p++)
            {
                (HttpStatusCode status, string app) = await SendAsync(http, HttpMethod.Get, "http://nawal.test/echo", "participant-" + p);
                Assert.Equal(HttpStatusCode.OK, status);
                if (round == 0)
                {
                    chosen["participant-" + p] = app;
                }
                else
                {
                    Assert.Equal(chosen["participant-" + p], app);
                }
            }
        }

        Assert.True(chosen.Values.Distinct().Count() >= 2, "12 participants all hashed to one endpoint: " + string.Join(",", chosen.Values));
    }

    [Fact]
    public async Task Round_robin_spreads_requests_over_all_endpoints()
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_apps[0].Url, outboundRoutes:
            Sidecar.Route("nawal.test", Endpoints(_apps[0].Port, _apps[1].Port, _apps[2].Port))));
        using HttpClient http = sidecar.CreateOutboundClient();

        var seen = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            seen.Add((await SendAsync(http, HttpMethod.Get, "http://nawal.test/echo")).App);
        }

        Assert.Equal(["app0", "app1", "app2", "app0", "app1", "app2"], seen);
    }

    [Fact]
    public async Task Idempotent_requests_are_retried_on_connect_failure_and_others_are_not()
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_apps[0].Url, outboundRoutes:
            Sidecar.Route("nawal.test", Endpoints(DeadPort(), _apps[1].Port),
                "        retries: { attempts: 1 }\n        outlierDetection: { consecutiveFailures: 0 }")));
        using HttpClient http = sidecar.CreateOutboundClient();

        // Round robin alternates dead, live, dead, live. GET to the dead endpoint is retried on the live one.
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal((HttpStatusCode.OK, "app1"), await SendAsync(http, HttpMethod.Get, "http://nawal.test/echo"));
        }

        // POST is not idempotent: exactly the requests that picked the dead endpoint fail with 502.
        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 4; i++)
        {
            statuses.Add((await SendAsync(http, HttpMethod.Post, "http://nawal.test/echo")).Status);
        }

        Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.BadGateway));
        Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.OK));
    }

    [Fact]
    public async Task Connect_failure_without_retries_is_a_502_naming_the_endpoint()
    {
        int dead = DeadPort();
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_apps[0].Url, outboundRoutes:
            Sidecar.Route("nawal.test", Endpoints(dead))));
        using HttpClient http = sidecar.CreateOutboundClient();

        (HttpStatusCode status, string body) = await SendAsync(http, HttpMethod.Get, "http://nawal.test/echo");

        Assert.Equal(HttpStatusCode.BadGateway, status);
        Assert.Equal($"belizemesh: upstream 127.0.0.1:{dead} of route nawal.test is unreachable (connection failed)\n", body);
    }

    [Fact]
    public async Task Endpoint_failing_consecutively_is_ejected_and_skipped()
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_apps[0].Url, outboundRoutes:
            Sidecar.Route("nawal.test", Endpoints(DeadPort(), _apps[2].Port),
                "        outlierDetection: { consecutiveFailures: 1, ejectionTime: 5m }")));
        using HttpClient http = sidecar.CreateOutboundClient();

        Assert.Equal(HttpStatusCode.BadGateway, (await SendAsync(http, HttpMethod.Post, "http://nawal.test/echo")).Status);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal((HttpStatusCode.OK, "app2"), await SendAsync(http, HttpMethod.Post, "http://nawal.test/echo"));
        }
    }

    [Fact]
    public async Task Path_prefix_routes_win_over_the_host_route()
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_apps[0].Url, outboundRoutes:
            Sidecar.Route("nawal.test", Endpoints(_apps[0].Port)) +
            Sidecar.Route("nawal.test", Endpoints(_apps[1].Port), "        pathPrefix: /v2")));
        using HttpClient http = sidecar.CreateOutboundClient();

        Assert.Equal("app1", (await SendAsync(http, HttpMethod.Get, "http://nawal.test/v2/x")).App);
        Assert.Equal("app1", (await SendAsync(http, HttpMethod.Get, "http://NAWAL.test:80/v2")).App);
        Assert.Equal("app0", (await SendAsync(http, HttpMethod.Get, "http://nawal.test/v2x")).App);
        Assert.Equal("app0", (await SendAsync(http, HttpMethod.Get, "http://nawal.test/")).App);
    }
}
