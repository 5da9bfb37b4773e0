using System.Globalization;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// Writes a run's results to <c>&lt;resultsRoot&gt;/&lt;yyyyMMdd-HHmmss&gt;/</c> (UTC start time): <c>report.json</c>,
/// <c>report.md</c> and the SVG charts; then <c>&lt;resultsRoot&gt;/latest.md</c>, the same report with its links
/// pointing into that directory.
/// </summary>
internal static class ReportWriter
{
    public const string LatestFileName = "latest.md";

    /// <summary>The run directory's name: the UTC start time as <c>yyyyMMdd-HHmmss</c>.</summary>
    public static string DirectoryName(DateTimeOffset startedAt) =>
        startedAt.UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);

    /// <summary>
    /// The run directory <see cref="WriteAll"/> writes to, so that the run can put its own files (e.g. <c>raw/</c>)
    /// there beforehand: an existing directory is reused, and only the report's files in it are overwritten.
    /// </summary>
    public static string RunDirectory(CompareReport report, string resultsRoot) =>
        Path.Combine(resultsRoot, DirectoryName(report.StartedAt));

    /// <summary>Writes everything and returns the run directory.</summary>
    public static string WriteAll(CompareReport report, string resultsRoot)
    {
        var name = DirectoryName(report.StartedAt);
        var directory = Path.Combine(resultsRoot, name);
        Directory.CreateDirectory(directory);

        File.WriteAllText(Path.Combine(directory, "report.json"), ReportJson.Serialize(report));
        var charts = ReportCharts.Render(report);
        foreach (var chart in charts)
        {
            File.WriteAllText(Path.Combine(directory, chart.FileName), chart.Svg);
        }

        File.WriteAllText(Path.Combine(directory, "report.md"), MarkdownReport.Render(report, charts));
        File.WriteAllText(Path.Combine(resultsRoot, LatestFileName), MarkdownReport.Render(report, charts, name + "/"));
        return directory;
    }
}
