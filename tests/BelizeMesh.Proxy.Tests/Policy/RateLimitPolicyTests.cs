using System.Diagnostics.Metrics;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Metrics;
using BelizeMesh.Proxy.Policy.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace BelizeMesh.Proxy.Tests.Policy;

public sealed class RateLimitPolicyTests : IDisposable
{
    private readonly ManualTimeProvider _time = new();
    private readonly RateLimiterRegistry _registry;

    public RateLimitPolicyTests() => _registry = new RateLimiterRegistry(_time);

    public void Dispose() => _registry.Dispose();

    private RateLimitPolicy Create(RateLimitKey key, double rps, int burst, string[]? paths = null)
    {
        RateLimitPolicy policy = RateLimitPolicy.Create([new RateLimitSpec("api", paths, null, key, rps, burst)], _registry);
        _registry.Commit();
        return policy;
    }

    private static int CountAllowed(RateLimitPolicy policy, int attempts, string? principal = null, IHeaderDictionary? headers = null, string path = "/api/x")
    {
        int allowed = 0;
        for (int i = 0; i < attempts; i++)
        {
            if (policy.Evaluate(principal, "GET", path, headers ?? new HeaderDictionary()).Allowed)
            {
                allowed++;
            }
        }

        return allowed;
    }

    [Fact]
    public void Burst_is_allowed_then_requests_are_refused_with_retry_after()
    {
        RateLimitPolicy policy = Create(new RateLimitKey(RateLimitKeyKind.None, null), rps: 2, burst: 5);

        Assert.Equal(5, CountAllowed(policy, 8));
        RateLimitDecision refused = policy.Evaluate(null, "GET", "/api/x", new HeaderDictionary());
        Assert.False(refused.Allowed);
        Assert.Equal("api", refused.RuleName);
        Assert.Equal(TimeSpan.FromSeconds(0.5), refused.RetryAfter);
        Assert.Equal(1, refused.RetryAfterSeconds);
    }

    [Fact]
    public void Retry_after_rounds_up_to_whole_seconds()
    {
        RateLimitPolicy policy = Create(new RateLimitKey(RateLimitKeyKind.None, null), rps: 0.4, burst: 1);

        Assert.Equal(1, CountAllowed(policy, 2));
        RateLimitDecision refused = policy.Evaluate(null, "GET", "/api/x", new HeaderDictionary());
        Assert.Equal(TimeSpan.FromSeconds(2.5), refused.RetryAfter);
        Assert.Equal(3, refused.RetryAfterSeconds);
    }

    [Fact]
    public void Tokens_refill_at_the_configured_rate_up_to_the_burst()
    {
        RateLimitPolicy policy = Create(new RateLimitKey(RateLimitKeyKind.None, null), rps: 10, burst: 20);
        Assert.Equal(20, CountAllowed(policy, 25));

        _time.Advance(TimeSpan.FromMilliseconds(300));
        Assert.Equal(3, CountAllowed(policy, 10));

        _time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal(0, CountAllowed(policy, 1));
        _time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal(1, CountAllowed(policy, 1));

        _time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(20, CountAllowed(policy, 30));
    }

    [Fact]
    public void Source_principal_keys_have_separate_buckets()
    {
        RateLimitPolicy policy = Create(new RateLimitKey(RateLimitKeyKind.SourcePrincipal, null), rps: 1, burst: 2);

        Assert.Equal(2, CountAllowed(policy, 5, "cluster.local/ns/a/sa/x"));
        Assert.Equal(2, CountAllowed(policy, 5, "cluster.local/ns/a/sa/y"));
        Assert.Equal(2, CountAllowed(policy, 5, principal: null));
        Assert.Equal(0, CountAllowed(policy, 1, "cluster.local/ns/a/sa/x"));
    }

    [Fact]
    public void Header_keys_have_separate_buckets()
    {
        RateLimitPolicy policy = Create(new RateLimitKey(RateLimitKeyKind.Header, "X-Participant-ID"), rps: 1, burst: 3);

        Assert.Equal(3, CountAllowed(policy, 5, headers: new HeaderDictionary { ["X-Participant-ID"] = "alice" }));
        Assert.Equal(3, CountAllowed(policy, 5, headers: new HeaderDictionary { ["x-participant-id"] = "bob" }));
        Assert.Equal(0, CountAllowed(policy, 1, headers: new HeaderDictionary { ["X-Participant-ID"] = "alice" }));
    }

    [Fact]
    public void Only_matching_paths_take_tokens()
    {
        RateLimitPolicy policy = Create(new RateLimitKey(RateLimitKeyKind.None, null), rps: 1, burst: 1, paths: ["/api/*"]);

        Assert.Equal(10, CountAllowed(policy, 10, path: "/health"));
        Assert.Equal(1, CountAllowed(policy, 10, path: "/api/x"));
    }

    [Fact]
    public void An_unchanged_limit_keeps_its_buckets_across_a_reload()
    {
        RateLimitPolicy first = Create(new RateLimitKey(RateLimitKeyKind.None, null), rps: 1, burst: 2);
        Assert.Equal(2, CountAllowed(first, 2));

        RateLimitPolicy second = Create(new RateLimitKey(RateLimitKeyKind.None, null), rps: 1, burst: 2);
        Assert.Equal(0, CountAllowed(second, 1));

        RateLimitPolicy changed = Create(new RateLimitKey(RateLimitKeyKind.None, null), rps: 1, burst: 3);
        Assert.Equal(3, CountAllowed(changed, 5));
    }

    [Fact]
    public void An_idle_full_bucket_reports_its_idle_time_so_the_partitioned_limiter_can_evict_it()
    {
        using var bucket = new TokenBucket(1, 2, _time);
        Assert.True(bucket.AttemptAcquire().IsAcquired);
        Assert.Null(bucket.IdleDuration);

        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Equal(TimeSpan.FromSeconds(11), bucket.IdleDuration);
    }

    private RateLimitPolicy CreateKeyed(int maxKeys, int burst = 1, double rps = 1)
    {
        RateLimitPolicy policy = RateLimitPolicy.Create(
            [new RateLimitSpec("api", null, null, new RateLimitKey(RateLimitKeyKind.Header, "X-User"), rps, burst) { MaxKeys = maxKeys }],
            _registry);
        _registry.Commit();
        return policy;
    }

    private static bool Allowed(RateLimitPolicy policy, string user)
        => policy.Evaluate(null, "GET", "/api/x", new HeaderDictionary { ["X-User"] = user }).Allowed;

    [Fact]
    public void Distinct_keys_beyond_max_keys_keep_the_table_at_max_keys()
    {
        RateLimitPolicy policy = CreateKeyed(maxKeys: 100);

        for (int i = 0; i < 10_000; i++)
        {
            Assert.True(Allowed(policy, "user-" + i));
        }

        KeyedBuckets buckets = policy.BucketsOf("api");
        Assert.Equal(100, buckets.Count);
        Assert.Equal(9_900, buckets.Evictions);
    }

    [Fact]
    public void A_key_still_in_the_table_keeps_its_consumption_while_other_keys_come_and_go()
    {
        RateLimitPolicy policy = CreateKeyed(maxKeys: 3);
        Assert.True(Allowed(policy, "alice"));

        for (int i = 0; i < 50; i++)
        {
            Assert.False(Allowed(policy, "alice"));
            Assert.True(Allowed(policy, "new-" + i));
        }
    }

    [Fact]
    public void The_least_recently_used_key_is_the_one_evicted()
    {
        RateLimitPolicy policy = CreateKeyed(maxKeys: 3);
        Assert.True(Allowed(policy, "a"));
        Assert.True(Allowed(policy, "b"));
        Assert.True(Allowed(policy, "c"));
        Assert.False(Allowed(policy, "a")); // refused, but used: b is now the least recently used

        Assert.True(Allowed(policy, "d")); // evicts b

        Assert.False(Allowed(policy, "a"));
        Assert.False(Allowed(policy, "c"));
        Assert.True(Allowed(policy, "b")); // a new, full bucket: its consumption was forgotten
        Assert.Equal(3, policy.BucketsOf("api").Count);
    }

    [Fact]
    public void Keys_whose_buckets_are_full_and_idle_are_dropped_as_requests_arrive_and_lose_nothing()
    {
        RateLimitPolicy policy = CreateKeyed(maxKeys: 100, burst: 2, rps: 1);
        for (int i = 0; i < 10; i++)
        {
            Assert.True(Allowed(policy, "user-" + i));
        }

        _time.Advance(TimeSpan.FromSeconds(11));
        for (int i = 0; i < 5; i++)
        {
            Assert.True(Allowed(policy, "active"));
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        KeyedBuckets buckets = policy.BucketsOf("api");
        Assert.Equal(1, buckets.Count);
        Assert.Equal(0, buckets.Evictions);
    }

    [Fact]
    public void A_reload_that_only_lowers_max_keys_keeps_the_buckets_and_evicts_down_to_the_new_cap()
    {
        RateLimitPolicy first = CreateKeyed(maxKeys: 10);
        for (int i = 0; i < 10; i++)
        {
            Assert.True(Allowed(first, "user-" + i));
        }

        RateLimitPolicy second = CreateKeyed(maxKeys: 4);
        Assert.Same(first.BucketsOf("api"), second.BucketsOf("api"));
        Assert.False(Allowed(second, "user-9"));
        Assert.True(Allowed(second, "new"));

        Assert.Equal(4, second.BucketsOf("api").Count);
        Assert.False(Allowed(second, "user-9"));
        Assert.False(Allowed(second, "user-8"));
    }

    [Fact]
    public void Evictions_are_counted_per_limit_and_the_count_survives_a_reload_that_replaces_the_limit()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        using var registry = new RateLimiterRegistry(_time, new ProxyMetrics(factory));
        RateLimitSpec byUser = new("api", null, null, new RateLimitKey(RateLimitKeyKind.Header, "X-User"), 1, 1) { MaxKeys = 2 };
        RateLimitSpec global = new("all", null, null, new RateLimitKey(RateLimitKeyKind.None, null), 100, 100);

        RateLimitPolicy first = RateLimitPolicy.Create([byUser, global], registry);
        registry.Commit();
        Assert.Contains("\nbelizemesh_proxy_rate_limit_evictions_total{limit=\"api\"} 0\n", exporter.Render(), StringComparison.Ordinal);
        for (int i = 0; i < 5; i++)
        {
            Assert.True(Allowed(first, "user-" + i));
        }

        string text = exporter.Render();
        Assert.Contains("\nbelizemesh_proxy_rate_limit_evictions_total{limit=\"api\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_proxy_rate_limit_evictions_total{limit=\"all\"} 0\n", text, StringComparison.Ordinal);

        RateLimitPolicy faster = RateLimitPolicy.Create([byUser with { RequestsPerSecond = 2 }, global], registry);
        registry.Commit();
        for (int i = 0; i < 3; i++)
        {
            Assert.True(Allowed(faster, "other-" + i));
        }

        Assert.Contains("\nbelizemesh_proxy_rate_limit_evictions_total{limit=\"api\"} 4\n", exporter.Render(), StringComparison.Ordinal);
    }

    [Fact]
    public void Long_keys_are_held_in_a_bounded_size_and_still_have_one_bucket_per_value()
    {
        RateLimitPolicy policy = CreateKeyed(maxKeys: 100);
        string first = new('a', 20_000);
        string second = new string('a', 19_999) + "b";
        string exactlyMax = new('c', KeyedBuckets.MaxStoredKeyLength);

        Assert.True(Allowed(policy, first));
        Assert.True(Allowed(policy, second));
        Assert.True(Allowed(policy, exactlyMax));
        Assert.False(Allowed(policy, new string('a', 20_000)));
        Assert.False(Allowed(policy, new string('a', 19_999) + "b"));
        Assert.False(Allowed(policy, new string('c', KeyedBuckets.MaxStoredKeyLength)));

        string[] stored = policy.BucketsOf("api").StoredKeys();
        Assert.Equal(3, stored.Length);
        Assert.Contains(exactlyMax, stored);
        foreach (string key in stored)
        {
            Assert.InRange(key.Length, 1, KeyedBuckets.MaxStoredKeyLength);
        }
    }
}
