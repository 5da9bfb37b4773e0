using BelizeMesh.Perf.Compare;

namespace BelizeMesh.Perf.Tests;

/// <summary>Reports shaped like a real <c>compare</c> run, with made-up figures.</summary>
internal static class SampleReports
{
    /// <summary>09:15:30 at +02:00, so the run directory (UTC) is 20250314-071530.</summary>
    public static readonly DateTimeOffset StartedAt = new(2025, 3, 14, 9, 15, 30, TimeSpan.FromHours(2));

    public const string RunDirectoryName = "20250314-071530";

    /// <summary>
    /// Five scenarios: four measured (direct, with no proxy figures, so nulls; BelizeMesh PQ and plaintext; nginx)
    /// and HAProxy skipped; two target rates; two cross-checks, one without a p99.
    /// </summary>
    public static CompareReport FiveScenarios() => new()
    {
        StartedAt = StartedAt,
        WallSeconds = 754.2,
        Command = "dotnet run -c Release --project perf/BelizeMesh.Perf -- compare --rates 1000,5000",
        Machine = new MachineInfo
        {
            Cpu = "AMD EPYC 7B13 64-Core Processor",
            Cores = 2,
            MemoryGiB = 7.75,
            Os = "Debian GNU/Linux 13 (trixie)",
            DotNet = "10.0.1",
            Tools = new Dictionary<string, string>
            {
                ["nginx"] = "nginx version: nginx/1.26.3",
                ["wrk"] = "wrk 4.2.0 [epoll] Copyright (C) 2012 Will Glozer",
                ["openssl"] = "OpenSSL 3.5.1 1 Jul 2025",
            },
        },
        Settings = new CompareSettings
        {
            Quick = false,
            Protocol = "http1",
            Concurrency = 64,
            ThroughputSeconds = 10,
            Rates = [1000, 5000],
            LatencySeconds = 10,
            LatencyRounds = 3,
            Repeats = 3,
            WarmupSeconds = 3,
            ResponseBytes = 1024,
        },
        Scenarios =
        [
            Scenario("direct", "Direct to the app", "The load generator straight to the app: the floor.",
                rps: 41234.5, p50: 0.1421, cpu: null, peak: null, idle: null, processes: 0, errors: 0),
            Scenario("belizemesh-pq", "BelizeMesh, 2 hops, PQ channel", "Two sidecars; ML-KEM-768 + ML-DSA-65 channel between them.",
                rps: 12345.6, p50: 0.41234, cpu: 0.4123, peak: 96.25, idle: 41.5, processes: 2, errors: 3),
            Scenario("belizemesh-plain", "BelizeMesh, 2 hops, plaintext", "Two sidecars, plaintext between them.",
                rps: 15877.2, p50: 0.3307, cpu: 0.3012, peak: 88.1, idle: 40.25, processes: 2, errors: 0),
            Scenario("nginx-tls", "nginx, 2 hops, TLS 1.3", "Two nginx reverse proxies, TLS 1.3 between them.",
                rps: 18811.9, p50: 0.2519, cpu: 0.1187, peak: 14.6, idle: 9.75, processes: 4, errors: 0),
        ],
        Skipped = [new SkippedScenario("haproxy-tls", "HAProxy, 2 hops, TLS 1.3", "haproxy not found on PATH")],
        CrossChecks =
        [
            new CrossCheck
            {
                ScenarioId = "direct",
                Tool = "wrk",
                CommandLine = "wrk -t2 -c64 -d10s --latency http://127.0.0.1:18080/",
                Rps = 43012.7,
                OursRps = 41234.5,
                P99Ms = null,
            },
            new CrossCheck
            {
                ScenarioId = "nginx-tls",
                Tool = "h2load",
                CommandLine = "h2load -c64 -D10 --h1 http://127.0.0.1:18443/",
                Rps = 18102.3,
                OursRps = 18811.9,
                P99Ms = 9.87,
            },
        ],
    };

    /// <summary>A measured scenario with figures scaled from <paramref name="rps"/> and <paramref name="p50"/>.</summary>
    public static ScenarioResult Scenario(string id, string name, string description, double rps, double p50,
        double? cpu, double? peak, double? idle, int processes, long errors) => new()
        {
            Id = id,
            Name = name,
            Description = description,
            Throughput = new ThroughputResult
            {
                Repeats = [rps * 0.97, rps, rps * 1.02],
                MedianRps = rps,
                MinRps = rps * 0.97,
                MaxRps = rps * 1.02,
                Requests = (long)(rps * 30),
                Errors = errors,
                Percentiles = new LatencyPercentiles(p50 * 20, p50 * 31, p50 * 55, p50 * 80, p50 * 140, p50 * 22),
            },
            Latency = [Latency(1000, p50, errors), Latency(5000, p50 * 1.3, 0)],
            CpuSecondsPer1000Requests = cpu,
            PeakRssMiB = peak,
            IdleRssMiB = idle,
            ProxyProcesses = processes,
            Errors = errors,
        };

    public static LatencyResult Latency(int rate, double p50, long errors) => new()
    {
        TargetRps = rate,
        AchievedRps = rate * 0.9993,
        Requests = rate * 10,
        Errors = errors,
        Percentiles = new LatencyPercentiles(p50, p50 * 1.6, p50 * 3.1, p50 * 5.7, p50 * 12.4, p50 * 1.2),
        RoundP99Ms = [p50 * 2.9, p50 * 3.1, p50 * 3.4],
        Curve =
        [
            new(50, p50), new(75, p50 * 1.3), new(90, p50 * 1.6), new(95, p50 * 2.0), new(99, p50 * 3.1),
            new(99.5, p50 * 3.9), new(99.9, p50 * 5.7), new(99.95, p50 * 6.8), new(99.99, p50 * 9.1), new(100, p50 * 12.4),
        ],
    };
}
