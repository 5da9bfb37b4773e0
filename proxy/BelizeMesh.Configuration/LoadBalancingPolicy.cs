namespace BelizeMesh.Configuration;

/// <summary>
/// How a route picks one of its endpoints: one enum for the mesh description (<c>loadBalancing.policy</c>, written
/// <c>LeastRequest</c> as Istio spells it), the SidecarPolicy emit writes (<c>LeastRequests</c>) and the sidecar's
/// balancers. The words in the files are the parsers' business; this is what they mean.
/// </summary>
public enum LoadBalancingPolicy
{
    /// <summary>Each endpoint in turn.</summary>
    RoundRobin,

    /// <summary>The endpoint with the fewest requests in flight (ties broken in order).</summary>
    LeastRequests,

    /// <summary>A uniformly random endpoint.</summary>
    Random,

    /// <summary>Rendezvous hashing of a request header (mesh descriptions: or a cookie, or the source IP): the same value
    /// reaches the same endpoint while it is healthy.</summary>
    ConsistentHash,
}
