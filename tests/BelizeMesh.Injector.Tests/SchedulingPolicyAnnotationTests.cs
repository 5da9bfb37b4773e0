using System.Text.Json.Nodes;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Injection;
using BelizeMesh.Injector.Offline;
using BelizeMesh.Injector.Tests.Support;

namespace BelizeMesh.Injector.Tests;

/// <summary>
/// <c>belizemesh.io/scheduling-policy</c> on a pod: <c>BELIZEMESH_SCHED_POLICY</c> in the sidecar's environment, which
/// the sidecar reads at start (<c>SCHED_BATCH</c> by default, <c>SCHED_OTHER</c> with <c>other</c>).
/// </summary>
public sealed class SchedulingPolicyAnnotationTests
{
    private static readonly SidecarTemplate Default = new(InjectorConfig.Default);

    private static JsonObject Annotated(string value) => new() { ["belizemesh.io/scheduling-policy"] = value };

    private static JsonObject Injected(JsonObject pod, SidecarTemplate? template = null) => Reviews.Injected(pod, template ?? Default);

    private static JsonObject Sidecar(JsonObject pod, bool native = false) =>
        pod["spec"]![native ? "initContainers" : "containers"]!.AsArray()
            .Single(c => (string?)c!["name"] == "belizemesh-proxy")!.AsObject();

    /// <summary>Every <c>BELIZEMESH_SCHED_POLICY</c> entry of a container's env, in order.</summary>
    private static List<string?> SchedPolicy(JsonObject container) =>
        (container["env"] as JsonArray ?? [])
            .Where(e => (string?)e!["name"] == "BELIZEMESH_SCHED_POLICY")
            .Select(e => (string?)e!["value"])
            .ToList();

    [Theory]
    [InlineData("batch", "batch")]
    [InlineData("other", "other")]
    [InlineData("Other", "other")]
    [InlineData("BATCH", "batch")]
    public void Scheduling_policy_annotation_sets_the_sidecar_environment(string annotation, string expected)
    {
        InjectionResult result = SidecarInjector.Inject(Reviews.Pod(annotations: Annotated(annotation)), "shop", Default);
        Assert.Equal(InjectionReason.Injected, result.Reason);
        Assert.Null(result.Message);
        JsonObject pod = Reviews.Pod(annotations: Annotated(annotation));
        Assert.Equal([expected], SchedPolicy(Sidecar(Injected(pod))));
    }

    [Fact]
    public void Scheduling_policy_goes_after_the_workload_labels_and_leaves_them_as_they_were()
    {
        JsonObject plain = Sidecar(Injected(Reviews.Pod()));
        JsonObject annotated = Sidecar(Injected(Reviews.Pod(annotations: Annotated("other"))));
        JsonArray env = annotated["env"]!.AsArray();
        Assert.Equal(plain["env"]!.AsArray().Count + 1, env.Count);
        Assert.Equal("BELIZEMESH_SCHED_POLICY", (string?)env[^1]!["name"]);
        env.RemoveAt(env.Count - 1);
        Assert.True(JsonNode.DeepEquals(plain, annotated));
    }

    [Fact]
    public void Without_the_annotation_the_sidecar_environment_has_no_scheduling_policy()
    {
        Assert.Empty(SchedPolicy(Sidecar(Injected(Reviews.Pod()))));
        Assert.Empty(SchedPolicy(Sidecar(Injected(Reviews.Pod(annotations: new JsonObject { ["other"] = "x" })))));
    }

    [Theory]
    [InlineData("fast")]
    [InlineData("")]
    [InlineData(" other")]
    [InlineData("idle")]
    public void Unknown_scheduling_policy_is_ignored_with_a_warning(string value)
    {
        InjectionResult result = SidecarInjector.Inject(Reviews.Pod(annotations: Annotated(value)), "shop", Default);
        Assert.Equal(InjectionReason.Injected, result.Reason);
        Assert.False(result.IsFailure);
        Assert.True(result.Warn);
        Assert.Equal($"belizemesh.io/scheduling-policy has the value '{value}', which is neither \"batch\" nor \"other\"; it was ignored", result.Message);
        Assert.Empty(SchedPolicy(Sidecar(Injected(Reviews.Pod(annotations: Annotated(value))))));
    }

    [Fact]
    public void Scheduling_policy_warning_is_joined_to_the_other_annotation_warnings()
    {
        var annotations = new JsonObject
        {
            ["belizemesh.io/inject"] = "yes",
            ["belizemesh.io/http-proxy"] = "no",
            ["belizemesh.io/scheduling-policy"] = "fast",
        };
        InjectionResult result = SidecarInjector.Inject(Reviews.Pod(annotations: annotations), "shop", Default);
        Assert.Equal(InjectionReason.Injected, result.Reason);
        Assert.Equal(
            "belizemesh.io/inject has the value 'yes', which is neither \"true\" nor \"false\"; it was ignored; "
            + "belizemesh.io/http-proxy has the value 'no', which is neither \"true\" nor \"false\"; it was ignored; "
            + "belizemesh.io/scheduling-policy has the value 'fast', which is neither \"batch\" nor \"other\"; it was ignored",
            result.Message);
    }

    [Fact]
    public void Native_sidecar_gets_the_scheduling_policy_too()
    {
        var template = new SidecarTemplate(InjectorConfig.Default with { NativeSidecar = true });
        JsonObject pod = Injected(Reviews.Pod(annotations: Annotated("other")), template);
        Assert.Equal(["other"], SchedPolicy(Sidecar(pod, native: true)));
    }

    [Fact]
    public void Application_containers_never_get_the_scheduling_policy_and_keep_their_own()
    {
        var spec = new JsonObject
        {
            ["containers"] = new JsonArray(
                new JsonObject { ["name"] = "web", ["image"] = "web:1" },
                new JsonObject
                {
                    ["name"] = "worker",
                    ["image"] = "worker:1",
                    ["env"] = new JsonArray(new JsonObject { ["name"] = "BELIZEMESH_SCHED_POLICY", ["value"] = "batch" }),
                }),
        };
        JsonObject pod = Injected(Reviews.Pod(annotations: Annotated("other"), spec: spec));
        JsonArray containers = pod["spec"]!["containers"]!.AsArray();
        Assert.Empty(SchedPolicy(containers[0]!.AsObject()));
        Assert.Equal(["batch"], SchedPolicy(containers[1]!.AsObject()));
        Assert.Equal(["other"], SchedPolicy(Sidecar(pod)));
    }

    [Fact]
    public void Hand_written_sidecar_keeps_its_own_scheduling_policy()
    {
        // The author's belizemesh-proxy is left as written (sidecar_present), annotation or not: never two values.
        var spec = new JsonObject
        {
            ["containers"] = new JsonArray(new JsonObject
            {
                ["name"] = "belizemesh-proxy",
                ["image"] = "belizemesh-proxy:1",
                ["env"] = new JsonArray(new JsonObject { ["name"] = "BELIZEMESH_SCHED_POLICY", ["value"] = "batch" }),
            }),
        };
        JsonObject pod = Reviews.Pod(annotations: Annotated("other"), spec: spec);
        InjectionResult result = SidecarInjector.Inject(pod, "shop", Default);
        Assert.Equal(InjectionReason.SidecarPresent, result.Reason);
        Assert.Empty(result.Patch);
        Assert.Equal(["batch"], SchedPolicy(Sidecar(pod)));
    }

    [Fact]
    public void Already_injected_pod_keeps_the_scheduling_policy_it_was_injected_with()
    {
        JsonObject pod = Injected(Reviews.Pod(annotations: Annotated("other")));
        pod["metadata"]!["annotations"]!["belizemesh.io/scheduling-policy"] = "batch";
        InjectionResult second = SidecarInjector.Inject(pod, "shop", Default);
        Assert.Equal(InjectionReason.AlreadyInjected, second.Reason);
        Assert.Empty(second.Patch);
        Assert.Equal(["other"], SchedPolicy(Sidecar(pod)));
    }

    [Fact]
    public void Template_never_sets_a_scheduling_policy_of_its_own()
    {
        // Whatever the configuration, the sidecar's default (SCHED_BATCH) applies unless the pod asks.
        var template = new SidecarTemplate(InjectorConfig.Default with { NativeSidecar = true, ClusterName = "east", HttpProxy = false });
        Assert.Empty(SchedPolicy(template.Container));
        Assert.Empty(SchedPolicy(Sidecar(Injected(Reviews.Pod(), template), native: true)));
    }

    [Fact]
    public void Skipped_pods_get_no_scheduling_policy_warning()
    {
        var annotations = Annotated("fast");
        annotations["belizemesh.io/inject"] = "false";
        InjectionResult result = SidecarInjector.Inject(Reviews.Pod(annotations: annotations), "shop", Default);
        Assert.Equal(InjectionReason.OptedOut, result.Reason);
        Assert.DoesNotContain("scheduling-policy", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Offline_injection_sets_the_variable_and_reports_an_unknown_value_on_stderr()
    {
        const string yaml = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: { name: checkout, namespace: shop }
            spec:
              selector: { matchLabels: { app: checkout } }
              template:
                metadata:
                  labels: { app: checkout }
                  annotations: { belizemesh.io/scheduling-policy: other }
                spec:
                  containers: [{ name: app, image: "checkout:1" }]
            ---
            apiVersion: v1
            kind: Pod
            metadata:
              name: batcher
              namespace: shop
              annotations: { belizemesh.io/scheduling-policy: fast }
            spec:
              containers: [{ name: app, image: "batcher:1" }]
            """;
        OfflineResult result = OfflineInjector.Run(yaml, "in.yaml", Default);
        Assert.Equal(2, result.Injected);
        Assert.Contains("BELIZEMESH_SCHED_POLICY", result.Yaml, StringComparison.Ordinal);
        string warning = Assert.Single(result.Warnings);
        Assert.StartsWith("in.yaml:", warning, StringComparison.Ordinal);
        Assert.EndsWith(": Pod batcher: belizemesh.io/scheduling-policy has the value 'fast', which is neither \"batch\" nor \"other\"; it was ignored", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void Injected_variable_and_values_are_the_ones_the_sidecar_reads()
    {
        // The sidecar (proxy/BelizeMesh.Proxy/Hosting/SchedulingPolicy.cs) owns the variable; the injector must agree.
        Assert.Equal(BelizeMesh.Proxy.Hosting.SchedulingPolicy.Variable, SidecarSchedulingPolicy.Variable);
        Assert.Equal(3, BelizeMesh.Proxy.Hosting.SchedulingPolicy.Parse("batch")); // SCHED_BATCH
        Assert.Equal(0, BelizeMesh.Proxy.Hosting.SchedulingPolicy.Parse("other")); // SCHED_OTHER
        foreach (string value in SidecarSchedulingPolicy.Values)
        {
            BelizeMesh.Proxy.Hosting.SchedulingPolicy.Parse(value); // throws for a value the sidecar would reject
        }
    }
}
