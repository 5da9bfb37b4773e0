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
        commands["load"] = ("The harness's load generator alone: load --target IP:PORT [--host H] [-c 64] [-d 10] [--rate R] [--h2].", Load.LoadCommand.Run);
        commands["app"] = ("The benchmark app that compare starts: app --port N [--bytes B].", BenchApp.Run);
    }

    private static int Help()
    {
        Console.WriteLine(CompareOptions.Usage);
        return 0;
    }
}
