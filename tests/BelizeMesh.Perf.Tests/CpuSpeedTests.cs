using BelizeMesh.Perf.Compare;

namespace BelizeMesh.Perf.Tests;

public sealed class CpuSpeedTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("belizemesh-cpus-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static CpuProbe Probe(string label, double cpu0, double cpu1) =>
        new(label, SampleReports.StartedAt, [new CpuTime(0, cpu0), new CpuTime(1, cpu1)]);

    [Fact]
    public void A_vcpu_half_again_as_slow_as_its_sibling_is_uneven_and_said_so()
    {
        CpuProbe probe = Probe("round 2", 10.0, 15.0);

        Assert.Equal(1.5, probe.Spread, precision: 6);
        Assert.True(probe.Uneven);
        Assert.Equal("round 2: cpu0 10.0 ms, cpu1 15.0 ms (1.50× apart: uneven)", probe.ToString());
    }

    [Fact]
    public void Vcpus_within_a_few_percent_are_even()
    {
        CpuProbe probe = Probe("start", 10.3, 10.1);

        Assert.False(probe.Uneven);
        Assert.Equal("start: cpu0 10.3 ms, cpu1 10.1 ms (1.02× apart)", probe.ToString());
        Assert.Equal(1, new CpuProbe("one", SampleReports.StartedAt, [new CpuTime(0, 9)]).Spread);
    }

    [Fact]
    public void Measure_times_every_cpu_this_process_may_run_on()
    {
        CpuProbe probe = CpuSpeed.Measure("now"); // pins with sched_setaffinity: Linux, like the rest of the harness

        Assert.Equal(Enumerable.Range(0, Math.Min(Environment.ProcessorCount, 64)), probe.Cpus.Select(c => c.Cpu));
        Assert.All(probe.Cpus, c => Assert.True(c.Milliseconds > 0));
    }

    [Fact]
    public void Reports_flag_a_run_during_which_the_vcpus_were_uneven_and_keep_the_probes_in_the_json()
    {
        CompareReport report = SampleReports.FiveScenarios() with
        {
            CpuProbes = [Probe("start", 10.0, 10.2), Probe("round 1", 10.1, 15.2), Probe("end", 10.0, 10.1)],
        };

        ReportWriter.WriteAll(report, _root);
        string md = File.ReadAllText(Path.Combine(_root, SampleReports.RunDirectoryName, "report.md"));
        CompareReport back = ReportJson.Deserialize(File.ReadAllText(Path.Combine(_root, SampleReports.RunDirectoryName, "report.json")));

        Assert.Contains("**The vCPUs were uneven during this run**", md, StringComparison.Ordinal);
        Assert.Contains("- round 1: cpu0 10.1 ms, cpu1 15.2 ms (1.50× apart: uneven)", md, StringComparison.Ordinal);
        Assert.Equal(report.CpuProbes.Select(p => p.ToString()), back.CpuProbes.Select(p => p.ToString()));

        Assert.Contains("UNEVEN during this run", ConsoleReportTests.Print(report), StringComparison.Ordinal);
    }

    [Fact]
    public void A_report_written_before_the_probe_existed_reads_with_no_probes()
    {
        ReportWriter.WriteAll(SampleReports.FiveScenarios(), _root);
        string json = File.ReadAllText(Path.Combine(_root, SampleReports.RunDirectoryName, "report.json"));
        string old = System.Text.RegularExpressions.Regex.Replace(json, ",\\s*\"cpuProbes\":\\s*\\[\\s*\\]", "");

        Assert.DoesNotContain("cpuProbes", old, StringComparison.Ordinal);
        Assert.Empty(ReportJson.Deserialize(old).CpuProbes);
    }
}
