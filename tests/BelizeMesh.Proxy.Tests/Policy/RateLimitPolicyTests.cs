using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Policy.RateLimiting;
using Microsoft.AspNetCore.Http;

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
}
