using BelizeMesh.Configuration;

namespace BelizeMesh.Mesh.Model;

/// <summary>
/// One bound mesh description (<c>kind: Mesh</c>, <c>apiVersion: belizemesh.io/v1alpha1</c>): every gateway, namespace and
/// service of the mesh, with references already resolved. Built only by <see cref="Parsing.MeshParser"/>; immutable.
/// </summary>
public sealed record MeshDescription
{
    /// <summary>The file the description came from, as given on the command line (used in every diagnostic).</summary>
    public required string File { get; init; }

    /// <summary><c>metadata.name</c>.</summary>
    public required string Name { get; init; }

    /// <summary>SPIFFE trust domain; <c>cluster.local</c> unless set.</summary>
    public required string TrustDomain { get; init; }

    /// <summary>Kubernetes cluster DNS domain used for service hosts; <c>cluster.local</c> unless set.</summary>
    public required string ClusterDomain { get; init; }

    /// <summary>Istio's root namespace, where the mesh-wide PeerAuthentication goes; <c>istio-system</c> unless set.</summary>
    public required string RootNamespace { get; init; }

    /// <summary>The mesh-wide mTLS mode, or null to leave Istio's default alone.</summary>
    public MtlsMode? MeshMtls { get; init; }

    public required IReadOnlyList<NamespaceSpec> Namespaces { get; init; }

    public required IReadOnlyList<GatewaySpec> Gateways { get; init; }

    public required IReadOnlyList<ServiceSpec> Services { get; init; }

    /// <summary>The fully qualified host of a service: <c>&lt;name&gt;.&lt;namespace&gt;.svc.&lt;clusterDomain&gt;</c>.</summary>
    public string HostOf(ServiceSpec service) => $"{service.Name}.{service.Namespace}.svc.{ClusterDomain}";

    /// <summary>The Istio principal of a service account: <c>&lt;trustDomain&gt;/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>.</summary>
    public string PrincipalOf(string ns, string serviceAccount) => $"{TrustDomain}/ns/{ns}/sa/{serviceAccount}";

    /// <summary>The SPIFFE ID of a service's workload identity.</summary>
    public string SpiffeIdOf(ServiceSpec service) => MeshNames.SpiffeScheme + PrincipalOf(service.Namespace, service.ServiceAccount);

    /// <summary>The namespace settings for <paramref name="ns"/>, or null when the description has none.</summary>
    public NamespaceSpec? FindNamespace(string ns)
    {
        foreach (var n in Namespaces)
        {
            if (n.Name == ns)
            {
                return n;
            }
        }

        return null;
    }

    /// <summary>
    /// The mesh service a route destination reaches, or null (an external host): its <c>service</c>, or a <c>host</c>
    /// naming a service of the mesh the way Istio resolves a VirtualService destination host — the full name
    /// <c>&lt;name&gt;.&lt;namespace&gt;.svc.&lt;clusterDomain&gt;</c>, or a short name without dots, which Istio reads in
    /// the namespace of the VirtualService (<paramref name="routeNamespace"/>, the namespace of the route's service).
    /// </summary>
    public ServiceSpec? DestinationService(RouteDestination destination, string routeNamespace)
    {
        if (destination.Service is { } reference)
        {
            return FindService(reference.Namespace, reference.Name);
        }

        if (destination.Host is not { } host)
        {
            return null;
        }

        if (!host.Contains('.', StringComparison.Ordinal))
        {
            return FindService(routeNamespace, host);
        }

        foreach (var service in Services)
        {
            if (string.Equals(HostOf(service), host, StringComparison.Ordinal))
            {
                return service;
            }
        }

        return null;
    }

    /// <summary>The service named <paramref name="name"/> in <paramref name="ns"/>, or null.</summary>
    public ServiceSpec? FindService(string ns, string name)
    {
        foreach (var s in Services)
        {
            if (s.Name == name && s.Namespace == ns)
            {
                return s;
            }
        }

        return null;
    }

    /// <summary>The mTLS mode in force for a workload: its own, else its namespace's, else the mesh's, else STRICT.</summary>
    public MtlsMode EffectiveMtls(ServiceSpec service) =>
        service.Mtls?.Mode ?? FindNamespace(service.Namespace)?.Mtls ?? MeshMtls ?? MtlsMode.Strict;

    /// <summary>The mTLS mode in force for one port of a workload (a port-level override wins).</summary>
    public MtlsMode EffectiveMtls(ServiceSpec service, int port)
    {
        if (service.Mtls is { } mtls)
        {
            foreach (var p in mtls.Ports)
            {
                if (p.Port == port)
                {
                    return p.Mode;
                }
            }
        }

        return EffectiveMtls(service);
    }
}

/// <summary>Istio's peer-authentication modes.</summary>
public enum MtlsMode
{
    Strict,
    Permissive,
    Disable,
}

/// <summary>Per-namespace settings: mTLS mode and the zero-trust default deny.</summary>
public sealed record NamespaceSpec(string Name, MtlsMode? Mtls, bool DefaultDeny, SourcePosition Position);
