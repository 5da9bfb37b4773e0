using System.Net;
using System.Net.Sockets;
using System.Text;
using BelizeMesh.Perf.Load;

namespace BelizeMesh.Perf.Tests;

/// <summary>The harness's own load generator against tiny scripted HTTP/1.1 servers on 127.0.0.1.</summary>
public sealed class LoadGeneratorTests
{
    /// <summary>A closed-loop run in these tests ends on its request count; the duration is only a backstop, so a slow or
    /// busy machine (CI runs test assemblies side by side on two cores) changes how long a test takes, not its result.</summary>
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    [Fact]
    public void Histogram_percentiles_are_within_one_percent_of_the_exact_values()
    {
        var histogram = new LatencyHistogram();
        var values = new List<long>();
        var random = new Random(42);
        for (int i = 0; i < 100_000; i++)
        {
            // Log-uniform from 1 µs to 10 s.
            long value = (long)Math.Pow(10, 3 + (random.NextDouble() * 7));
            values.Add(value);
            histogram.RecordNanoseconds(value);
        }

        values.Sort();
        foreach (double p in new[] { 50, 90, 99, 99.9 })
        {
            double exact = values[(int)Math.Ceiling(p / 100 * values.Count) - 1] / 1e6;
            double reported = histogram.PercentileMilliseconds(p);
            Assert.InRange(reported, exact * 0.99, exact * 1.01);
        }

        Assert.Equal(values[^1] / 1e6, histogram.PercentileMilliseconds(100));
        Assert.Equal(100_000, histogram.Count);
    }

    [Fact]
    public void Histogram_bucket_indexes_are_monotonic_and_midpoints_fall_inside_their_buckets()
    {
        int previous = -1;
        for (long value = 0; value < 1 << 20; value += 1 + (value / 97))
        {
            int index = LatencyHistogram.IndexOf(value);
            Assert.True(index >= previous, $"index of {value} went down");
            previous = index;
            Assert.InRange(LatencyHistogram.Midpoint(index), value * 0.99 - 1, value * 1.01 + 1);
        }
    }

    [Fact]
    public async Task Closed_loop_counts_every_request_and_every_error_status()
    {
        await using var server = await ScriptedServer.StartAsync(_ => "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy");
        LoadResult result = await LoadGenerator.ClosedLoopAsync(server.Target, connections: 4, Generous, CancellationToken.None, maxRequests: 40);
        Assert.Equal(40, result.Requests);
        Assert.Equal(40, result.Errors);
        Assert.Equal("HTTP 503", result.FirstError);
        Assert.Equal(40, server.Requests);
        Assert.Equal(40, result.Latency.Count);
    }

    [Fact]
    public async Task Closed_loop_reads_chunked_responses_and_reconnects_after_connection_close()
    {
        int n = 0;
        await using var server = await ScriptedServer.StartAsync(_ => Interlocked.Increment(ref n) % 3 == 0
            ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            : "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\n\r\n");
        LoadResult result = await LoadGenerator.ClosedLoopAsync(server.Target, connections: 2, Generous, CancellationToken.None, maxRequests: 30);
        Assert.Equal(30, result.Requests);
        Assert.Equal(0, result.Errors);
        Assert.Equal(30, server.Requests);

        // Every third response closed its connection: ten closes, and each of the first nine was followed by more
        // requests, which needed a new connection. The workers connect lazily, and on a busy machine one worker can send
        // all 30 before the other is scheduled, so the floor is one first connection plus nine reconnects.
        Assert.True(server.Connections >= 10, $"{server.Connections} connections: Connection: close should have made the generator reconnect");
    }

    [Fact]
    public async Task Closed_loop_counts_refused_connections_as_errors()
    {
        // Bound, never listening, and held to the end: connects are refused, and no server started meanwhile by
        // another test can be given this port.
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)probe.LocalEndPoint!).Port;

        var target = new LoadTarget(new IPEndPoint(IPAddress.Loopback, port), "nobody", "/");
        LoadResult result = await LoadGenerator.ClosedLoopAsync(target, connections: 2, Generous, CancellationToken.None, maxRequests: 6);
        Assert.Equal(6, result.Requests);
        Assert.Equal(6, result.Errors);
        Assert.NotNull(result.FirstError);
    }

    [Fact]
    public async Task Open_loop_sends_at_the_target_rate()
    {
        await using var server = await ScriptedServer.StartAsync(_ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        LoadResult result = await LoadGenerator.OpenLoopAsync(server.Target, ratePerSecond: 400, connections: 4, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.Equal(400, result.Requests);
        Assert.Equal(0, result.Errors);
        Assert.Equal(400, server.Requests);
    }

    [Fact]
    public async Task Open_loop_charges_a_server_stall_to_every_request_it_delayed_not_just_one()
    {
        // One connection, a request due every 5 ms, and the server stalls once for 300 ms: about 60 requests were due
        // during the stall and each waited for it. A closed-loop (coordinated-omission) measurement would show one slow
        // request in 200 and a p90 of microseconds; measured from the intended send times the p90 must show the stall.
        int n = 0;
        await using var server = await ScriptedServer.StartAsync(
            _ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            delay: _ => Interlocked.Increment(ref n) == 50 ? TimeSpan.FromMilliseconds(300) : TimeSpan.Zero);
        LoadResult result = await LoadGenerator.OpenLoopAsync(server.Target, ratePerSecond: 200, connections: 1, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.Equal(200, result.Requests);
        Assert.Equal(0, result.Errors);
        Assert.True(result.Latency.PercentileMilliseconds(90) > 100, $"p90 {result.Latency.PercentileMilliseconds(90)} ms hides the stall");
        Assert.True(result.Latency.PercentileMilliseconds(100) >= 290);
    }

    [Fact]
    public async Task Open_loop_counts_requests_still_unanswered_at_the_end_as_errors()
    {
        await using var server = await ScriptedServer.StartAsync(
            _ => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            delay: _ => TimeSpan.FromSeconds(30));
        LoadResult result = await LoadGenerator.OpenLoopAsync(server.Target, ratePerSecond: 20, connections: 2, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(200), CancellationToken.None);
        Assert.Equal(10, result.Requests);
        Assert.Equal(10, result.Errors);
    }

    /// <summary>A minimal keep-alive HTTP/1.1 server: answers each request head with a scripted response.</summary>
    private sealed class ScriptedServer : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Func<int, string> _respond;
        private readonly Func<int, TimeSpan> _delay;
        private int _requests;
        private int _connections;

        private ScriptedServer(Func<int, string> respond, Func<int, TimeSpan> delay)
        {
            _respond = respond;
            _delay = delay;
            _listener = new TcpListener(IPAddress.Loopback, 0);
        }

        public LoadTarget Target => new(new IPEndPoint(IPAddress.Loopback, ((IPEndPoint)_listener.LocalEndpoint).Port), "scripted", "/");

        public int Requests => Volatile.Read(ref _requests);

        public int Connections => Volatile.Read(ref _connections);

        public static Task<ScriptedServer> StartAsync(Func<int, string> respond, Func<int, TimeSpan>? delay = null)
        {
            var server = new ScriptedServer(respond, delay ?? (_ => TimeSpan.Zero));
            server._listener.Start();
            _ = server.AcceptLoopAsync();
            return Task.FromResult(server);
        }

        private async Task AcceptLoopAsync()
        {
            try
            {
                while (true)
                {
                    Socket socket = await _listener.AcceptSocketAsync(_stop.Token);
                    Interlocked.Increment(ref _connections);
                    _ = ServeAsync(socket);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task ServeAsync(Socket socket)
        {
            using (socket)
            {
                var buffer = new byte[8192];
                var pending = new StringBuilder();
                try
                {
                    while (true)
                    {
                        int read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                        if (read == 0)
                        {
                            return;
                        }

                        pending.Append(Encoding.ASCII.GetString(buffer, 0, read));
                        int end;
                        while ((end = pending.ToString().IndexOf("\r\n\r\n", StringComparison.Ordinal)) >= 0)
                        {
                            pending.Remove(0, end + 4);
                            int number = Interlocked.Increment(ref _requests);
                            TimeSpan delay = _delay(number);
                            if (delay > TimeSpan.Zero)
                            {
                                await Task.Delay(delay, _stop.Token);
                            }

                            string response = _respond(number);
                            await socket.SendAsync(Encoding.ASCII.GetBytes(response), SocketFlags.None, _stop.Token);
                            if (response.Contains("Connection: close", StringComparison.Ordinal))
                            {
                                socket.Shutdown(SocketShutdown.Both);
                                return;
                            }
                        }
                    }
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                }
            }
        }

        public ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            return ValueTask.CompletedTask;
        }
    }
}
