using System.Text.Json.Nodes;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Injection;
using BelizeMesh.Injector.Tests.Support;

namespace BelizeMesh.Injector.Tests;

/// <summary>The sidecar's environment for the Istio metrics' workload labels, derived from the pod as Istio does.</summary>
public class WorkloadEnvironmentTests
{
    private static readonly SidecarTemplate Default = new(InjectorConfig.Default);

    private static Dictionary<string, JsonNode?> SidecarEnv(JsonObject pod, SidecarTemplate? template = null)
    {
        InjectionResult result = SidecarInjector.Inject(pod, "shop", template ?? Default);
        Assert.Equal(InjectionReason.Injected, result.Reason);
        JsonPatch.Apply(pod, result.Patch);
        Assert.Empty(KubeSchemas.ValidatePod(pod));
        JsonObject sidecar = pod["spec"]!["containers"]!.AsArray().Single(c => (string?)c!["name"] == "belizemesh-proxy")!.AsObject();
        return sidecar["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => e!["value"] ?? e!["valueFrom"]);
    }

    [Fact]
    public void A_deployment_pod_is_labelled_with_its_deployment_app_and_version()
    {
        JsonObject pod = Reviews.Pod(labels: new JsonObject { ["app"] = "reviews", ["version"] = "v2", ["pod-template-hash"] = "7f4669bdd9" });
        JsonObject metadata = pod["metadata"]!.AsObject();
        metadata.Remove("name");
        metadata["generateName"] = "reviews-v2-7f4669bdd9-";
        metadata["ownerReferences"] = new JsonArray(new JsonObject
        {
            ["apiVersion"] = "apps/v1", ["kind"] = "ReplicaSet", ["name"] = "reviews-v2-7f4669bdd9", ["uid"] = "u", ["controller"] = true,
        });

        Dictionary<string, JsonNode?> env = SidecarEnv(pod);
        Assert.Equal("reviews-v2", (string?)env["BELIZEMESH_WORKLOAD_NAME"]);
        Assert.Equal("reviews", (string?)env["BELIZEMESH_APP"]);
        Assert.Equal("v2", (string?)env["BELIZEMESH_VERSION"]);
        Assert.Equal("reviews", (string?)env["BELIZEMESH_CANONICAL_SERVICE"]);
        Assert.Equal("v2", (string?)env["BELIZEMESH_CANONICAL_REVISION"]);
        Assert.Equal("metadata.namespace", (string?)env["BELIZEMESH_POD_NAMESPACE"]!["fieldRef"]!["fieldPath"]);
        Assert.Equal("metadata.labels['pod-template-hash']", (string?)env["BELIZEMESH_POD_TEMPLATE_HASH"]!["fieldRef"]!["fieldPath"]);
    }

    [Fact]
    public void Istio_canonical_labels_and_kubernetes_recommended_labels_are_used_in_istios_order()
    {
        JsonObject pod = Reviews.Pod(name: "ratings-0", labels: new JsonObject
        {
            ["app.kubernetes.io/name"] = "ratings",
            ["app.kubernetes.io/version"] = "1.4",
            ["service.istio.io/canonical-name"] = "ratings-canonical",
        });

        Dictionary<string, JsonNode?> env = SidecarEnv(pod);
        Assert.Equal("ratings-0", (string?)env["BELIZEMESH_WORKLOAD_NAME"]); // no controller: the pod itself
        Assert.Equal("ratings", (string?)env["BELIZEMESH_APP"]);
        Assert.Equal("1.4", (string?)env["BELIZEMESH_VERSION"]);
        Assert.Equal("ratings-canonical", (string?)env["BELIZEMESH_CANONICAL_SERVICE"]);
        Assert.Equal("1.4", (string?)env["BELIZEMESH_CANONICAL_REVISION"]);
    }

    [Fact]
    public void A_pod_without_labels_gets_only_its_namespace_and_name_and_the_sidecar_defaults_the_rest()
    {
        Dictionary<string, JsonNode?> env = SidecarEnv(Reviews.Pod(name: "lonely"));
        Assert.Equal(["BELIZEMESH_POD_NAME", "BELIZEMESH_POD_NAMESPACE", "BELIZEMESH_POD_TEMPLATE_HASH", "BELIZEMESH_WORKLOAD_NAME"], env.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("lonely", (string?)env["BELIZEMESH_WORKLOAD_NAME"]);
    }

    [Fact]
    public void The_configured_cluster_name_reaches_the_sidecar_and_none_is_set_without_it()
    {
        Dictionary<string, JsonNode?> named = SidecarEnv(Reviews.Pod(name: "a"), new SidecarTemplate(InjectorConfig.Default with { ClusterName = "east-1" }));
        Assert.Equal("east-1", (string?)named["BELIZEMESH_CLUSTER_ID"]);
        Assert.False(SidecarEnv(Reviews.Pod(name: "b")).ContainsKey("BELIZEMESH_CLUSTER_ID"));
    }
}
