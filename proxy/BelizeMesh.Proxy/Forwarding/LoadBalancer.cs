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

    /// <summary>Picks an endpoint, skipping every one of <paramref name="exclude"/> (the endpoints a request's earlier
    /// attempts failed on, as Istio's <c>previous_hosts</c> retry predicate) when another healthy one exists.</summary>
    public EndpointState Pick(HttpContext context, EndpointState[] endpoints, ReadOnlySpan<EndpointState> exclude)
    {
        if (endpoints.Length == 1)
        {
            return endpoints[0];
        }

        // Healthy candidates without allocating: a bit set on the stack (one ulong per 64 endpoints; a route resolved
        // per pod can have hundreds), on the heap only beyond 4096 endpoints.
        int count = endpoints.Length;
        int words = (count + 63) >> 6;
        Span<ulong> bits = words <= 64 ? stackalloc ulong[words] : new ulong[words];
        bits.Clear();
        bool any = false;
        for (int i = 0; i < count; i++)
        {
            if (!endpoints[i].IsEjected && !Contains(exclude, endpoints[i]))
            {
                bits[i >> 6] |= 1UL << (i & 63);
                any = true;
            }
        }

        if (!any)
        {
            // every endpoint is ejected (or the ones left were tried): panic mode, all are candidates
            bits.Fill(ulong.MaxValue);
        }

        return Choose(context, endpoints, new Candidates(bits), count);
    }

    private static bool Contains(ReadOnlySpan<EndpointState> endpoints, EndpointState endpoint)
    {
        foreach (EndpointState e in endpoints)
        {
            if (ReferenceEquals(e, endpoint))
            {
                return true;
            }
        }

        return false;
    }

    protected abstract EndpointState Choose(HttpContext context, EndpointState[] endpoints, Candidates candidates, int count);

    protected static bool IsCandidate(Candidates candidates, int i) => candidates.Contains(i);

    /// <summary>Which endpoints may be picked: a bit per endpoint index.</summary>
    protected readonly ref struct Candidates(Span<ulong> bits)
    {
        private readonly Span<ulong> _bits = bits;

        public bool Contains(int i) => (_bits[i >> 6] & (1UL << (i & 63))) != 0;

        /// <summary>How many of the first <paramref name="count"/> endpoints are candidates.</summary>
        public int Count(int count)
        {
            int n = 0;
            for (int w = 0; w < _bits.Length; w++)
            {
                ulong word = _bits[w];
                int valid = count - (w << 6);
                if (valid < 64)
                {
                    word &= (1UL << valid) - 1;
                }

                n += System.Numerics.BitOperations.PopCount(word);
            }

            return n;
        }
    }

    private sealed class RoundRobinBalancer : LoadBalancer
    {
        private uint _next;

        protected override EndpointState Choose(HttpContext context, EndpointState[] endpoints, Candidates candidates, int count)
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
        protected override EndpointState Choose(HttpContext context, EndpointState[] endpoints, Candidates candidates, int count)
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
        protected override EndpointState Choose(HttpContext context, EndpointState[] endpoints, Candidates candidates, int count)
        {
            int n = candidates.Count(count);
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

        protected override EndpointState Choose(HttpContext context, EndpointState[] endpoints, Candidates candidates, int count)
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
