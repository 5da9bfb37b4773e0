using System.Globalization;
using System.Xml.Linq;
using BelizeMesh.Perf.Compare;

namespace BelizeMesh.Perf.Tests;

/// <summary>The SVG charts: well-formed, complete, and drawn from the figures (never from a missing one).</summary>
public sealed class ReportChartsTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    private static XDocument Parse(ChartFile chart) => XDocument.Parse(chart.Svg);

    private static ChartFile Chart(CompareReport report, string fileName) =>
        Assert.Single(ReportCharts.Render(report), c => c.FileName == fileName);

    /// <summary>The text the chart shows (its &lt;text&gt; elements, unescaped).</summary>
    private static string Shown(XDocument svg) => string.Join("\n", svg.Descendants(Svg + "text").Select(t => t.Value));

    /// <summary>The points of the curves (legend markers have no title).</summary>
    private static IEnumerable<XElement> Points(XDocument svg) =>
        svg.Descendants(Svg + "circle").Where(c => c.Element(Svg + "title") is not null);

    private static double Attr(XElement element, string name) =>
        double.Parse((string)element.Attribute(name)!, CultureInfo.InvariantCulture);

    [Fact]
    public void Renders_throughput_one_latency_chart_per_rate_cpu_and_memory()
    {
        var charts = ReportCharts.Render(SampleReports.FiveScenarios());

        Assert.Equal(new[] { "throughput.svg", "latency-1000.svg", "latency-5000.svg", "cpu.svg", "memory.svg" }, charts.Select(c => c.FileName));
    }

    [Fact]
    public void Every_chart_is_well_formed_svg_that_names_every_measured_scenario()
    {
        var report = SampleReports.FiveScenarios();
        var odd = SampleReports.Scenario("envoy-tls", "Envoy <edge> & \"co\" 'x'", "x", 9000, 0.5, 0.2, 30, 20, 2, 0);
        report = report with { Scenarios = [.. report.Scenarios, odd] };

        foreach (var chart in ReportCharts.Render(report))
        {
            var svg = Parse(chart);
            Assert.Equal(Svg + "svg", svg.Root!.Name);
            Assert.NotNull(svg.Root.Element(Svg + "title"));
            Assert.DoesNotContain("NaN", chart.Svg, StringComparison.Ordinal);
            Assert.DoesNotContain("Infinity", chart.Svg, StringComparison.Ordinal);
            var shown = Shown(svg);
            foreach (var scenario in report.Scenarios)
            {
                Assert.True(shown.Contains(scenario.Name, StringComparison.Ordinal), $"{chart.FileName} does not name {scenario.Name}");
            }
        }
    }

    [Fact]
    public void Scenarios_keep_their_colour_across_charts()
    {
        var report = SampleReports.FiveScenarios();
        report = report with { Scenarios = [.. report.Scenarios, SampleReports.Scenario("envoy-tls", "Envoy", "x", 9000, 0.5, 0.2, 30, 20, 2, 0)] };
        var colours = ScenarioColours.For(report);
        var ids = report.Scenarios.Select(s => s.Id).Append("haproxy-tls").ToList();

        Assert.Equal(ids.Count, ids.Select(id => colours[id]).Distinct().Count());
        Assert.Equal("#1f4fc4", colours["belizemesh-pq"]);
        foreach (var chart in ReportCharts.Render(report))
        {
            foreach (var scenario in report.Scenarios.Where(s => s.Id != "direct"))
            {
                Assert.Contains($"fill=\"{colours[scenario.Id]}\"", chart.Svg, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Throughput_bars_carry_their_value_a_min_max_whisker_and_the_ratio_to_nginx()
    {
        var svg = Parse(Chart(SampleReports.FiveScenarios(), "throughput.svg"));

        Assert.Contains("12,346 req/s · 0.66× nginx-tls", Shown(svg), StringComparison.Ordinal);
        Assert.Contains("18,812 req/s", Shown(svg), StringComparison.Ordinal);
        Assert.DoesNotContain("18,812 req/s ·", Shown(svg), StringComparison.Ordinal);
        var bar = svg.Descendants(Svg + "rect").Single(r => r.Element(Svg + "title")?.Value.StartsWith("BelizeMesh, 2 hops, PQ", StringComparison.Ordinal) == true);
        var barEnd = Attr(bar, "x") + Attr(bar, "width");
        var middle = Attr(bar, "y") + (Attr(bar, "height") / 2);
        var whisker = svg.Descendants(Svg + "line").Where(l => Attr(l, "y1") == middle && Attr(l, "y2") == middle).ToList();
        var stem = Assert.Single(whisker);
        Assert.True(Attr(stem, "x1") < barEnd && barEnd < Attr(stem, "x2"), "the whisker spans the median");
    }

    [Fact]
    public void Throughput_axis_ticks_fall_on_nice_values()
    {
        var svg = Parse(Chart(SampleReports.FiveScenarios(), "throughput.svg"));

        // The largest value is direct's max, 41,234.5 × 1.02 = 42,059: ticks every 10,000 up to 50,000.
        var ticks = svg.Descendants(Svg + "text").Select(t => t.Value).Where(v => v.Length > 0 && v.All(c => char.IsDigit(c) || c == ',')).ToList();
        Assert.Equal(new[] { "0", "10,000", "20,000", "30,000", "40,000", "50,000" }, ticks);
    }

    [Fact]
    public void Cpu_and_memory_charts_leave_out_unmeasured_scenarios_and_say_so()
    {
        var report = SampleReports.FiveScenarios();
        foreach (var file in new[] { "cpu.svg", "memory.svg" })
        {
            var svg = Parse(Chart(report, file));
            Assert.DoesNotContain(svg.Descendants(Svg + "rect"), r => r.Element(Svg + "title")?.Value.StartsWith("Direct", StringComparison.Ordinal) == true);
            Assert.Contains("Not measured, not shown: Direct to the app.", Shown(svg), StringComparison.Ordinal);
        }

        Assert.Contains("0.412 s", Shown(Parse(Chart(report, "cpu.svg"))), StringComparison.Ordinal);
        var memory = Shown(Parse(Chart(report, "memory.svg")));
        Assert.Contains("96.3 MiB peak", memory, StringComparison.Ordinal);
        Assert.Contains("41.5 MiB idle", memory, StringComparison.Ordinal);
        Assert.Contains("idle", memory.Split('\n'));
        Assert.Contains("peak", memory.Split('\n'));
    }

    [Fact]
    public void Memory_chart_draws_the_measured_half_when_the_other_is_missing()
    {
        var report = SampleReports.FiveScenarios();
        report = report with { Scenarios = [.. report.Scenarios.Select(s => s.Id == "nginx-tls" ? s with { IdleRssMiB = null } : s)] };

        var memory = Shown(Parse(Chart(report, "memory.svg")));

        Assert.Contains("idle not measured", memory, StringComparison.Ordinal);
        Assert.Contains("14.6 MiB peak", memory, StringComparison.Ordinal);
    }

    [Fact]
    public void Latency_chart_has_nines_ticks_and_a_legend_with_the_headline_percentiles()
    {
        var svg = Parse(Chart(SampleReports.FiveScenarios(), "latency-1000.svg"));
        var shown = Shown(svg).Split('\n');

        var xTicks = new[] { "50%", "90%", "99%", "99.9%", "99.99%" };
        Assert.All(xTicks, t => Assert.Contains(t, shown));
        var xs = xTicks.Select(t => Attr(svg.Descendants(Svg + "text").Single(e => e.Value == t), "x")).ToList();
        // Evenly spaced from 90% on: one nine per step.
        Assert.Equal(xs[2] - xs[1], xs[3] - xs[2], 1);
        Assert.Equal(xs[3] - xs[2], xs[4] - xs[3], 1);
        Assert.Contains("BelizeMesh, 2 hops, PQ channel: p50 0.412 · p99 1.28 · p99.9 2.35 · max 5.11 ms · 3 errors", shown);
        Assert.Contains("Latency (ms)", shown);
    }

    [Fact]
    public void Latency_chart_draws_a_single_point_curve_at_percentile_100_on_the_last_tick()
    {
        var report = SampleReports.FiveScenarios();
        var single = SampleReports.Scenario("envoy-tls", "Envoy", "x", 9000, 0.5, 0.2, 30, 20, 2, 0);
        single = single with { Latency = [single.Latency[0] with { Curve = [new PercentilePoint(100, 3.5)] }] };
        report = report with { Scenarios = [.. report.Scenarios, single] };

        var chart = Chart(report, "latency-1000.svg");
        var svg = Parse(chart);

        Assert.DoesNotContain("NaN", chart.Svg, StringComparison.Ordinal);
        var point = Assert.Single(svg.Descendants(Svg + "circle"), c => c.Element(Svg + "title")?.Value == "Envoy: max = 3.50 ms");
        var lastTick = svg.Descendants(Svg + "text").Single(t => t.Value == "99.99%");
        Assert.Equal(Attr(lastTick, "x"), Attr(point, "cx"));
        var pqMax = svg.Descendants(Svg + "circle").Single(c => c.Element(Svg + "title")?.Value.StartsWith("BelizeMesh, 2 hops, PQ channel: max", StringComparison.Ordinal) == true);
        Assert.Equal(Attr(lastTick, "x"), Attr(pqMax, "cx"));
    }

    [Fact]
    public void Latency_chart_copes_with_a_curve_of_only_the_maximum()
    {
        var report = SampleReports.FiveScenarios();
        var only = report.Scenarios[0] with { Latency = [report.Scenarios[0].Latency[0] with { Curve = [new PercentilePoint(100, 0.9)] }] };
        report = report with { Scenarios = [only] };

        var svg = Parse(Chart(report, "latency-1000.svg"));

        Assert.Single(Points(svg));
        Assert.Empty(svg.Descendants(Svg + "polyline"));
    }

    [Fact]
    public void Latency_chart_falls_back_to_the_headline_percentiles_when_there_is_no_curve()
    {
        var report = SampleReports.FiveScenarios();
        var bare = report.Scenarios[1] with { Latency = [report.Scenarios[1].Latency[0] with { Curve = [] }] };
        report = report with { Scenarios = [bare] };

        var svg = Parse(Chart(report, "latency-1000.svg"));

        Assert.Equal(5, Points(svg).Count());
    }

    [Fact]
    public void Latency_chart_switches_to_a_log_axis_when_values_span_more_than_two_decades()
    {
        var report = SampleReports.FiveScenarios();
        var spiky = report.Scenarios[1] with
        {
            Latency = [report.Scenarios[1].Latency[0] with { Curve = [new(50, 0.2), new(99, 3), new(99.9, 45), new(100, 250)] }],
        };
        report = report with { Scenarios = [report.Scenarios[0], spiky] };

        var shown = Shown(Parse(Chart(report, "latency-1000.svg"))).Split('\n');

        Assert.Contains("Latency (ms, log scale)", shown);
        Assert.All(new[] { "0.1", "1", "10", "100", "1,000" }, t => Assert.Contains(t, shown));
    }

    [Fact]
    public void Latency_chart_extends_the_nines_when_a_curve_goes_past_99_99()
    {
        var report = SampleReports.FiveScenarios();
        var deep = report.Scenarios[1] with
        {
            Latency = [report.Scenarios[1].Latency[0] with { Curve = [new(50, 0.4), new(99.99, 2), new(99.999, 3), new(100, 4)] }],
        };
        report = report with { Scenarios = [deep] };

        var shown = Shown(Parse(Chart(report, "latency-1000.svg"))).Split('\n');

        Assert.Contains("99.999%", shown);
    }

    [Fact]
    public void A_rate_no_scenario_measured_gives_a_chart_that_says_so()
    {
        var report = SampleReports.FiveScenarios();
        report = report with { Settings = report.Settings with { Rates = [1000, 5000, 20000] } };

        var chart = Chart(report, "latency-20000.svg");

        Assert.Contains("No scenario has latency figures at this rate.", Shown(Parse(chart)), StringComparison.Ordinal);
    }
}
