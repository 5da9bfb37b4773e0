using System.Diagnostics;
using System.Threading.RateLimiting;

namespace BelizeMesh.Proxy.Policy.RateLimiting;

/// <summary>
/// A token bucket on an injected <see cref="TimeProvider"/>: <c>burst</c> tokens, refilled continuously at
/// <c>requestsPerSecond</c>. It keeps System.Threading.RateLimiting's <see cref="ReplenishingRateLimiter"/> contract;
/// <see cref="KeyedBuckets"/> holds one per key, drops idle ones (through <see cref="IdleDuration"/>) and reuses an
/// evicted one for a new key (<see cref="Reset"/>).
/// </summary>
/// <remarks>
/// The runtime's <see cref="TokenBucketRateLimiter"/> reads <c>Stopwatch</c>/<c>Environment.TickCount</c> itself and
/// ignores manual replenishment inside a real-time period, so tests could not drive it with a fake clock; this class
/// keeps its contract (no queue, a cached success lease, <see cref="MetadataName.RetryAfter"/> on failure, one lock)
/// and takes time from <see cref="TimeProvider"/>. Tokens are fractional internally so a rate of 0.5/s or 1000/s is
/// exact rather than rounded to a replenishment period.
/// </remarks>
internal sealed class TokenBucket : ReplenishingRateLimiter
{
    private static readonly RateLimitLease s_success = new Lease(true, null);

    private readonly TimeProvider _time;
    private readonly double _tokensPerTick;
    private readonly int _burst;
    private readonly object _lock = new();
    private double _tokens;
    private long _lastRefill;
    private long _lastAcquire;
    private long _successes;
    private long _failures;

    public TokenBucket(double requestsPerSecond, int burst, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(requestsPerSecond);
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, 1);
        _time = time;
        _burst = burst;
        _tokens = burst;
        _tokensPerTick = requestsPerSecond / time.TimestampFrequency;
        _lastRefill = _lastAcquire = time.GetTimestamp();
        ReplenishmentPeriod = TimeSpan.FromSeconds(1 / requestsPerSecond);
    }

    public override TimeSpan? IdleDuration
    {
        get
        {
            lock (_lock)
            {
                Refill();
                return _tokens >= _burst ? _time.GetElapsedTime(_lastAcquire) : null;
            }
        }
    }

    public override bool IsAutoReplenishing => false;

    public override TimeSpan ReplenishmentPeriod { get; }

    public override bool TryReplenish()
    {
        lock (_lock)
        {
            Refill();
        }

        return true;
    }

    public override RateLimiterStatistics GetStatistics()
    {
        lock (_lock)
        {
            Refill();
            return new RateLimiterStatistics
            {
                CurrentAvailablePermits = (long)_tokens,
                TotalSuccessfulLeases = _successes,
                TotalFailedLeases = _failures,
            };
        }
    }

    /// <summary>Makes this bucket a new one: full, with no history (another key takes it over).</summary>
    internal void Reset()
    {
        lock (_lock)
        {
            _tokens = _burst;
            _lastRefill = _lastAcquire = _time.GetTimestamp();
            _successes = _failures = 0;
        }
    }

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(permitCount, _burst);
        lock (_lock)
        {
            Refill();
            _lastAcquire = _lastRefill;
            if (_tokens >= permitCount)
            {
                _tokens -= permitCount;
                _successes++;
                Debug.Assert(_tokens >= 0);
                return s_success;
            }

            _failures++;
            double missingTicks = (permitCount - _tokens) / _tokensPerTick;
            return new Lease(false, TimeSpan.FromSeconds(missingTicks / _time.TimestampFrequency));
        }
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
        => ValueTask.FromResult(AttemptAcquireCore(permitCount));

    private void Refill()
    {
        long now = _time.GetTimestamp();
        long elapsed = now - _lastRefill;
        if (elapsed > 0)
        {
            _tokens = Math.Min(_burst, _tokens + (elapsed * _tokensPerTick));
            _lastRefill = now;
        }
    }

    private sealed class Lease(bool acquired, TimeSpan? retryAfter) : RateLimitLease
    {
        private static readonly string[] s_names = [MetadataName.RetryAfter.Name];

        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => retryAfter is null ? [] : s_names;

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            if (retryAfter is { } value && metadataName == MetadataName.RetryAfter.Name)
            {
                metadata = value;
                return true;
            }

            metadata = null;
            return false;
        }
    }
}
