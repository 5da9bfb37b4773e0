using System.Text.Json;
using BelizeMesh.Perf.Compare;
using Spectre.Console;

namespace BelizeMesh.Perf.Tests;

/// <summary><c>compare</c> for real, briefly: the app and two belizemesh-proxy processes on 127.0.0.1.</summary>
public sealed class CompareSmokeTests
{
    [Fact]
    public async Task Compare_quick_with_direct_and_belizemesh_writes_a_complete_and_plausible_report()
    {
        string results = Directory.CreateTempSubdirectory("belizemesh-compare-test-").FullName;
        try
        {
            CompareOptions options = CompareOptions.QuickDefaults with
            {
                Scenarios = ["direct", "belizemesh-pq"],
                Concurrency = 8,
                OpenLoopConnections = 4,
                ThroughputSeconds = 1,
                WarmupSeconds = 0.3,
                Rates = [200],
                LatencySeconds = 1,
                LatencyRounds = 2,
                CrossCheck = false,
                BulkMegabytes = 4,
                ResultsRoot = results,
            };
            var output = new StringWriter();
            IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(output),
                Interactive = InteractionSupport.No,
                Ansi = AnsiSupport.No,
            });

            (CompareReport report, string directory) = await CompareCommand.RunAsync(options, console, "compare --quick (smoke test)", CancellationToken.None);

            foreach (string file in new[] { "report.json", "report.md", "throughput.svg", "latency-200.svg", "cpu.svg", "memory.svg" })
            {
                Assert.True(File.Exists(Path.Combine(directory, file)), $"{file} missing from {directory}");
            }

            using JsonDocument json = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "report.json")));
            Assert.True(report.Skipped.Count == 0, "scenarios skipped or failed: " + string.Join("; ", report.Skipped.Select(s => $"{s.Id}: {s.Reason}")));
            Assert.Equal(2, json.RootElement.GetProperty("scenarios").GetArrayLength());
            Assert.Equal(["direct", "belizemesh-pq"], report.Scenarios.Select(s => s.Id));

            foreach (ScenarioResult scenario in report.Scenarios)
            {
                Assert.Equal(0, scenario.Errors);
                Assert.True(scenario.Throughput.MedianRps > 50, $"{scenario.Id}: {scenario.Throughput.MedianRps} req/s");
                Assert.True(scenario.Throughput.Requests > 50);
                LatencyResult latency = Assert.Single(scenario.Latency);
                Assert.Equal(200, latency.TargetRps);
                Assert.Equal(200, latency.Requests);   // two rounds of 0.5 s, pooled
                Assert.Equal(2, latency.RoundP99Ms.Count);
                Assert.All(latency.RoundP99Ms, p => Assert.True(p > 0));
                // Open loop: never faster than the target (small slack for the clock); how much slower depends on how
                // loaded the machine is (CI runs test assemblies side by side), so only a lower bound of "some" is checked.
                Assert.InRange(latency.AchievedRps, 1, 260);
                Assert.True(latency.Percentiles.P50 > 0);
                Assert.True(latency.Percentiles.P50 <= latency.Percentiles.P99 && latency.Percentiles.P99 <= latency.Percentiles.Max);
                Assert.Equal(100, latency.Curve[^1].Percentile);
                Assert.NotNull(scenario.Bulk);
                Assert.Equal(4_000_000, scenario.Bulk.Bytes);
                Assert.Equal(3, scenario.Bulk.Repeats.Count);
                Assert.True(scenario.Bulk.MedianMBps > 1, $"{scenario.Id}: bulk {scenario.Bulk.MedianMBps} MB/s");
            }

            ScenarioResult direct = report.Scenarios[0];
            Assert.Null(direct.CpuSecondsPer1000Requests);
            Assert.Null(direct.PeakRssMiB);
            Assert.Equal(0, direct.ProxyProcesses);

            ScenarioResult mesh = report.Scenarios[1];
            Assert.Equal(2, mesh.ProxyProcesses);
            Assert.True(mesh.CpuSecondsPer1000Requests > 0);
            Assert.True(mesh.IdleRssMiB > 10, $"idle RSS {mesh.IdleRssMiB} MiB");
            Assert.True(mesh.PeakRssMiB >= mesh.IdleRssMiB);
            Assert.True(File.Exists(Path.Combine(results, "latest.md")));
        }
        finally
        {
            Directory.Delete(results, recursive: true);
        }
    }
}
