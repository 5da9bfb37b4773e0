using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace BelizeMesh.Perf.Load;

/// <summary>Where and what to request.</summary>
internal sealed record LoadTarget(IPEndPoint EndPoint, string Host, string Path)
{
    /// <summary>The encoded GET, made when a connection is opened (not cached: a <c>with</c> copy that changes the
    /// path would otherwise keep the old bytes).</summary>
    public byte[] Request => Http1Connection.EncodeGet(Host, Path);
}

/// <summary>What one load run measured. <see cref="Errors"/> counts non-2xx responses, broken connections and,
/// in open loop, requests still unanswered when the run ended.</summary>
/// <summary>How many more requests a closed-loop run may send: unlimited, or a count shared by its workers.</summary>
internal sealed class RequestBudget(long? limit)
{
    private long _remaining = limit ?? long.MaxValue;
    private readonly bool _limited = limit is not null;

    /// <summary>Takes one request from the budget; false once it is spent.</summary>
    public bool TryTake() => !_limited || Interlocked.Decrement(ref _remaining) >= 0;
}

internal sealed record LoadResult(long Requests, long Errors, TimeSpan Elapsed, LatencyHistogram Latency, string? FirstError)
{
    public double RequestsPerSecond => Requests / Elapsed.TotalSeconds;
}

/// <summary>
/// The harness's own HTTP/1.1 keep-alive load generator.
/// <list type="bullet">
/// <item><b>Closed loop</b> (<see cref="ClosedLoopAsync"/>): a fixed number of connections, each sending its next
/// request as soon as the previous response is in: maximum throughput at that concurrency.</item>
/// <item><b>Open loop</b> (<see cref="OpenLoopAsync"/>): requests are due at a fixed rate whether or not the
/// server keeps up (as wrk2 does). A scheduler thread hands each due request to an idle connection; when none is
/// idle the request waits in a queue; latency is measured from the request's <i>intended</i> send time, so a server
/// stall shows up in every request it delayed, not just the one it stalled (no coordinated omission).</item>
/// </list>
/// </summary>
internal static partial class LoadGenerator
{
    /// <summary>Closed loop over <paramref name="connections"/> connections until <paramref name="duration"/> has
    /// passed or, when <paramref name="maxRequests"/> is given, that many requests have been sent (as
    /// <c>h2load -n</c>), whichever comes first.</summary>
    public static async Task<LoadResult> ClosedLoopAsync(LoadTarget target, int connections, TimeSpan duration, CancellationToken cancellationToken, long? maxRequests = null)
    {
        var workers = new Task<WorkerResult>[connections];
        var budget = new RequestBudget(maxRequests);
        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        for (int i = 0; i < connections; i++)
        {
            workers[i] = Task.Run(() => ClosedWorkerAsync(target, end, budget, cancellationToken), cancellationToken);
        }

        WorkerResult[] results = await Task.WhenAll(workers).ConfigureAwait(false);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        var histogram = new LatencyHistogram();
        long requests = 0, errors = 0;
        string? firstError = null;
        foreach (WorkerResult result in results)
        {
            histogram.Add(result.Latency);
            requests += result.Requests;
            errors += result.Errors;
            firstError ??= result.FirstError;
        }

        return new LoadResult(requests, errors, elapsed, histogram, firstError);
    }

    private sealed record WorkerResult(long Requests, long Errors, LatencyHistogram Latency, string? FirstError);

    private static async Task<WorkerResult> ClosedWorkerAsync(LoadTarget target, long end, RequestBudget budget, CancellationToken cancellationToken)
    {
        var histogram = new LatencyHistogram();
        long requests = 0, errors = 0;
        string? firstError = null;
        Http1Connection? connection = null;
        try
        {
            while (Stopwatch.GetTimestamp() < end && !cancellationToken.IsCancellationRequested && budget.TryTake())
            {
                long sent = Stopwatch.GetTimestamp();
                try
                {
                    connection ??= await Http1Connection.ConnectAsync(target.EndPoint, target.Request, cancellationToken).ConfigureAwait(false);
                    await connection.SendAsync(cancellationToken).ConfigureAwait(false);
                    int status = await connection.ReadResponseAsync(cancellationToken).ConfigureAwait(false);
                    histogram.RecordSince(sent);
                    requests++;
                    if (status is < 200 or >= 400)
                    {
                        errors++;
                        firstError ??= $"HTTP {status}";
                    }

                    if (connection.Closed)
                    {
                        connection.Dispose();
                        connection = null;
                    }
                }
                catch (Exception ex) when (ex is IOException or SocketException)
                {
                    requests++;
                    errors++;
                    firstError ??= ex.Message;
                    connection?.Dispose();
                    connection = null;

                    // A refused or reset connection fails fast; do not spin at full speed on it.
                    await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            connection?.Dispose();
        }

        return new WorkerResult(requests, errors, histogram, firstError);
    }

    /// <summary>Open loop at <paramref name="ratePerSecond"/> for <paramref name="duration"/> over at most
    /// <paramref name="connections"/> keep-alive connections. After the last request is due, waits up to
    /// <paramref name="drain"/> for the answers still outstanding; those that never come count as errors.</summary>
    public static async Task<LoadResult> OpenLoopAsync(LoadTarget target, int ratePerSecond, int connections, TimeSpan duration, TimeSpan drain, CancellationToken cancellationToken)
    {
        var run = new OpenLoopRun(target, connections);
        await run.ConnectAsync(cancellationToken).ConfigureAwait(false);
        long start = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 100);      // 10 ms to let the workers park
        long count = (long)(ratePerSecond * duration.TotalSeconds);
        double interval = (double)Stopwatch.Frequency / ratePerSecond;

        var scheduler = new Thread(() => run.Schedule(start, interval, count)) { IsBackground = true, Name = "open-loop scheduler", Priority = ThreadPriority.AboveNormal };
        scheduler.Start();
        await Task.Run(scheduler.Join, CancellationToken.None).ConfigureAwait(false);

        // Every request is due by now; wait for the answers (bounded).
        long drainEnd = Stopwatch.GetTimestamp() + (long)(drain.TotalSeconds * Stopwatch.Frequency);
        while (run.Completed < count && Stopwatch.GetTimestamp() < drainEnd && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(5, CancellationToken.None).ConfigureAwait(false);
        }

        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        LoadResult finished = run.Finish(count, elapsed);
        RequestDump.Write();
        return finished;
    }

    /// <summary>Lets this thread's timed sleeps wake within microseconds instead of the default 50 µs slack.</summary>
    internal static void ReduceTimerSlack()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                _ = Prctl(PrSetTimerSlack, 1, 0, 0, 0);
            }
            catch (DllNotFoundException)
            {
            }
            catch (EntryPointNotFoundException)
            {
            }
        }
    }

    private const int PrSetTimerSlack = 29;

    [LibraryImport("libc", EntryPoint = "prctl")]
    private static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "usleep")]
    private static partial int USleep(uint microseconds);

    /// <summary>Sleeps until the Stopwatch timestamp <paramref name="due"/>: a timed sleep for the bulk of the wait
    /// and a short spin for the last tens of microseconds.</summary>
    internal static void SleepUntil(long due)
    {
        while (true)
        {
            long remaining = due - Stopwatch.GetTimestamp();
            if (remaining <= 0)
            {
                return;
            }

            double microseconds = remaining * 1e6 / Stopwatch.Frequency;
            if (microseconds > 30)
            {
                if (OperatingSystem.IsLinux())
                {
                    _ = USleep((uint)Math.Min(microseconds - 20, 100_000));
                }
                else
                {
                    Thread.Sleep(TimeSpan.FromMicroseconds(microseconds - 20));
                }
            }
            else
            {
                Thread.SpinWait(20);
            }
        }
    }

    private sealed class OpenLoopRun(LoadTarget target, int connectionCount)
    {
        private readonly Lock _gate = new();
        private readonly Stack<OpenConnection> _idle = new();
        private readonly Queue<long> _waiting = new();
        private readonly List<OpenConnection> _all = [];
        private long _completed;

        public long Completed => Volatile.Read(ref _completed);

        public async Task ConnectAsync(CancellationToken cancellationToken)
        {
            for (int i = 0; i < connectionCount; i++)
            {
                var connection = new OpenConnection(this, target);
                await connection.ConnectAsync(cancellationToken).ConfigureAwait(false);
                _all.Add(connection);
                _idle.Push(connection);
            }
        }

        public void Schedule(long start, double interval, long count)
        {
            ReduceTimerSlack();
            for (long i = 0; i < count; i++)
            {
                long due = start + (long)(i * interval);
                SleepUntil(due);
                OpenConnection? connection;
                lock (_gate)
                {
                    if (!_idle.TryPop(out connection))
                    {
                        _waiting.Enqueue(due);
                        continue;
                    }
                }

                connection.Start(due);
            }
        }

        /// <summary>Called by a connection when its response is in: the next waiting request, or park.</summary>
        public bool TryTakeWaiting(OpenConnection connection, out long due)
        {
            Interlocked.Increment(ref _completed);
            lock (_gate)
            {
                if (_waiting.TryDequeue(out due))
                {
                    return true;
                }

                _idle.Push(connection);
                return false;
            }
        }

        public LoadResult Finish(long count, TimeSpan elapsed)
        {
            var histogram = new LatencyHistogram();
            long requests = 0, errors = 0;
            string? firstError = null;
            foreach (OpenConnection connection in _all)
            {
                connection.Stop();
                histogram.Add(connection.Latency);
                requests += connection.Requests;
                errors += connection.Errors;
                firstError ??= connection.FirstError;
            }

            long unanswered = count - requests;
            if (unanswered > 0)
            {
                errors += unanswered;
                requests += unanswered;
                firstError ??= $"{unanswered} request(s) unanswered when the run ended";
            }

            return new LoadResult(requests, errors, elapsed, histogram, firstError);
        }
    }

    /// <summary>A connection of the open loop: the scheduler sends on it; its own receive loop records each answer
    /// against the request's intended time and takes the next waiting request, if any.</summary>
    private sealed class OpenConnection(OpenLoopRun run, LoadTarget target)
    {
        private readonly CancellationTokenSource _stop = new();
        private Http1Connection? _connection;
        private long _due;
        private long _sent;
        private volatile bool _busy;

        public LatencyHistogram Latency { get; } = new();

        public long Requests;

        public long Errors;

        public string? FirstError;

        public async Task ConnectAsync(CancellationToken cancellationToken)
        {
            _connection = await Http1Connection.ConnectAsync(target.EndPoint, target.Request, cancellationToken).ConfigureAwait(false);
            _ = Task.Run(ReceiveLoopAsync);
        }

        /// <summary>Sends the request due at <paramref name="due"/> (on the caller's thread).</summary>
        public void Start(long due)
        {
            Volatile.Write(ref _due, due);
            _sent = Stopwatch.GetTimestamp();
            _busy = true;
            try
            {
                _connection!.Send();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // The receive loop sees the broken socket and counts the failure.
                FirstError ??= ex.Message;
            }
        }

        public void Stop()
        {
            _stop.Cancel();
            _connection?.Dispose();
        }

        private async Task ReceiveLoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    int status = await _connection!.ReadResponseAsync(_stop.Token).ConfigureAwait(false);
                    Latency.RecordSince(Volatile.Read(ref _due));
                    RequestDump.Add(Volatile.Read(ref _due), _sent, Stopwatch.GetTimestamp());
                    _busy = false;
                    Requests++;
                    if (status is < 200 or >= 400)
                    {
                        Errors++;
                        FirstError ??= $"HTTP {status}";
                    }

                    if (_connection.Closed)
                    {
                        await ReconnectAsync().ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
                {
                    if (_stop.IsCancellationRequested)
                    {
                        return;
                    }

                    await ReconnectAsync().ConfigureAwait(false);
                    if (!_busy)
                    {
                        // An idle keep-alive connection closed by the server: no request was lost; stay idle.
                        continue;
                    }

                    _busy = false;
                    Requests++;
                    Errors++;
                    FirstError ??= ex.Message;
                }

                if (run.TryTakeWaiting(this, out long next))
                {
                    Start(next);
                }
            }
        }

        private async Task ReconnectAsync()
        {
            _connection?.Dispose();
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    _connection = await Http1Connection.ConnectAsync(target.EndPoint, target.Request, _stop.Token).ConfigureAwait(false);
                    return;
                }
                catch (SocketException)
                {
                    await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
