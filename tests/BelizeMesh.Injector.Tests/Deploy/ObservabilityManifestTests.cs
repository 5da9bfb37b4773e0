using System.Text.Json.Nodes;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Injection;
using BelizeMesh.Injector.Kubernetes;
using BelizeMesh.Injector.Tests.Support;
using BelizeMesh.TestSupport;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Injector.Tests.Deploy;

/// <summary>
/// deploy/observability's scrape job and PodMonitor select exactly what the injector creates (the sidecar container's
/// admin port), and the injector leaves the pod's <c>prometheus.io/*</c> annotations to the app and Istio's merging.
/// </summary>
public sealed class ObservabilityManifestTests
{
    private static JsonNode Load(string file) => YamlJson.Load(File.ReadAllText(RepoPaths.RepoFile("deploy", "observability", file)))!;

    [Fact]
    public void The_scrape_job_keeps_the_sidecar_containers_admin_port()
    {
        JsonObject job = Load("prometheus-scrape-config.yaml")["scrape_configs"]!.AsArray().Single()!.AsObject();
        Assert.Equal("/metrics", (string?)job["metrics_path"]);
        JsonObject keep = job["relabel_configs"]!.AsArray().First(r => (string?)r!["action"] == "keep")!.AsObject();
        Assert.Equal($"{WellKnown.SidecarContainerName};{WellKnown.AdminPortName}", (string?)keep["regex"]);
    }

    [Fact]
    public void The_pod_monitor_scrapes_the_admin_port_of_the_sidecar_container()
    {
        JsonNode monitor = Load("podmonitor.yaml");
        Assert.Equal("PodMonitor", (string?)monitor["kind"]);
        JsonObject endpoint = monitor["spec"]!["podMetricsEndpoints"]!.AsArray().Single()!.AsObject();
        Assert.Equal(WellKnown.AdminPortName, (string?)endpoint["port"]);
        Assert.Equal(WellKnown.SidecarContainerName, (string?)endpoint["relabelings"]![0]!["regex"]);
    }

    [Fact]
    public void The_injected_sidecar_names_its_admin_port_and_the_pod_keeps_its_prometheus_annotations()
    {
        var template = new SidecarTemplate(InjectorConfig.Default);
        JsonObject pod = Reviews.Pod(annotations: new JsonObject { ["prometheus.io/scrape"] = "true", ["prometheus.io/port"] = "9090" });
        InjectionResult result = SidecarInjector.Inject(pod, "shop", template);
        JsonPatch.Apply(pod, result.Patch);
        JsonObject sidecar = pod["spec"]!["containers"]!.AsArray().Single(c => (string?)c!["name"] == WellKnown.SidecarContainerName)!.AsObject();
        Assert.Contains(sidecar["ports"]!.AsArray(), p => (string?)p!["name"] == WellKnown.AdminPortName && (int?)p["containerPort"] == InjectorConfig.Default.Ports.Admin);
        Assert.Equal("9090", (string?)pod["metadata"]!["annotations"]!["prometheus.io/port"]);
        Assert.DoesNotContain(pod["metadata"]!["annotations"]!.AsObject(), a => a.Key.StartsWith("prometheus.io/", StringComparison.Ordinal) && a.Key != "prometheus.io/scrape" && a.Key != "prometheus.io/port");
    }
}
