using System.Text;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// <c>report.md</c>: the machine, the command, the settings, the main table, the charts, the latency detail, the
/// skipped scenarios and the cross-checks. Figures are written invariantly; a figure not measured is "—".
/// </summary>
internal static class MarkdownReport
{
    /// <summary>
    /// The report. <paramref name="linkPrefix"/> is put before every relative link (charts, report.json): empty for
    /// the run directory's own report.md, "&lt;timestamp&gt;/" for results/latest.md.
    /// </summary>
    public static string Render(CompareReport report, IReadOnlyList<ChartFile> charts, string linkPrefix = "")
    {
        var md = new StringBuilder();
        var settings = report.Settings;
        var machine = report.Machine;

        Line(md, $"# BelizeMesh compare: {ReportFormat.Timestamp(report.StartedAt)}");
        Line(md);
        Line(md, $"Run started {ReportFormat.Timestamp(report.StartedAt)} and took {ReportFormat.Duration(report.WallSeconds)}; "
            + $"{ReportFormat.Integer(report.Scenarios.Count)} scenarios measured, {ReportFormat.Integer(report.Skipped.Count)} skipped. "
            + $"Raw figures: [report.json]({linkPrefix}report.json).");
        Line(md);

        Line(md, "## Machine");
        Line(md);
        var machineRows = new List<IReadOnlyList<string>>
        {
            new[] { "CPU", machine.Cpu },
            new[] { "Cores", ReportFormat.Integer(machine.Cores) },
            new[] { "Memory", ReportFormat.Fixed(machine.MemoryGiB, 1) + " GiB" },
            new[] { "OS", machine.Os },
            new[] { ".NET", machine.DotNet },
        };
        if (settings.ProxyBuild is { } proxyBuild)
        {
            machineRows.Add(["belizemesh-proxy build", proxyBuild]);
        }

        foreach (var (tool, version) in machine.Tools.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            machineRows.Add([tool, version]);
        }

        Table(md, new ReportTable([new("", "", false), new("", "", false)], machineRows));
        Line(md);

        if (report.CpuProbes.Count > 0)
        {
            bool uneven = report.CpuProbes.Any(p => p.Uneven);
            Line(md, uneven
                ? $"**The vCPUs were uneven during this run** (slowest over fastest above {ReportFormat.Fixed(CpuSpeed.UnevenSpread, 2)}: the host slowed one of them; perf/README.md, \"the vCPUs\"): figures taken then are not comparable with a run where they were even. Per-CPU speed probe, ms per fixed loop:"
                : "Per-CPU speed probe, ms per fixed loop (even throughout):");
            Line(md);
            foreach (CpuProbe probe in report.CpuProbes)
            {
                Line(md, "- " + probe);
            }

            Line(md);
        }

        Line(md, "## Command");
        Line(md);
        var fence = Fence(report.Command, '`', 3);
        Line(md, fence + "sh");
        Line(md, report.Command.ReplaceLineEndings(" "));
        Line(md, fence);
        Line(md);

        Line(md, "## Settings");
        Line(md);
        var rates = string.Join(", ", settings.Rates.Select(r => ReportFormat.Integer(r) + " req/s"));
        Table(md, new ReportTable(
            [new("Setting", "", false), new("Value", "", false)],
            [
                ["Mode", settings.Quick ? "quick" : "full"],
                ["Protocol (load generator → first hop)", settings.Protocol],
                ["Closed-loop throughput", $"{ReportFormat.Integer(settings.Concurrency)} connections, {ReportFormat.Integer(settings.Repeats)} × {ReportFormat.Plain(settings.ThroughputSeconds)} s, median reported"],
                ["Warm-up", ReportFormat.Plain(settings.WarmupSeconds) + " s"],
                ["Open-loop latency", rates.Length == 0 ? "none" : rates + $"; {ReportFormat.Plain(settings.LatencySeconds)} s each"
                    + (settings.LatencyRounds > 1 ? $", in {ReportFormat.Integer(settings.LatencyRounds)} rounds of {ReportFormat.Plain(settings.LatencySeconds / settings.LatencyRounds)} s interleaved with the other scenarios" : "")],
                ["Response body", ReportFormat.Integer(settings.ResponseBytes) + " bytes"],
                ["Bulk download", settings.BulkBytes == 0 ? "not run" : $"{ReportFormat.Integer((int)(settings.BulkBytes / 1_000_000))} MB on one connection, median of 3"],
            ]));
        Line(md);

        Line(md, "## Results");
        Line(md);
        Table(md, ReportTables.MainTable(report));
        Line(md);
        Line(md, $"- Throughput: closed loop, {ReportFormat.Integer(settings.Concurrency)} connections; median and min–max of "
            + $"{ReportFormat.Integer(settings.Repeats)} runs"
            + (ReportFormat.Baseline(report) is null ? "." : $"; \"vs nginx-tls\" is the median divided by nginx-tls's median."));
        Line(md, "- Latency: open loop at each target rate, measured from each request's intended send time (no coordinated omission)"
            + (settings.LatencyRounds > 1
                ? $"; {ReportFormat.Integer(settings.LatencyRounds)} rounds per scenario and rate, run in turn with the other scenarios' (order reversed every other round), percentiles over all rounds' requests; each round's p99"
                    + (ReportFormat.Baseline(report) is null ? " is" : " and the median per-round p99 ratio to nginx-tls are") + " in the latency detail."
                : "."));
        Line(md, "- CPU and memory: the proxy processes of the scenario together (user + system CPU seconds during the closed-loop "
            + "runs; RSS summed over the processes); the direct scenario has no proxy.");
        Line(md, "- Errors: every failed request of the scenario (connect errors, non-2xx, timeouts), all phases.");
        if (settings.BulkBytes > 0)
        {
            Line(md, "- Bulk: one GET of a large body on one keep-alive connection through both hops, MB/s = 10^6 bytes/s, median of 3.");
        }

        Line(md, $"- {ReportFormat.Missing} means not measured.");
        Line(md);

        if (charts.Count > 0)
        {
            Line(md, "## Charts");
            Line(md);
            foreach (var chart in charts)
            {
                Line(md, $"![{Escape(chart.AltText)}]({linkPrefix}{chart.FileName})");
                Line(md);
            }
        }

        Line(md, "## Scenarios");
        Line(md);
        Table(md, new ReportTable(
            [new("Scenario", "", false), new("Id", "", false), new("Proxy processes", "", true), new("What it is", "", false)],
            report.Scenarios.Select(s => (IReadOnlyList<string>)[s.Name, s.Id, ReportFormat.Integer(s.ProxyProcesses), s.Description]).ToList()));
        Line(md);

        Line(md, "## Latency detail");
        Line(md);
        Table(md, ReportTables.LatencyDetail(report));
        Line(md);

        Line(md, "## Skipped");
        Line(md);
        if (report.Skipped.Count == 0)
        {
            Line(md, "None.");
        }

        foreach (var skipped in report.Skipped)
        {
            Line(md, $"- **{Escape(skipped.Name)}** ({Code(skipped.Id)}): {Escape(skipped.Reason)}");
        }

        Line(md);

        Line(md, "## Cross-checks");
        Line(md);
        if (report.CrossChecks.Count == 0)
        {
            Line(md, "None (no external load generator was run).");
        }
        else
        {
            Table(md, ReportTables.CrossChecks(report), codeColumn: 2);
            Line(md);
            Line(md, "The same scenario and settings driven by an external load generator, in rounds interleaved with the other scenarios' (round r of every scenario, then round r + 1; order reversed every other round); \"theirs / ours\" near 1 means our load generator is not the bottleneck, and \"vs nginx\" pairs each round with nginx-tls's round of the same number.");
        }

        return md.ToString();
    }

    private static void Line(StringBuilder md, string text = "") => md.Append(text).Append('\n');

    /// <summary>A GitHub table; cells of <paramref name="codeColumn"/> are code spans.</summary>
    private static void Table(StringBuilder md, ReportTable table, int codeColumn = -1)
    {
        md.Append('|');
        foreach (var column in table.Columns)
        {
            md.Append(' ').Append(Escape(column.Header)).Append(" |");
        }

        md.Append("\n|");
        foreach (var column in table.Columns)
        {
            md.Append(column.Numeric ? " ---: |" : " --- |");
        }

        md.Append('\n');
        foreach (var row in table.Rows)
        {
            md.Append('|');
            for (var i = 0; i < row.Count; i++)
            {
                md.Append(' ').Append(i == codeColumn ? Code(row[i]) : Escape(row[i])).Append(" |");
            }

            md.Append('\n');
        }
    }

    /// <summary>
    /// Text that Markdown must show as it is, also inside a table cell: the characters that would start emphasis,
    /// code, links or HTML are backslash-escaped, '|' too, and line breaks become spaces.
    /// </summary>
    public static string Escape(string text)
    {
        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text.ReplaceLineEndings(" "))
        {
            if (c is '\\' or '|' or '*' or '_' or '`' or '[' or ']' or '<' or '>' or '#')
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        return sb.ToString();
    }

    /// <summary>An inline code span that holds any text, also in a table cell ('|' escaped, as GitHub requires there).</summary>
    private static string Code(string text)
    {
        var body = text.ReplaceLineEndings(" ").Replace("|", "\\|", StringComparison.Ordinal);
        var fence = Fence(body, '`', 1);
        var pad = body.StartsWith('`') || body.EndsWith('`') ? " " : "";
        return fence + pad + body + pad + fence;
    }

    /// <summary>A run of <paramref name="c"/> longer than any in <paramref name="text"/>, at least <paramref name="min"/> long.</summary>
    private static string Fence(string text, char c, int min)
    {
        int longest = 0, run = 0;
        foreach (var ch in text)
        {
            run = ch == c ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }

        return new string(c, Math.Max(min, longest + 1));
    }
}
