using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// W3C Trace Context across client → outbound sidecar → (plaintext, or the PQ channel with HTTP/2 inside) → inbound
/// sidecar → app, with the access log on and the sidecars' logging enabled for every category, as the JSON console
/// is in a pod.
/// </summary>
public sealed class TraceContextTests : IAsyncLifetime
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string TraceParent = "00-" + TraceId + "-00f067aa0ba902b7-01";
    private const string TraceState = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

    private readonly AccessLogCapture _logs = new();
    private TestApp _app = null!;
    private Sidecar _plainServer = null!;
    private Sidecar _plainClient = null!;
    private Sidecar _pqServer = null!;
    private Sidecar _pqClient = null!;

    public async Task InitializeAsync()
    {
        TestMesh mesh = TestMesh.Instance;
        _app = await TestApp.StartAsync();
        _plainServer = await Sidecar.StartAsync(WithAccessLog(Sidecar.Policy(_app.Url)), accessLog: _logs.For("plain-inbound"));
        _plainClient = await Sidecar.StartAsync(
            WithAccessLog(Sidecar.Policy("http://127.0.0.1:1", outboundRoutes: Sidecar.Route("nawal.test", $"\"{_plainServer.InboundEndpoint}\""))),
            accessLog: _logs.For("plain-outbound"));
        _pqServer = await Sidecar.StartAsync(WithAccessLog(TwoSidecarMesh.InboundPolicy(_app.Url)), certs: mesh.NawalCerts, accessLog: _logs.For("pq-inbound"));
        _pqClient = await Sidecar.StartAsync(
            WithAccessLog(TwoSidecarMesh.OutboundPolicy(TwoSidecarMesh.PqRoute("nawal.test", _pqServer.InboundEndpoint))),
            certs: mesh.PakitCerts, accessLog: _logs.For("pq-outbound"));
    }

    public async Task DisposeAsync()
    {
        await _pqClient.DisposeAsync();
        await _pqServer.DisposeAsync();
        await _plainClient.DisposeAsync();
        await _plainServer.DisposeAsync();
        await _app.DisposeAsync();
    }

    private static string WithAccessLog(string policy) => policy.Replace("accessLog: false", "accessLog: true", StringComparison.Ordinal);

    private Sidecar Client(string path) => path == "pq" ? _pqClient : _plainClient;

    private static async Task<List<(string Name, string Value)>> TraceEchoAsync(HttpClient http, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://nawal.test/trace");
        foreach ((string name, string value) in headers)
        {
            Assert.True(request.Headers.TryAddWithoutValidation(name, value));
        }

        using HttpResponseMessage response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string text = await response.Content.ReadAsStringAsync();
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(": ", 2)).Select(p => (p[0], p[1])).ToList();
    }

    [Theory]
    [InlineData("plaintext", "1.1")]
    [InlineData("plaintext", "2.0")]
    [InlineData("pq", "1.1")]
    [InlineData("pq", "2.0")]
    public async Task Traceparent_and_tracestate_reach_the_app_unchanged_once(string path, string version)
    {
        using HttpClient http = Client(path).CreateOutboundClient(Version.Parse(version));

        List<(string Name, string Value)> echo = await TraceEchoAsync(http, ("traceparent", TraceParent), ("tracestate", TraceState));

        // The sidecars take no part in the trace: same trace id AND same parent id (no span of their own), no duplicate.
        Assert.Equal([("traceparent-count", "1"), ("traceparent", TraceParent), ("tracestate-count", "1"), ("tracestate", TraceState)], echo);
    }

    [Theory]
    [InlineData("plaintext")]
    [InlineData("pq")]
    public async Task Request_without_traceparent_reaches_the_app_without_one(string path)
    {
        using HttpClient http = Client(path).CreateOutboundClient();

        List<(string Name, string Value)> echo = await TraceEchoAsync(http);

        // The sidecars start no traces.
        Assert.Equal([("traceparent-count", "0"), ("tracestate-count", "0")], echo);
    }

    [Theory]
    [InlineData("plaintext", "not-a-traceparent")]
    [InlineData("pq", "not-a-traceparent")]
    [InlineData("pq", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01")] // upper case: invalid W3C
    [InlineData("pq", "00-00000000000000000000000000000000-00f067aa0ba902b7-01")] // all-zero trace id
    [InlineData("plaintext", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")] // forbidden version
    public async Task Malformed_traceparent_does_not_break_the_request_and_is_passed_on_as_it_is(string path, string malformed)
    {
        using HttpClient http = Client(path).CreateOutboundClient();

        List<(string Name, string Value)> echo = await TraceEchoAsync(http, ("traceparent", malformed), ("tracestate", TraceState));

        // Not repaired, replaced or dropped: deciding what a broken header means is the app's tracer's job.
        Assert.Equal([("traceparent-count", "1"), ("traceparent", malformed), ("tracestate-count", "1"), ("tracestate", TraceState)], echo);
    }

    [Theory]
    [InlineData("plaintext")]
    [InlineData("pq")]
    public async Task Access_log_of_both_sidecars_carries_the_trace_id(string path)
    {
        using HttpClient http = Client(path).CreateOutboundClient();
        string target = "/log/" + Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://nawal.test" + target);
        request.Headers.TryAddWithoutValidation("traceparent", TraceParent);

        using HttpResponseMessage response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AccessLogCapture.Entry outbound = await _logs.WaitForAsync(path == "pq" ? "pq-outbound" : "plain-outbound", target);
        AccessLogCapture.Entry inbound = await _logs.WaitForAsync(path == "pq" ? "pq-inbound" : "plain-inbound", target);
        Assert.Equal(TraceId, outbound.TraceId);
        Assert.Equal(TraceId, inbound.TraceId);
        Assert.EndsWith($" traceId={TraceId}", outbound.Message, StringComparison.Ordinal);
        Assert.EndsWith($" traceId={TraceId}", inbound.Message, StringComparison.Ordinal);
        Assert.Contains(path == "pq" ? $"peer=spiffe://cluster.local/ns/belizechain/sa/pakit traceId=" : "peer= traceId=", inbound.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-a-traceparent")]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")] // version 00 has exactly four fields
    public async Task Access_log_trace_id_is_empty_without_a_valid_traceparent(string? traceParent)
    {
        using HttpClient http = _pqClient.CreateOutboundClient();
        string target = "/log/" + Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://nawal.test" + target);
        if (traceParent is not null)
        {
            request.Headers.TryAddWithoutValidation("traceparent", traceParent);
        }

        using HttpResponseMessage response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AccessLogCapture.Entry outbound = await _logs.WaitForAsync("pq-outbound", target);
        AccessLogCapture.Entry inbound = await _logs.WaitForAsync("pq-inbound", target);
        Assert.Equal("", outbound.TraceId);
        Assert.Equal("", inbound.TraceId);
        Assert.EndsWith(" traceId=", inbound.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("plaintext", null)]
    [InlineData("pq", TraceParent)]
    public async Task Sidecars_create_no_Activity_per_request_although_logging_is_on(string path, string? traceParent)
    {
        using HttpClient http = Client(path).CreateOutboundClient();
        string target = "/log/" + Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://nawal.test" + target);
        if (traceParent is not null)
        {
            request.Headers.TryAddWithoutValidation("traceparent", traceParent);
        }

        using HttpResponseMessage response = await http.SendAsync(request);

        // ASP.NET Core would start one (Microsoft.AspNetCore.Hosting.HttpRequestIn) for every request because its
        // hosting category is enabled; the sidecar turns that category off (about 600 B per request per sidecar).
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null((await _logs.WaitForAsync(path == "pq" ? "pq-outbound" : "plain-outbound", target)).ActivityName);
        Assert.Null((await _logs.WaitForAsync(path == "pq" ? "pq-inbound" : "plain-inbound", target)).ActivityName);
    }
}

/// <summary>Access-log lines of several sidecars, as written (JSON lines), with the Activity current on the request's
/// thread when each line was queued.</summary>
internal sealed class AccessLogCapture
{
    private readonly ConcurrentQueue<Entry> _entries = new();
    private readonly ConcurrentDictionary<(string Sidecar, string Path), string> _activities = new();
    private TaskCompletionSource _added = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public sealed record Entry(string Sidecar, string Message, string Path, string TraceId, string? ActivityName);

    /// <summary>What to give <see cref="Sidecar.StartAsync"/> for <paramref name="sidecar"/>: the access log's output,
    /// its observer, and a logging provider enabled for every category, as the JSON console is in a pod (ASP.NET
    /// Core's request Activity depends on it).</summary>
    public (Stream Output, Action<string> Observer, ILoggerProvider Logging) For(string sidecar)
        => (new LineStream(line => AddLine(sidecar, line)), path => Observed(sidecar, path), new EnabledProvider());

    /// <summary>The access-log line <paramref name="sidecar"/> wrote for <paramref name="path"/>; it is written after
    /// the response, so it may arrive a moment after the client has its answer.</summary>
    public async Task<Entry> WaitForAsync(string sidecar, string path)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            Task added = Volatile.Read(ref _added).Task;
            if (_activities.TryGetValue((sidecar, path), out string? activity))
            {
                foreach (Entry entry in _entries)
                {
                    if (entry.Sidecar == sidecar && entry.Path == path)
                    {
                        return entry with { ActivityName = activity.Length == 0 ? null : activity };
                    }
                }
            }

            await added.WaitAsync(timeout.Token);
        }
    }

    private void AddLine(string sidecar, string line)
    {
        using JsonDocument json = JsonDocument.Parse(line);
        JsonElement state = json.RootElement.GetProperty("State");
        _entries.Enqueue(new Entry(sidecar, json.RootElement.GetProperty("Message").GetString()!, state.GetProperty("Path").GetString()!, state.GetProperty("TraceId").GetString()!, null));
        Changed();
    }

    private void Observed(string sidecar, string path)
    {
        _activities[(sidecar, path)] = Activity.Current?.OperationName ?? "";
        Changed();
    }

    private void Changed() => Interlocked.Exchange(ref _added, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Splits what the access log writes into lines.</summary>
    private sealed class LineStream(Action<string> onLine) : Stream
    {
        private readonly List<byte> _pending = [];

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            foreach (byte b in buffer)
            {
                if (b == (byte)'\n')
                {
                    onLine(System.Text.Encoding.UTF8.GetString([.. _pending]));
                    _pending.Clear();
                }
                else
                {
                    _pending.Add(b);
                }
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private sealed class EnabledProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new EnabledLogger();

        public void Dispose()
        {
        }
    }

    private sealed class EnabledLogger : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
        }
    }
}
