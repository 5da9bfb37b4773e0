using BelizeMesh.Configuration;
using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Model;

namespace BelizeMesh.Mesh.Emit;

/// <summary>One generated Kubernetes object: its identity, the JSON tree that is written as YAML, and the model element it came from.</summary>
public sealed record EmittedResource(ResourceKind Kind, string ApiVersion, string Namespace, string Name, JsonObject Document, SourcePosition Origin);

/// <summary>The kinds <c>emit</c> produces, in output order (Istio's apply order: peer authentication first, so mTLS is settled before routes change; destination rules before the virtual services that use their subsets).</summary>
public enum ResourceKind
{
    PeerAuthentication,
    Gateway,
    DestinationRule,
    VirtualService,
    RequestAuthentication,
    AuthorizationPolicy,
    ConfigMap,

    /// <summary>The headless <c>&lt;svc&gt;-pq</c> Services the callers' sidecars resolve (see <see cref="PqServiceNames"/>).</summary>
    Service,

    /// <summary>The injector's exclusion list, a <c>ConfigMap</c> in the injector's namespace (its own file, so the
    /// sidecar-policy ConfigMaps stay one kind).</summary>
    InjectorExclusions,
}

/// <summary>Which Istio API versions to write.</summary>
public enum IstioApiVersion
{
    V1,
    V1Beta1,
}

/// <summary>Names and file layout shared by the emitter, the CLI and the tests.</summary>
public static class ResourceKinds
{
    /// <summary>The <c>--out DIR</c> file for each kind (the seed's file names).</summary>
    public static string FileName(ResourceKind kind) => kind switch
    {
        ResourceKind.PeerAuthentication => "peer-authentication.yaml",
        ResourceKind.Gateway => "gateway.yaml",
        ResourceKind.DestinationRule => "destination-rules.yaml",
        ResourceKind.VirtualService => "virtual-services.yaml",
        ResourceKind.RequestAuthentication => "request-authentication.yaml",
        ResourceKind.AuthorizationPolicy => "authorization-policies.yaml",
        ResourceKind.ConfigMap => "sidecar-policies.yaml",
        ResourceKind.Service => "pq-services.yaml",
        ResourceKind.InjectorExclusions => "injector-exclusions.yaml",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static string ApiVersion(ResourceKind kind, IstioApiVersion version)
    {
        string v = version == IstioApiVersion.V1 ? "v1" : "v1beta1";
        return kind switch
        {
            ResourceKind.Gateway or ResourceKind.VirtualService or ResourceKind.DestinationRule => "networking.istio.io/" + v,
            ResourceKind.PeerAuthentication or ResourceKind.AuthorizationPolicy or ResourceKind.RequestAuthentication => "security.istio.io/" + v,
            _ => "v1",
        };
    }
}
