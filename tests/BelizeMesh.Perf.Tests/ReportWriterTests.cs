using System.Globalization;
using System.Text.Json.Nodes;
using BelizeMesh.Perf.Compare;

namespace BelizeMesh.Perf.Tests;

/// <summary>What <see cref="ReportWriter.WriteAll"/> leaves on disk: report.json, report.md, the charts, latest.md.</summary>
public sealed class ReportWriterTests : IDisposable
{
    private static readonly string[] ChartFiles = ["throughput.svg", "latency-1000.svg", "latency-5000.svg", "cpu.svg", "memory.svg"];

    private readonly string _root = Directory.CreateTempSubdirectory("bm-perf-report-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Read(params string[] path) => File.ReadAllText(Path.Combine([_root, .. path]));

    [Fact]
    public void Writes_the_json_the_markdown_and_every_chart_into_a_utc_timestamped_directory()
    {
        var directory = ReportWriter.WriteAll(SampleReports.FiveScenarios(), _root);

        Assert.Equal(Path.Combine(_root, SampleReports.RunDirectoryName), directory);
        foreach (var file in ChartFiles.Append("report.json").Append("report.md"))
        {
            Assert.True(File.Exists(Path.Combine(directory, file)), file + " is missing");
        }

        Assert.True(File.Exists(Path.Combine(_root, "latest.md")));
        Assert.Equal(ChartFiles.Length + 2, Directory.GetFiles(directory).Length);
    }

    [Fact]
    public void Reuses_an_existing_run_directory_and_leaves_other_files_in_it()
    {
        var report = SampleReports.FiveScenarios();
        var raw = Path.Combine(ReportWriter.RunDirectory(report, _root), "raw");
        Directory.CreateDirectory(raw);
        File.WriteAllText(Path.Combine(raw, "wrk-direct.txt"), "Requests/sec: 43012.70");

        var directory = ReportWriter.WriteAll(report, _root);

        Assert.Equal(Path.GetDirectoryName(raw), directory);
        Assert.True(File.Exists(Path.Combine(raw, "wrk-direct.txt")));
        Assert.True(File.Exists(Path.Combine(directory, "report.md")));
    }

    [Fact]
    public void Report_json_round_trips()
    {
        var report = SampleReports.FiveScenarios();
        ReportWriter.WriteAll(report, _root);
        var json = Read(SampleReports.RunDirectoryName, "report.json");

        var back = ReportJson.Deserialize(json);

        Assert.Equal(json, ReportJson.Serialize(back));
        Assert.Equal(report.StartedAt, back.StartedAt);
        Assert.Equal(report.Scenarios.Select(s => s.Id), back.Scenarios.Select(s => s.Id));
        Assert.Equal(report.Scenarios[1].Latency[0].Curve, back.Scenarios[1].Latency[0].Curve);
        Assert.Equal(report.Scenarios[1].Throughput.Percentiles, back.Scenarios[1].Throughput.Percentiles);
        Assert.Equal(report.Settings.Rates, back.Settings.Rates);
        Assert.Equal(report.Machine.Tools["nginx"], back.Machine.Tools["nginx"]);
        Assert.Equal(report.Skipped, back.Skipped);
        Assert.Null(back.Scenarios[0].CpuSecondsPer1000Requests);
    }

    [Fact]
    public void Report_marks_unmeasured_figures_as_null_not_zero()
    {
        ReportWriter.WriteAll(SampleReports.FiveScenarios(), _root);
        var json = JsonNode.Parse(Read(SampleReports.RunDirectoryName, "report.json"))!.AsObject();

        var direct = json["scenarios"]![0]!.AsObject();
        Assert.Equal("direct", (string?)direct["id"]);
        foreach (var figure in new[] { "cpuSecondsPer1000Requests", "peakRssMiB", "idleRssMiB" })
        {
            Assert.True(direct.ContainsKey(figure), figure + " is left out instead of null");
            Assert.Null(direct[figure]);
        }

        var wrk = json["crossChecks"]![0]!.AsObject();
        Assert.True(wrk.ContainsKey("p99Ms"));
        Assert.Null(wrk["p99Ms"]);

        // Measured figures stay numbers, in camelCase.
        Assert.Equal(0.4123, (double)json["scenarios"]![1]!["cpuSecondsPer1000Requests"]!);
        Assert.Equal(1, (int)json["schemaVersion"]!);
        Assert.Equal(0.41234, (double)json["scenarios"]![1]!["latency"]![0]!["percentiles"]!["p50"]!);
    }

    [Fact]
    public void Report_json_keeps_command_lines_readable()
    {
        var report = SampleReports.FiveScenarios() with { Command = "compare --only 'nginx-tls' --out a&b <x>" };
        ReportWriter.WriteAll(report, _root);

        Assert.Contains("compare --only 'nginx-tls' --out a&b <x>", Read(SampleReports.RunDirectoryName, "report.json"), StringComparison.Ordinal);
    }

    [Fact]
    public void Markdown_table_has_a_row_per_scenario_and_a_dash_for_unmeasured_figures()
    {
        var report = SampleReports.FiveScenarios();
        ReportWriter.WriteAll(report, _root);
        var md = Read(SampleReports.RunDirectoryName, "report.md");

        var results = Section(md, "## Results");
        var rows = TableRows(results);
        Assert.StartsWith("| Scenario | Throughput (req/s, median) | min–max (req/s) | vs nginx-tls |", rows[0], StringComparison.Ordinal);
        Assert.Equal(1 + report.Scenarios.Count, rows.Count); // the header and one row per scenario
        foreach (var scenario in report.Scenarios)
        {
            Assert.Single(rows, r => r.StartsWith("| " + scenario.Name + " |", StringComparison.Ordinal));
        }

        var columns = Cells(rows[0]).Count;
        Assert.All(rows, r => Assert.Equal(columns, Cells(r).Count));

        var direct = Cells(rows.Single(r => r.StartsWith("| Direct to the app |", StringComparison.Ordinal)));
        Assert.Equal(new[] { "—", "—", "—", "0" }, direct.TakeLast(4));

        var pq = Cells(rows.Single(r => r.StartsWith("| BelizeMesh, 2 hops, PQ channel |", StringComparison.Ordinal)));
        Assert.Equal("12,346", pq[1]);
        Assert.Equal("11,975–12,593", pq[2]);
        Assert.Equal("0.66×", pq[3]);
        Assert.Equal("0.412 / 0.660 / 1.28 / 2.35", pq[4]);
        Assert.Equal(new[] { "0.412", "96.3", "41.5", "3" }, pq.TakeLast(4));

        var nginx = Cells(rows.Single(r => r.StartsWith("| nginx, 2 hops, TLS 1.3 |", StringComparison.Ordinal)));
        Assert.Equal("1.00×", nginx[3]);
    }

    [Fact]
    public void Latency_detail_shows_each_rounds_p99_and_the_per_round_ratio_to_nginx()
    {
        // Per round 2/1, 6/3 and 4/8: the median of the rounds' ratios is 2.00×, which neither the pooled p99s nor
        // the medians of each side's rounds (4 / 3) would give.
        var report = SampleReports.FiveScenarios();
        report = report with
        {
            Scenarios = report.Scenarios.Select(s => s.Id switch
            {
                "belizemesh-pq" => WithRoundP99(s, [2, 6, 4]),
                "nginx-tls" => WithRoundP99(s, [1, 3, 8]),
                _ => s,
            }).ToList(),
        };
        ReportWriter.WriteAll(report, _root);
        var md = Read(SampleReports.RunDirectoryName, "report.md");

        var rows = TableRows(Section(md, "## Latency detail"));
        Assert.EndsWith("| p99 per round (ms) | p99 vs nginx-tls, per-round median |", rows[0], StringComparison.Ordinal);
        var open = Cells(rows.Single(r => r.StartsWith("| BelizeMesh, 2 hops, PQ channel | open loop, 1,000 req/s |", StringComparison.Ordinal)));
        Assert.Equal("2.00 / 6.00 / 4.00", open[^2]);
        Assert.Equal("2.00×", open[^1]);

        var own = Cells(rows.Single(r => r.StartsWith("| nginx, 2 hops, TLS 1.3 | open loop, 1,000 req/s |", StringComparison.Ordinal)));
        Assert.Equal("—", own[^1]);
        var closed = Cells(rows.Single(r => r.StartsWith("| BelizeMesh, 2 hops, PQ channel | closed loop", StringComparison.Ordinal)));
        Assert.Equal(new[] { "—", "—" }, closed.TakeLast(2));

        static ScenarioResult WithRoundP99(ScenarioResult s, double[] rounds) =>
            s with { Latency = s.Latency.Select(l => l.TargetRps == 1000 ? l with { RoundP99Ms = rounds } : l).ToList() };
    }

    [Fact]
    public void Markdown_lists_the_skipped_scenario_the_cross_checks_the_machine_and_embeds_the_charts()
    {
        ReportWriter.WriteAll(SampleReports.FiveScenarios(), _root);
        var md = Read(SampleReports.RunDirectoryName, "report.md");

        Assert.StartsWith("# BelizeMesh compare: 2025-03-14 07:15:30 UTC\n", md, StringComparison.Ordinal);
        Assert.Contains("- **HAProxy, 2 hops, TLS 1.3** (`haproxy-tls`): haproxy not found on PATH", md, StringComparison.Ordinal);
        Assert.Contains("| Direct to the app | wrk | `wrk -t2 -c64 -d10s --latency http://127.0.0.1:18080/` | 43,013 | — | 41,235 | 1.04× | — |", md, StringComparison.Ordinal);
        Assert.Contains("| nginx, 2 hops, TLS 1.3 | h2load |", md, StringComparison.Ordinal);
        Assert.Contains("| CPU | AMD EPYC 7B13 64-Core Processor |", md, StringComparison.Ordinal);
        Assert.Contains("| Memory | 7.8 GiB |", md, StringComparison.Ordinal);
        Assert.Contains("| nginx | nginx version: nginx/1.26.3 |", md, StringComparison.Ordinal);
        Assert.Contains("dotnet run -c Release --project perf/BelizeMesh.Perf -- compare --rates 1000,5000\n", md, StringComparison.Ordinal);
        Assert.Contains("| Open-loop latency | 1,000 req/s, 5,000 req/s; 10 s each, in 3 rounds of 3.333 s interleaved with the other scenarios |", md, StringComparison.Ordinal);
        Assert.Contains("![throughput](throughput.svg)", md, StringComparison.Ordinal);
        Assert.Contains("![latency at 1,000 req/s](latency-1000.svg)", md, StringComparison.Ordinal);
        Assert.Contains("![latency at 5,000 req/s](latency-5000.svg)", md, StringComparison.Ordinal);
        Assert.Contains("![cpu](cpu.svg)", md, StringComparison.Ordinal);
        Assert.Contains("![memory](memory.svg)", md, StringComparison.Ordinal);
        Assert.Contains("[report.json](report.json)", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Cross_checks_show_each_wrk_round_and_each_scenario_against_nginx_round_by_round()
    {
        var report = SampleReports.FiveScenarios();
        CrossCheck Wrk(string id, double ours, params double[] rounds) => new()
        {
            ScenarioId = id,
            Tool = "wrk",
            CommandLine = "wrk -t2 -c64 -d10s --latency http://127.0.0.1:18081/",
            Rps = rounds.Order().ElementAt(rounds.Length / 2),
            RoundRps = rounds,
            OursRps = ours,
            P99Ms = 7.5,
        };

        // nginx's rounds rose with the machine and ours did too: each round against nginx's of the same number is
        // 0.9, 1.0 and 0.95 (median 0.95), while the two medians alone (14,000 and 14,000) would say 1.00
        report = report with
        {
            CrossChecks =
            [
                Wrk("belizemesh-pq", 15000, 9000, 14000, 19000),
                Wrk("nginx-tls", 16000, 10000, 14000, 20000),
            ],
        };
        ReportWriter.WriteAll(report, _root);
        var md = Read(SampleReports.RunDirectoryName, "report.md");

        Assert.Contains("| Scenario | Tool | Command | Their req/s (median) | per round | Our req/s | Theirs / ours | vs nginx-tls under the same tool, per-round median | Their p99 (ms) |", md, StringComparison.Ordinal);
        Assert.Contains("| 14,000 | 9,000 / 14,000 / 19,000 | 15,000 | 0.93× | 0.95× | 7.50 |", md, StringComparison.Ordinal);
        Assert.Contains("| 14,000 | 10,000 / 14,000 / 20,000 | 16,000 | 0.88× | — | 7.50 |", md, StringComparison.Ordinal);
    }

    [Fact]
    public void Latest_md_is_the_report_with_links_into_the_run_directory()
    {
        ReportWriter.WriteAll(SampleReports.FiveScenarios(), _root);
        var md = Read(SampleReports.RunDirectoryName, "report.md");
        var latest = Read("latest.md");

        Assert.Contains($"![throughput]({SampleReports.RunDirectoryName}/throughput.svg)", latest, StringComparison.Ordinal);
        Assert.Contains($"![latency at 1,000 req/s]({SampleReports.RunDirectoryName}/latency-1000.svg)", latest, StringComparison.Ordinal);
        Assert.Contains($"[report.json]({SampleReports.RunDirectoryName}/report.json)", latest, StringComparison.Ordinal);
        Assert.DoesNotContain("](throughput.svg)", latest, StringComparison.Ordinal);

        var relinked = md.Replace("](", "](" + SampleReports.RunDirectoryName + "/", StringComparison.Ordinal);
        Assert.Equal(relinked, latest);
    }

    [Fact]
    public void A_later_run_overwrites_latest_md()
    {
        var first = SampleReports.FiveScenarios();
        ReportWriter.WriteAll(first, _root);
        ReportWriter.WriteAll(first with { StartedAt = first.StartedAt.AddMinutes(30) }, _root);

        Assert.Contains("20250314-074530/throughput.svg", Read("latest.md"), StringComparison.Ordinal);
        Assert.Equal(2, Directory.GetDirectories(_root).Length);
    }

    [Fact]
    public void Throughput_ratio_column_is_left_out_when_nginx_did_not_run()
    {
        var report = SampleReports.FiveScenarios();
        report = report with { Scenarios = report.Scenarios.Where(s => s.Id != "nginx-tls").ToList() };
        ReportWriter.WriteAll(report, _root);
        var md = Read(SampleReports.RunDirectoryName, "report.md");

        Assert.DoesNotContain("vs nginx-tls", md, StringComparison.Ordinal);
        Assert.DoesNotContain("×", Section(md, "## Results").First(l => l.StartsWith("| BelizeMesh, 2 hops, PQ", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [Fact]
    public void Markdown_escapes_table_breaking_characters_in_names_and_commands()
    {
        var report = SampleReports.FiveScenarios();
        var odd = SampleReports.Scenario("envoy-tls", "Envoy | *edge* <TLS>", "x", 9000, 0.5, 0.2, 30, 20, 2, 0);
        report = report with
        {
            Scenarios = [.. report.Scenarios, odd],
            CrossChecks = [report.CrossChecks[0] with { ScenarioId = "envoy-tls", CommandLine = "sh -c 'wrk … | tee `x`'" }],
        };
        ReportWriter.WriteAll(report, _root);
        var md = Read(SampleReports.RunDirectoryName, "report.md");

        var rows = TableRows(Section(md, "## Results"));
        var row = Assert.Single(rows, r => r.StartsWith(@"| Envoy \| \*edge\* \<TLS\> |", StringComparison.Ordinal));
        Assert.Equal(Cells(rows[0]).Count, Cells(row).Count);
        Assert.Contains(@"| ``sh -c 'wrk … \| tee `x`'`` |", md, StringComparison.Ordinal);
    }

    [Fact]
    public void A_run_where_every_scenario_was_skipped_still_writes_a_readable_report()
    {
        var report = SampleReports.FiveScenarios() with
        {
            Scenarios = [],
            CrossChecks = [],
            Skipped = [new SkippedScenario("nginx-tls", "nginx", "nginx not found"), new SkippedScenario("haproxy-tls", "HAProxy", "haproxy not found")],
        };

        var directory = ReportWriter.WriteAll(report, _root);

        var md = File.ReadAllText(Path.Combine(directory, "report.md"));
        Assert.Contains("- **nginx** (`nginx-tls`): nginx not found", md, StringComparison.Ordinal);
        foreach (var svg in Directory.GetFiles(directory, "*.svg"))
        {
            System.Xml.Linq.XDocument.Parse(File.ReadAllText(svg));
        }
    }

    [Fact]
    public void Numbers_use_a_decimal_point_whatever_the_current_culture()
    {
        var report = SampleReports.FiveScenarios();
        var invariantRoot = Path.Combine(_root, "invariant");
        var germanRoot = Path.Combine(_root, "de");
        ReportWriter.WriteAll(report, invariantRoot);

        var (culture, uiCulture) = (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture);
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = GermanNumbers();
            Assert.Equal("1,5", 1.5.ToString(CultureInfo.CurrentCulture)); // the culture is in force
            ReportWriter.WriteAll(report, germanRoot);
        }
        finally
        {
            (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture) = (culture, uiCulture);
        }

        var run = SampleReports.RunDirectoryName;
        foreach (var file in ChartFiles.Append("report.json").Append("report.md"))
        {
            Assert.Equal(File.ReadAllText(Path.Combine(invariantRoot, run, file)), File.ReadAllText(Path.Combine(germanRoot, run, file)));
        }

        Assert.Equal(File.ReadAllText(Path.Combine(invariantRoot, "latest.md")), File.ReadAllText(Path.Combine(germanRoot, "latest.md")));
        var md = File.ReadAllText(Path.Combine(germanRoot, run, "report.md"));
        Assert.Contains("| 0.412 | 96.3 | 41.5 |", md, StringComparison.Ordinal);
        Assert.Contains("\"memoryGiB\": 7.75", File.ReadAllText(Path.Combine(germanRoot, run, "report.json")), StringComparison.Ordinal);
    }

    /// <summary>
    /// de-DE's number format (',' decimals, '.' thousands). The repo runs with InvariantGlobalization, where
    /// <c>new CultureInfo("de-DE")</c> throws, so the culture is the invariant one with German separators.
    /// </summary>
    private static CultureInfo GermanNumbers()
    {
        var culture = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        culture.NumberFormat.NumberDecimalSeparator = ",";
        culture.NumberFormat.NumberGroupSeparator = ".";
        culture.NumberFormat.PercentDecimalSeparator = ",";
        culture.NumberFormat.PercentGroupSeparator = ".";
        culture.NumberFormat.CurrencyDecimalSeparator = ",";
        culture.NumberFormat.CurrencyGroupSeparator = ".";
        return culture;
    }

    /// <summary>The lines of a Markdown section, from its heading to the next "## ".</summary>
    private static List<string> Section(string md, string heading) =>
        md.Split('\n').SkipWhile(l => l != heading).Skip(1).TakeWhile(l => !l.StartsWith("## ", StringComparison.Ordinal)).ToList();

    /// <summary>The header and body rows of the Markdown table in <paramref name="lines"/>, without the alignment row.</summary>
    private static List<string> TableRows(List<string> lines) =>
        lines.Where(l => l.StartsWith("| ", StringComparison.Ordinal) && !l.StartsWith("| --", StringComparison.Ordinal)).ToList();

    /// <summary>The cells of a Markdown table row, split at unescaped '|' and outside code spans.</summary>
    private static List<string> Cells(string row)
    {
        var cells = new List<string>();
        var cell = new System.Text.StringBuilder();
        for (var i = 1; i < row.Length; i++)
        {
            if (row[i] == '\\' && i + 1 < row.Length)
            {
                cell.Append(row[i]).Append(row[++i]);
            }
            else if (row[i] == '|')
            {
                cells.Add(cell.ToString().Trim());
                cell.Clear();
            }
            else
            {
                cell.Append(row[i]);
            }
        }

        return cells;
    }
}
