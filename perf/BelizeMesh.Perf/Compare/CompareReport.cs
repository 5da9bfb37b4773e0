namespace BelizeMesh.Perf.Compare;

/// <summary>
/// Everything one <c>compare</c> run measured: the machine, the settings, and per scenario the figures. This is the
/// schema of <c>report.json</c> in <c>perf/results/&lt;timestamp&gt;/</c>; the Markdown report and the SVG charts are
/// drawn from it and from nothing else. A figure that was not measured is <c>null</c>, never zero.
/// </summary>
internal sealed record CompareReport
{
    public int SchemaVersion { get; init; } = 1;

    public required DateTimeOffset StartedAt { get; init; }

    public required double WallSeconds { get; init; }

    /// <summary>The command line that produced this report, as a user would type it.</summary>
    public required string Command { get; init; }

    public required MachineInfo Machine { get; init; }

    public required CompareSettings Settings { get; init; }

    /// <summary>In the order they ran.</summary>
    public required IReadOnlyList<ScenarioResult> Scenarios { get; init; }

    /// <summary>Scenarios that could not run (a missing tool) and why.</summary>
    public required IReadOnlyList<SkippedScenario> Skipped { get; init; }

    /// <summary>Figures from external load generators (wrk, h2load) run against the same scenarios, to cross-check ours.</summary>
    public required IReadOnlyList<CrossCheck> CrossChecks { get; init; }

    /// <summary>The per-CPU speed probe before the scenarios, before each throughput round and at the end
    /// (<see cref="CpuSpeed"/>); empty in reports written before it existed (the source-generated reader passes null
    /// for a missing property instead of keeping the initialiser).</summary>
    public IReadOnlyList<CpuProbe> CpuProbes { get; init => field = value ?? []; } = [];
}

internal sealed record MachineInfo
{
    public required string Cpu { get; init; }

    public required int Cores { get; init; }

    public required double MemoryGiB { get; init; }

    public required string Os { get; init; }

    public required string DotNet { get; init; }

    /// <summary>Versions of the external tools found (nginx, haproxy, wrk, h2load, openssl), tool name → version line.</summary>
    public required IReadOnlyDictionary<string, string> Tools { get; init; }
}

internal sealed record CompareSettings
{
    public required bool Quick { get; init; }

    /// <summary>"http1" (keep-alive) or "h2" (prior knowledge) between the load generator and the first hop.</summary>
    public required string Protocol { get; init; }

    /// <summary>Open connections of the closed-loop throughput test.</summary>
    public required int Concurrency { get; init; }

    public required double ThroughputSeconds { get; init; }

    /// <summary>Target arrival rates (requests/s) of the open-loop latency tests.</summary>
    public required IReadOnlyList<int> Rates { get; init; }

    /// <summary>Open-loop seconds per scenario and rate, over all <see cref="LatencyRounds"/>.</summary>
    public required double LatencySeconds { get; init; }

    /// <summary>Rounds the open-loop time was split into, interleaved with the other scenarios' (1 in reports from
    /// before the rounds).</summary>
    public int LatencyRounds { get; init; } = 1;

    /// <summary>How many times each closed-loop measurement was repeated (the median is reported).</summary>
    public required int Repeats { get; init; }

    public required double WarmupSeconds { get; init; }

    /// <summary>Response body size of the app, bytes.</summary>
    public required int ResponseBytes { get; init; }

    /// <summary>Size of the bulk download, bytes (0 = not run).</summary>
    public long BulkBytes { get; init; }

    /// <summary>Which <c>belizemesh-proxy</c> build was measured ("native AOT (path, size)", "JIT (path)"); null in
    /// reports written before the harness recorded it.</summary>
    public string? ProxyBuild { get; init; }
}

internal sealed record ScenarioResult
{
    /// <summary>Short stable key: <c>direct</c>, <c>belizemesh-pq</c>, <c>belizemesh-plain</c>, <c>nginx-tls</c>, <c>haproxy-tls</c>.</summary>
    public required string Id { get; init; }

    /// <summary>Human name for tables and chart labels, e.g. "BelizeMesh, 2 hops, PQ channel".</summary>
    public required string Name { get; init; }

    public required string Description { get; init; }

    public required ThroughputResult Throughput { get; init; }

    /// <summary>One entry per target rate, in the order of <see cref="CompareSettings.Rates"/>.</summary>
    public required IReadOnlyList<LatencyResult> Latency { get; init; }

    /// <summary>CPU seconds (user + system, from <c>/proc/&lt;pid&gt;/stat</c>) of the proxy processes per 1,000
    /// requests during the closed-loop runs; null for the direct scenario (no proxy).</summary>
    public required double? CpuSecondsPer1000Requests { get; init; }

    /// <summary>Peak resident memory of the proxy processes together (sum of their VmHWM), MiB; null for direct.</summary>
    public required double? PeakRssMiB { get; init; }

    /// <summary>Resident memory of the proxy processes together when idle after start-up, MiB; null for direct.</summary>
    public required double? IdleRssMiB { get; init; }

    /// <summary>Number of proxy processes measured (e.g. 2 sidecars, or 2 masters + their workers).</summary>
    public required int ProxyProcesses { get; init; }

    /// <summary>All failed requests of this scenario (connect errors, non-2xx, timeouts), all phases.</summary>
    public required long Errors { get; init; }

    /// <summary>One large response through the scenario on one connection; null when not measured.</summary>
    public BulkResult? Bulk { get; init; }
}

/// <summary>Throughput of one large download (the app streams <see cref="Bytes"/> bytes) through the scenario.</summary>
internal sealed record BulkResult
{
    public required long Bytes { get; init; }

    /// <summary>MB/s (10^6 bytes per second) of each repeat.</summary>
    public required IReadOnlyList<double> Repeats { get; init; }

    public required double MedianMBps { get; init; }
}

internal sealed record ThroughputResult
{
    /// <summary>Requests/s of each repeat.</summary>
    public required IReadOnlyList<double> Repeats { get; init; }

    public required double MedianRps { get; init; }

    public required double MinRps { get; init; }

    public required double MaxRps { get; init; }

    public required long Requests { get; init; }

    public required long Errors { get; init; }

    /// <summary>Latency percentiles of the closed-loop run (milliseconds): these include queueing at saturation.</summary>
    public required LatencyPercentiles Percentiles { get; init; }

    /// <summary>The repeats run interleaved with the other scenarios' (round r of every scenario, then round r + 1):
    /// the median over rounds of this scenario's requests/s divided by the first measured scenario's in the same
    /// round. Null for that first scenario, and when rounds are missing.</summary>
    public double? MedianRoundRatio { get; init; }
}

internal sealed record LatencyResult
{
    public required int TargetRps { get; init; }

    public required double AchievedRps { get; init; }

    public required long Requests { get; init; }

    public required long Errors { get; init; }

    /// <summary>Measured from each request's intended send time (no coordinated omission).</summary>
    public required LatencyPercentiles Percentiles { get; init; }

    /// <summary>Each round's own p99 (ms), in round order; <see cref="Percentiles"/> are over all rounds' requests.
    /// Empty in reports from before the rounds.</summary>
    public IReadOnlyList<double> RoundP99Ms { get; init; } = [];

    /// <summary>The percentile curve for the chart: (percentile in [0, 100), milliseconds), ascending, log-spaced
    /// toward the tail (50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, max as 100).</summary>
    public required IReadOnlyList<PercentilePoint> Curve { get; init; }
}

internal sealed record LatencyPercentiles(double P50, double P90, double P99, double P999, double Max, double Mean);

internal sealed record PercentilePoint(double Percentile, double Milliseconds);

internal sealed record SkippedScenario(string Id, string Name, string Reason);

/// <summary>One external load generator's figure, beside ours, for the same scenario and settings.</summary>
internal sealed record CrossCheck
{
    public required string ScenarioId { get; init; }

    /// <summary>"wrk" or "h2load".</summary>
    public required string Tool { get; init; }

    public required string CommandLine { get; init; }

    /// <summary>The median of <see cref="RoundRps"/>.</summary>
    public required double Rps { get; init; }

    /// <summary>Each round's req/s, in round order; the rounds are interleaved with the other scenarios' (round r of
    /// every scenario, then round r + 1), so round r of two scenarios ran seconds apart.</summary>
    public IReadOnlyList<double> RoundRps { get; init; } = [];

    /// <summary>Our closed-loop median for the same scenario, for the ratio.</summary>
    public required double OursRps { get; init; }

    /// <summary>The median of the rounds' p99.</summary>
    public double? P99Ms { get; init; }
}
