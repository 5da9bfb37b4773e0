using BelizeMesh.Configuration;

namespace BelizeMesh.Injector.Configuration;

/// <summary>What the injector does when it cannot inject a pod that asked for the sidecar (and the webhook's own
/// <c>failurePolicy</c> in <c>webhook-config</c>).</summary>
internal enum FailurePolicy
{
    /// <summary>Deny the pod with the reason: no pod in an opted-in namespace runs without the sidecar.</summary>
    Fail,

    /// <summary>Admit the pod unchanged, with the reason as a warning.</summary>
    Ignore,
}

/// <summary>CPU and memory quantities in Kubernetes notation.</summary>
internal sealed record ResourceQuantities(string Cpu, string Memory);

/// <summary>The sidecar's ports (see the cross-component conventions).</summary>
internal sealed record SidecarPorts(int Inbound, int Outbound, int Admin);

/// <summary>
/// The injector's configuration, immutable: a reload publishes a whole new instance. Every value has a default, so
/// an empty file (or no <c>--config</c>) is a working configuration.
/// </summary>
internal sealed record InjectorConfig
{
    public static readonly InjectorConfig Default = new();

    /// <summary>The sidecar image.</summary>
    public string Image { get; init; } = "ghcr.io/belizemesh/belizemesh-proxy:" + InjectorVersion.Value;

    public string ImagePullPolicy { get; init; } = "IfNotPresent";

    public ResourceQuantities Requests { get; init; } = new("100m", "128Mi");

    public ResourceQuantities Limits { get; init; } = new("500m", "512Mi");

    public SidecarPorts Ports { get; init; } = new(MeshNames.InboundPort, MeshNames.OutboundPort, MeshNames.AdminPort);

    /// <summary>Inject as a Kubernetes native sidecar: an init container with <c>restartPolicy: Always</c>.</summary>
    public bool NativeSidecar { get; init; }

    public FailurePolicy FailurePolicy { get; init; } = FailurePolicy.Fail;

    /// <summary>The sidecar's uid; non-root and never Istio's 1337 (Envoy's traffic bypasses redirection).</summary>
    public long RunAsUser { get; init; } = 16016;

    public long RunAsGroup { get; init; } = 16016;

    /// <summary>Namespaces whose pods are never injected.</summary>
    public IReadOnlyList<string> IgnoredNamespaces { get; init; } = ["kube-system", "kube-public"];

    /// <summary>Set <c>HTTP_PROXY</c>/<c>NO_PROXY</c> on application containers (a pod's <c>belizemesh.io/http-proxy</c> overrides).</summary>
    public bool HttpProxy { get; init; } = true;

    /// <summary>The cluster's name in a multi-cluster mesh (Istio's <c>global.multiCluster.clusterName</c>), passed to
    /// the sidecar as <c>BELIZEMESH_CLUSTER_ID</c> for the <c>*_cluster</c> labels of Istio's request metrics; null =
    /// not set (the sidecar reports Istio's default, <c>Kubernetes</c>).</summary>
    public string? ClusterName { get; init; }

    /// <summary>Extra <c>NO_PROXY</c> entries for every injected pod (non-mesh HTTP destinations).</summary>
    public IReadOnlyList<string> NoProxy { get; init; } = [];

    /// <summary>Workloads to leave alone: <c>belizemesh emit</c>'s list of <c>quantum: false</c> services (from <c>--exclusions</c>, not this file).</summary>
    public IReadOnlyList<WorkloadExclusion> Exclusions { get; init; } = [];

    /// <summary>Largest AdmissionReview body accepted; bigger ones get 413.</summary>
    public long MaxRequestBytes { get; init; } = 3 * 1024 * 1024;
}
