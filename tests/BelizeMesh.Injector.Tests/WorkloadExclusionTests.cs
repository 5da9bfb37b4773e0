using System.Text.Json.Nodes;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Injection;
using BelizeMesh.Injector.Tests.Support;

namespace BelizeMesh.Injector.Tests;

/// <summary>Pods of <c>quantum: false</c> services (belizemesh emit's exclusion list) are left alone.</summary>
public sealed class WorkloadExclusionTests : IDisposable
{
    private const string List = """
        mesh: belizechain
        exclude:
          - namespace: belizechain
            service: postgres
            matchLabels:
              app: postgres
          - namespace: belizechain
            service: redis
            matchLabels: { app: redis, tier: cache }
        """;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "bm-exclusions-" + Guid.NewGuid().ToString("N"));

    public WorkloadExclusionTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static SidecarTemplate Template() => new(InjectorConfig.Default with { Exclusions = WorkloadExclusions.Parse(List, "exclusions.yaml") });

    [Fact]
    public void Pod_with_all_labels_of_a_quantum_false_service_is_skipped_without_a_warning()
    {
        var pod = Reviews.Pod(ns: "belizechain", labels: new JsonObject { ["app"] = "postgres", ["pod-template-hash"] = "abc" });
        InjectionResult result = SidecarInjector.Inject(pod, "belizechain", Template());
        Assert.Equal(InjectionReason.Excluded, result.Reason);
        Assert.Empty(result.Patch);
        Assert.False(result.IsFailure);
        Assert.False(result.Warn);
        Assert.Contains("service postgres of mesh belizechain", result.Message, StringComparison.Ordinal);
        Assert.Equal("excluded", InjectionResult.Label(result.Reason));
    }

    [Theory]
    [InlineData("belizechain", "redis", null)]       // one of two labels
    [InlineData("other", "postgres", null)]          // another namespace
    [InlineData("belizechain", "nawal", null)]       // a quantum service
    [InlineData("belizechain", "redis", "web")]      // a label with another value
    public void Pod_that_does_not_match_every_label_in_the_namespace_is_injected(string ns, string app, string? tier)
    {
        var labels = new JsonObject { ["app"] = app };
        if (tier is not null)
        {
            labels["tier"] = tier;
        }

        InjectionResult result = SidecarInjector.Inject(Reviews.Pod(ns: ns, labels: labels), ns, Template());
        Assert.Equal(InjectionReason.Injected, result.Reason);
    }

    [Fact]
    public void Namespace_comes_from_the_admission_request_when_the_pod_has_none()
    {
        var pod = Reviews.Pod(ns: null, labels: new JsonObject { ["app"] = "redis", ["tier"] = "cache" });
        Assert.Equal(InjectionReason.Excluded, SidecarInjector.Inject(pod, "belizechain", Template()).Reason);
    }

    [Fact]
    public void Bad_exclusion_list_reports_every_problem_with_its_position()
    {
        const string bad = """
            exclude:
              - service: postgres
                matchLabels: { app: postgres }
              - namespace: belizechain
                matchLabels: {}
              - namespace: belizechain
                matchLabel: { app: x }
            meshes: x
            """;
        var e = Assert.Throws<ConfigException>(() => WorkloadExclusions.Parse(bad, "exclusions.yaml"));
        Assert.Equal(
        [
            "exclusions.yaml:2:5: exclude[0].namespace: missing required field \"namespace\" (the workload's namespace)",
            "exclusions.yaml:5:18: exclude[1].matchLabels: must not be empty: an empty selector would exclude every pod of the namespace",
            "exclusions.yaml:6:5: exclude[2].matchLabels: missing required field \"matchLabels\" (the pod labels of the workload, e.g. { app: postgres })",
            "exclusions.yaml:7:5: exclude[2].matchLabel: unknown field \"matchLabel\"; did you mean \"matchLabels\"? (allowed here: matchLabels, namespace, service)",
            "exclusions.yaml:8:1: meshes: unknown field \"meshes\"; did you mean \"mesh\"? (allowed here: exclude, mesh)",
        ], e.Problems.Select(p => p.Format("exclusions.yaml")));
    }

    [Fact]
    public void Missing_file_means_no_exclusions()
    {
        Assert.Empty(WorkloadExclusions.LoadFile(Path.Combine(_dir, "absent.yaml")));
    }

    [Fact]
    public void Offline_inject_with_exclusions_leaves_the_excluded_deployment_unchanged()
    {
        string exclusions = Path.Combine(_dir, "exclusions.yaml");
        File.WriteAllText(exclusions, List);
        string pods = Path.Combine(_dir, "pods.yaml");
        File.WriteAllText(pods, """
            apiVersion: apps/v1
            kind: Deployment
            metadata: { name: postgres, namespace: belizechain }
            spec:
              selector: { matchLabels: { app: postgres } }
              template:
                metadata: { labels: { app: postgres } }
                spec: { containers: [{ name: postgres, image: postgres:17 }] }
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: { name: nawal, namespace: belizechain }
            spec:
              selector: { matchLabels: { app: nawal } }
              template:
                metadata: { labels: { app: nawal } }
                spec: { containers: [{ name: nawal, image: nawal:1 }] }
            """);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(["inject", "--pod", pods, "--exclusions", exclusions], stdout, stderr, TextReader.Null);
        Assert.True(code == 0, stderr.ToString());
        string[] documents = stdout.ToString().Split("\n---\n");
        Assert.Equal(2, documents.Length);
        Assert.DoesNotContain("belizemesh-proxy", documents[0], StringComparison.Ordinal);
        Assert.Contains("belizemesh-proxy", documents[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Store_reloads_the_exclusion_list_and_keeps_the_last_good_one()
    {
        string config = Path.Combine(_dir, "config.yaml");
        File.WriteAllText(config, "");
        string exclusions = Path.Combine(_dir, "exclusions.yaml");
        using var store = new ConfigStore(config, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, exclusionsPath: exclusions);
        Assert.Empty(store.Current.Config.Exclusions);

        File.WriteAllText(exclusions, List);
        Assert.True(store.Reload());
        Assert.Equal(2, store.Current.Config.Exclusions.Count);

        File.WriteAllText(exclusions, "exclude: [{ namespace: x }]");
        Assert.False(store.Reload());
        Assert.Equal(2, store.Current.Config.Exclusions.Count);

        File.Delete(exclusions);
        Assert.True(store.Reload());
        Assert.Empty(store.Current.Config.Exclusions);
    }
}
