using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Hosting;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>A sidecar under test: a policy file in a temporary directory and a started <see cref="ProxyHost"/>.</summary>
internal sealed class Sidecar : IAsyncDisposable
{
    private Sidecar(ProxyHost host, string directory)
    {
        Host = host;
        Directory = directory;
    }

    public ProxyHost Host { get; }

    public string Directory { get; }

    public string PolicyPath => Path.Combine(Directory, "policy.yaml");

    /// <summary>A DISABLE-mode policy with every listener on a free loopback port.</summary>
    public static string Policy(string appUrl, string inboundExtra = "", string outboundRoutes = "", string specExtra = "") => $"""
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        metadata: {"{"} name: test, namespace: test {"}"}
        spec:
          admin: {"{"} listen: "127.0.0.1:0" {"}"}
          accessLog: false
        {specExtra}
          inbound:
            listen: "127.0.0.1:0"
            app: "{appUrl}"
            mode: DISABLE
        {inboundExtra}
          outbound:
            listen: "127.0.0.1:0"
            routes:
        {(outboundRoutes.Length == 0 ? "      []" : outboundRoutes)}
        """;

    /// <summary>One outbound route block (indented for <see cref="Policy"/>).</summary>
    public static string Route(string host, string endpoints, string extra = "") =>
        $"      - host: {host}\n        endpoints: [{endpoints}]\n" + (extra.Length == 0 ? "" : extra + "\n");

    public static async Task<Sidecar> StartAsync(string policy, TimeProvider? time = null, bool watch = true, string? certs = null, ILoggerProvider? logs = null, Random? trafficRandom = null, Forwarding.IEndpointResolver? resolver = null, BelizeMesh.Proxy.Configuration.ListenAddress? statusListen = null, global::BelizeMesh.Proxy.Policy.Authentication.RemoteJwksOptions? remoteJwks = null, global::BelizeMesh.Proxy.Metrics.WorkloadMetadata? workload = null,
        (Stream Output, Action<string> Observer, ILoggerProvider Logging)? accessLog = null, bool productionLogging = false)
    {
        string directory = System.IO.Directory.CreateTempSubdirectory("belizemesh-proxy-test-").FullName;
        string path = Path.Combine(directory, "policy.yaml");
        await File.WriteAllTextAsync(path, policy);
        ProxyHost? host = ProxyHost.Create(
            new ProxyHostOptions
            {
                PolicyPath = path,
                CertsPath = certs ?? directory,
                Time = time ?? TimeProvider.System,
                TrafficRandom = trafficRandom,
                WatchDebounce = TimeSpan.FromMilliseconds(50),
                WatchPolicy = watch,
                Resolver = resolver,
                StatusListen = statusListen,
                RemoteJwks = remoteJwks ?? new(),
                Workload = workload ?? global::BelizeMesh.Proxy.Metrics.WorkloadMetadata.Empty,
                AccessLogOutput = accessLog?.Output ?? Stream.Null, // written only when spec.accessLog is true
                AccessLogObserver = accessLog?.Observer,
                ConfigureLogging = productionLogging ? ProxyHost.AddDefaultLogging : logging =>
                {
                    logging.SetMinimumLevel(LogLevel.Warning);
                    if (logs is not null)
                    {
                        logging.AddProvider(logs);
                    }

                    if (accessLog is { Logging: { } provider })
                    {
                        logging.AddProvider(provider);
                    }
                },
            },
            out IReadOnlyList<PolicyError> errors);
        Assert.True(host is not null, "policy rejected:\n" + string.Join("\n", errors) + "\n" + policy);
        await host.StartAsync();
        return new Sidecar(host, directory);
    }

    public string OutboundEndpoint => $"127.0.0.1:{Host.OutboundEndPoint.Port}";

    public string InboundEndpoint => $"127.0.0.1:{Host.InboundEndPoint.Port}";

    /// <summary>An HttpClient that reaches every host through this sidecar's outbound listener, like an app whose
    /// traffic is redirected to the sidecar.</summary>
    public HttpClient CreateOutboundClient(Version? version = null)
    {
        return new HttpClient(CreateOutboundHandler())
        {
            DefaultRequestVersion = version ?? HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    /// <summary>A handler whose every connection goes to this sidecar's outbound listener (for <c>ClientWebSocket</c>
    /// and other callers that take an invoker).</summary>
    public SocketsHttpHandler CreateOutboundHandler()
    {
        int port = Host.OutboundEndPoint.Port;
        return new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
    }

    public HttpClient CreateAdminClient() => new() { BaseAddress = new Uri($"http://127.0.0.1:{Host.AdminEndPoint.Port}"), Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>Sends raw HTTP/1.1 bytes to the inbound listener (HttpClient would normalize the path first).</summary>
    public Task<(int Status, string Text)> RawInboundAsync(string requestTarget, string extraHeaders = "", string method = "GET")
        => RawAsync(Host.InboundEndPoint, method, requestTarget, "app.test", extraHeaders);

    /// <summary>Sends raw HTTP/1.1 bytes to the outbound listener.</summary>
    public Task<(int Status, string Text)> RawOutboundAsync(string host, string requestTarget, string extraHeaders = "", string method = "GET")
        => RawAsync(Host.OutboundEndPoint, method, requestTarget, host, extraHeaders);

    private static async Task<(int Status, string Text)> RawAsync(IPEndPoint endPoint, string method, string requestTarget, string host, string extraHeaders)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"{method} {requestTarget} HTTP/1.1\r\nHost: {host}\r\n{extraHeaders}Content-Length: 0\r\nConnection: close\r\n\r\n"));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string text = await reader.ReadToEndAsync();
        int status = int.Parse(text.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
        return (status, text);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
