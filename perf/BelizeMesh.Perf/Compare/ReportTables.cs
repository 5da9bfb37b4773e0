namespace BelizeMesh.Perf.Compare;

/// <summary>
/// A column of a report table: its header in the Markdown report, its (shorter) header on the console, whether it
/// holds figures (right-aligned, never wrapped), and whether it holds latencies (which a narrow console shows in a
/// table of their own).
/// </summary>
internal sealed record ReportColumn(string Header, string ConsoleHeader, bool Numeric, bool Latency = false);

/// <summary>A table as text cells, drawn both as Markdown and on the console so that the two always agree.</summary>
internal sealed record ReportTable(IReadOnlyList<ReportColumn> Columns, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>The tables of a report, as text.</summary>
internal static class ReportTables
{
    /// <summary>
    /// One row per measured scenario: throughput median and min–max, ratio to nginx-tls (only if it ran), the four
    /// headline percentiles at each target rate, CPU per 1,000 requests, peak and idle RSS, errors.
    /// </summary>
    public static ReportTable MainTable(CompareReport report)
    {
        var baseline = ReportFormat.Baseline(report);
        var rates = ReportFormat.Rates(report);

        var columns = new List<ReportColumn>
        {
            new("Scenario", "Scenario", Numeric: false),
            new("Throughput (req/s, median)", "req/s\nmedian", Numeric: true),
            new("min–max (req/s)", "min–max\nreq/s", Numeric: true),
        };
        if (baseline is not null)
        {
            columns.Add(new("vs nginx-tls", "vs\nnginx", Numeric: true));
        }

        foreach (var rate in rates)
        {
            var at = ReportFormat.Integer(rate);
            columns.Add(new($"p50 / p90 / p99 / p99.9 at {at} req/s (ms)", $"@ {at} req/s\np50 / p90 / p99 / p99.9\nms", Numeric: true, Latency: true));
        }

        bool bulk = report.Scenarios.Any(s => s.Bulk is not null);
        if (bulk)
        {
            columns.Add(new("Bulk (MB/s, one download)", "Bulk\nMB/s", Numeric: true));
        }

        columns.Add(new("CPU s / 1,000 req", "CPU s\n/1k\nreq", Numeric: true));
        columns.Add(new("Peak RSS (MiB)", "Peak\nRSS\nMiB", Numeric: true));
        columns.Add(new("Idle RSS (MiB)", "Idle\nRSS\nMiB", Numeric: true));
        columns.Add(new("Errors", "Errors", Numeric: true));

        var rows = new List<IReadOnlyList<string>>();
        foreach (var s in report.Scenarios)
        {
            var row = new List<string>
            {
                s.Name,
                ReportFormat.Rps(s.Throughput.MedianRps),
                ReportFormat.RpsRange(s.Throughput.MinRps, s.Throughput.MaxRps),
            };
            if (baseline is not null)
            {
                row.Add(ReportFormat.Ratio(ReportFormat.RatioToBaseline(s, baseline)));
            }

            foreach (var rate in rates)
            {
                row.Add(ReportFormat.Percentiles(ReportFormat.LatencyAt(s, rate)?.Percentiles));
            }

            if (bulk)
            {
                row.Add(ReportFormat.Sig3(s.Bulk?.MedianMBps));
            }

            row.Add(ReportFormat.Sig3(s.CpuSecondsPer1000Requests));
            row.Add(ReportFormat.Sig3(s.PeakRssMiB));
            row.Add(ReportFormat.Sig3(s.IdleRssMiB));
            row.Add(ReportFormat.Count(s.Errors));
            rows.Add(row);
        }

        return new ReportTable(columns, rows);
    }

    /// <summary>Every latency measurement of every scenario: the closed-loop run, then each target rate.</summary>
    public static ReportTable LatencyDetail(CompareReport report)
    {
        var columns = new List<ReportColumn>
        {
            new("Scenario", "Scenario", Numeric: false),
            new("Load", "Load", Numeric: false),
            new("Achieved req/s", "Achieved req/s", Numeric: true),
            new("Requests", "Requests", Numeric: true),
            new("Errors", "Errors", Numeric: true),
            new("p50 (ms)", "p50", Numeric: true),
            new("p90 (ms)", "p90", Numeric: true),
            new("p99 (ms)", "p99", Numeric: true),
            new("p99.9 (ms)", "p99.9", Numeric: true),
            new("max (ms)", "max", Numeric: true),
            new("mean (ms)", "mean", Numeric: true),
            new("p99 per round (ms)", "p99 by round", Numeric: true),
        };
        var nginx = ReportFormat.Baseline(report);
        if (nginx is not null)
        {
            columns.Add(new("p99 vs nginx-tls, per-round median", "p99 vs nginx\nper round", Numeric: true));
        }

        var rates = ReportFormat.Rates(report);
        var rows = new List<IReadOnlyList<string>>();
        foreach (var s in report.Scenarios)
        {
            var t = s.Throughput;
            rows.Add(Row(s.Name, $"closed loop, {ReportFormat.Integer(report.Settings.Concurrency)} connections",
                t.MedianRps, t.Requests, t.Errors, t.Percentiles, ReportFormat.Missing, ReportFormat.Missing));
            foreach (var rate in rates)
            {
                if (ReportFormat.LatencyAt(s, rate) is { } l)
                {
                    var rounds = l.RoundP99Ms.Count == 0 ? ReportFormat.Missing : string.Join(" / ", l.RoundP99Ms.Select(p => ReportFormat.Sig3(p)));
                    var theirs = nginx is null || ReferenceEquals(nginx, s) ? null : ReportFormat.LatencyAt(nginx, rate)?.RoundP99Ms;
                    var ratio = theirs is null ? null : CompareCommand.MedianRoundRatio(l.RoundP99Ms, theirs);
                    rows.Add(Row(s.Name, $"open loop, {ReportFormat.Integer(rate)} req/s", l.AchievedRps, l.Requests, l.Errors, l.Percentiles,
                        rounds, ReportFormat.Ratio(ratio)));
                }
            }
        }

        return new ReportTable(columns, rows);

        IReadOnlyList<string> Row(string name, string load, double rps, long requests, long errors, LatencyPercentiles? p, string rounds, string ratio)
        {
            var row = new List<string>
            {
                name, load, ReportFormat.Rps(rps), ReportFormat.Count(requests), ReportFormat.Count(errors),
                ReportFormat.Sig3(p?.P50), ReportFormat.Sig3(p?.P90), ReportFormat.Sig3(p?.P99), ReportFormat.Sig3(p?.P999),
                ReportFormat.Sig3(p?.Max), ReportFormat.Sig3(p?.Mean), rounds,
            };
            if (nginx is not null)
            {
                row.Add(ratio);
            }

            return row;
        }
    }

    /// <summary>External load generators' figures beside ours: tool, command, their req/s (median of the rounds, and
    /// each round), ours, theirs / ours, and — when the tool also ran nginx-tls — each scenario against nginx-tls under
    /// that tool, as the median of the per-round ratios (round r of both ran seconds apart).</summary>
    public static ReportTable CrossChecks(CompareReport report)
    {
        var columns = new List<ReportColumn>
        {
            new("Scenario", "Scenario", Numeric: false),
            new("Tool", "Tool", Numeric: false),
            new("Command", "Command", Numeric: false),
            new("Their req/s (median)", "Their\nreq/s", Numeric: true),
            new("per round", "per\nround", Numeric: true),
            new("Our req/s", "Our\nreq/s", Numeric: true),
            new("Theirs / ours", "Theirs\n/ ours", Numeric: true),
        };

        // The column only when some other scenario ran under a tool that also ran nginx-tls.
        bool anyNginx = report.CrossChecks.Any(c => c.ScenarioId != "nginx-tls" && NginxUnder(report, c.Tool) is not null);

        if (anyNginx)
        {
            columns.Add(new("vs nginx-tls under the same tool, per-round median", "vs nginx\nper round", Numeric: true));
        }

        columns.Add(new("Their p99 (ms)", "Their\np99 ms", Numeric: true));
        var rows = new List<IReadOnlyList<string>>();
        foreach (var c in report.CrossChecks)
        {
            double? ratio = c.OursRps > 0 ? c.Rps / c.OursRps : null;
            var row = new List<string>
            {
                ReportFormat.NameOf(report, c.ScenarioId), c.Tool, c.CommandLine, ReportFormat.Rps(c.Rps),
                c.RoundRps.Count > 1 ? string.Join(" / ", c.RoundRps.Select(r => ReportFormat.Rps(r))) : "—",
                ReportFormat.Rps(c.OursRps), ReportFormat.Ratio(ratio),
            };
            if (anyNginx)
            {
                CrossCheck? nginx = NginxUnder(report, c.Tool);
                row.Add(ReportFormat.Ratio(nginx is null || c.ScenarioId == "nginx-tls" ? null : CompareCommand.MedianRoundRatio(c.RoundRps, nginx.RoundRps)));
            }

            row.Add(ReportFormat.Sig3(c.P99Ms));
            rows.Add(row);
        }

        return new ReportTable(columns, rows);
    }

    private static CrossCheck? NginxUnder(CompareReport report, string tool) =>
        report.CrossChecks.FirstOrDefault(n => n.ScenarioId == "nginx-tls" && n.Tool == tool);
}
