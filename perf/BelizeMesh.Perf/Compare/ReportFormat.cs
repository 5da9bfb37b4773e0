using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// How figures are written in the Markdown report, the console table and the charts: always the invariant culture
/// ('.' decimals, ',' thousands), and <see cref="Missing"/> for a figure that was not measured (null, NaN or infinite).
/// </summary>
internal static class ReportFormat
{
    /// <summary>Written where a figure was not measured.</summary>
    public const string Missing = "—";

    /// <summary>The scenario the throughput ratio is taken against, when it ran.</summary>
    public const string BaselineId = "nginx-tls";

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static bool IsMeasured([NotNullWhen(true)] double? value) => value is { } v && double.IsFinite(v);

    /// <summary>Requests per second, rounded to whole requests: "12,345".</summary>
    public static string Rps(double? value) =>
        IsMeasured(value) ? Math.Round(value.Value, MidpointRounding.AwayFromZero).ToString("N0", Invariant) : Missing;

    /// <summary>"11,980–12,410"; <see cref="Missing"/> if either end was not measured.</summary>
    public static string RpsRange(double? min, double? max) =>
        IsMeasured(min) && IsMeasured(max) ? Rps(min) + "–" + Rps(max) : Missing;

    public static string Count(long value) => value.ToString("N0", Invariant);

    public static string Integer(int value) => value.ToString("N0", Invariant);

    /// <summary>A ratio with two decimals and a times sign: "0.87×".</summary>
    public static string Ratio(double? value) => IsMeasured(value) ? value.Value.ToString("N2", Invariant) + "×" : Missing;

    /// <summary>A fixed number of decimals: <c>Fixed(7.8125, 1)</c> is "7.8".</summary>
    public static string Fixed(double? value, int decimals) =>
        IsMeasured(value) ? value.Value.ToString("N" + decimals.ToString(Invariant), Invariant) : Missing;

    /// <summary>
    /// Three significant digits: 0.4123 → "0.412", 1.234 → "1.23", 12.34 → "12.3", 123.4 → "123", 1234 → "1,230".
    /// Used for latencies (ms), CPU seconds and memory.
    /// </summary>
    public static string Sig3(double? value)
    {
        if (!IsMeasured(value))
        {
            return Missing;
        }

        var v = value.Value;
        if (v == 0)
        {
            return "0";
        }

        var magnitude = Magnitude(v);
        if (magnitude < -9)
        {
            return v.ToString("G3", Invariant);
        }

        var decimals = 2 - magnitude;
        var rounded = RoundTo(v, decimals);
        if (Magnitude(rounded) > magnitude)
        {
            // 9.996 rounds up to 10.0: one digit more before the point, one fewer after it.
            decimals--;
            rounded = RoundTo(v, decimals);
        }

        return rounded.ToString("N" + Math.Max(decimals, 0).ToString(Invariant), Invariant);
    }

    /// <summary>The four headline percentiles in ms: "0.412 / 0.601 / 1.23 / 2.05".</summary>
    public static string Percentiles(LatencyPercentiles? p) =>
        p is null ? Missing : $"{Sig3(p.P50)} / {Sig3(p.P90)} / {Sig3(p.P99)} / {Sig3(p.P999)}";

    /// <summary>Seconds as "42 s" or "12 min 5 s".</summary>
    public static string Duration(double seconds)
    {
        if (!double.IsFinite(seconds))
        {
            return Missing;
        }

        if (seconds < 120)
        {
            return Sig3(seconds) + " s";
        }

        var whole = (long)Math.Round(seconds, MidpointRounding.AwayFromZero);
        return string.Create(Invariant, $"{whole / 60} min {whole % 60} s");
    }

    /// <summary>Plain invariant text of a number, for settings like "10 s" or "1.5 s".</summary>
    public static string Plain(double value) => double.IsFinite(value) ? value.ToString("0.###", Invariant) : Missing;

    public static string Timestamp(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", Invariant) + " UTC";

    /// <summary>The target rates in order: the settings' rates, then any rate a scenario measured that they do not list.</summary>
    public static IReadOnlyList<int> Rates(CompareReport report)
    {
        var rates = new List<int>(report.Settings.Rates.Distinct());
        foreach (var scenario in report.Scenarios)
        {
            foreach (var latency in scenario.Latency)
            {
                if (!rates.Contains(latency.TargetRps))
                {
                    rates.Add(latency.TargetRps);
                }
            }
        }

        return rates;
    }

    public static LatencyResult? LatencyAt(ScenarioResult scenario, int rate) =>
        scenario.Latency.FirstOrDefault(l => l.TargetRps == rate);

    /// <summary>The scenario throughput is compared with (nginx-tls), if it ran and has a positive median.</summary>
    public static ScenarioResult? Baseline(CompareReport report) =>
        report.Scenarios.FirstOrDefault(s => s.Id == BaselineId && IsMeasured(s.Throughput.MedianRps) && s.Throughput.MedianRps > 0);

    public static double? RatioToBaseline(ScenarioResult scenario, ScenarioResult? baseline) =>
        baseline is null ? null : scenario.Throughput.MedianRps / baseline.Throughput.MedianRps;

    /// <summary>Display name of a scenario id (for cross-checks), falling back to the id.</summary>
    public static string NameOf(CompareReport report, string id) =>
        report.Scenarios.FirstOrDefault(s => s.Id == id)?.Name
        ?? report.Skipped.FirstOrDefault(s => s.Id == id)?.Name
        ?? id;

    private static int Magnitude(double v)
    {
        var a = Math.Abs(v);
        var m = (int)Math.Floor(Math.Log10(a));
        // Log10 may land a hair below an exact power of ten.
        if (Math.Pow(10, m + 1) <= a)
        {
            m++;
        }
        else if (Math.Pow(10, m) > a)
        {
            m--;
        }

        return m;
    }

    private static double RoundTo(double v, int decimals)
    {
        if (decimals >= 0)
        {
            return Math.Round(v, Math.Min(decimals, 15), MidpointRounding.AwayFromZero);
        }

        var factor = Math.Pow(10, -decimals);
        return Math.Round(v / factor, MidpointRounding.AwayFromZero) * factor;
    }
}

/// <summary>
/// One colour per scenario, the same in every chart of a report: the five known scenarios have fixed colours, any
/// other takes the next colour of a fallback palette in the order the scenarios ran.
/// </summary>
internal sealed class ScenarioColours
{
    private static readonly Dictionary<string, string> Known = new(StringComparer.Ordinal)
    {
        ["direct"] = "#7a7f87",
        ["belizemesh-pq"] = "#1f4fc4",
        ["belizemesh-plain"] = "#79adec",
        ["nginx-tls"] = "#2e9a47",
        ["haproxy-tls"] = "#f08522",
    };

    private static readonly string[] Fallback = ["#8d5ac4", "#d2363b", "#8c5a44", "#d55fae", "#a3a31b", "#159fb1", "#5b3a8c", "#6e7d1b"];

    private readonly Dictionary<string, string> _colours = new(StringComparer.Ordinal);

    public ScenarioColours(IEnumerable<string> ids)
    {
        var next = 0;
        foreach (var id in ids)
        {
            if (!Known.ContainsKey(id) && !_colours.ContainsKey(id))
            {
                _colours[id] = Fallback[next++ % Fallback.Length];
            }
        }
    }

    public static ScenarioColours For(CompareReport report) =>
        new(report.Scenarios.Select(s => s.Id).Concat(report.Skipped.Select(s => s.Id)));

    public string this[string id] =>
        Known.TryGetValue(id, out var known) ? known : _colours.TryGetValue(id, out var colour) ? colour : Fallback[0];
}
