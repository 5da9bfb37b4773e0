using BelizeMesh.Perf.Compare;

namespace BelizeMesh.Perf;

public static partial class Program
{
    static partial void RegisterCompare(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands)
    {
        commands["compare"] = (
            "Direct vs BelizeMesh (PQ and plaintext) vs nginx vs HAProxy, two hops each: throughput, latency, CPU, memory. [--quick] (see compare --help)",
            args => args.Contains("--help") ? Help() : CompareCommand.Run(args));
        commands["handshake-servers"] = (
            "Full handshakes/s and server CPU per handshake, a new connection per request: belizemesh-proxy bm1 vs nginx and HAProxy TLS 1.3 (mutual, no resumption); --proxy NAME=PATH (repeatable) and --rounds N alternate builds in one run. [--quick] [--seconds S] [--concurrency C] [--rounds N] [--proxy [NAME=]PATH]... [--no-peers]",
            HandshakeServers.Run);
        commands["handshake-flood"] = (
            "A replayed-ClientHello flood from 127.0.0.1 against a STRICT sidecar, default limits vs none: server CPU and bytes per hello, and a legitimate caller's handshakes from 127.0.0.2 during it. [--seconds S] [--flooders N]",
            HandshakeFlood.Run);
        commands["footprint"] = (
            "One sidecar's start-up and memory: exec to ready (median of 10), idle RSS, KiB per idle PQ channel (10,000), memory returned after 4,000 half-open handshakes; --env NAME=VALUE[,…] adds a GC/allocator setting to compare. [--channels N] [--burst N] [--starts N] [--settle S: also measure the channels after S s idle] [--proxy PATH]",
            Footprint.Run);
        commands["cpus"] = (
            "Each CPU's speed on a fixed loop, one pinned thread per CPU, every --interval S (default 5) for --seconds S (default 0: once): shows a vCPU the host is slowing (perf/README.md, \"the vCPUs\"). [--seconds S] [--interval S]",
            CpusCommand);
        commands["load"] = ("The harness's load generator alone: load --target IP:PORT [--host H] [-c 64] [-d 10] [--rate R] [--h2].", Load.LoadCommand.Run);
        commands["app"] = ("The benchmark app that compare starts: app --port N [--bytes B].", BenchApp.Run);
    }

    private static int CpusCommand(string[] args)
    {
        double seconds = 0, interval = 5;
        for (int i = 0; i < args.Length; i++)
        {
            if (i + 1 < args.Length && args[i] is "--seconds" or "--interval"
                && double.TryParse(args[i + 1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double value) && value >= 0)
            {
                (seconds, interval) = args[i] == "--seconds" ? (value, interval) : (seconds, Math.Max(0.5, value));
                i++;
            }
            else
            {
                Console.Error.WriteLine($"cpus: unknown or invalid argument '{args[i]}' (usage: cpus [--seconds S] [--interval S], S a number ≥ 0)");
                return 64;
            }
        }

        var until = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(seconds * System.Diagnostics.Stopwatch.Frequency);
        do
        {
            Console.WriteLine(CpuSpeed.Measure(DateTimeOffset.UtcNow.ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)));
            if (System.Diagnostics.Stopwatch.GetTimestamp() + (long)(interval * System.Diagnostics.Stopwatch.Frequency) > until)
            {
                break;
            }

            Thread.Sleep(TimeSpan.FromSeconds(interval));
        }
        while (true);
        return 0;
    }

    private static int Help()
    {
        Console.WriteLine(CompareOptions.Usage);
        return 0;
    }
}
