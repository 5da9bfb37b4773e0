using System.Globalization;
using System.Net;

namespace BelizeMesh.Perf.Load;

/// <summary>
/// <c>load</c>: the harness's load generator on its own, against any HTTP/1.1 server, in the manner of wrk (closed
/// loop) or wrk2 (open loop with <c>--rate</c>):
/// <c>load --target 127.0.0.1:8080 [--host H] [--path /] [-c 64] [-d 10] [-n N] [--rate R] [--h2]</c>.
/// </summary>
internal static class LoadCommand
{
    public static int Run(string[] args)
    {
        IPEndPoint? target = null;
        string host = "localhost", path = "/";
        int connections = 64;
        double seconds = 10;
        int? rate = null;
        long? maxRequests = null;
        bool h2 = false;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--target": target = IPEndPoint.Parse(Value()); break;
                    case "--host": host = Value(); break;
                    case "--path": path = Value(); break;
                    case "-c": connections = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "-d": seconds = double.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "-n": maxRequests = long.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--rate": rate = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                    case "--h2": h2 = true; break;
                    default: throw new ArgumentException($"unknown option '{args[i]}'");
                }
            }

            if (target is null)
            {
                throw new ArgumentException("--target ADDRESS:PORT is required");
            }

            if (maxRequests is <= 0 || (maxRequests is not null && rate is not null))
            {
                throw new ArgumentException("-n takes a positive request count and applies to the closed loop only (open loop sends rate × duration)");
            }
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException)
        {
            Console.Error.WriteLine($"load: {ex.Message}\nusage: load --target 127.0.0.1:8080 [--host H] [--path /] [-c 64] [-d 10] [-n N] [--rate R] [--h2]\n  -c: connections (HTTP/1.1) or concurrent streams (--h2: h2c with prior knowledge)\n  -n: closed loop: stop after N requests (or -d seconds, whichever comes first)\n  BELIZEMESH_LOAD_DUMP=FILE: open loop (HTTP/1.1): append every request's due, sent and done times (µs) to FILE (perf/stall-clusters.py reads it)");
            return 64;
        }

        var loadTarget = new LoadTarget(target, host, path);
        LoadResult result = h2
            ? (rate is { } r2
                ? Http2LoadGenerator.OpenLoopAsync(loadTarget, r2, connections, TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(5), CancellationToken.None)
                : Http2LoadGenerator.ClosedLoopAsync(loadTarget, connections, TimeSpan.FromSeconds(seconds), CancellationToken.None, maxRequests)).GetAwaiter().GetResult()
            : rate is { } r
            ? LoadGenerator.OpenLoopAsync(loadTarget, r, connections, TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(5), CancellationToken.None).GetAwaiter().GetResult()
            : LoadGenerator.ClosedLoopAsync(loadTarget, connections, TimeSpan.FromSeconds(seconds), CancellationToken.None, maxRequests).GetAwaiter().GetResult();
        LatencyHistogram h = result.Latency;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{(h2 ? "HTTP/2 (h2c), " : "HTTP/1.1, ")}{(rate is null ? "closed loop" : $"open loop at {rate} req/s")}, {connections} {(h2 ? "streams" : "connections")}, {result.Elapsed.TotalSeconds:0.0} s: " +
            $"{result.RequestsPerSecond:N0} req/s, {result.Requests:N0} requests, {result.Errors:N0} errors{(result.FirstError is null ? "" : $" (first: {result.FirstError})")}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"latency ms: p50 {h.PercentileMilliseconds(50):0.###}  p90 {h.PercentileMilliseconds(90):0.###}  p99 {h.PercentileMilliseconds(99):0.###}  p99.9 {h.PercentileMilliseconds(99.9):0.###}  max {h.PercentileMilliseconds(100):0.###}"));
        return result.Errors > 0 ? 1 : 0;
    }
}
