using System.Net;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// client → outbound STRICT → inbound STRICT → app, <c>h2UpgradePolicy</c> unset: an HTTP/1.1 request crosses the PQ
/// channel as HTTP/1.1 (one request at a time per pooled channel) while few are in flight to the endpoint, as HTTP/2
/// beyond; an HTTP/2 request (gRPC) as HTTP/2; a route with <c>UPGRADE</c> sends HTTP/1.1 requests as HTTP/2 as before,
/// one with <c>DO_NOT_UPGRADE</c> always as HTTP/1.1. What the inbound sidecar received is read from its access log.
/// </summary>
public sealed class Http1InsideChannelTests : IAsyncLifetime
{
    private const string Pakit = "spiffe://cluster.local/ns/belizechain/sa/pakit";
    private static readonly TimeSpan s_backstop = TimeSpan.FromSeconds(30);

    private readonly AccessLogLines _inboundLog = new();
    private readonly WarningLogs _logs = new();
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _allHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _firstHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _held;
    private int _holdTarget = int.MaxValue;
    private int _firstTarget = int.MaxValue;
    private TwoSidecarMesh _mesh = null!;

    public async Task InitializeAsync()
    {
        WebApplication app = await LoopbackApp.StartAsync(HttpProtocols.Http1AndHttp2, HandleAsync);
        _mesh = await TwoSidecarMesh.Create()
            .NawalAccessLog(_inboundLog)
            .Logs(_logs)
            .Route("nawal.test")
            .Route("nawal-h2.test", "connectionPool: { h2UpgradePolicy: UPGRADE }")
            .Route("nawal-h1.test", "connectionPool: { h2UpgradePolicy: DO_NOT_UPGRADE }")
            .StartAsync(app.Urls.First(), app);
    }

    public async Task DisposeAsync()
    {
        _release.TrySetResult();
        await _mesh.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        string path = context.Request.Path.Value ?? "";
        if (path.StartsWith("/hold", StringComparison.Ordinal))
        {
            int held = Interlocked.Increment(ref _held);
            if (held >= Volatile.Read(ref _firstTarget))
            {
                _firstHeld.TrySetResult();
            }

            if (held >= Volatile.Read(ref _holdTarget))
            {
                _allHeld.TrySetResult();
            }

            await _release.Task.WaitAsync(context.RequestAborted);
            await context.Response.WriteAsync("released\n");
            return;
        }

        if (path.StartsWith("/grpc", StringComparison.Ordinal))
        {
            // a gRPC "trailers-only" answer (grpc-status in the headers): the inbound reaches the app over HTTP/1.1,
            // where the app cannot send trailers
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = "5";
            context.Response.Headers["grpc-message"] = context.Request.Protocol;
            return;
        }

        await context.Response.WriteAsync(
            $"protocol: {context.Request.Protocol}\nidentity: {context.Request.Headers[Forwarding.ProxyHeaders.PeerIdentity]}\n");
    }

    /// <summary>The protocol the inbound sidecar logged for the request to <paramref name="path"/>.</summary>
    private async Task<string> InboundProtocolAsync(string path)
    {
        (string direction, string protocol) = await _inboundLog.RequestAsync(path, s_backstop);
        Assert.Equal("inbound", direction);
        return protocol;
    }

    [Fact]
    public async Task Http1_request_crosses_the_channel_as_http1_and_reaches_the_app_with_the_verified_identity()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version11);

        using HttpResponseMessage response = await http.GetAsync("http://nawal.test/echo-h1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"protocol: HTTP/1.1\nidentity: {Pakit}\n", await response.Content.ReadAsStringAsync());
        Assert.Equal("HTTP/1.1", await InboundProtocolAsync("/echo-h1"));
    }

    [Fact]
    public async Task Http2_request_still_crosses_the_channel_as_http2()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version20);

        using HttpResponseMessage response = await http.GetAsync("http://nawal.test/echo-h2");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("HTTP/2", await InboundProtocolAsync("/echo-h2"));
    }

    [Fact]
    public async Task Grpc_request_crosses_the_channel_as_http2_and_its_status_comes_back()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version20);
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://nawal.test/grpc.Greeter/Hello")
        {
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");

        using HttpResponseMessage response = await http.SendAsync(request);

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}\n" + string.Join("\n", _logs.Entries));
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(["5"], response.Headers.GetValues("grpc-status"));
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("HTTP/2", await InboundProtocolAsync("/grpc.Greeter/Hello"));
    }

    [Fact]
    public async Task Route_with_h2_upgrade_policy_UPGRADE_sends_http1_requests_as_http2()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version11);

        using HttpResponseMessage response = await http.GetAsync("http://nawal-h2.test/echo-upgraded");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"protocol: HTTP/1.1\nidentity: {Pakit}\n", await response.Content.ReadAsStringAsync());
        Assert.Equal("HTTP/2", await InboundProtocolAsync("/echo-upgraded"));
    }

    [Fact]
    public async Task Concurrent_http1_requests_take_one_channel_each_and_later_requests_reuse_them()
    {
        const int Concurrent = 3;
        Volatile.Write(ref _holdTarget, Concurrent);
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version11);

        Task<HttpResponseMessage>[] held = new Task<HttpResponseMessage>[Concurrent];
        for (int i = 0; i < Concurrent; i++)
        {
            held[i] = http.GetAsync($"http://nawal.test/hold-{i}");
        }

        // all three are in the app at once: HTTP/1.1 carries one request at a time, so each has its own channel
        await _allHeld.Task.WaitAsync(s_backstop);
        Assert.Equal(Concurrent, await _mesh.Nawal.ServerHandshakesAsync());

        _release.TrySetResult();
        foreach (Task<HttpResponseMessage> request in held)
        {
            using HttpResponseMessage response = await request.WaitAsync(s_backstop);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("released\n", await response.Content.ReadAsStringAsync());
        }

        // one after another: each takes an idle pooled channel, no new handshake
        for (int i = 0; i < 5; i++)
        {
            using HttpResponseMessage response = await http.GetAsync($"http://nawal.test/again-{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await response.Content.ReadAsStringAsync();
        }

        Assert.Equal(Concurrent, await _mesh.Nawal.ServerHandshakesAsync());
        Assert.Equal("HTTP/1.1", await InboundProtocolAsync("/again-4"));
    }

    [Theory]
    [InlineData("nawal.test", Forwarding.UpstreamTarget.AdaptiveHttp1InFlight)] // h2UpgradePolicy unset: the sidecar chooses
    [InlineData("nawal-h1.test", Forwarding.UpstreamTarget.AdaptiveHttp1InFlight + 2)] // DO_NOT_UPGRADE: always HTTP/1.1
    public async Task Http1_requests_beyond_the_in_flight_bar_share_an_http2_channel_unless_the_route_says_DO_NOT_UPGRADE(string host, int expectedHttp1)
    {
        // Two waves, so that which request saw which in-flight count is certain: the first AdaptiveHttp1InFlight are all
        // in the app (in flight 1..16: HTTP/1.1 unless the route upgrades) before the last two start (17 and 18: beyond
        // the bar, so HTTP/2 unless the route says DO_NOT_UPGRADE).
        int first = Forwarding.UpstreamTarget.AdaptiveHttp1InFlight;
        int concurrent = first + 2;
        Volatile.Write(ref _firstTarget, first);
        Volatile.Write(ref _holdTarget, concurrent);
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version11);

        var held = new Task<HttpResponseMessage>[concurrent];
        for (int i = 0; i < first; i++)
        {
            held[i] = http.GetAsync($"http://{host}/hold-{host}-{i}");
        }

        await _firstHeld.Task.WaitAsync(s_backstop);
        for (int i = first; i < concurrent; i++)
        {
            held[i] = http.GetAsync($"http://{host}/hold-{host}-{i}");
        }

        await _allHeld.Task.WaitAsync(s_backstop);
        _release.TrySetResult();
        foreach (Task<HttpResponseMessage> request in held)
        {
            using HttpResponseMessage response = await request.WaitAsync(s_backstop);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("released\n", await response.Content.ReadAsStringAsync());
        }

        // each request saw the count of requests in flight to the endpoint, itself included, at its start: 1..18 once each
        int http1 = 0;
        for (int i = 0; i < concurrent; i++)
        {
            string protocol = await InboundProtocolAsync($"/hold-{host}-{i}");
            Assert.True(protocol is "HTTP/1.1" or "HTTP/2", protocol);
            http1 += protocol == "HTTP/1.1" ? 1 : 0;
        }

        Assert.Equal(expectedHttp1, http1);
    }
}

/// <summary><c>spec.outbound.h2UpgradePolicy: UPGRADE</c> (Istio's mesh-wide setting) upgrades the routes that leave
/// theirs at <c>DEFAULT</c>; a route's own <c>DO_NOT_UPGRADE</c> still keeps HTTP/1.1.</summary>
public sealed class OutboundH2UpgradeDefaultTests : IAsyncLifetime
{
    private readonly AccessLogLines _inboundLog = new();
    private TwoSidecarMesh _mesh = null!;

    public async Task InitializeAsync()
    {
        TestApp app = await TestApp.StartAsync("nawal-app");
        _mesh = await TwoSidecarMesh.Create()
            .NawalAccessLog(_inboundLog)
            .Route("nawal.test")
            .Route("nawal-h1.test", "connectionPool: { h2UpgradePolicy: DO_NOT_UPGRADE }")
            .Outbound("    h2UpgradePolicy: UPGRADE\n")
            .StartAsync(app.Url, app);
    }

    public Task DisposeAsync() => _mesh.DisposeAsync().AsTask();

    private async Task<string> InboundProtocolAsync(string path)
        => (await _inboundLog.RequestAsync(path, TimeSpan.FromSeconds(30))).Protocol;

    [Fact]
    public async Task Routes_follow_the_outbound_default_unless_they_set_their_own()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version11);

        using HttpResponseMessage upgraded = await http.GetAsync("http://nawal.test/by-default");
        using HttpResponseMessage kept = await http.GetAsync("http://nawal-h1.test/by-route");

        Assert.Equal(HttpStatusCode.OK, upgraded.StatusCode);
        Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
        Assert.Equal("HTTP/2", await InboundProtocolAsync("/by-default"));
        Assert.Equal("HTTP/1.1", await InboundProtocolAsync("/by-route"));
    }
}

/// <summary>Collects what the access log writes, line by line, and lets a test await a line.</summary>
internal sealed class AccessLogLines : Stream
{
    private readonly object _lock = new();
    private readonly StringBuilder _partial = new();
    private readonly List<string> _lines = [];
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Done)> _waiters = [];

    /// <summary>The access log's direction and protocol of the first request to <paramref name="path"/>.</summary>
    public async Task<(string Direction, string Protocol)> RequestAsync(string path, TimeSpan timeout)
    {
        string line = await WaitForAsync(l => l.Contains($"\"Path\":\"{path}\"", StringComparison.Ordinal), timeout);
        using var json = JsonDocument.Parse(line);
        JsonElement state = json.RootElement.GetProperty("State");
        return (state.GetProperty("Direction").GetString()!, state.GetProperty("Protocol").GetString()!);
    }

    public async Task<string> WaitForAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            foreach (string line in _lines)
            {
                if (match(line))
                {
                    return line;
                }
            }

            _waiters.Add((match, done));
        }

        try
        {
            return await done.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            lock (_lock)
            {
                throw new TimeoutException("no such access-log line; got:\n" + string.Join("\n", _lines));
            }
        }
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_lock)
        {
            _partial.Append(Encoding.UTF8.GetString(buffer));
            string text = _partial.ToString();
            int end;
            while ((end = text.IndexOf('\n', StringComparison.Ordinal)) >= 0)
            {
                string line = text[..end];
                text = text[(end + 1)..];
                _lines.Add(line);
                for (int i = _waiters.Count - 1; i >= 0; i--)
                {
                    if (_waiters[i].Match(line))
                    {
                        _waiters[i].Done.TrySetResult(line);
                        _waiters.RemoveAt(i);
                    }
                }
            }

            _partial.Clear().Append(text);
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>Warnings and errors of both sidecars, with their exceptions (shown when a test fails).</summary>
internal sealed class WarningLogs : ILoggerProvider, ILogger
{
    public System.Collections.Concurrent.ConcurrentQueue<string> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        => Entries.Enqueue($"{logLevel}: {formatter(state, exception)} {exception}");

    public void Dispose()
    {
    }
}

internal sealed class NoLogs : ILoggerProvider
{
    public static readonly NoLogs Instance = new();

    public ILogger CreateLogger(string categoryName) => Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public void Dispose()
    {
    }
}
