using BelizeMesh.Configuration;

namespace BelizeMesh.Mesh.Model;

/// <summary>
/// One HTTP route of a service: a match, destinations (weighted, optionally to subsets), timeout, retries, fault injection.
/// Public routes are also served on the gateways that expose the service.
/// </summary>
public sealed record RouteSpec
{
    public required string Name { get; init; }

    public bool Public { get; init; }

    /// <summary>A long-lived WebSocket route: no timeout unless one is set.</summary>
    public bool WebSocket { get; init; }

    public required RouteMatch Match { get; init; }

    /// <summary>Where traffic goes; never empty (defaults to the owning service).</summary>
    public required IReadOnlyList<RouteDestination> Destinations { get; init; }

    /// <summary>Route timeout (<see cref="TimeSpan.Zero"/> = none); null inherits the service's.</summary>
    public TimeSpan? Timeout { get; init; }

    public RetrySpec? Retries { get; init; }

    public FaultSpec? Fault { get; init; }

    public SourcePosition Position { get; init; }
}

/// <summary>
/// Request match. Paths use authorization-style patterns (a trailing <c>*</c> is a prefix match); headers match exactly
/// unless the value is a <c>{prefix|regex}</c> map; all lists are OR-ed, the three criteria AND-ed.
/// </summary>
public sealed record RouteMatch(IReadOnlyList<string> Paths, IReadOnlyList<HeaderMatch> Headers, IReadOnlyList<string> Methods)
{
    public static readonly RouteMatch Any = new([], [], []);

    public bool IsAny => Paths.Count == 0 && Headers.Count == 0 && Methods.Count == 0;
}

public sealed record HeaderMatch(string Name, string Kind, string Value);

/// <summary>A route destination: a service of the mesh (optionally a subset and port) or an external host, with a weight.</summary>
public sealed record RouteDestination(ServiceRef? Service, string? Host, string? Subset, int? Port, int? Weight, SourcePosition Position);

/// <summary>Fault injection for testing: abort a percentage with a status, or delay a percentage by a fixed time.</summary>
public sealed record FaultSpec(double? AbortPercentage, int? AbortHttpStatus, double? DelayPercentage, TimeSpan? FixedDelay, SourcePosition Position);
