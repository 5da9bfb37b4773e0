using System.Net;
using System.Net.Http;
using System.Text.Json;
using System.Text.RegularExpressions;
using BelizeMesh.Proxy.Metrics;
using BelizeMesh.Proxy.Tests.EndToEnd;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Proxy.Tests.Metrics;

/// <summary>
/// deploy/observability against real sidecars: every PromQL expression of the Grafana dashboard and of the alerting
/// rules names only metrics that a STRICT pair of sidecars really exports after some traffic and a policy reload.
/// </summary>
public sealed class ObservabilityAssetsTests : IAsyncLifetime
{
    private const string Host = "nawal.belizechain.svc.cluster.local";

    private static readonly HashSet<string> s_promQlWords = new(StringComparer.Ordinal)
    {
        "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "time", "and", "or", "unless", "on",
        "ignoring", "group_left", "group_right", "bool", "offset",
    };

    private TwoSidecarMesh _mesh = null!;
    private HashSet<string> _exported = null!;
    private readonly Dictionary<string, IReadOnlyList<PromSample>> _scrapes = new(StringComparer.Ordinal);

    public async Task InitializeAsync()
    {
        TestApp app = await TestApp.StartAsync("nawal-app");
        _mesh = await TwoSidecarMesh.Create()
            .Inbound(extra: """
                    authorization:
                      rules:
                        - to: { paths: ["/echo", "/limited"] }
                    rateLimits:
                      - name: tiny
                        match: { paths: ["/limited"] }
                        key: none
                        requestsPerSecond: 0.001
                        burst: 1
                """)
            .Route(Host)
            .Route("dead.test", endpoint: "127.0.0.1:1")
            .WithoutPolicyWatch()
            .StartAsync(app.Url, app);

        using HttpClient http = _mesh.Pakit.CreateOutboundClient();
        // a request of each outcome the dashboard shows: allowed, denied (403), rate limited (429), upstream down (502)
        foreach ((string url, HttpStatusCode status) in new[]
        {
            ($"http://{Host}/echo", HttpStatusCode.OK), ($"http://{Host}/forbidden", HttpStatusCode.Forbidden),
            ($"http://{Host}/limited", HttpStatusCode.OK), ($"http://{Host}/limited", HttpStatusCode.TooManyRequests),
            ("http://dead.test/", HttpStatusCode.BadGateway),
        })
        {
            using HttpResponseMessage response = await http.GetAsync(url);
            Assert.True(status == response.StatusCode, $"{url}: {response.StatusCode}");
        }

        // one policy reload, so that its counter has a series
        await File.AppendAllTextAsync(_mesh.Pakit.PolicyPath, "\n# touched\n");
        Assert.Equal(Hosting.ReloadResult.Applied, await _mesh.Pakit.Host.Policy.ReloadAsync());

        GC.Collect(); // the runtime's last-collection gauges have a value only once a collection happened
        _exported = new HashSet<string>(StringComparer.Ordinal);
        foreach (Sidecar sidecar in new[] { _mesh.Pakit, _mesh.Nawal })
        {
            using HttpClient admin = sidecar.CreateAdminClient();
            string reporter = sidecar == _mesh.Pakit ? "source" : "destination";
            // every request of the fixture recorded: five on the caller's side, four (all but dead.test) on the callee's
            int expected = reporter == "source" ? 5 : 4;
            IReadOnlyList<PromSample> samples = await PromText.ScrapeUntilAsync(admin, s => s.Where(x => x.Name == "istio_requests_total" && x.Labels.GetValueOrDefault("reporter") == reporter).Sum(x => x.Value) == expected);
            _exported.UnionWith(samples.Select(s => s.Name));
            _scrapes[reporter] = samples;
        }
    }

    public Task DisposeAsync() => _mesh.DisposeAsync().AsTask();

    /// <summary>The metric names in a PromQL expression: identifiers outside label matchers, ranges and grouping clauses
    /// that are not PromQL functions or keywords.</summary>
    internal static IEnumerable<string> MetricNames(string expr)
    {
        string s = Regex.Replace(expr, "\"[^\"]*\"", " ");
        s = Regex.Replace(s, @"\{[^}]*\}", " ");
        s = Regex.Replace(s, @"\[[^\]]*\]", " ");
        s = Regex.Replace(s, @"\b(by|without)\s*\([^)]*\)", " ");
        foreach (Match m in Regex.Matches(s, "[A-Za-z_:][A-Za-z0-9_:]*"))
        {
            if (!s_promQlWords.Contains(m.Value))
            {
                yield return m.Value;
            }
        }
    }

    [Fact]
    public void Every_dashboard_panel_queries_metrics_the_sidecars_export()
    {
        using JsonDocument dashboard = JsonDocument.Parse(File.ReadAllText(RepoPaths.RepoFile("deploy", "observability", "grafana-dashboard-pq-hop.json")));
        JsonElement root = dashboard.RootElement;
        Assert.Equal("belizemesh-pq-hop", root.GetProperty("uid").GetString());
        string[] variables = [.. root.GetProperty("templating").GetProperty("list").EnumerateArray().Select(v => v.GetProperty("name").GetString()!)];
        Assert.Equal(["datasource", "job", "namespace"], variables);

        var ids = new HashSet<int>();
        int queries = 0;
        var covered = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonElement panel in root.GetProperty("panels").EnumerateArray())
        {
            string title = panel.GetProperty("title").GetString()!;
            Assert.True(ids.Add(panel.GetProperty("id").GetInt32()), $"duplicate panel id in '{title}'");
            JsonElement grid = panel.GetProperty("gridPos");
            Assert.InRange(grid.GetProperty("x").GetInt32() + grid.GetProperty("w").GetInt32(), 1, 24);
            if (panel.GetProperty("type").GetString() == "row")
            {
                continue;
            }

            Assert.Equal("${datasource}", panel.GetProperty("datasource").GetProperty("uid").GetString());
            JsonElement[] targets = [.. panel.GetProperty("targets").EnumerateArray()];
            Assert.NotEmpty(targets);
            foreach (JsonElement target in targets)
            {
                string expr = target.GetProperty("expr").GetString()!;
                Assert.Contains("job=~\"$job\"", expr, StringComparison.Ordinal); // never Envoy's own istio_* series
                string[] metrics = [.. MetricNames(expr)];
                Assert.NotEmpty(metrics);
                foreach (string metric in metrics)
                {
                    Assert.True(_exported.Contains(metric), $"panel '{title}' queries {metric}, which the sidecars do not export:\n{expr}");
                    covered.Add(metric);
                }

                queries++;
            }
        }

        Assert.True(queries >= 20, $"{queries} queries");
        // the hop, the channel, configuration, certificates and the process are all on it
        Assert.Superset(new HashSet<string>(StringComparer.Ordinal)
        {
            "istio_requests_total", "istio_request_duration_milliseconds_bucket", "belizemesh_channel_handshakes_total", "belizemesh_channel_active",
            "belizemesh_policy_reloads_total", "belizemesh_certificate_expiry_timestamp_seconds", "process_cpu_seconds_total", "process_resident_memory_bytes",
        }, covered);
        Assert.Contains("belizemesh_build_info", _exported); // the job variable's source
    }

    [Fact]
    public void Every_istio_process_and_runtime_metric_docs_policy_md_lists_is_exported()
    {
        string doc = File.ReadAllText(RepoPaths.RepoFile("docs", "policy.md"));
        int istio = doc.IndexOf("**Istio's standard request metrics**", StringComparison.Ordinal);
        int own = doc.IndexOf("**The sidecar's own metrics:**", StringComparison.Ordinal);
        int runtime = doc.IndexOf("**Process and runtime:**", StringComparison.Ordinal);
        int end = doc.IndexOf("\n## ", runtime, StringComparison.Ordinal);
        Assert.True(istio > 0 && own > istio && runtime > own && end > runtime, "docs/policy.md lost its metric tables");
        string tables = doc[istio..own] + doc[runtime..end];
        var listed = new List<string>();
        foreach (string line in tables.Split('\n'))
        {
            if (!line.StartsWith("| `", StringComparison.Ordinal))
            {
                continue;
            }

            string firstCell = line.Split('|')[1];
            listed.AddRange(Regex.Matches(firstCell, "`([a-z_]+)`").Select(m => m.Groups[1].Value));
        }

        listed.Add("belizemesh_proxy_telemetry_overflow_total");
        listed.Add("belizemesh_build_info");
        Assert.True(listed.Count >= 25, string.Join(", ", listed));
        foreach (string name in listed)
        {
            Assert.True(_exported.Contains(name) || _exported.Contains(name + "_bucket"), $"docs/policy.md lists {name}, which the sidecars do not export");
        }

        foreach (string name in _exported.Where(n => n.StartsWith("dotnet_", StringComparison.Ordinal) && !n.StartsWith("dotnet_jit_", StringComparison.Ordinal)))
        {
            Assert.True(listed.Contains(name), $"the sidecar exports {name}, which docs/policy.md does not list");
        }
    }

    [Fact]
    public void Response_flags_say_which_side_decided_the_outcome()
    {
        string Flags(string reporter, string code, string service)
            => Assert.Single(_scrapes[reporter], s => s.Name == "istio_requests_total" && s["response_code"] == code && s["destination_service"] == service)["response_flags"];

        Assert.Equal("UF", Flags("source", "502", "dead.test.svc.cluster.local")); // the caller's sidecar could not connect
        Assert.Equal("RL", Flags("destination", "429", Host)); // the callee's sidecar rate-limited it...
        Assert.Equal("-", Flags("source", "429", Host)); // ...which the caller's side only sees as a status, as with Envoy
        Assert.Equal("-", Flags("destination", "403", Host));
        Assert.Equal(2, Assert.Single(_scrapes["destination"], s => s.Name == "istio_requests_total" && s["response_code"] == "200").Value);
    }

    [PromtoolFact]
    public async Task Alerting_rules_pass_promtool_and_query_metrics_the_sidecars_export()
    {
        string path = RepoPaths.RepoFile("deploy", "observability", "prometheus-rules.yaml");
        await Promtool.CheckRulesAsync(path);
        string[] exprs = [.. Regex.Matches(File.ReadAllText(path), @"expr:\s*(\|\s*\n(?<block>(?:\s{10,}.*\n)+)|(?<line>.*))").Select(m => m.Groups["block"].Success ? m.Groups["block"].Value : m.Groups["line"].Value)];
        Assert.Equal(6, exprs.Length);
        foreach (string expr in exprs)
        {
            foreach (string metric in MetricNames(expr))
            {
                Assert.True(_exported.Contains(metric), $"rule queries {metric}, which the sidecars do not export:\n{expr}");
            }
        }
    }
}
