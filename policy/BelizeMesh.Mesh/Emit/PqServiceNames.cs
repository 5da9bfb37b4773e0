using System.Globalization;
using BelizeMesh.Configuration;
using BelizeMesh.Mesh.Model;

namespace BelizeMesh.Mesh.Emit;

/// <summary>
/// The names of the headless Services that expose a mesh service's PQ port (16443) per pod: <c>&lt;svc&gt;-pq</c> for the
/// whole service and <c>&lt;svc&gt;-&lt;subset&gt;-pq</c> for one subset (its selector adds the subset's labels). A caller's
/// sidecar resolves their A/AAAA records and balances across the pods itself. One place for the rule, so the emitted
/// Services and the emitted SidecarPolicy routes cannot disagree.
/// </summary>
public static class PqServiceNames
{
    /// <summary>The PQ channel port every sidecar listens on and every headless Service exposes.</summary>
    public const int ChannelPort = MeshNames.InboundPort;

    /// <summary>The port's name in the Service (<c>tcp-</c> so Istio treats it as opaque TCP).</summary>
    public const string PortName = "tcp-belizemesh-pq";

    /// <summary>The headless Service's name: <c>&lt;svc&gt;-pq</c> or <c>&lt;svc&gt;-&lt;subset&gt;-pq</c>.</summary>
    public static string ServiceName(ServiceSpec service, string? subset = null) =>
        subset is null ? service.Name + "-pq" : service.Name + "-" + subset + "-pq";

    /// <summary>The DNS name a caller's sidecar resolves: <c>&lt;name&gt;.&lt;ns&gt;.svc.&lt;cluster domain&gt;</c>.</summary>
    public static string Host(MeshDescription mesh, ServiceSpec service, string? subset = null) =>
        $"{ServiceName(service, subset)}.{service.Namespace}.svc.{mesh.ClusterDomain}";

    /// <summary>The endpoint written into a SidecarPolicy route: <c>host:16443</c>.</summary>
    public static string Endpoint(MeshDescription mesh, ServiceSpec service, string? subset = null) =>
        Host(mesh, service, subset) + ":" + ChannelPort.ToString(CultureInfo.InvariantCulture);
}
