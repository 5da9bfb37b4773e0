using System.Globalization;

namespace BelizeMesh.Perf.Compare;

/// <summary>A chart of the report: its file name in the run directory, the alt text of its Markdown image, its SVG.</summary>
internal sealed record ChartFile(string FileName, string AltText, string Svg);

/// <summary>
/// The report's charts as hand-written SVG: throughput (bars with a min–max whisker), one latency percentile plot per
/// target rate (HdrHistogram style, x on a log scale of nines), proxy CPU per 1,000 requests, and proxy memory (idle
/// and peak). Every scenario has the same colour in every chart (<see cref="ScenarioColours"/>), every value is
/// written beside its bar or in the legend, and a figure that was not measured is left out (and said so), never drawn
/// as zero.
/// </summary>
internal static class ReportCharts
{
    private const double MinWidth = 820;
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static IReadOnlyList<ChartFile> Render(CompareReport report)
    {
        var colours = ScenarioColours.For(report);
        var charts = new List<ChartFile> { Throughput(report, colours) };
        foreach (var rate in ReportFormat.Rates(report))
        {
            charts.Add(Latency(report, rate, colours));
        }

        charts.Add(Cpu(report, colours));
        charts.Add(Memory(report, colours));
        return charts;
    }

    public static string LatencyFileName(int rate) => "latency-" + rate.ToString(Invariant) + ".svg";

    public static ChartFile Throughput(CompareReport report, ScenarioColours colours)
    {
        var settings = report.Settings;
        var baseline = ReportFormat.Baseline(report);
        var groups = new List<BarGroup>();
        foreach (var s in report.Scenarios)
        {
            var t = s.Throughput;
            var label = ReportFormat.Rps(t.MedianRps) + " req/s";
            if (baseline is not null && s.Id != baseline.Id)
            {
                label += " · " + ReportFormat.Ratio(ReportFormat.RatioToBaseline(s, baseline)) + " " + ReportFormat.BaselineId;
            }

            var tooltip = $"{s.Name}: median {ReportFormat.Rps(t.MedianRps)} req/s, min {ReportFormat.Rps(t.MinRps)}, max {ReportFormat.Rps(t.MaxRps)}";
            groups.Add(new BarGroup(s.Name, [new Bar(t.MedianRps, colours[s.Id], 1, label, tooltip, t.MinRps, t.MaxRps)]));
        }

        const string title = "Throughput";
        var subtitle = $"Closed loop, {ReportFormat.Integer(settings.Concurrency)} connections, {settings.Protocol}; "
            + $"median of {ReportFormat.Integer(settings.Repeats)} × {ReportFormat.Plain(settings.ThroughputSeconds)} s, whisker = min–max. Higher is better.";
        var svg = HorizontalBars(title, subtitle, "Requests per second", groups, [], footnote: null);
        return new ChartFile("throughput.svg", "throughput", svg);
    }

    public static ChartFile Cpu(CompareReport report, ScenarioColours colours)
    {
        var groups = new List<BarGroup>();
        var notShown = new List<string>();
        foreach (var s in report.Scenarios)
        {
            if (!ReportFormat.IsMeasured(s.CpuSecondsPer1000Requests))
            {
                notShown.Add(s.Name);
                continue;
            }

            var value = s.CpuSecondsPer1000Requests.Value;
            var label = ReportFormat.Sig3(value) + " s";
            var tooltip = $"{s.Name}: {label} CPU per 1,000 requests ({ReportFormat.Integer(s.ProxyProcesses)} proxy processes)";
            groups.Add(new BarGroup(s.Name, [new Bar(value, colours[s.Id], 1, label, tooltip)]));
        }

        const string title = "Proxy CPU per 1,000 requests";
        const string subtitle = "User + system CPU seconds of the proxy processes during the closed-loop runs. Lower is better.";
        var svg = HorizontalBars(title, subtitle, "CPU seconds per 1,000 requests", groups, [], NotShown(notShown));
        return new ChartFile("cpu.svg", "cpu", svg);
    }

    public static ChartFile Memory(CompareReport report, ScenarioColours colours)
    {
        const double idleOpacity = 0.4;
        var groups = new List<BarGroup>();
        var notShown = new List<string>();
        foreach (var s in report.Scenarios)
        {
            if (!ReportFormat.IsMeasured(s.IdleRssMiB) && !ReportFormat.IsMeasured(s.PeakRssMiB))
            {
                notShown.Add(s.Name);
                continue;
            }

            var processes = $"{ReportFormat.Integer(s.ProxyProcesses)} proxy processes";
            groups.Add(new BarGroup(s.Name,
            [
                new Bar(s.IdleRssMiB, colours[s.Id], idleOpacity, Label("idle", s.IdleRssMiB), $"{s.Name}: idle RSS {ReportFormat.Sig3(s.IdleRssMiB)} MiB ({processes})"),
                new Bar(s.PeakRssMiB, colours[s.Id], 1, Label("peak", s.PeakRssMiB), $"{s.Name}: peak RSS {ReportFormat.Sig3(s.PeakRssMiB)} MiB ({processes})"),
            ]));
        }

        const string title = "Proxy resident memory";
        const string subtitle = "Sum over the proxy processes of a scenario: idle after start-up, and peak (VmHWM) under load. Lower is better.";
        LegendEntry[] legend = [new(Svg.Axis, idleOpacity, "idle"), new(Svg.Axis, 1, "peak")];
        var svg = HorizontalBars(title, subtitle, "Resident memory (MiB)", groups, legend, NotShown(notShown));
        return new ChartFile("memory.svg", "memory", svg);

        static string Label(string what, double? mib) =>
            ReportFormat.IsMeasured(mib) ? ReportFormat.Sig3(mib) + " MiB " + what : what + " not measured";
    }

    /// <summary>
    /// Latency percentile curves at one target rate: x = −log₁₀(1 − p/100), so 90%, 99%, 99.9% and 99.99% are
    /// evenly spaced; the maximum (percentile 100) is drawn at the right edge. y in ms from 0, or logarithmic when
    /// the values span more than two decades.
    /// </summary>
    public static ChartFile Latency(CompareReport report, int rate, ScenarioColours colours)
    {
        var settings = report.Settings;
        var series = new List<(ScenarioResult Scenario, LatencyResult Result, IReadOnlyList<PercentilePoint> Points)>();
        foreach (var s in report.Scenarios)
        {
            if (ReportFormat.LatencyAt(s, rate) is { } result && CurveOf(result) is { Count: > 0 } points)
            {
                series.Add((s, result, points));
            }
        }

        var title = $"Latency at {ReportFormat.Integer(rate)} req/s";
        var subtitle = $"Open loop, {settings.Protocol}, {ReportFormat.Plain(settings.LatencySeconds)} s; "
            + "from each request's intended send time (no coordinated omission). Lower is better.";
        var fileName = LatencyFileName(rate);
        var alt = $"latency at {ReportFormat.Integer(rate)} req/s";

        var legendLines = series.Select(x => LegendText(x.Scenario, x.Result)).ToList();
        const double left = 72;
        const double right = 32;
        const double plotTop = 84;
        const double plotHeight = 320;
        var width = Math.Max(MinWidth, legendLines.Select(l => 16 + 34 + Svg.TextWidth(l) + 16).DefaultIfEmpty(0).Max());
        var plotWidth = width - left - right;
        const double plotBottom = plotTop + plotHeight;

        var svg = new Svg();
        svg.Text(16, 26, title, 16, bold: true);
        svg.Text(16, 48, subtitle, 12, fill: Svg.Muted);

        if (series.Count == 0)
        {
            svg.Text(16, 84, "No scenario has latency figures at this rate.", fill: Svg.Muted);
            return new ChartFile(fileName, alt, svg.Render(width, 112, title));
        }

        // x: nines. The last tick is 99.99% unless a curve goes further (99.999% ...); the first is 50%, or 0% when
        // a curve starts below the median.
        var all = series.SelectMany(x => x.Points).ToList();
        var lastNines = 4.0;
        foreach (var p in all.Where(p => p.Percentile < 100))
        {
            lastNines = Math.Max(lastNines, Math.Min(7, Math.Ceiling(Nines(p.Percentile) - 1e-6)));
        }

        var firstNines = all.Any(p => p.Percentile < 50) ? 0 : Nines(50);
        double XNines(double nines) => left + Math.Clamp((nines - firstNines) / (lastNines - firstNines), 0, 1) * plotWidth;
        double X(double percentile) => percentile >= 100 ? left + plotWidth : XNines(Nines(percentile));

        var xTicks = new List<(double Nines, string Label)>();
        if (firstNines == 0)
        {
            xTicks.Add((0, "0%"));
        }

        xTicks.Add((Nines(50), "50%"));
        for (var k = 1; k <= (int)lastNines; k++)
        {
            var percentile = 100 - Math.Pow(10, 2 - k);
            xTicks.Add((k, percentile.ToString(k > 2 ? "0." + new string('0', k - 2) : "0", Invariant) + "%"));
        }

        // y: milliseconds, linear from 0 unless the values span more than two decades.
        var maxMs = all.Max(p => p.Milliseconds);
        var minPositive = all.Where(p => p.Milliseconds > 0).Select(p => p.Milliseconds).DefaultIfEmpty(0).Min();
        var logScale = minPositive > 0 && maxMs / minPositive > 100;
        Func<double, double> y;
        var yTicks = new List<(double Ms, string Label, bool Major)>();
        if (logScale)
        {
            var lo = Math.Floor(Math.Log10(minPositive));
            var hi = Math.Max(Math.Ceiling(Math.Log10(maxMs)), lo + 1);
            y = ms => plotBottom - Math.Clamp((Math.Log10(Math.Max(ms, Math.Pow(10, lo))) - lo) / (hi - lo), 0, 1) * plotHeight;
            for (var e = lo; e <= hi; e++)
            {
                var decade = Math.Pow(10, e);
                yTicks.Add((decade, DecadeLabel(decade), true));
                if (e < hi)
                {
                    yTicks.Add((2 * decade, "", false));
                    yTicks.Add((5 * decade, "", false));
                }
            }
        }
        else
        {
            var scale = NiceScale.For(maxMs, targetTicks: 6);
            y = ms => plotBottom - Math.Clamp(ms / scale.Max, 0, 1) * plotHeight;
            yTicks.AddRange(scale.Ticks().Select(t => (t, scale.Label(t), true)));
        }

        foreach (var (ms, label, major) in yTicks)
        {
            svg.Line(left, y(ms), left + plotWidth, y(ms), Svg.Grid, major ? 1 : 0.5, major ? null : "2 3");
            if (major)
            {
                svg.Text(left - 8, y(ms), label, 11, "end", Svg.Muted);
            }
        }

        foreach (var (nines, label) in xTicks)
        {
            svg.Line(XNines(nines), plotTop, XNines(nines), plotBottom, Svg.Grid);
            svg.Text(XNines(nines), plotBottom + 14, label, 11, "middle", Svg.Muted);
        }

        svg.Line(left, plotBottom, left + plotWidth, plotBottom, Svg.Axis);
        svg.Line(left, plotTop, left, plotBottom, Svg.Axis);
        svg.Text(left + plotWidth / 2, plotBottom + 36, "Percentile (log scale of nines; the maximum is drawn at the right edge)", 12, "middle");
        svg.Text(22, plotTop + plotHeight / 2, logScale ? "Latency (ms, log scale)" : "Latency (ms)", 12, "middle", rotate: -90);

        foreach (var (scenario, _, points) in series)
        {
            var colour = colours[scenario.Id];
            var xy = points.Select(p => (X(p.Percentile), y(p.Milliseconds))).ToList();
            if (xy.Count > 1)
            {
                svg.Polyline(xy, colour, 2);
            }

            foreach (var p in points)
            {
                var at = p.Percentile >= 100 ? "max" : "p" + p.Percentile.ToString("0.####", Invariant);
                svg.Circle(X(p.Percentile), y(p.Milliseconds), 3.2, colour, $"{scenario.Name}: {at} = {ReportFormat.Sig3(p.Milliseconds)} ms");
            }
        }

        var legendTop = plotBottom + 64;
        for (var i = 0; i < series.Count; i++)
        {
            var rowY = legendTop + (i * 20);
            var colour = colours[series[i].Scenario.Id];
            svg.Line(16, rowY, 40, rowY, colour, 2.5);
            svg.Circle(28, rowY, 3.2, colour);
            svg.Text(48, rowY, legendLines[i]);
        }

        return new ChartFile(fileName, alt, svg.Render(width, legendTop + (series.Count * 20) + 4, title));

        static string LegendText(ScenarioResult s, LatencyResult l)
        {
            var p = l.Percentiles;
            var text = $"{s.Name}: p50 {ReportFormat.Sig3(p.P50)} · p99 {ReportFormat.Sig3(p.P99)} · p99.9 {ReportFormat.Sig3(p.P999)} · max {ReportFormat.Sig3(p.Max)} ms";
            if (ReportFormat.IsMeasured(l.AchievedRps) && l.AchievedRps < 0.95 * l.TargetRps)
            {
                text += $" · achieved {ReportFormat.Rps(l.AchievedRps)} req/s";
            }

            if (l.Errors > 0)
            {
                text += $" · {ReportFormat.Count(l.Errors)} errors";
            }

            return text;
        }
    }

    /// <summary>
    /// The points to draw: the measured curve (finite values only, percentiles clamped to [0, 100], ascending); if
    /// the curve is empty, the headline percentiles with the maximum as 100.
    /// </summary>
    private static List<PercentilePoint> CurveOf(LatencyResult result)
    {
        IEnumerable<PercentilePoint> points = result.Curve.Count > 0
            ? result.Curve
            : result.Percentiles is { } p
                ? [new(50, p.P50), new(90, p.P90), new(99, p.P99), new(99.9, p.P999), new(100, p.Max)]
                : [];
        return points
            .Where(p => double.IsFinite(p.Percentile) && double.IsFinite(p.Milliseconds) && p.Milliseconds >= 0)
            .Select(p => p with { Percentile = Math.Clamp(p.Percentile, 0, 100) })
            .OrderBy(p => p.Percentile)
            .ToList();
    }

    /// <summary>−log₁₀(1 − p/100): 90% → 1, 99% → 2, 99.9% → 3. Only for p below 100.</summary>
    private static double Nines(double percentile) => -Math.Log10(1 - (percentile / 100));

    private static string DecadeLabel(double decade) =>
        decade >= 1 ? decade.ToString("N0", Invariant) : decade.ToString("0.#########", Invariant);

    private static string? NotShown(List<string> names) =>
        names.Count == 0 ? null : "Not measured, not shown: " + string.Join(", ", names) + ".";

    private sealed record Bar(double? Value, string Fill, double Opacity, string Label, string Tooltip, double? WhiskerMin = null, double? WhiskerMax = null);

    private sealed record BarGroup(string Category, IReadOnlyList<Bar> Bars);

    private sealed record LegendEntry(string Fill, double Opacity, string Label);

    /// <summary>Horizontal bars from zero, one group per scenario, each bar labelled with its value.</summary>
    private static string HorizontalBars(string title, string subtitle, string axisLabel, IReadOnlyList<BarGroup> groups,
        IReadOnlyList<LegendEntry> legend, string? footnote)
    {
        var svg = new Svg();
        svg.Text(16, 26, title, 16, bold: true);
        svg.Text(16, 48, subtitle, 12, fill: Svg.Muted);
        var top = 62.0;
        if (legend.Count > 0)
        {
            double x = 16;
            top += 12;
            foreach (var entry in legend)
            {
                svg.Rect(x, top - 6, 12, 12, entry.Fill, entry.Opacity);
                svg.Text(x + 18, top, entry.Label);
                x += 18 + Svg.TextWidth(entry.Label) + 20;
            }

            top += 10;
        }

        var subtitleWidth = 32 + Svg.TextWidth(subtitle);
        if (groups.Count == 0)
        {
            svg.Text(16, top + 24, "No scenario measured this figure.", fill: Svg.Muted);
            if (footnote is not null)
            {
                svg.Text(16, top + 48, footnote, 11, fill: Svg.Muted);
            }

            return svg.Render(Math.Max(MinWidth, subtitleWidth), top + 72, title);
        }

        var barsPerGroup = groups.Max(g => g.Bars.Count);
        double barHeight = barsPerGroup == 1 ? 22 : 16;
        const double barGap = 3;
        const double groupGap = 14;
        var groupHeight = (barsPerGroup * barHeight) + ((barsPerGroup - 1) * barGap);

        var left = 16 + groups.Max(g => Svg.TextWidth(g.Category)) + 12;
        var right = groups.SelectMany(g => g.Bars).Max(b => Svg.TextWidth(b.Label)) + 24;
        var width = Math.Max(Math.Max(MinWidth, subtitleWidth), left + 360 + right);
        var plotWidth = width - left - right;
        var plotTop = top + 8;
        var plotBottom = plotTop + groupGap + (groups.Count * (groupHeight + groupGap));

        var dataMax = groups.SelectMany(g => g.Bars).SelectMany(b => new[] { b.Value, b.WhiskerMax })
            .Where(ReportFormat.IsMeasured).Select(v => v!.Value).DefaultIfEmpty(0).Max();
        var scale = NiceScale.For(dataMax);
        double X(double v) => left + (Math.Clamp(v / scale.Max, 0, 1) * plotWidth);

        foreach (var tick in scale.Ticks())
        {
            svg.Line(X(tick), plotTop, X(tick), plotBottom, Svg.Grid);
            svg.Text(X(tick), plotBottom + 14, scale.Label(tick), 11, "middle", Svg.Muted);
        }

        for (var i = 0; i < groups.Count; i++)
        {
            var group = groups[i];
            var groupTop = plotTop + groupGap + (i * (groupHeight + groupGap));
            svg.Text(left - 10, groupTop + (groupHeight / 2), group.Category, 12, "end");
            for (var j = 0; j < group.Bars.Count; j++)
            {
                var bar = group.Bars[j];
                var barTop = groupTop + (j * (barHeight + barGap));
                var middle = barTop + (barHeight / 2);
                var labelX = X(0) + 6;
                var labelFill = Svg.Muted;
                if (ReportFormat.IsMeasured(bar.Value))
                {
                    svg.Rect(X(0), barTop, X(bar.Value.Value) - X(0), barHeight, bar.Fill, bar.Opacity, bar.Tooltip);
                    labelX = X(bar.Value.Value) + 6;
                    labelFill = Svg.Ink;
                }

                if (ReportFormat.IsMeasured(bar.WhiskerMin) && ReportFormat.IsMeasured(bar.WhiskerMax))
                {
                    double x1 = X(bar.WhiskerMin.Value), x2 = X(bar.WhiskerMax.Value), cap = barHeight * 0.3;
                    svg.Line(x1, middle, x2, middle, Svg.Ink, 1.5);
                    svg.Line(x1, middle - cap, x1, middle + cap, Svg.Ink, 1.5);
                    svg.Line(x2, middle - cap, x2, middle + cap, Svg.Ink, 1.5);
                    labelX = Math.Max(labelX, x2 + 6);
                }

                svg.Text(labelX, middle, bar.Label, 12, fill: labelFill);
            }
        }

        svg.Line(X(0), plotTop, X(0), plotBottom, Svg.Axis);
        svg.Line(X(0), plotBottom, left + plotWidth, plotBottom, Svg.Axis);
        svg.Text(left + (plotWidth / 2), plotBottom + 36, axisLabel, 12, "middle");
        var height = plotBottom + 52;
        if (footnote is not null)
        {
            svg.Text(16, plotBottom + 58, footnote, 11, fill: Svg.Muted);
            height += 18;
        }

        return svg.Render(width, height, title);
    }
}
