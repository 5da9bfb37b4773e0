using BelizeMesh.Configuration;

namespace BelizeMesh.Injector.Kubernetes;

/// <summary>Names shared with <c>belizemesh emit</c> and the proxy (the cross-component conventions, from
/// <see cref="MeshNames"/>), and the injector's own.</summary>
internal static class WellKnown
{
    public const string SidecarContainerName = MeshNames.SidecarContainerName;

    public const string InboundPortName = "bm-pq";
    public const string OutboundPortName = "bm-outbound";
    public const string AdminPortName = "bm-admin";
    public const string StatusPortName = "bm-status";

    /// <summary>The sidecar's status listener (<c>belizemesh-proxy run --status-listen 0.0.0.0:16021</c>), which the
    /// kubelet's readiness probe reaches on the pod IP whatever the policy's <c>spec.admin.listen</c> says (Istio's
    /// agent has 15021 for the same reason).</summary>
    public const int StatusPort = MeshNames.StatusPort;

    public const string PolicyVolumeName = MeshNames.PolicyVolumeName;
    public const string CertsVolumeName = MeshNames.CertsVolumeName;
    public const string PolicyConfigMapPrefix = MeshNames.PolicyConfigMapPrefix;
    public const string CertsSecretPrefix = MeshNames.CertsSecretPrefix;
    public const string PolicyMountPath = MeshNames.PolicyMountPath;
    public const string PolicyFile = MeshNames.PolicyFile;
    public const string CertsMountPath = MeshNames.CertsMountPath;
    public const string ReadinessPath = MeshNames.ReadinessPath;

    /// <summary>Opt-in/opt-out switch, read from the pod's labels first, then its annotations.</summary>
    public const string InjectAnnotation = "belizemesh.io/inject";

    /// <summary>JSON record of what was injected; its presence makes injection idempotent.</summary>
    public const string StatusAnnotation = "belizemesh.io/status";

    public const string NamespaceLabel = MeshNames.NamespaceLabel;

    public const string ManagedByLabel = MeshNames.ManagedByLabel;
    public const string ManagedByValue = MeshNames.ManagedByValue;

    /// <summary>Istio's iptables set-up (istio-init or the CNI plugin) leaves these inbound ports to the pod.</summary>
    public const string IstioExcludeInboundPorts = "traffic.sidecar.istio.io/excludeInboundPorts";

    /// <summary>Outbound connections to these destination ports bypass Envoy.</summary>
    public const string IstioExcludeOutboundPorts = "traffic.sidecar.istio.io/excludeOutboundPorts";

    /// <summary>The uid Envoy runs as; its traffic is exempt from Istio's redirection, so the sidecar must not share it.</summary>
    public const long IstioProxyUid = 1337;

    /// <summary>Ports Istio reserves in every injected pod (DESIGN.md); the sidecar must not take them.</summary>
    public static readonly int[] IstioReservedPorts = [15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090];

    public const string DefaultServiceAccount = "default";
}
