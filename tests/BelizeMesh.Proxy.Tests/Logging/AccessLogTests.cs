using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using BelizeMesh.Proxy.Hosting;
using BelizeMesh.Proxy.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace BelizeMesh.Proxy.Tests.Logging;

public sealed class AccessLogTests
{
    private static readonly DateTimeOffset s_now = new(2026, 12, 4, 6, 12, 46, 39, TimeSpan.Zero);

    private static void WriteLine(AccessLog log, string path = "/", string traceId = "4bf92f3577b34da6a3ce929d0e0e4736")
        => log.Write("outbound", "GET", "nawal.test", path, "HTTP/1.1", 200, "nawal.test", 46.68441234, "", traceId);

    [Fact]
    public void Line_is_one_json_object_with_the_documented_fields()
    {
        var output = new CaptureStream();
        using (var log = new AccessLog(output, new FixedTime(s_now)))
        {
            log.Write("inbound", "POST", "app.test:8080", "/a/b", "HTTP/2", 403, "inbound", 1.5, "spiffe://cluster.local/ns/x/sa/y", "4bf92f3577b34da6a3ce929d0e0e4736");
        }

        string line = Assert.Single(output.Lines());
        using JsonDocument json = JsonDocument.Parse(line);
        JsonElement root = json.RootElement;
        Assert.Equal("2026-12-04T06:12:46.039Z", root.GetProperty("Timestamp").GetString());
        Assert.Equal(300, root.GetProperty("EventId").GetInt32());
        Assert.Equal("Information", root.GetProperty("LogLevel").GetString());
        Assert.Equal("BelizeMesh.Proxy.AccessLog", root.GetProperty("Category").GetString());
        Assert.Equal("inbound POST app.test:8080 /a/b HTTP/2 403 route=inbound 1.5ms peer=spiffe://cluster.local/ns/x/sa/y traceId=4bf92f3577b34da6a3ce929d0e0e4736",
            root.GetProperty("Message").GetString());
        JsonElement state = root.GetProperty("State");
        Assert.Equal("inbound", state.GetProperty("Direction").GetString());
        Assert.Equal("POST", state.GetProperty("Method").GetString());
        Assert.Equal("app.test:8080", state.GetProperty("Host").GetString());
        Assert.Equal("/a/b", state.GetProperty("Path").GetString());
        Assert.Equal("HTTP/2", state.GetProperty("Protocol").GetString());
        Assert.Equal(403, state.GetProperty("Status").GetInt32());
        Assert.Equal("inbound", state.GetProperty("Route").GetString());
        Assert.Equal(1.5, state.GetProperty("DurationMs").GetDouble());
        Assert.Equal("spiffe://cluster.local/ns/x/sa/y", state.GetProperty("Peer").GetString());
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", state.GetProperty("TraceId").GetString());
    }

    [Fact]
    public void Timestamp_is_utc_with_milliseconds_and_zero_padded_fields()
    {
        var output = new CaptureStream();
        using (var log = new AccessLog(output, new FixedTime(new DateTimeOffset(2027, 1, 2, 5, 4, 5, 6, TimeSpan.FromHours(2)))))
        {
            WriteLine(log);
        }

        using JsonDocument json = JsonDocument.Parse(Assert.Single(output.Lines()));
        Assert.Equal("2027-01-02T03:04:05.006Z", json.RootElement.GetProperty("Timestamp").GetString());
    }

    [Theory]
    [InlineData("/say \"hi\"\\there")]
    [InlineData("/tab\there\nnewline")]
    [InlineData("/caf\u00e9/\u65e5\u672c/<script>&'+")]
    [InlineData("/lone-\ud800-surrogate")]
    public void Path_with_quotes_control_and_non_ascii_characters_stays_one_valid_json_line(string path)
    {
        var output = new CaptureStream();
        using (var log = new AccessLog(output, new FixedTime(s_now)))
        {
            WriteLine(log, path);
        }

        string line = Assert.Single(output.Lines());
        using JsonDocument json = JsonDocument.Parse(line);
        string expected = path.Replace("\ud800", "\ufffd", StringComparison.Ordinal);
        Assert.Equal(expected, json.RootElement.GetProperty("State").GetProperty("Path").GetString());
        Assert.Contains(" " + expected + " HTTP/1.1 200 ", json.RootElement.GetProperty("Message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Lines_from_many_threads_arrive_whole_and_once_or_are_counted_as_dropped()
    {
        const int threads = 8, perThread = 3000;
        var output = new CaptureStream();
        var log = new AccessLog(output, new FixedTime(s_now));
        using (log)
        {
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                for (int i = 0; i < perThread; i++)
                {
                    WriteLine(log, $"/t{t}/{i}");
                }
            });
        }

        var seen = new HashSet<string>();
        foreach (string line in output.Lines())
        {
            using JsonDocument json = JsonDocument.Parse(line);
            Assert.True(seen.Add(json.RootElement.GetProperty("State").GetProperty("Path").GetString()!));
        }

        // Eight threads writing as fast as they can may outrun the writer's 1 MiB; what is not written is counted.
        Assert.Equal(log.Written, seen.Count);
        Assert.Equal(threads * perThread, log.Written + log.Dropped);
        Assert.True(log.Written >= AccessLog.MaxQueuedBlocks, $"only {log.Written} lines written");
        Assert.True(output.Writes < threads * perThread / 10, $"{output.Writes} writes for {threads * perThread} lines: lines are not batched");
    }

    [Fact]
    public void Line_longer_than_a_block_is_written_whole()
    {
        string path = "/" + new string('a', AccessLog.BlockSize + 1000);
        var output = new CaptureStream();
        using (var log = new AccessLog(output, new FixedTime(s_now)))
        {
            WriteLine(log, "/before");
            WriteLine(log, path);
            WriteLine(log, "/after");
        }

        List<string> paths = output.Lines().Select(l => JsonDocument.Parse(l).RootElement.GetProperty("State").GetProperty("Path").GetString()!).ToList();
        Assert.Equal(["/before", path, "/after"], paths);
    }

    [Fact]
    public async Task Line_queued_on_a_quiet_sidecar_is_written_without_waiting_for_more()
    {
        var output = new CaptureStream();
        using var log = new AccessLog(output, new FixedTime(s_now));

        WriteLine(log, "/only");

        await output.FirstLine.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("\"Path\":\"/only\"", Assert.Single(output.Lines()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stalled_output_drops_lines_and_counts_them_instead_of_blocking_requests()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var exporter = new PrometheusExporter(services.GetRequiredService<IMeterFactory>());
        var output = new CaptureStream();
        output.Gate.Reset(); // stdout stops draining
        const int lines = 10_000; // ~3 MB of lines against the 1 MiB the writer may hold
        var log = new AccessLog(output, new FixedTime(s_now), services.GetRequiredService<IMeterFactory>());
        try
        {
            // Every Write returns although nothing can be written (a hang here would be the bug).
            await Task.Run(() =>
            {
                for (int i = 0; i < lines; i++)
                {
                    WriteLine(log, $"/{i}/" + new string('p', 200));
                }
            }).WaitAsync(TimeSpan.FromSeconds(30));

            Assert.True(log.Dropped > 0, "nothing was dropped");
            Assert.Contains($"belizemesh_proxy_access_log_dropped_lines_total {log.Dropped}", exporter.Render(), StringComparison.Ordinal);
        }
        finally
        {
            output.Gate.Set();
            log.Dispose();
        }

        Assert.Equal(lines, log.Written + log.Dropped);
        Assert.Equal(log.Written, output.Lines().Count);
    }

    /// <summary>Collects what is written (waiting on <see cref="Gate"/> first, to play a stdout that stopped draining).</summary>
    private sealed class CaptureStream : Stream
    {
        private readonly MemoryStream _bytes = new();

        public ManualResetEventSlim Gate { get; } = new(true);

        public TaskCompletionSource FirstLine { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Writes { get; private set; }

        public List<string> Lines()
        {
            lock (_bytes)
            {
                return Encoding.UTF8.GetString(_bytes.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
            }
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Gate.Wait();
            lock (_bytes)
            {
                Writes++;
                _bytes.Write(buffer, offset, count);
            }

            FirstLine.TrySetResult();
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
