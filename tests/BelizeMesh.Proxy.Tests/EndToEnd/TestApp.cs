using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>The workload behind a sidecar: a real Kestrel app on 127.0.0.1 with endpoints tests inspect.</summary>
internal sealed class TestApp : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestApp(WebApplication app, string name)
    {
        _app = app;
        Name = name;
    }

    public string Name { get; }

    /// <summary>Requests to <c>/slow</c> wait for this gate.</summary>
    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed when a request reaches <c>/slow</c>.</summary>
    public TaskCompletionSource SlowArrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Port { get; private set; }

    /// <summary>How each WebSocket arrived: "method protocol upgrade=…".</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> WebSocketHandshakes { get; } = new();

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>The address it listens on (127.0.0.1 unless another loopback address was asked for).</summary>
    public IPAddress Address { get; private set; } = IPAddress.Loopback;

    public static async Task<TestApp> StartAsync(string name = "app", int port = 0, IPAddress? address = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(address ?? IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http1AndHttp2);
        });
        WebApplication app = builder.Build();
        var testApp = new TestApp(app, name);
        app.UseWebSockets();
        app.Run(testApp.HandleAsync);
        await app.StartAsync();
        testApp.Port = new Uri(app.Urls.First()).Port;
        testApp.Address = address ?? IPAddress.Loopback;
        return testApp;
    }

    private async Task HandleAsync(HttpContext context)
    {
        string path = context.Request.Path.Value ?? "";
        if (path == "/ws" && context.WebSockets.IsWebSocketRequest)
        {
            WebSocketHandshakes.Enqueue($"{context.Request.Method} {context.Request.Protocol} upgrade={context.Request.Headers.Upgrade}");
            using WebSocket socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[4096];
            while (true)
            {
                WebSocketReceiveResult result = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, context.RequestAborted);
            }
        }

        if (path == "/upload")
        {
            var buffer = new byte[64 * 1024];
            long total = 0;
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
            {
                total += read;
            }

            await context.Response.WriteAsync(total.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return;
        }

        if (path == "/download")
        {
            long size = long.Parse(context.Request.Query["size"]!, System.Globalization.CultureInfo.InvariantCulture);
            var chunk = new byte[64 * 1024];
            for (long sent = 0; sent < size; sent += chunk.Length)
            {
                await context.Response.Body.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, size - sent)), context.RequestAborted);
            }

            return;
        }

        if (path == "/slow")
        {
            SlowArrived.TrySetResult();
            await Gate.Task.WaitAsync(context.RequestAborted);
        }

        if (path == "/trace")
        {
            // What arrived of W3C Trace Context: every value (one line each, so a duplicate shows) and how many.
            Microsoft.Extensions.Primitives.StringValues parents = context.Request.Headers.TraceParent, states = context.Request.Headers.TraceState;
            await context.Response.WriteAsync(
                $"traceparent-count: {parents.Count}\n" + string.Concat(parents.Select(v => $"traceparent: {v}\n")) +
                $"tracestate-count: {states.Count}\n" + string.Concat(states.Select(v => $"tracestate: {v}\n")));
            return;
        }

        if (path.EndsWith("/client-cert", StringComparison.Ordinal))
        {
            // Every header whose name a CGI-style stack reads as X-Forwarded-Client-Cert, one line each.
            await context.Response.WriteAsync(string.Concat(context.Request.Headers
                .Where(h => string.Equals(h.Key.Replace('_', '-'), "x-forwarded-client-cert", StringComparison.OrdinalIgnoreCase))
                .Select(h => $"client-cert: {h.Value}\n")) + "end\n");
            return;
        }

        if (path == "/status/503")
        {
            context.Response.StatusCode = 503;
            return;
        }

        // Echo what arrived, one "name: value" per line.
        string identity = context.Request.Headers[Forwarding.ProxyHeaders.PeerIdentity].ToString();
        await context.Response.WriteAsync(
            $"app: {Name}\n" +
            $"method: {context.Request.Method}\n" +
            $"target: {context.Features.Get<IHttpRequestFeature>()!.RawTarget}\n" +
            $"host: {context.Request.Host}\n" +
            $"protocol: {context.Request.Protocol}\n" +
            $"identity: {(context.Request.Headers.ContainsKey(Forwarding.ProxyHeaders.PeerIdentity) ? identity : "(none)")}\n" +
            $"sidecar-headers: {string.Join(",", context.Request.Headers.Keys.Where(k => k.Contains("belizemesh", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal))}\n");
    }

    public async ValueTask DisposeAsync()
    {
        Gate.TrySetResult();
        await _app.DisposeAsync();
    }
}
