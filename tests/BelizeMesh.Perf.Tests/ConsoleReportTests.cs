using BelizeMesh.Perf.Compare;
using Spectre.Console;

namespace BelizeMesh.Perf.Tests;

public sealed class ConsoleReportTests
{
    /// <summary>The end-of-run summary as a 240-column, colourless console prints it.</summary>
    internal static string Print(CompareReport report)
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(output),
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 240;
        ConsoleReport.Print(report, console);
        return output.ToString();
    }

    [Fact]
    public void End_of_run_table_shows_every_scenario_the_skipped_ones_and_the_cross_checks()
    {
        var report = SampleReports.FiveScenarios();

        var text = Print(report);

        foreach (var scenario in report.Scenarios)
        {
            Assert.Contains(scenario.Name, text, StringComparison.Ordinal);
        }

        Assert.Contains("12,346", text, StringComparison.Ordinal);
        Assert.Contains("0.66×", text, StringComparison.Ordinal);
        Assert.Contains("0.412 / 0.660 / 1.28 / 2.35", text, StringComparison.Ordinal);
        Assert.Contains("—", text, StringComparison.Ordinal);
        Assert.Contains("HAProxy, 2 hops, TLS 1.3 (haproxy-tls): haproxy not found on PATH", text, StringComparison.Ordinal);
        Assert.Contains("wrk -t2 -c64 -d10s --latency http://127.0.0.1:18080/", text, StringComparison.Ordinal);
        Assert.Contains("1.04×", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_with_markup_characters_are_printed_as_they_are()
    {
        var report = SampleReports.FiveScenarios();
        report = report with
        {
            Scenarios = [SampleReports.Scenario("x", "Proxy [bold]x[/] [", "x", 100, 1, 1, 1, 1, 1, 0)],
            Skipped = [new SkippedScenario("y", "Y [red]", "needs [y]")],
            CrossChecks = [],
        };

        var text = Print(report);

        Assert.Contains("Proxy [bold]x[/] [", text, StringComparison.Ordinal);
        Assert.Contains("Y [red] (y): needs [y]", text, StringComparison.Ordinal);
    }
}
