using BelizeMesh.Proxy.Configuration;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// Picks one endpoint of a route. Ejected endpoints are skipped; when every endpoint is ejected all are used again
/// (Envoy's "panic mode": better to try a maybe-unhealthy endpoint than to fail every request).
/// </summary>
/// <remarks>
/// YARP's <c>ILoadBalancingPolicy</c> belongs to its routing pipeline (clusters, destinations); we forward with
/// <c>IHttpForwarder</c> directly (see <c>ForwardingEngine</c>), so the policies are written here over our own
/// endpoint states. <see cref="LoadBalancingPolicy.ConsistentHash"/> uses rendezvous (highest-random-weight) hashing:
/// no ring to rebuild, and when an endpoint leaves only its own keys move.
/// </remarks>
internal abstract class LoadBalancer
{
    public static LoadBalancer Create(LoadBalancingPolicy policy, string? hashHeader) => policy switch
    {
        LoadBalancingPolicy.LeastRequests => new LeastRequestsBalancer(),
        LoadBalancingPolicy.Random => new RandomBalancer(),
        LoadBalancingPolicy.ConsistentHash => new RendezvousHashBalancer(hashHeader!),
        _ => new RoundRobinBalancer(),
    };

    /// <summary>Picks an endpoint, skipping <paramref name="exclude"/> (a retry's failed endpoint) when possible.</summary>
    public EndpointState Pick(HttpContext context, EndpointState[] endpoints, EndpointState? exclude)
    {
        if (endpoints.Length == 1)
        {
            return endpoints[0];
        }

        // Healthy candidates without allocating: a bit mask over at most 64 endpoints (routes beyond that are rare;
        // they simply ignore health for the rest).
        ulong healthy = 0;
        int count = Math.Min(endpoints.Length, 64);
        for (int i = 0; i < count; i++)
        {
            if (!endpoints[i].IsEjected && endpoints[i] != exclude)
            {
                healthy |= 1UL << i;
            }
        }

        if (healthy == 0)
        {
            healthy = count == 64 ? ulong.MaxValue : (1UL << count) - 1;
        }

        return Choose(context, endpoints, healthy, count);
    }

    protected abstract EndpointState Choose(HttpContext context, EndpointState[] endpoints, ulong candidates, int count);

    protected static bool IsCandidate(ulong candidates, int i) => (candidates & (1UL << i)) != 0;

    private sealed class RoundRobinBalancer : LoadBalancer
    {
        private uint _next;

        protected override EndpointState Choose(HttpContext context, EndpointState[] endpoints, ulong candidates, int count)
        {
            uint start = Interlocked.Increment(ref _next) - 1;
            for (int k = 0; k < count; k++)
            {
                int i = (int)((start + (uint)k) % (uint)count);
                if (IsCandidate(candidates, i))
                {
                    return endpoints[i];
                }
            }

            return endpoints[0];
        }
    }

    private sealed class LeastRequestsBalancer : LoadBalancer
    {
        protected override EndpointState Choose(HttpContext context, EndpointState[] endpoints, ulong candidates, int count)
        {
            EndpointState? best = null;
            for (int i = 0; i < count; i++)
            {
                if (IsCandidate(candidates, i) && (best is null || endpoints[i].ActiveRequests < best.ActiveRequests))
                {
                    best = endpoints[i];
                }
            }

            return best ?? endpoints[0];
        }
    }

    private sealed class RandomBalancer : LoadBalancer
    {
        protected override EndpointState Choose(HttpContext context, EndpointState[] endpoints, ulong candidates, int count)
        {
            int n = System.Numerics.BitOperations.PopCount(candidates);
            int skip = System.Random.Shared.Next(n);
            for (int i = 0; i < count; i++)
            {
                if (IsCandidate(candidates, i) && skip-- == 0)
                {
                    return endpoints[i];
                }
            }

            return endpoints[0];
        }
    }

    private sealed class RendezvousHashBalancer(string header) : LoadBalancer
    {
        private readonly RoundRobinBalancer _fallback = new();

        protected override EndpointState Choose(HttpContext context, EndpointState[] endpoints, ulong candidates, int count)
        {
            string? value = context.Request.Headers[header];
            if (string.IsNullOrEmpty(value))
            {
                return _fallback.Choose(context, endpoints, candidates, count);
            }

            ulong keyHash = StableHash.Of(value);
            EndpointState? best = null;
            ulong bestWeight = 0;
            for (int i = 0; i < count; i++)
            {
                if (!IsCandidate(candidates, i))
                {
                    continue;
                }

                ulong weight = StableHash.Mix(keyHash ^ endpoints[i].Hash);
                if (best is null || weight > bestWeight)
                {
                    best = endpoints[i];
                    bestWeight = weight;
                }
            }

            return best ?? endpoints[0];
        }
    }
}
