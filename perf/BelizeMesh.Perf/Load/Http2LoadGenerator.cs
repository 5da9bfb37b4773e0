using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace BelizeMesh.Perf.Load;

/// <summary>
/// HTTP/2 load (h2c with prior knowledge, as the sidecar's outbound listener accepts it) through .NET's
/// <see cref="SocketsHttpHandler"/>: one connection carries up to the server's stream limit (more connections open
/// only beyond it), as <c>h2load -c1 -m&lt;streams&gt;</c>. Closed loop: <c>streams</c> requests always in flight.
/// Open loop: requests due at a fixed rate with at most <c>streams</c> in flight, the rest waiting in a queue, latency
/// from the intended send time. Heavier per request than the raw-socket HTTP/1.1 generator (HttpClient allocates
/// per request), so its ceiling is lower; use it for latency and for HTTP/2-specific behaviour.
/// </summary>
internal static class Http2LoadGenerator
{
    public static HttpMessageInvoker CreateClient() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        ActivityHeadersPropagator = null,
        EnableMultipleHttp2Connections = true,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    });

    private static async Task<int> SendAsync(HttpMessageInvoker client, LoadTarget target, Uri uri, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.Host = target.Host;
        using HttpResponseMessage response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
        await response.Content.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
        return (int)response.StatusCode;
    }

    private static Uri UriOf(LoadTarget target) => new($"http://{target.EndPoint}{target.Path}");

    /// <summary>Closed loop with <paramref name="streams"/> requests in flight until <paramref name="duration"/> has
    /// passed or <paramref name="maxRequests"/> (when given) have been sent.</summary>
    public static async Task<LoadResult> ClosedLoopAsync(LoadTarget target, int streams, TimeSpan duration, CancellationToken cancellationToken, long? maxRequests = null)
    {
        using HttpMessageInvoker client = CreateClient();
        var budget = new RequestBudget(maxRequests);
        Uri uri = UriOf(target);
        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var histograms = new LatencyHistogram[streams];
        long requests = 0, errors = 0;
        string? firstError = null;
        await Task.WhenAll(Enumerable.Range(0, streams).Select(i => Task.Run(async () =>
        {
            var histogram = histograms[i] = new LatencyHistogram();
            while (Stopwatch.GetTimestamp() < end && !cancellationToken.IsCancellationRequested && budget.TryTake())
            {
                long sent = Stopwatch.GetTimestamp();
                try
                {
                    int status = await SendAsync(client, target, uri, cancellationToken).ConfigureAwait(false);
                    histogram.RecordSince(sent);
                    Interlocked.Increment(ref requests);
                    if (status is < 200 or >= 400)
                    {
                        Interlocked.Increment(ref errors);
                        Interlocked.CompareExchange(ref firstError, $"HTTP {status}", null);
                    }
                }
                catch (HttpRequestException ex)
                {
                    Interlocked.Increment(ref requests);
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, ex.Message, null);
                    await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }, cancellationToken))).ConfigureAwait(false);
        var merged = new LatencyHistogram();
        foreach (LatencyHistogram h in histograms)
        {
            merged.Add(h);
        }

        return new LoadResult(requests, errors, Stopwatch.GetElapsedTime(start), merged, firstError);
    }

    public static async Task<LoadResult> OpenLoopAsync(LoadTarget target, int ratePerSecond, int streams, TimeSpan duration, TimeSpan drain, CancellationToken cancellationToken)
    {
        using HttpMessageInvoker client = CreateClient();
        Uri uri = UriOf(target);

        // One request first so the connection (and the server's SETTINGS) exist before the clock starts.
        try
        {
            await SendAsync(client, target, uri, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException)
        {
        }

        var gate = new Lock();
        var waiting = new Queue<long>();
        var histogram = new LatencyHistogram();
        int inFlight = 0;
        long completed = 0, errors = 0;
        string? firstError = null;
        long count = (long)(ratePerSecond * duration.TotalSeconds);

        async Task RunAsync(long due)
        {
            while (true)
            {
                try
                {
                    int status = await SendAsync(client, target, uri, cancellationToken).ConfigureAwait(false);
                    lock (gate)
                    {
                        histogram.RecordSince(due);
                        if (status is < 200 or >= 400)
                        {
                            errors++;
                            firstError ??= $"HTTP {status}";
                        }
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
                {
                    lock (gate)
                    {
                        errors++;
                        firstError ??= ex.Message;
                    }
                }

                Interlocked.Increment(ref completed);
                lock (gate)
                {
                    if (!waiting.TryDequeue(out due))
                    {
                        inFlight--;
                        return;
                    }
                }
            }
        }

        long start = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 100);
        double interval = (double)Stopwatch.Frequency / ratePerSecond;
        var scheduler = new Thread(() =>
        {
            LoadGenerator.ReduceTimerSlack();
            for (long i = 0; i < count; i++)
            {
                long due = start + (long)(i * interval);
                LoadGenerator.SleepUntil(due);
                lock (gate)
                {
                    if (inFlight >= streams)
                    {
                        waiting.Enqueue(due);
                        continue;
                    }

                    inFlight++;
                }

                _ = Task.Run(() => RunAsync(due), CancellationToken.None);
            }
        }) { IsBackground = true, Name = "h2 open-loop scheduler" };
        scheduler.Start();
        await Task.Run(scheduler.Join, CancellationToken.None).ConfigureAwait(false);

        long drainEnd = Stopwatch.GetTimestamp() + (long)(drain.TotalSeconds * Stopwatch.Frequency);
        while (Interlocked.Read(ref completed) < count && Stopwatch.GetTimestamp() < drainEnd)
        {
            await Task.Delay(5, CancellationToken.None).ConfigureAwait(false);
        }

        lock (gate)
        {
            long unanswered = count - Interlocked.Read(ref completed);
            if (unanswered > 0)
            {
                errors += unanswered;
                firstError ??= $"{unanswered} request(s) unanswered when the run ended";
            }

            return new LoadResult(count, errors, Stopwatch.GetElapsedTime(start), histogram, firstError);
        }
    }
}
