using System.Net;

namespace BelizeMesh.Proxy.Metrics;

/// <summary>
/// The Istio labels that describe one side of a request (the <c>source_*</c> or the <c>destination_*</c> group of
/// <c>istio_requests_total</c>): workload, its namespace, its principal (SPIFFE ID), <c>app</c> and <c>version</c>, the
/// canonical service and revision, and the cluster. Instances are immutable and interned, so a label set is keyed by
/// reference.
/// </summary>
internal sealed class WorkloadLabels(string workload, string @namespace, string principal, string app, string version, string canonicalService, string canonicalRevision, string cluster)
{
    public const string Unknown = "unknown";

    /// <summary>A side nothing is known about (a plaintext caller, a request without a route).</summary>
    public static readonly WorkloadLabels None = new(Unknown, Unknown, Unknown, Unknown, Unknown, Unknown, Unknown, Unknown);

    public string Workload { get; } = workload;

    public string Namespace { get; } = @namespace;

    public string Principal { get; } = principal;

    public string App { get; } = app;

    public string Version { get; } = version;

    public string CanonicalService { get; } = canonicalService;

    public string CanonicalRevision { get; } = canonicalRevision;

    public string Cluster { get; } = cluster;

    /// <summary>The namespace of a SPIFFE ID <c>spiffe://td/ns/NS/sa/SA</c>, or <see cref="Unknown"/>.</summary>
    public static string NamespaceOf(string? spiffeId)
    {
        if (spiffeId is null || !spiffeId.StartsWith("spiffe://", StringComparison.Ordinal))
        {
            return Unknown;
        }

        int ns = spiffeId.IndexOf("/ns/", "spiffe://".Length, StringComparison.Ordinal);
        if (ns < 0)
        {
            return Unknown;
        }

        int start = ns + "/ns/".Length;
        int end = spiffeId.IndexOf('/', start);
        return end <= start ? Unknown : spiffeId[start..end];
    }
}

/// <summary>
/// What the sidecar knows about its own workload beyond its certificate: set by the injector as environment variables
/// of the sidecar container (docs/injector.md), computed from the pod's labels and owner when it is admitted.
/// </summary>
internal sealed record WorkloadMetadata(string? WorkloadName, string? Namespace, string? App, string? Version, string? CanonicalService, string? CanonicalRevision, string? Cluster)
{
    /// <summary>Istio's default cluster name (<c>global.multiCluster.clusterName</c> unset).</summary>
    public const string DefaultCluster = "Kubernetes";

    public static readonly WorkloadMetadata Empty = new(null, null, null, null, null, null, null);

    public static WorkloadMetadata FromEnvironment() => new(
        Read(MeshNames.WorkloadEnv.WorkloadName) ?? WorkloadFromPod(Read(MeshNames.WorkloadEnv.PodName), Read(MeshNames.WorkloadEnv.PodTemplateHash)),
        Read(MeshNames.WorkloadEnv.Namespace),
        Read(MeshNames.WorkloadEnv.App),
        Read(MeshNames.WorkloadEnv.Version),
        Read(MeshNames.WorkloadEnv.CanonicalService),
        Read(MeshNames.WorkloadEnv.CanonicalRevision),
        Read(MeshNames.WorkloadEnv.Cluster));

    /// <summary>
    /// The workload of a pod whose controller was not known at admission: a Deployment's pod
    /// <c>NAME-HASH-xxxxx</c> (with label <c>pod-template-hash: HASH</c>) belongs to <c>NAME</c>; any other pod is its
    /// own workload.
    /// </summary>
    internal static string? WorkloadFromPod(string? podName, string? templateHash)
    {
        if (podName is null)
        {
            return null;
        }

        if (templateHash is not null)
        {
            int at = podName.LastIndexOf("-" + templateHash + "-", StringComparison.Ordinal);
            if (at > 0)
            {
                return podName[..at];
            }
        }

        return podName;
    }

    private static string? Read(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;

    /// <summary>
    /// This sidecar's labels: the principal and namespace from its certificate's SPIFFE ID (else
    /// <paramref name="fallbackNamespace"/>, the policy's namespace), the rest from this metadata; Istio's defaults
    /// where a value is missing (canonical service = workload name, canonical revision = <c>latest</c>).
    /// </summary>
    public WorkloadLabels ToLabels(string? spiffeId, string fallbackNamespace)
    {
        string ns = WorkloadLabels.NamespaceOf(spiffeId);
        if (ns == WorkloadLabels.Unknown)
        {
            ns = Namespace ?? (fallbackNamespace.Length > 0 ? fallbackNamespace : WorkloadLabels.Unknown);
        }

        string workload = WorkloadName ?? WorkloadLabels.Unknown;
        return new WorkloadLabels(
            workload,
            ns,
            spiffeId ?? WorkloadLabels.Unknown,
            App ?? WorkloadLabels.Unknown,
            Version ?? WorkloadLabels.Unknown,
            CanonicalService ?? workload,
            CanonicalRevision ?? "latest",
            Cluster ?? DefaultCluster);
    }
}

/// <summary>
/// <c>destination_service</c>, <c>destination_service_name</c>, <c>destination_service_namespace</c> of a host name as
/// a mesh client addresses it: <c>name</c>, <c>name.ns</c>, <c>name.ns.svc</c> or <c>name.ns.svc.&lt;domain&gt;</c> are
/// Kubernetes Services (the short forms in the caller's namespace, completed with <c>cluster.local</c>, as Istio
/// reports the Service's FQDN); any other name is an external host (the name is the host, the namespace unknown); an
/// IP address names no service.
/// </summary>
internal sealed class ServiceLabels(string service, string name, string @namespace)
{
    public const string ClusterDomain = "cluster.local";

    public static readonly ServiceLabels None = new(WorkloadLabels.Unknown, WorkloadLabels.Unknown, WorkloadLabels.Unknown);

    public string Service { get; } = service;

    public string Name { get; } = name;

    public string Namespace { get; } = @namespace;

    public static ServiceLabels FromHost(string host, string defaultNamespace)
    {
        if (host.Length == 0 || host.Length > 253 || IPAddress.TryParse(host, out _) || host.Contains(':', StringComparison.Ordinal))
        {
            return None;
        }

        foreach (char c in host)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_'))
            {
                return None;
            }
        }

        host = host.ToLowerInvariant().TrimEnd('.');
        string[] labels = host.Split('.');
        if (labels.Length == 1)
        {
            string ns = defaultNamespace.Length > 0 ? defaultNamespace : WorkloadLabels.Unknown;
            return new ServiceLabels($"{host}.{ns}.svc.{ClusterDomain}", host, ns);
        }

        if (labels.Length == 2 || (labels.Length == 3 && labels[2] == "svc"))
        {
            return new ServiceLabels($"{labels[0]}.{labels[1]}.svc.{ClusterDomain}", labels[0], labels[1]);
        }

        if (labels[2] == "svc")
        {
            return new ServiceLabels(host, labels[0], labels[1]);
        }

        return new ServiceLabels(host, host, WorkloadLabels.Unknown);
    }
}

/// <summary>
/// What the outbound side knows about a destination before the request is sent, built once per upstream target with
/// the snapshot: the Service (from the route's host), the peer's identity (the route's expected SPIFFE ID, which the
/// channel handshake proves) and whether the channel secures it.
/// </summary>
internal sealed class DestinationTelemetry(ServiceLabels service, string? principal, bool secured)
{
    public ServiceLabels Service { get; } = service;

    /// <summary>The expected peer identity (a SPIFFE ID); null for a plaintext route.</summary>
    public string? Principal { get; } = principal;

    /// <summary>True for a STRICT route (the PQ channel authenticated both sides): <c>mutual_tls</c>.</summary>
    public bool Secured { get; } = secured;
}
