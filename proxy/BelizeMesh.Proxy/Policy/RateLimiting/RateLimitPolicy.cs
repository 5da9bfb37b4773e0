using System.Threading.RateLimiting;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Policy.Authorization;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Policy.RateLimiting;

/// <summary>The outcome of rate limiting one request.</summary>
internal readonly record struct RateLimitDecision(bool Allowed, string? RuleName, TimeSpan RetryAfter)
{
    public static readonly RateLimitDecision Allow = new(true, null, TimeSpan.Zero);

    /// <summary>The <c>Retry-After</c> header value: whole seconds, rounded up, at least 1.</summary>
    public long RetryAfterSeconds => Math.Max(1, (long)Math.Ceiling(RetryAfter.TotalSeconds));
}

/// <summary>
/// <c>spec.inbound.rateLimits</c> compiled for one policy snapshot. Every limit whose <c>match</c> selects the request
/// takes one token from the bucket of the request's key; the first empty bucket rejects it. The partitioned limiters
/// live in a <see cref="RateLimiterRegistry"/> so a reload that keeps a limit unchanged keeps its buckets.
/// </summary>
internal sealed class RateLimitPolicy
{
    private readonly CompiledLimit[] _limits;

    private RateLimitPolicy(CompiledLimit[] limits) => _limits = limits;

    public static readonly RateLimitPolicy None = new([]);

    public int Count => _limits.Length;

    public static RateLimitPolicy Create(IReadOnlyList<RateLimitSpec> specs, RateLimiterRegistry registry)
    {
        if (specs.Count == 0)
        {
            return None;
        }

        var limits = new CompiledLimit[specs.Count];
        for (int i = 0; i < limits.Length; i++)
        {
            RateLimitSpec spec = specs[i];
            StringMatcher[]? paths = null;
            if (spec.MatchPaths is { } p)
            {
                paths = new StringMatcher[p.Count];
                for (int j = 0; j < paths.Length; j++)
                {
                    paths[j] = StringMatcher.Create(p[j]);
                }
            }

            limits[i] = new CompiledLimit(spec.Name, paths, spec.MatchMethods is { } m ? [.. m] : null, spec.Key, registry.GetOrCreate(spec));
        }

        return new RateLimitPolicy(limits);
    }

    /// <summary>Takes a token from every matching limit; returns the first rejection.</summary>
    public RateLimitDecision Evaluate(string? principal, string method, string normalizedPath, IHeaderDictionary headers)
    {
        CompiledLimit[] limits = _limits;
        for (int i = 0; i < limits.Length; i++)
        {
            CompiledLimit limit = limits[i];
            if (!limit.Selects(method, normalizedPath))
            {
                continue;
            }

            string key = limit.Key.Kind switch
            {
                RateLimitKeyKind.SourcePrincipal => principal ?? "",
                RateLimitKeyKind.Header => headers[limit.Key.HeaderName!].ToString(),
                _ => "",
            };

            using RateLimitLease lease = limit.Limiter.AttemptAcquire(key);
            if (!lease.IsAcquired)
            {
                TimeSpan retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan value) ? value : TimeSpan.FromSeconds(1);
                return new RateLimitDecision(false, limit.Name, retryAfter);
            }
        }

        return RateLimitDecision.Allow;
    }

    private sealed class CompiledLimit(string name, StringMatcher[]? paths, string[]? methods, RateLimitKey key, PartitionedRateLimiter<string> limiter)
    {
        public string Name => name;

        public RateLimitKey Key => key;

        public PartitionedRateLimiter<string> Limiter => limiter;

        public bool Selects(string method, string path)
            => (methods is null || Array.IndexOf(methods, method) >= 0) && (paths is null || StringMatcher.AnyMatches(paths, path));
    }
}

/// <summary>
/// Owns the partitioned limiters across policy reloads: a limit with the same name, rate, burst and key keeps its
/// buckets; limits that disappear are disposed once no snapshot can still be using them (after a grace period).
/// Idle partitions are evicted by <see cref="PartitionedRateLimiter"/> itself (a full bucket idle for 10 s).
/// </summary>
internal sealed class RateLimiterRegistry(TimeProvider time) : IDisposable
{
    private static readonly TimeSpan s_retireDelay = TimeSpan.FromMinutes(1);
    private readonly Dictionary<string, PartitionedRateLimiter<string>> _limiters = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly List<ITimer> _retireTimers = [];
    private readonly object _lock = new();

    public PartitionedRateLimiter<string> GetOrCreate(RateLimitSpec spec)
    {
        string id = FormattableString.Invariant($"{spec.Name}|{spec.RequestsPerSecond}|{spec.Burst}|{spec.Key}");
        lock (_lock)
        {
            _used.Add(id);
            if (!_limiters.TryGetValue(id, out PartitionedRateLimiter<string>? limiter))
            {
                double rps = spec.RequestsPerSecond;
                int burst = spec.Burst;
                limiter = PartitionedRateLimiter.Create<string, string>(
                    key => RateLimitPartition.Get(key, _ => new TokenBucket(rps, burst, time)),
                    StringComparer.Ordinal);
                _limiters.Add(id, limiter);
            }

            return limiter;
        }
    }

    /// <summary>Called after a snapshot is built: limiters it did not ask for are retired.</summary>
    public void Commit()
    {
        lock (_lock)
        {
            List<PartitionedRateLimiter<string>>? retired = null;
            foreach (KeyValuePair<string, PartitionedRateLimiter<string>> pair in _limiters)
            {
                if (!_used.Contains(pair.Key))
                {
                    (retired ??= []).Add(pair.Value);
                    _limiters.Remove(pair.Key);
                }
            }

            _used.Clear();
            if (retired is not null)
            {
                _retireTimers.Add(time.CreateTimer(
                    static state =>
                    {
                        foreach (PartitionedRateLimiter<string> limiter in (List<PartitionedRateLimiter<string>>)state!)
                        {
                            limiter.Dispose();
                        }
                    },
                    retired,
                    s_retireDelay,
                    Timeout.InfiniteTimeSpan));
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (PartitionedRateLimiter<string> limiter in _limiters.Values)
            {
                limiter.Dispose();
            }

            _limiters.Clear();
            foreach (ITimer timer in _retireTimers)
            {
                timer.Dispose();
            }
        }
    }
}
