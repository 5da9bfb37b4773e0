using System.Diagnostics.Metrics;
using System.Threading.RateLimiting;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Metrics;
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
/// takes one token from the bucket of the request's key; the first empty bucket rejects it. Each limit's buckets live in
/// a <see cref="KeyedBuckets"/> table held by a <see cref="RateLimiterRegistry"/>, so a reload that keeps a limit
/// unchanged keeps its buckets.
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

            using RateLimitLease lease = limit.Buckets.AttemptAcquire(key);
            if (!lease.IsAcquired)
            {
                TimeSpan retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan value) ? value : TimeSpan.FromSeconds(1);
                return new RateLimitDecision(false, limit.Name, retryAfter);
            }
        }

        return RateLimitDecision.Allow;
    }

    /// <summary>The bucket table of the limit named <paramref name="name"/> (tests read its key count).</summary>
    internal KeyedBuckets BucketsOf(string name)
    {
        foreach (CompiledLimit limit in _limits)
        {
            if (limit.Name == name)
            {
                return limit.Buckets;
            }
        }

        throw new KeyNotFoundException(name);
    }

    private sealed class CompiledLimit(string name, StringMatcher[]? paths, string[]? methods, RateLimitKey key, KeyedBuckets buckets)
    {
        public string Name => name;

        public RateLimitKey Key => key;

        public KeyedBuckets Buckets => buckets;

        public bool Selects(string method, string path)
            => (methods is null || Array.IndexOf(methods, method) >= 0) && (paths is null || StringMatcher.AnyMatches(paths, path));
    }
}

/// <summary>
/// Owns the per-key bucket tables across policy reloads: a limit with the same name, rate, burst and key keeps its
/// table (and a changed <c>maxKeys</c> applies to it); a table no snapshot asks for is dropped. Tables run no timer and
/// hold nothing to dispose, so a snapshot still serving requests after a reload keeps its tables alive by reference.
/// </summary>
internal sealed class RateLimiterRegistry : IDisposable
{
    private readonly Dictionary<string, (string Name, KeyedBuckets Table)> _tables = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    // Evictions of tables no longer in the registry, by limit name, so the counter never goes back.
    private readonly Dictionary<string, long> _droppedEvictions = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly object _lock = new();

    public RateLimiterRegistry(TimeProvider time) => _time = time;

    /// <summary>Also feeds <c>belizemesh_proxy_rate_limit_evictions_total</c>.</summary>
    public RateLimiterRegistry(TimeProvider time, ProxyMetrics metrics)
        : this(time) => metrics.ObserveRateLimitEvictions(ObserveEvictions);

    public KeyedBuckets GetOrCreate(RateLimitSpec spec)
    {
        string id = FormattableString.Invariant($"{spec.Name}|{spec.RequestsPerSecond}|{spec.Burst}|{spec.Key}");
        lock (_lock)
        {
            _used.Add(id);
            if (_tables.TryGetValue(id, out (string Name, KeyedBuckets Table) entry))
            {
                entry.Table.MaxKeys = spec.MaxKeys;
                return entry.Table;
            }

            var table = new KeyedBuckets(spec.RequestsPerSecond, spec.Burst, spec.MaxKeys, _time);
            _tables.Add(id, (spec.Name, table));
            return table;
        }
    }

    /// <summary>Called after a snapshot is built: tables it did not ask for are dropped.</summary>
    public void Commit()
    {
        lock (_lock)
        {
            foreach (KeyValuePair<string, (string Name, KeyedBuckets Table)> pair in _tables)
            {
                if (!_used.Contains(pair.Key))
                {
                    _tables.Remove(pair.Key);
                    _droppedEvictions[pair.Value.Name] = _droppedEvictions.GetValueOrDefault(pair.Value.Name) + pair.Value.Table.Evictions;
                }
            }

            _used.Clear();
        }
    }

    /// <summary>Evictions per limit name (a <c>key: none</c> limit has one key and stays at 0): a scrape, not the request path.</summary>
    private List<Measurement<long>> ObserveEvictions()
    {
        lock (_lock)
        {
            var totals = new Dictionary<string, long>(_droppedEvictions, StringComparer.Ordinal);
            foreach ((string name, KeyedBuckets table) in _tables.Values)
            {
                totals[name] = totals.GetValueOrDefault(name) + table.Evictions;
            }

            var measurements = new List<Measurement<long>>(totals.Count);
            foreach (KeyValuePair<string, long> total in totals)
            {
                measurements.Add(new Measurement<long>(total.Value, new KeyValuePair<string, object?>("limit", total.Key)));
            }

            return measurements;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _tables.Clear();
            _used.Clear();
        }
    }
}
