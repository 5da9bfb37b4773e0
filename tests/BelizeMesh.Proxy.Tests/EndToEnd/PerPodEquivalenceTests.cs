using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.TestSupport;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>The resources <c>belizemesh emit</c> wrote for an example mesh (the emitter's golden file), by kind and name.</summary>
internal sealed class EmittedMesh
{
    private readonly List<YamlMappingNode> _documents = [];

    public EmittedMesh(string example)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(RepoPaths.RepoFile("tests", "BelizeMesh.Mesh.Tests", "testdata", "golden", example + ".v1.yaml"))));
        foreach (YamlDocument document in stream.Documents)
        {
            if (document.RootNode is YamlMappingNode root)
            {
                _documents.Add(root);
            }
        }
    }

    public YamlMappingNode Find(string kind, string name)
        => _documents.Single(d => Get(d, "kind")?.ToString() == kind && Get(d, "metadata", "name")?.ToString() == name);

    /// <summary>The SidecarPolicy in ConfigMap <c>belizemesh-policy-&lt;sa&gt;</c>, parsed by the proxy's own parser.</summary>
    public SidecarPolicy Policy(string serviceAccount)
    {
        string yaml = Get(Find("ConfigMap", "belizemesh-policy-" + serviceAccount), "data", "policy.yaml")!.ToString();
        PolicyParseResult result = PolicyParser.Parse(yaml, serviceAccount, new PolicyParserOptions { PqChannelAvailable = true, PermissiveAvailable = true });
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Policy!;
    }

    public static YamlNode? Get(YamlNode node, params string[] path)
    {
        foreach (string key in path)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(key), out YamlNode? next))
            {
                return null;
            }

            node = next;
        }

        return node;
    }
}

/// <summary>
/// Issue 13, item 4, for per-pod balancing and app ports: the same requests against what the emitted Istio resources
/// say Envoy does (read from the DestinationRule / VirtualService as emitted, with Istio's documented semantics) and
/// against a sidecar running the emitted SidecarPolicy route, whose endpoint name resolves to three local "pods". The
/// outcome must agree. The endpoint name is whatever emit writes (the per-pod headless Service once emitted).
/// </summary>
public sealed class PerPodEquivalenceTests : IAsyncLifetime
{
    private const string Caller = "blockchain"; // a service whose sidecar calls nawal, kinich and pakit

    private static readonly IPAddress[] s_pods = [IPAddress.Parse("127.0.0.1"), IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.3")];

    private readonly EmittedMesh _mesh = new("belizechain");
    private readonly List<TestApp> _pods = [];
    private readonly FakeResolver _dns = new();
    private int _port;

    public async Task InitializeAsync()
    {
        _pods.Add(await TestApp.StartAsync("pod0", 0, s_pods[0]));
        _port = _pods[0].Port;
        _pods.Add(await TestApp.StartAsync("pod1", _port, s_pods[1]));
        _pods.Add(await TestApp.StartAsync("pod2", _port, s_pods[2]));
    }

    public async Task DisposeAsync()
    {
        foreach (TestApp pod in _pods)
        {
            await pod.DisposeAsync();
        }
    }

    /// <summary>A DISABLE sidecar with the caller's emitted route to <paramref name="service"/>: its balancing as emitted,
    /// its endpoint name resolving to the three pods.</summary>
    private async Task<(Sidecar Sidecar, string Host)> CallerSidecarAsync(string service)
    {
        OutboundRouteSpec route = _mesh.Policy(Caller).Spec.Outbound.Routes.Single(r => r.Host.StartsWith(service + ".", StringComparison.Ordinal) && r.PathPrefix is null);
        string name = Assert.Single(route.Endpoints).Host;
        Assert.False(IPAddress.TryParse(name, out _), "emit writes a DNS name the sidecar resolves per pod");
        _dns.Set(name, s_pods);
        string balancing = route.LoadBalancing == LoadBalancingPolicy.ConsistentHash
            ? $"        loadBalancing: {{ policy: ConsistentHash, header: {route.HashHeader} }}"
            : $"        loadBalancing: {{ policy: {route.LoadBalancing} }}";
        Sidecar sidecar = await Sidecar.StartAsync(
            Sidecar.Policy("http://127.0.0.1:1", outboundRoutes: Sidecar.Route(route.Host, $"\"{name}:{_port}\"", balancing)),
            resolver: _dns);
        return (sidecar, route.Host);
    }

    private YamlNode LoadBalancer(string service)
        => EmittedMesh.Get(_mesh.Find("DestinationRule", service), "spec", "trafficPolicy", "loadBalancer")
            ?? throw new Xunit.Sdk.XunitException($"the emitted DestinationRule {service} has no trafficPolicy.loadBalancer");

    private static async Task<string> PodAsync(HttpClient http, string url, string? header = null, string? value = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (header is not null)
        {
            request.Headers.Add(header, value);
        }

        using HttpResponseMessage response = await http.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return body[5..body.IndexOf('\n', StringComparison.Ordinal)];
    }

    [Fact]
    public async Task Consistent_hash_on_the_header_istio_names_keeps_each_key_on_one_pod()
    {
        // Istio: consistentHash.httpHeaderName — every request with the same header value reaches the same pod.
        string header = EmittedMesh.Get(LoadBalancer("nawal"), "consistentHash", "httpHeaderName")!.ToString();
        (Sidecar sidecar, string host) = await CallerSidecarAsync("nawal");
        await using Sidecar _ = sidecar;
        using HttpClient http = sidecar.CreateOutboundClient();

        var podOf = new Dictionary<string, string>();
        for (int round = 0; round < 3; round++)
        {
            for (int k = 0; k < 30; k++)
            {
                string pod = await PodAsync(http, $"http://{host}/api/v1/fl/round", header, "participant-" + k);
                Assert.Equal(podOf.TryAdd("participant-" + k, pod) ? pod : podOf["participant-" + k], pod);
            }
        }

        Assert.Equal(3, podOf.Values.Distinct().Count()); // keys spread over every pod, as Envoy's ring does
    }

    [Fact]
    public async Task Round_robin_gives_every_pod_an_equal_share()
    {
        // Istio: simple ROUND_ROBIN — sequential requests visit the pods in turn.
        Assert.Equal("ROUND_ROBIN", EmittedMesh.Get(LoadBalancer("pakit"), "simple")!.ToString());
        (Sidecar sidecar, string host) = await CallerSidecarAsync("pakit");
        await using Sidecar _ = sidecar;
        using HttpClient http = sidecar.CreateOutboundClient();

        var counts = new Dictionary<string, int>();
        for (int i = 0; i < 30; i++)
        {
            string pod = await PodAsync(http, $"http://{host}/api/v1/download");
            counts[pod] = counts.GetValueOrDefault(pod) + 1;
        }

        Assert.Equal([10, 10, 10], counts.Values);
    }

    [Fact]
    public async Task Least_request_sends_a_new_request_to_a_pod_with_the_fewest_in_flight()
    {
        // Istio: simple LEAST_REQUEST — a request goes to a pod with fewer active requests. Three long requests in
        // flight land on three different pods.
        Assert.Equal("LEAST_REQUEST", EmittedMesh.Get(LoadBalancer("kinich"), "simple")!.ToString());
        (Sidecar sidecar, string host) = await CallerSidecarAsync("kinich");
        await using Sidecar _ = sidecar;
        using HttpClient http = sidecar.CreateOutboundClient();

        var inFlight = new List<Task<string>>();
        for (int i = 0; i < 3; i++)
        {
            // the pods still idle, taken before sending: a fast arrival must not drop its pod from the wait
            Task[] idle = [.. _pods.Select(p => p.SlowArrived.Task).Where(t => !t.IsCompleted)];
            inFlight.Add(PodAsync(http, $"http://{host}/slow"));
            await Task.WhenAny(idle).WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.All(_pods, p => Assert.True(p.SlowArrived.Task.IsCompleted, p.Name + " got none of the three"));
        foreach (TestApp pod in _pods)
        {
            pod.Gate.TrySetResult();
        }

        Assert.Equal(["pod0", "pod1", "pod2"], (await Task.WhenAll(inFlight)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Rpc_and_websocket_ports_reach_the_ports_istio_routes_them_to()
    {
        // Istio (VirtualService blockchain): a WebSocket upgrade goes to port 9944, everything else to 9933.
        YamlSequenceNode http = (YamlSequenceNode)EmittedMesh.Get(_mesh.Find("VirtualService", "blockchain"), "spec", "http")!;
        int PortOf(string routeName) => int.Parse(
            EmittedMesh.Get(((YamlSequenceNode)EmittedMesh.Get(http.Children.Single(r => EmittedMesh.Get(r, "name")?.ToString() == routeName), "route")!).Children[0], "destination", "port", "number")!.ToString(),
            System.Globalization.CultureInfo.InvariantCulture);
        int wsPort = PortOf("websocket"), rpcPort = PortOf("rpc");

        // the blockchain sidecar as emitted: its app and apps, with the local ports of two test apps
        InboundSpec inbound = _mesh.Policy("blockchain").Spec.Inbound;
        Assert.Equal(rpcPort, inbound.App.Port);
        InboundAppSpec wsApp = Assert.Single(inbound.Apps);
        Assert.Equal(wsPort, wsApp.Port);
        await using TestApp rpc = await TestApp.StartAsync("rpc");
        await using TestApp ws = await TestApp.StartAsync("ws");
        await using Sidecar server = await Sidecar.StartAsync(Sidecar.Policy(rpc.Url, inboundExtra: $"    apps:\n      - {{ port: {wsApp.Port}, app: \"{ws.Url}\" }}"));
        await using Sidecar client = await Sidecar.StartAsync(Sidecar.Policy("http://127.0.0.1:1", outboundRoutes: Sidecar.Route("blockchain.test", $"\"{server.InboundEndpoint}\"")));
        using HttpClient plain = client.CreateOutboundClient();

        Assert.Equal("rpc", await PodAsync(plain, $"http://blockchain.test:{rpcPort}/"));

        using var invoker = new HttpMessageInvoker(client.CreateOutboundHandler());
        using var socketClient = new ClientWebSocket();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socketClient.ConnectAsync(new Uri($"ws://blockchain.test:{wsPort}/ws"), invoker, cts.Token);
        await socketClient.SendAsync(Encoding.UTF8.GetBytes("head"), WebSocketMessageType.Text, true, cts.Token);
        var buffer = new byte[64];
        WebSocketReceiveResult result = await socketClient.ReceiveAsync(buffer, cts.Token);
        Assert.Equal("head", Encoding.UTF8.GetString(buffer, 0, result.Count));
        await socketClient.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
        Assert.Single(ws.WebSocketHandshakes);
        Assert.Empty(rpc.WebSocketHandshakes);
    }
}
