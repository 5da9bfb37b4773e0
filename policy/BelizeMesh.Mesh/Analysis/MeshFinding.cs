using BelizeMesh.Configuration;
using BelizeMesh.Mesh.Model;

namespace BelizeMesh.Mesh.Analysis;

public enum FindingSeverity
{
    Error,
    Warning,
    Info,
}

/// <summary>One analysis finding: a stable code, a severity, where, what, and how to fix it.</summary>
public sealed record MeshFinding(string Code, FindingSeverity Severity, string File, SourcePosition Position, string Message, string Hint)
{
    public string SeverityText => Severity switch
    {
        FindingSeverity.Error => "error",
        FindingSeverity.Warning => "warning",
        _ => "info",
    };

    /// <summary><c>file:line:column: severity BM0001: message</c> and the hint on the next line.</summary>
    public override string ToString() => $"{Position.Format(File)}: {SeverityText} {Code}: {Message}\n    fix: {Hint}";
}

/// <summary>The finding codes. Codes are stable: a retired code is never reused.</summary>
public static class FindingCodes
{
    public const string UndefinedSubset = "BM0001";
    public const string UnknownHost = "BM0002";
    public const string TlsConflict = "BM0003";
    public const string UnknownServiceAccount = "BM0004";
    public const string DuplicateName = "BM0005";
    public const string PortProtocol = "BM0006";
    public const string BurstBelowRate = "BM0007";
    public const string RetriesExceedTimeout = "BM0008";
    public const string RateLimitWithoutSidecar = "BM0009";
    public const string WeightsNotHundred = "BM0010";
    public const string NoPublicRoute = "BM0011";
    public const string UndefinedPort = "BM0012";
    public const string PortMtlsUnknownPort = "BM0013";
    /// <summary>Retired: the quantum sidecar enforces DENY rules (issue 13). Never reused.</summary>
    public const string DenyNotOnQuantumChannel = "BM0014";
    public const string WebSocketTimeout = "BM0015";
    public const string Unreachable = "BM0016";
    /// <summary>Retired: the quantum sidecar fetches <c>jwksUri</c> itself (issue 13). Never reused.</summary>
    public const string JwtNotOnQuantumChannel = "BM0017";
    /// <summary>Retired: the quantum sidecar enforces notNamespaces and the other not-clauses (issue 13). Never reused.</summary>
    public const string RuleNotMirrored = "BM0018";
    public const string AffinityNotOnQuantumChannel = "BM0019";
    public const string InjectedWithoutPolicy = "BM0020";
    public const string PqServiceName = "BM0021";
    public const string TrafficNotOnQuantumChannel = "BM0023";
    public const string JwksOverPlainHttp = "BM0024";

    /// <summary>Every code with its one-line title (docs/mesh.md lists the same).</summary>
    public static readonly IReadOnlyList<(string Code, string Title)> All =
    [
        (UndefinedSubset, "route to a subset the destination does not define"),
        (UnknownHost, "route to a host that is not a service of the mesh"),
        (TlsConflict, "DestinationRule TLS mode conflicts with PeerAuthentication"),
        (UnknownServiceAccount, "authorization rule names a service account no service uses"),
        (DuplicateName, "duplicate name"),
        (PortProtocol, "port name does not declare its protocol"),
        (BurstBelowRate, "rate-limit burst smaller than the rate"),
        (RetriesExceedTimeout, "retries take longer than the route timeout"),
        (RateLimitWithoutSidecar, "rate limit on a service without the quantum sidecar"),
        (WeightsNotHundred, "route weights do not add up to 100"),
        (NoPublicRoute, "service exposed on a gateway has no public route"),
        (UndefinedPort, "route to a port the destination does not declare"),
        (PortMtlsUnknownPort, "port-level mTLS for a port the service does not declare"),
        (WebSocketTimeout, "WebSocket route with a timeout"),
        (Unreachable, "service in a default-deny namespace allows nobody"),
        (AffinityNotOnQuantumChannel, "cookie or source-IP affinity is not kept on the post-quantum channel"),
        (InjectedWithoutPolicy, "pods of a quantum and a non-quantum service cannot be told apart by their labels"),
        (PqServiceName, "headless PQ Service name is not a valid Kubernetes Service name"),
        (TrafficNotOnQuantumChannel, "route setting the post-quantum sidecar cannot honour"),
        (JwksOverPlainHttp, "JWT keys fetched over plain http"),
    ];
}
