using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using BelizeMesh.Perf.Load;
using Spectre.Console;

namespace BelizeMesh.Perf.Compare;

/// <summary>Settings of one <c>compare</c> run, from the command line.</summary>
internal sealed record CompareOptions
{
    public bool Quick { get; init; }

    /// <summary>Scenario ids to run, in order; empty = all.</summary>
    public IReadOnlyList<string> Scenarios { get; init; } = [];

    public int Concurrency { get; init; } = 64;

    public int OpenLoopConnections { get; init; } = 32;

    public double ThroughputSeconds { get; init; } = 10;

    public int Repeats { get; init; } = 3;

    public IReadOnlyList<int> Rates { get; init; } = [1000, 5000];

    /// <summary>Open-loop time per scenario and rate, over all <see cref="LatencyRounds"/>.</summary>
    public double LatencySeconds { get; init; } = 15;

    /// <summary>The open-loop time is split into this many rounds, interleaved with the other scenarios' like the
    /// throughput repeats: a single run per scenario, minutes apart from its peers', made the p99 at 1,000 req/s a coin
    /// toss on this kind of machine (perf/README.md, "p99 at 1,000 req/s, alternated").</summary>
    public int LatencyRounds { get; init; } = 3;

    /// <summary>Closed-loop load before measuring: the JIT's tiering (tier 0 → instrumented → tier 1 with PGO) of
    /// the .NET sidecars takes several seconds of traffic on 2 cores; measured before that, they run at half speed.</summary>
    public double WarmupSeconds { get; init; } = 10;

    public int ResponseBytes { get; init; } = 128;

    /// <summary>Size of the one large download per scenario, MB; 0 skips the bulk phase.</summary>
    public int BulkMegabytes { get; init; } = 256;

    public bool CrossCheck { get; init; } = true;

    /// <summary>Rounds of the <c>wrk</c> cross-check, interleaved with the other scenarios' like the throughput repeats
    /// (one <see cref="ThroughputSeconds"/> run per scenario and round). A single run per scenario, one after the other
    /// at the end, put minutes between the pairs it compared (perf/README.md, "data path, session 25").</summary>
    public int WrkRounds { get; init; } = 3;

    /// <summary>Where <c>&lt;timestamp&gt;/</c> is created; default <c>perf/results</c> of the repository.</summary>
    public string? ResultsRoot { get; init; }

    /// <summary><c>belizemesh-proxy</c> to measure: an executable or a .dll; default the build next to this harness.</summary>
    public string? ProxyPath { get; init; }

    /// <summary>Run the BelizeMesh sidecars with their access log on (<c>--access-log true</c>; default off, as the
    /// peers run without theirs).</summary>
    public bool AccessLog { get; init; }

    /// <summary><c>--h2-upgrade</c>: the frontend sidecar's <c>spec.outbound.h2UpgradePolicy</c> (null: not set, the adaptive default).</summary>
    public string? H2Upgrade { get; init; }

    /// <summary>Extra environment for the sidecar processes (<c>--proxy-env NAME=VALUE</c>, repeatable): GC settings.</summary>
    public IReadOnlyDictionary<string, string> ProxyEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Start this one scenario, print where it listens, and keep it running until Ctrl+C (for profiling
    /// or poking at it with curl, wrk or h2load); measures nothing.</summary>
    public string? Hold { get; init; }

    public static CompareOptions QuickDefaults => new()
    {
        Quick = true,
        ThroughputSeconds = 2,
        Repeats = 1,
        Rates = [1000],
        LatencySeconds = 2,
        LatencyRounds = 1,
        WarmupSeconds = 3,
        BulkMegabytes = 32,
        WrkRounds = 1,
    };

    public static string Usage => """
        usage: compare [--quick] [--scenarios direct,belizemesh-pq,belizemesh-plain,nginx-tls,haproxy-tls]
                       [--concurrency 64] [--duration 10] [--repeats 3] [--rates 1000,5000] [--latency-duration 15]
                       [--latency-rounds 3]
                       [--warmup 10] [--open-connections 32] [--bytes 128] [--bulk-mb 256] [--no-cross-check] [--wrk-rounds 3]
                       [--out perf/results] [--proxy PATH] [--access-log] [--proxy-env NAME=VALUE]…
                       [--h2-upgrade DO_NOT_UPGRADE|UPGRADE]
               compare --hold SCENARIO      start one scenario and keep it running until Ctrl+C (no measurement)
        """;

    public static CompareOptions Parse(string[] args)
    {
        CompareOptions options = args.Contains("--quick") ? QuickDefaults : new CompareOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value\n{Usage}");
            double Number() => double.Parse(Value(), CultureInfo.InvariantCulture);
            options = args[i] switch
            {
                "--quick" => options,
                "--scenarios" => options with { Scenarios = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                "--concurrency" => options with { Concurrency = (int)Number() },
                "--open-connections" => options with { OpenLoopConnections = (int)Number() },
                "--duration" => options with { ThroughputSeconds = Number() },
                "--repeats" => options with { Repeats = (int)Number() },
                "--rates" => options with { Rates = Value().Split(',').Select(r => int.Parse(r, CultureInfo.InvariantCulture)).ToArray() },
                "--latency-duration" => options with { LatencySeconds = Number() },
                "--latency-rounds" => options with { LatencyRounds = (int)Number() },
                "--warmup" => options with { WarmupSeconds = Number() },
                "--bytes" => options with { ResponseBytes = (int)Number() },
                "--bulk-mb" => options with { BulkMegabytes = (int)Number() },
                "--no-cross-check" => options with { CrossCheck = false },
                "--wrk-rounds" => options with { WrkRounds = (int)Number() },
                "--out" => options with { ResultsRoot = Value() },
                "--proxy" => options with { ProxyPath = Value() },
                "--access-log" => options with { AccessLog = true },
                "--h2-upgrade" => options with
                {
                    H2Upgrade = Value() switch
                    {
                        ("DO_NOT_UPGRADE" or "UPGRADE") and var policy => policy,
                        var other => throw new ArgumentException($"--h2-upgrade {other}: expected DO_NOT_UPGRADE or UPGRADE\n{Usage}"),
                    },
                },
                "--proxy-env" => options with { ProxyEnvironment = WithSetting(options.ProxyEnvironment, Value()) },
                "--hold" => options with { Hold = Value(), Scenarios = [args[i]] },
                _ => throw new ArgumentException($"unknown option '{args[i]}'\n{Usage}"),
            };
        }

        foreach (string id in options.Scenarios)
        {
            if (!Scenario.All.Any(s => s.Id == id))
            {
                throw new ArgumentException($"unknown scenario '{id}'; the scenarios are {string.Join(", ", Scenario.All.Select(s => s.Id))}");
            }
        }

        if (options.Concurrency < 1 || options.Repeats < 1 || options.ThroughputSeconds <= 0 || options.LatencySeconds <= 0 || options.LatencyRounds < 1 || options.WrkRounds < 1 || options.Rates.Any(r => r < 1) || options.OpenLoopConnections < 1 || options.BulkMegabytes < 0)
        {
            throw new ArgumentException($"concurrency, repeats, rounds, durations, rates and connections must be positive\n{Usage}");
        }

        return options;
    }

    private static Dictionary<string, string> WithSetting(IReadOnlyDictionary<string, string> environment, string setting)
    {
        int equals = setting.IndexOf('=', StringComparison.Ordinal);
        if (equals < 1)
        {
            throw new ArgumentException($"--proxy-env {setting}: expected NAME=VALUE\n{Usage}");
        }

        return new Dictionary<string, string>(environment) { [setting[..equals]] = setting[(equals + 1)..] };
    }
}

/// <summary>
/// <c>compare</c>: starts the app, then each scenario in turn (its own processes, generated configs and
/// certificates, all on 127.0.0.1), and measures closed-loop throughput, open-loop latency at fixed rates, the proxy
/// processes' CPU per 1,000 requests and memory, and errors; cross-checks throughput with <c>wrk</c> when present;
/// writes <c>perf/results/&lt;timestamp&gt;/</c> (JSON, Markdown, SVG).
/// </summary>
internal static class CompareCommand
{
    private static readonly double[] CurvePercentiles = [50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100];

    public static int Run(string[] args)
    {
        CompareOptions options;
        try
        {
            options = CompareOptions.Parse(args);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine($"compare: {ex.Message}");
            return 64;
        }

        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };

        // SIGTERM too (a background job of a non-interactive shell ignores SIGINT): stop the scenario's processes
        // through the normal path instead of leaving them running.
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            cancel.Cancel();
        });
        try
        {
            if (options.Hold is not null)
            {
                HoldAsync(options, cancel.Token).GetAwaiter().GetResult();
                return 0;
            }

            (CompareReport report, string directory) = RunAsync(options, AnsiConsole.Console, "dotnet run -c Release --project perf/BelizeMesh.Perf -- compare " + string.Join(' ', args), cancel.Token).GetAwaiter().GetResult();
            ConsoleReport.Print(report, AnsiConsole.Console);
            AnsiConsole.MarkupLine($"results: [bold]{Markup.Escape(directory)}[/]");
            return report.Scenarios.Any(s => s.Errors > 0) ? 1 : 0;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("compare: cancelled");
            return 130;
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or FileNotFoundException)
        {
            Console.Error.WriteLine($"compare: {ex.Message}");
            return 1;
        }
    }

    /// <summary>The programs and ports every scenario of a run shares.</summary>
    internal static ScenarioContext CreateContext(string work, IReadOnlyDictionary<string, (string Path, string Version)> tools, string? proxyPath, CompareOptions? options = null) => new()
    {
        ProxyAccessLog = options?.AccessLog ?? false,
        H2Upgrade = options?.H2Upgrade,
        ProxyEnvironment = options?.ProxyEnvironment,
        Directory = work,
        AppPort = ManagedProcess.FreePort(),
        Proxy = LocateProxy(proxyPath),
        Nginx = tools.GetValueOrDefault("nginx").Path,
        Haproxy = tools.GetValueOrDefault("haproxy").Path,
        RunningAsRoot = Environment.UserName == "root",
    };

    private static async Task HoldAsync(CompareOptions options, CancellationToken cancellationToken)
    {
        string work = Directory.CreateTempSubdirectory("belizemesh-compare-").FullName;
        var tools = FindTools();
        ScenarioContext context = CreateContext(work, tools, options.ProxyPath, options);
        Scenario scenario = Scenario.All.First(s => s.Id == options.Hold);
        if (scenario.Unavailable(context) is { } reason)
        {
            throw new InvalidOperationException(reason);
        }

        try
        {
            await using ManagedProcess app = StartApp(context, options.ResponseBytes);
            await using RunningScenario running = await scenario.StartAsync(context, cancellationToken).ConfigureAwait(false);
            Console.WriteLine($"{scenario.Name} is running; configs and logs in {work}");
            Console.WriteLine($"  wrk -t2 -c64 -d10s --latency -H 'Host: {running.Target.Host}' http://{running.Target.EndPoint}/");
            Console.WriteLine($"  proxy processes: {string.Join(' ', running.ProcessTree())}; app on 127.0.0.1:{context.AppPort}");
            Console.WriteLine("Ctrl+C stops it.");
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            TryDelete(work);
        }
    }

    public static async Task<(CompareReport Report, string Directory)> RunAsync(CompareOptions options, IAnsiConsole console, string commandLine, CancellationToken cancellationToken)
    {
        if (!ProcStats.Available)
        {
            throw new InvalidOperationException("compare reads CPU and memory from Linux /proc, which this system does not have");
        }

        DateTimeOffset startedAt = DateTimeOffset.UtcNow;
        long started = Stopwatch.GetTimestamp();
        string work = Directory.CreateTempSubdirectory("belizemesh-compare-").FullName;
        var tools = FindTools();
        ScenarioContext context = CreateContext(work, tools, options.ProxyPath, options);
        IReadOnlyList<Scenario> scenarios = options.Scenarios.Count == 0
            ? Scenario.All
            : options.Scenarios.Select(id => Scenario.All.First(s => s.Id == id)).ToArray();

        var results = new List<ScenarioResult>();
        var skipped = new List<SkippedScenario>();
        var crossChecks = new List<CrossCheck>();
        var cpuProbes = new List<CpuProbe> { CpuSpeed.Measure("start") };
        try
        {
            await using ManagedProcess app = StartApp(context, options.ResponseBytes);
            await console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new ElapsedTimeColumn())
                .StartAsync(async progress =>
                {
                    var tasks = scenarios.ToDictionary(s => s.Id, s => progress.AddTask(Markup.Escape(s.Name), autoStart: false, maxValue: 1));
                    // Every scenario is started first and kept running; then the throughput repeats are interleaved —
                    // round r of each scenario (in turn, the order reversed every other round), then round r + 1 —,
                    // so a machine that drifts over the minutes of a run shifts every scenario alike instead of
                    // whichever ran last. The open-loop latency rounds are interleaved the same way; the other phases
                    // follow, scenario by scenario.
                    var runs = new List<ScenarioRun>();
                    try
                    {
                        foreach (Scenario scenario in scenarios)
                        {
                            // Leave whatever thread the last await completed on (possibly the epoll thread, see RunWrk).
                            await Task.Yield();
                            ProgressTask task = tasks[scenario.Id];
                            task.StartTask();
                            string? unavailable = scenario.Unavailable(context);
                            if (unavailable is not null)
                            {
                                skipped.Add(new SkippedScenario(scenario.Id, scenario.Name, unavailable));
                                task.Description = Markup.Escape($"{scenario.Name}: skipped ({unavailable})");
                                task.Value = 1;
                                task.StopTask();
                                continue;
                            }

                            var run = new ScenarioRun(scenario, task);
                            try
                            {
                                await run.StartAsync(context, options, cancellationToken).ConfigureAwait(false);
                                runs.Add(run);
                            }
                            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException)
                            {
                                // A scenario that cannot start is reported, with its logs, and the run goes on.
                                await run.DisposeAsync().ConfigureAwait(false);
                                Fail(run, ex);
                            }
                        }

                        for (int r = 0; r < options.Repeats; r++)
                        {
                            cpuProbes.Add(CpuSpeed.Measure($"round {r + 1}"));
                            int round = r;
                            await InterleavedAsync(round, run => run.ThroughputRoundAsync(options, round, rewarm: round > 0 && runs.Count > 1, cancellationToken)).ConfigureAwait(false);
                        }

                        // The open-loop latency likewise: round r of every rate and scenario.
                        for (int r = 0; r < options.LatencyRounds; r++)
                        {
                            foreach (int rate in options.Rates)
                            {
                                int round = r;
                                await InterleavedAsync(round, run => run.LatencyRoundAsync(options, rate, round, rewarm: runs.Count > 1, cancellationToken)).ConfigureAwait(false);
                            }
                        }

                        // The wrk cross-check likewise: round r of every scenario, in turn.
                        if (options.CrossCheck && tools.TryGetValue("wrk", out var wrkTool))
                        {
                            for (int r = 0; r < options.WrkRounds; r++)
                            {
                                int round = r;
                                await InterleavedAsync(round, run => run.WrkRoundAsync(options, wrkTool.Path, round, rewarm: runs.Count > 1, cancellationToken)).ConfigureAwait(false);
                            }
                        }

                        IReadOnlyList<double>? baseline = null;
                        foreach (ScenarioRun run in runs)
                        {
                            if (run.Failed)
                            {
                                continue;
                            }

                            await Task.Yield();
                            ScenarioResult result;
                            try
                            {
                                result = await run.FinishAsync(options, crossChecks, baseline, cancellationToken).ConfigureAwait(false);
                            }
                            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException)
                            {
                                Fail(run, ex);
                                continue;
                            }

                            baseline ??= result.Throughput.Repeats;
                            results.Add(result);
                            run.Phase($"{result.Throughput.MedianRps:N0} req/s, {result.Errors} errors", 1);
                            run.Task.StopTask();
                        }
                    }
                    finally
                    {
                        foreach (ScenarioRun run in runs)
                        {
                            await run.DisposeAsync().ConfigureAwait(false);
                        }
                    }

                    // One step of every scenario still running, in turn: in their order on even rounds, reversed on odd.
                    async Task InterleavedAsync(int round, Func<ScenarioRun, Task> step)
                    {
                        for (int i = 0; i < runs.Count; i++)
                        {
                            ScenarioRun run = runs[round % 2 == 0 ? i : runs.Count - 1 - i];
                            if (run.Failed)
                            {
                                continue;
                            }

                            // Leave whatever thread the last await completed on (possibly the epoll thread, see RunWrk).
                            await Task.Yield();
                            try
                            {
                                await step(run).ConfigureAwait(false);
                            }
                            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException)
                            {
                                Fail(run, ex);
                            }
                        }
                    }

                    void Fail(ScenarioRun run, Exception ex)
                    {
                        run.Failed = true;
                        skipped.Add(new SkippedScenario(run.Scenario.Id, run.Scenario.Name, "failed: " + ex.Message));
                        run.Phase("failed (see the report)", 1);
                        run.Task.StopTask();
                    }
                }).ConfigureAwait(false);
        }
        finally
        {
            TryDelete(work);
        }

        cpuProbes.Add(CpuSpeed.Measure("end"));
        var report = new CompareReport
        {
            StartedAt = startedAt,
            WallSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds,
            Command = commandLine.Trim(),
            Machine = DescribeMachine(tools),
            Settings = new CompareSettings
            {
                Quick = options.Quick,
                Protocol = "http1",
                Concurrency = options.Concurrency,
                ThroughputSeconds = options.ThroughputSeconds,
                Rates = options.Rates,
                LatencySeconds = options.LatencySeconds,
                LatencyRounds = options.LatencyRounds,
                Repeats = options.Repeats,
                WarmupSeconds = options.WarmupSeconds,
                ResponseBytes = options.ResponseBytes,
                BulkBytes = options.BulkMegabytes * 1_000_000L,
                ProxyBuild = context.Proxy.Build,
            },
            Scenarios = results,
            Skipped = skipped,
            CrossChecks = crossChecks,
            CpuProbes = cpuProbes,
        };
        string directory = ReportWriter.WriteAll(report, options.ResultsRoot ?? DefaultResultsRoot());
        return (report, directory);
    }

    /// <summary>The median over rounds of <paramref name="repeats"/>[r] / <paramref name="baseline"/>[r]: each round's
    /// figure is paired with the baseline's of the same round (seconds apart, where whole scenarios are minutes apart). Null when the
    /// counts differ, there are none, or a baseline round is 0.</summary>
    internal static double? MedianRoundRatio(IReadOnlyList<double> repeats, IReadOnlyList<double> baseline)
    {
        if (repeats.Count == 0 || repeats.Count != baseline.Count)
        {
            return null;
        }

        var ratios = new List<double>(repeats.Count);
        for (int r = 0; r < repeats.Count; r++)
        {
            if (baseline[r] <= 0)
            {
                return null;
            }

            ratios.Add(repeats[r] / baseline[r]);
        }

        return Median(ratios);
    }

    /// <summary>One scenario of a run, kept running from its start to its last phase: start-up, idle RSS and warm-up
    /// (<see cref="StartAsync"/>), one throughput repeat per round (<see cref="ThroughputRoundAsync"/>), one open-loop
    /// round per rate and round (<see cref="LatencyRoundAsync"/>), then bulk, cross-check and peak RSS and the pooled
    /// figures (<see cref="FinishAsync"/>).</summary>
    private sealed class ScenarioRun(Scenario scenario, ProgressTask task) : IAsyncDisposable
    {
        private RunningScenario? _running;
        private bool _hasProxies;
        private double? _idleRss;
        private List<int> _tree = [];
        private long _errors;
        private readonly List<double> _repeats = [];
        private readonly LatencyHistogram _closedLatency = new();
        private long _closedRequests, _closedErrors;
        private double _cpuSeconds;
        private int _step, _steps = 1;
        private readonly Dictionary<int, OpenLoopRounds> _openLoop = [];
        private readonly List<WrkRun> _wrkRounds = [];

        /// <summary>One target rate's open-loop rounds, pooled.</summary>
        private sealed class OpenLoopRounds
        {
            public LatencyHistogram Latency { get; } = new();

            public List<double> RoundP99 { get; } = [];

            public long Requests { get; set; }

            public long Errors { get; set; }

            public double Seconds { get; set; }
        }

        public Scenario Scenario { get; } = scenario;

        public ProgressTask Task { get; } = task;

        public bool Failed { get; set; }

        private RunningScenario Running => _running ?? throw new InvalidOperationException($"{Scenario.Id} is not running");

        public void Phase(string phase, double fraction)
        {
            Task.Description = Markup.Escape($"{Scenario.Name}: {phase}");
            Task.Value = fraction;
        }

        public async Task StartAsync(ScenarioContext context, CompareOptions options, CancellationToken cancellationToken)
        {
            Phase("starting", 0);
            _running = await Scenario.StartAsync(context, cancellationToken).ConfigureAwait(false);
            _hasProxies = _running.Proxies.Count > 0;

            // Let start-up work (JIT, first connections) settle before the idle figure.
            await System.Threading.Tasks.Task.Delay(TimeSpan.FromSeconds(options.Quick ? 0.5 : 2), cancellationToken).ConfigureAwait(false);
            _tree = _running.ProcessTree();
            _idleRss = _hasProxies ? ProcStats.MemoryMiB(_tree, "VmRSS") : null;

            _steps = 2 + options.Repeats + (options.Rates.Count * options.LatencyRounds) + (options.CrossCheck ? options.WrkRounds : 0);
            Phase("warm-up", (double)_step / _steps);
            LoadResult warmup = await LoadGenerator.ClosedLoopAsync(_running.Target, options.Concurrency, TimeSpan.FromSeconds(options.WarmupSeconds), cancellationToken).ConfigureAwait(false);
            _errors = warmup.Errors;
            _step++;

            // Workers may have been forked lazily: take the tree again now that traffic has flowed.
            _tree = _running.ProcessTree();
        }

        /// <param name="rewarm">Other scenarios ran since this one's last repeat: one more second of load first (not
        /// counted), so the repeat does not start from an idle process (idle trims, cold caches).</param>
        public async Task ThroughputRoundAsync(CompareOptions options, int round, bool rewarm, CancellationToken cancellationToken)
        {
            RunningScenario running = Running;
            Phase($"throughput {round + 1}/{options.Repeats}", (double)_step / _steps);
            if (rewarm)
            {
                LoadResult again = await LoadGenerator.ClosedLoopAsync(running.Target, options.Concurrency, TimeSpan.FromSeconds(Math.Min(1, options.WarmupSeconds)), cancellationToken).ConfigureAwait(false);
                _errors += again.Errors;
            }

            double cpuBefore = ProcStats.CpuSeconds(_tree);
            LoadResult result = await LoadGenerator.ClosedLoopAsync(running.Target, options.Concurrency, TimeSpan.FromSeconds(options.ThroughputSeconds), cancellationToken).ConfigureAwait(false);
            _cpuSeconds += ProcStats.CpuSeconds(_tree) - cpuBefore;
            _repeats.Add(result.RequestsPerSecond);
            _closedLatency.Add(result.Latency);
            _closedRequests += result.Requests;
            _closedErrors += result.Errors;
            _step++;
        }

        /// <summary>Round <paramref name="round"/> of the open loop at <paramref name="rate"/>: a share
        /// (<see cref="CompareOptions.LatencySeconds"/> / <see cref="CompareOptions.LatencyRounds"/>) of the scenario's
        /// time at that rate, pooled with its other rounds.</summary>
        /// <param name="rewarm">Other scenarios ran since this one's last phase: one second at the same rate first (not
        /// counted), as for the throughput repeats.</param>
        public async Task LatencyRoundAsync(CompareOptions options, int rate, int round, bool rewarm, CancellationToken cancellationToken)
        {
            RunningScenario running = Running;
            Phase(options.LatencyRounds == 1 ? $"latency at {rate:N0} req/s" : $"latency at {rate:N0} req/s, round {round + 1}/{options.LatencyRounds}", (double)_step / _steps);
            if (rewarm)
            {
                LoadResult again = await LoadGenerator.OpenLoopAsync(
                    running.Target, rate, options.OpenLoopConnections, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                _errors += again.Errors;
            }

            LoadResult result = await LoadGenerator.OpenLoopAsync(
                running.Target, rate, options.OpenLoopConnections, TimeSpan.FromSeconds(options.LatencySeconds / options.LatencyRounds), TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
            if (!_openLoop.TryGetValue(rate, out OpenLoopRounds? rounds))
            {
                _openLoop[rate] = rounds = new OpenLoopRounds();
            }

            rounds.Latency.Add(result.Latency);
            rounds.RoundP99.Add(result.Latency.PercentileMilliseconds(99));
            rounds.Requests += result.Requests;
            rounds.Errors += result.Errors;
            rounds.Seconds += result.Elapsed.TotalSeconds;
            _errors += result.Errors;
            _step++;
        }

        /// <summary>Round <paramref name="round"/> of the <c>wrk</c> cross-check (<see cref="CompareOptions.WrkRounds"/>).</summary>
        /// <param name="rewarm">Other scenarios ran since this one's last phase: one second of closed-loop load first
        /// (not counted), as for the throughput repeats.</param>
        public async Task WrkRoundAsync(CompareOptions options, string wrk, int round, bool rewarm, CancellationToken cancellationToken)
        {
            RunningScenario running = Running;
            Phase(options.WrkRounds == 1 ? "cross-check with wrk" : $"cross-check with wrk, round {round + 1}/{options.WrkRounds}", (double)_step / _steps);
            if (rewarm)
            {
                LoadResult again = await LoadGenerator.ClosedLoopAsync(running.Target, options.Concurrency, TimeSpan.FromSeconds(Math.Min(1, options.WarmupSeconds)), cancellationToken).ConfigureAwait(false);
                _errors += again.Errors;
            }

            // Off the current thread: with inline socket completions this continuation may be running on the
            // socket engine's epoll thread, and waiting there for wrk's output (a pipe served by that same thread)
            // would deadlock.
            WrkRun? result = await System.Threading.Tasks.Task.Run(() => RunWrk(wrk, running.Target, options), cancellationToken).ConfigureAwait(false);
            if (result is not null)
            {
                _wrkRounds.Add(result);
            }

            _step++;
        }

        public async Task<ScenarioResult> FinishAsync(
            CompareOptions options,
            List<CrossCheck> crossChecks,
            IReadOnlyList<double>? baseline,
            CancellationToken cancellationToken)
        {
            RunningScenario running = Running;
            var latency = new List<LatencyResult>();
            foreach (int rate in options.Rates)
            {
                if (!_openLoop.TryGetValue(rate, out OpenLoopRounds? rounds))
                {
                    continue;
                }

                latency.Add(new LatencyResult
                {
                    TargetRps = rate,
                    AchievedRps = (rounds.Requests - rounds.Errors) / rounds.Seconds,
                    Requests = rounds.Requests,
                    Errors = rounds.Errors,
                    Percentiles = Percentiles(rounds.Latency),
                    Curve = CurvePercentiles.Select(p => new PercentilePoint(p, rounds.Latency.PercentileMilliseconds(p))).ToArray(),
                    RoundP99Ms = rounds.RoundP99,
                });
            }

            BulkResult? bulk = null;
            if (options.BulkMegabytes > 0)
            {
                Phase($"bulk {options.BulkMegabytes} MB", (double)_step / _steps);
                (bulk, long bulkErrors) = await MeasureBulkAsync(running.Target, options.BulkMegabytes * 1_000_000L, cancellationToken).ConfigureAwait(false);
                _errors += bulkErrors;
            }

            double medianRps = Median(_repeats);
            if (_wrkRounds.Count > 0)
            {
                var rounds = _wrkRounds.Select(w => w.Rps).ToList();
                var p99s = _wrkRounds.Where(w => w.P99Ms is not null).Select(w => w.P99Ms!.Value).ToList();
                crossChecks.Add(new CrossCheck
                {
                    ScenarioId = Scenario.Id,
                    Tool = "wrk",
                    CommandLine = _wrkRounds[0].CommandLine,
                    Rps = Median(rounds),
                    RoundRps = rounds,
                    OursRps = medianRps,
                    P99Ms = p99s.Count > 0 ? Median(p99s) : null,
                });
            }

            double? peakRss = _hasProxies ? ProcStats.MemoryMiB(running.ProcessTree(), "VmHWM") : null;
            long errors = _errors + _closedErrors;
            return new ScenarioResult
            {
                Id = Scenario.Id,
                Name = Scenario.Name,
                Description = Scenario.Description,
                Throughput = new ThroughputResult
                {
                    Repeats = _repeats,
                    MedianRps = medianRps,
                    MinRps = _repeats.Min(),
                    MaxRps = _repeats.Max(),
                    Requests = _closedRequests,
                    Errors = _closedErrors,
                    Percentiles = Percentiles(_closedLatency),
                    MedianRoundRatio = baseline is null ? null : MedianRoundRatio(_repeats, baseline),
                },
                Latency = latency,
                CpuSecondsPer1000Requests = _hasProxies && _closedRequests > 0 ? _cpuSeconds / _closedRequests * 1000 : null,
                PeakRssMiB = peakRss,
                IdleRssMiB = _idleRss,
                ProxyProcesses = _hasProxies ? _tree.Count : 0,
                Errors = errors,
                Bulk = bulk,
            };
        }

        public async ValueTask DisposeAsync()
        {
            if (_running is { } running)
            {
                _running = null;
                await running.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Three downloads of <paramref name="bytes"/> on one keep-alive connection; MB/s of each. A failed
    /// download is an error and gives no figure.</summary>
    private static async Task<(BulkResult? Result, long Errors)> MeasureBulkAsync(LoadTarget target, long bytes, CancellationToken cancellationToken)
    {
        var bulkTarget = new LoadTarget(target.EndPoint, target.Host, "/bulk/" + bytes.ToString(CultureInfo.InvariantCulture));
        var speeds = new List<double>();
        long errors = 0;
        using Http1Connection connection = await Http1Connection.ConnectAsync(bulkTarget.EndPoint, bulkTarget.Request, cancellationToken).ConfigureAwait(false);
        for (int i = 0; i < 3; i++)
        {
            long started = Stopwatch.GetTimestamp();
            try
            {
                await connection.SendAsync(cancellationToken).ConfigureAwait(false);
                int status = await connection.ReadResponseAsync(cancellationToken).ConfigureAwait(false);
                if (status != 200 || connection.Closed)
                {
                    errors++;
                    break;
                }

                speeds.Add(bytes / Stopwatch.GetElapsedTime(started).TotalSeconds / 1e6);
            }
            catch (IOException)
            {
                errors++;
                break;
            }
        }

        return (speeds.Count == 0 ? null : new BulkResult { Bytes = bytes, Repeats = speeds, MedianMBps = Median(speeds) }, errors);
    }

    private static LatencyPercentiles Percentiles(LatencyHistogram h) => new(
        h.PercentileMilliseconds(50), h.PercentileMilliseconds(90), h.PercentileMilliseconds(99), h.PercentileMilliseconds(99.9), h.MaxNanoseconds / 1e6, h.MeanMilliseconds);

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>One <c>wrk</c> run: its req/s, its p99 and the command line.</summary>
    private sealed record WrkRun(double Rps, double? P99Ms, string CommandLine);

    /// <summary><c>wrk -t2 -c&lt;concurrency&gt;</c> against the same target, for the same time as one repeat.</summary>
    private static WrkRun? RunWrk(string wrk, LoadTarget target, CompareOptions options)
    {
        int seconds = Math.Max(1, (int)Math.Round(options.ThroughputSeconds));
        string[] arguments = ["-t2", $"-c{options.Concurrency}", $"-d{seconds}s", "--latency", "-H", $"Host: {target.Host}", $"http://127.0.0.1:{target.EndPoint.Port}/"];
        string? output = ManagedProcess.Capture(wrk, arguments);
        if (output is null)
        {
            return null;
        }

        Match rps = Regex.Match(output, @"Requests/sec:\s+([0-9.]+)");
        if (!rps.Success)
        {
            return null;
        }

        Match p99 = Regex.Match(output, @"^\s+99%\s+([0-9.]+)(us|ms|s)\s*$", RegexOptions.Multiline);
        double? p99Ms = null;
        if (p99.Success)
        {
            double value = double.Parse(p99.Groups[1].Value, CultureInfo.InvariantCulture);
            p99Ms = p99.Groups[2].Value switch { "us" => value / 1000, "ms" => value, _ => value * 1000 };
        }

        return new WrkRun(double.Parse(rps.Groups[1].Value, CultureInfo.InvariantCulture), p99Ms,
            "wrk " + string.Join(' ', arguments.Select(a => a.Contains(' ') ? $"'{a}'" : a)));
    }

    internal static ManagedProcess StartApp(ScenarioContext context, int bytes)
    {
        (string fileName, string[] prefix) = DotnetLaunch(typeof(CompareCommand).Assembly.Location);
        ManagedProcess app = ManagedProcess.Start(
            fileName,
            [.. prefix, "app", "--port", context.AppPort.ToString(CultureInfo.InvariantCulture), "--bytes", bytes.ToString(CultureInfo.InvariantCulture)],
            Path.Combine(context.Directory, "app.log"),
            new Dictionary<string, string> { ["DOTNET_gcServer"] = "0" });
        long deadline = Stopwatch.GetTimestamp() + (15 * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (app.HasExited)
            {
                break;
            }

            if (app.Tail(5).Contains("listening on", StringComparison.Ordinal))
            {
                return app;
            }

            Thread.Sleep(20);
        }

        string tail = app.Tail();
        app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        throw new InvalidOperationException($"the benchmark app did not start:\n{tail}");
    }

    /// <summary>How to run a framework-dependent .dll: the dotnet host that runs us (or on PATH) with <c>exec</c>.</summary>
    private static (string FileName, string[] Prefix) DotnetLaunch(string dll)
    {
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } fromCli && File.Exists(fromCli)
            ? fromCli
            : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet"
                ? self
                : ManagedProcess.Which("dotnet") ?? "dotnet";
        return (host, ["exec", dll]);
    }

    /// <summary>
    /// The sidecar to measure: <paramref name="explicitPath"/> (a native executable, or a <c>.dll</c> for the JIT build),
    /// else the native AOT build that ships — <c>dotnet publish proxy/BelizeMesh.Proxy -c Release -r linux-x64</c>'s
    /// output, or the one <c>.ci/run</c> leaves in <c>artifacts/publish/</c> —, else the JIT build next to this harness,
    /// with a warning. <c>Build</c> says which, for the report.
    /// </summary>
    internal static (string FileName, string[] Prefix, string Build) LocateProxy(string? explicitPath)
    {
        string? path = explicitPath;
        if (path is null)
        {
            string? root = PerfPaths.RepositoryRoot();
            string[] aotCandidates = root is null ? [] :
            [
                Path.Combine(root, "proxy", "BelizeMesh.Proxy", "bin", "Release", "net10.0", "linux-x64", "publish", "belizemesh-proxy"),
                Path.Combine(root, "artifacts", "publish", "BelizeMesh.Proxy", "belizemesh-proxy"),
            ];
            path = aotCandidates.Where(File.Exists).OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
            if (path is null)
            {
                string besideUs = Path.Combine(AppContext.BaseDirectory, "belizemesh-proxy.dll");
                string? built = root is null ? null : Path.Combine(root, "proxy", "BelizeMesh.Proxy", "bin", "Release", "net10.0", "belizemesh-proxy.dll");
                path = File.Exists(besideUs) ? besideUs : built is not null && File.Exists(built) ? built : null;
                if (path is null)
                {
                    throw new FileNotFoundException("belizemesh-proxy not found: publish the native AOT sidecar (dotnet publish proxy/BelizeMesh.Proxy -c Release -r linux-x64) or pass --proxy PATH");
                }

                Console.Error.WriteLine($"compare: no native AOT sidecar found (publish it: dotnet publish proxy/BelizeMesh.Proxy -c Release -r linux-x64); measuring the JIT build {path}");
            }
        }
        else if (!File.Exists(path))
        {
            throw new FileNotFoundException($"--proxy {path}: no such file");
        }

        path = Path.GetFullPath(path);
        if (path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        {
            var (host, prefix) = DotnetLaunch(path);
            return (host, prefix, $"JIT ({path})");
        }

        return (path, [], $"{DescribeNative(path)} ({path}, {new FileInfo(path).Length / 1_000_000.0:F1} MB)");
    }

    /// <summary>A native AOT build has no managed entry assembly beside it; a self-contained (trimmed/R2R) one does.</summary>
    private static string DescribeNative(string path) =>
        File.Exists(Path.Combine(Path.GetDirectoryName(path)!, "belizemesh-proxy.dll")) ? "self-contained JIT/R2R" : "native AOT";

    private static string DefaultResultsRoot() => Path.Combine(PerfPaths.RepositoryRoot() ?? Environment.CurrentDirectory, "perf", "results");

    /// <summary>The external programs the harness can use, with their version lines.</summary>
    internal static Dictionary<string, (string Path, string Version)> FindTools()
    {
        var tools = new Dictionary<string, (string, string)>();
        foreach (var (name, flag) in new[] { ("nginx", "-v"), ("haproxy", "-v"), ("wrk", "-v"), ("h2load", "--version"), ("openssl", "version") })
        {
            if (ManagedProcess.Which(name) is { } path)
            {
                string version = (ManagedProcess.Capture(path, flag) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
                tools[name] = (path, version);
            }
        }

        return tools;
    }

    private static MachineInfo DescribeMachine(IReadOnlyDictionary<string, (string Path, string Version)> tools)
    {
        static string FirstMatch(string file, string pattern)
        {
            try
            {
                Match match = Regex.Match(File.ReadAllText(file), pattern, RegexOptions.Multiline);
                return match.Success ? match.Groups[1].Value.Trim().Trim('"') : "unknown";
            }
            catch (IOException)
            {
                return "unknown";
            }
        }

        string memory = FirstMatch("/proc/meminfo", @"^MemTotal:\s+(\d+)");
        return new MachineInfo
        {
            Cpu = FirstMatch("/proc/cpuinfo", @"^model name\s*:\s*(.+)$"),
            Cores = Environment.ProcessorCount,
            MemoryGiB = double.TryParse(memory, CultureInfo.InvariantCulture, out double kib) ? Math.Round(kib / 1024 / 1024, 1) : 0,
            Os = FirstMatch("/etc/os-release", @"^PRETTY_NAME=(.+)$") + $" ({RuntimeInformation.OSArchitecture}, kernel {Environment.OSVersion.Version})",
            DotNet = RuntimeInformation.FrameworkDescription,
            Tools = tools.ToDictionary(t => t.Key, t => t.Value.Version),
        };
    }

    internal static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
