using BelizeMesh.Configuration;

namespace BelizeMesh.Mesh.Model;

/// <summary>One service of the mesh and everything BelizeMesh generates from it.</summary>
public sealed record ServiceSpec
{
    public required string Name { get; init; }

    public required string Namespace { get; init; }

    /// <summary>The workload's Kubernetes service account; the service name unless set.</summary>
    public required string ServiceAccount { get; init; }

    /// <summary>Labels selecting the workload's pods; <c>app: &lt;name&gt;</c> unless set.</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Labels { get; init; }

    public required IReadOnlyList<PortSpec> Ports { get; init; }

    /// <summary>Whether the post-quantum sidecar runs next to this workload (a SidecarPolicy ConfigMap is emitted).</summary>
    public bool Quantum { get; init; }

    /// <summary>The local port the sidecar forwards inbound requests to; the first HTTP port unless set.</summary>
    public int? AppPort { get; init; }

    /// <summary>Default route timeout; <see cref="TimeSpan.Zero"/> means no timeout; null leaves Istio's default.</summary>
    public TimeSpan? Timeout { get; init; }

    public RetrySpec? Retries { get; init; }

    public required IReadOnlyList<SubsetSpec> Subsets { get; init; }

    public required IReadOnlyList<RouteSpec> Routes { get; init; }

    public LoadBalancingSpec? LoadBalancing { get; init; }

    public ConnectionPoolSpec? ConnectionPool { get; init; }

    public OutlierDetectionSpec? OutlierDetection { get; init; }

    /// <summary>The DestinationRule client TLS mode; derived from the peer-authentication mode when null.</summary>
    public ClientTlsMode? TlsMode { get; init; }

    public SourcePosition TlsModePosition { get; init; }

    public ServiceMtls? Mtls { get; init; }

    public required AuthorizationSpec Authorization { get; init; }

    public JwtSpec? Jwt { get; init; }

    public required IReadOnlyList<RateLimitSpec> RateLimits { get; init; }

    public SourcePosition Position { get; init; }

    /// <summary>The port the sidecar forwards to: <see cref="AppPort"/>, else the first HTTP-family port.</summary>
    public int? EffectiveAppPort
    {
        get
        {
            if (AppPort is { } port)
            {
                return port;
            }

            foreach (var p in Ports)
            {
                if (p.EffectiveProtocol is { } protocol && Protocols.IsHttp(protocol))
                {
                    return p.Number;
                }
            }

            return null;
        }
    }
}

/// <summary>A service port. <see cref="Protocol"/> is what was written; Istio also reads it from a <c>&lt;protocol&gt;-</c> name prefix.</summary>
public sealed record PortSpec(string Name, int Number, string? Protocol, SourcePosition Position)
{
    /// <summary>The declared protocol, else the one the port name declares (<c>http-rpc</c> → HTTP), else null.</summary>
    public string? EffectiveProtocol => Protocol ?? Protocols.FromPortName(Name);
}

/// <summary>Istio's protocol names and its port-name convention.</summary>
public static class Protocols
{
    /// <summary>The protocols Istio recognises, upper case.</summary>
    public static readonly IReadOnlyList<string> Known = ["HTTP", "HTTP2", "HTTPS", "GRPC", "GRPC-WEB", "TCP", "TLS", "MONGO", "MYSQL", "REDIS"];

    /// <summary>Istio's explicit protocol selection: the port name is <c>&lt;protocol&gt;</c> or <c>&lt;protocol&gt;-&lt;suffix&gt;</c>.</summary>
    public static string? FromPortName(string name)
    {
        foreach (var protocol in Known)
        {
            if (name.Length >= protocol.Length
                && string.Compare(name, 0, protocol, 0, protocol.Length, StringComparison.OrdinalIgnoreCase) == 0
                && (name.Length == protocol.Length || name[protocol.Length] == '-'))
            {
                // "grpc-web" is longer than "grpc": prefer the longer match.
                if (protocol == "GRPC" && name.StartsWith("grpc-web", StringComparison.OrdinalIgnoreCase)
                    && (name.Length == 8 || name[8] == '-'))
                {
                    return "GRPC-WEB";
                }

                return protocol;
            }
        }

        return null;
    }

    /// <summary>Whether the sidecar's HTTP forwarder can serve this protocol.</summary>
    public static bool IsHttp(string protocol) => protocol is "HTTP" or "HTTP2" or "GRPC" or "GRPC-WEB";
}

/// <summary>Retry policy: attempts, per-try timeout, Envoy retry-on conditions.</summary>
public sealed record RetrySpec(int Attempts, TimeSpan? PerTryTimeout, string? RetryOn, SourcePosition Position)
{
    /// <summary>Istio's <c>backoff</c>: the base interval of the jittered back-off between retries (at least 1 ms);
    /// null = Envoy's default, 25 ms.</summary>
    public TimeSpan? Backoff { get; init; }
}

/// <summary>A named subset of a service's pods, selected by labels.</summary>
public sealed record SubsetSpec(string Name, IReadOnlyList<KeyValuePair<string, string>> Labels, SourcePosition Position);

/// <summary>Load-balancing policy; <see cref="LoadBalancingPolicy.ConsistentHash"/> uses exactly one of header, cookie, source IP.</summary>
public sealed record LoadBalancingSpec(LoadBalancingPolicy Policy, string? Header, string? Cookie, TimeSpan? CookieTtl, bool SourceIp, SourcePosition Position);

/// <summary>Connection-pool limits (circuit breaking).</summary>
public sealed record ConnectionPoolSpec(int? MaxConnections, TimeSpan? ConnectTimeout, int? Http2MaxRequests, int? MaxPendingRequests, int? MaxRequestsPerConnection, SourcePosition Position)
{
    /// <summary><c>h2UpgradePolicy</c>: whether callers' HTTP/1.1 requests to the service go as HTTP/2 between sidecars;
    /// null when not set.</summary>
    public H2UpgradePolicy? H2UpgradePolicy { get; init; }
}

/// <summary>Istio's <c>ConnectionPoolSettings.HTTPSettings.H2UpgradePolicy</c>.</summary>
public enum H2UpgradePolicy
{
    /// <summary><c>DEFAULT</c>: the mesh-wide setting (Istio's default: do not upgrade).</summary>
    Default,

    /// <summary><c>DO_NOT_UPGRADE</c>.</summary>
    DoNotUpgrade,

    /// <summary><c>UPGRADE</c>.</summary>
    Upgrade,
}

/// <summary>Outlier detection: eject hosts after consecutive errors.</summary>
public sealed record OutlierDetectionSpec(int? Consecutive5xxErrors, int? ConsecutiveGatewayErrors, TimeSpan? Interval, TimeSpan? BaseEjectionTime, int? MaxEjectionPercent, SourcePosition Position);

/// <summary>DestinationRule client TLS modes a mesh description may choose (the certificate-file modes are not offered).</summary>
public enum ClientTlsMode
{
    IstioMutual,
    Disable,
}

/// <summary>Workload-level peer authentication with port-level overrides.</summary>
public sealed record ServiceMtls(MtlsMode? Mode, IReadOnlyList<PortMtls> Ports, SourcePosition Position);

public sealed record PortMtls(int Port, MtlsMode Mode, SourcePosition Position);

/// <summary>Rate limit enforced by the sidecar: a token bucket per key.</summary>
public sealed record RateLimitSpec(string Name, IReadOnlyList<string> Paths, int RequestsPerSecond, int Burst, string Key, SourcePosition Position);
