namespace BelizeMesh.Configuration;

/// <summary>
/// The wait before a retry: Envoy's fully jittered exponential back-off, which the sidecar waits and the mesh analyzer
/// adds up (one rule for both). Retry <c>n</c> (1 for the first) waits a time drawn uniformly from
/// [0, (2^n - 1) x base), cut to the max interval, 10 x base (Envoy's <c>max_interval</c> default). So with the 25 ms
/// default base: under 25 ms before the first retry, under 75 ms before the second, under 175 ms before the third, and
/// never more than 250 ms.
/// </summary>
public static class RetryBackoff
{
    /// <summary>Envoy's default base interval (Istio's <c>retries.backoff</c> left out).</summary>
    public static readonly TimeSpan DefaultBase = TimeSpan.FromMilliseconds(25);

    /// <summary>The max interval is this many base intervals.</summary>
    public const int MaxIntervalFactor = 10;

    /// <summary>The wait before retry <paramref name="retry"/> (1-based), given <paramref name="sample"/> in [0, 1).</summary>
    public static TimeSpan Interval(TimeSpan baseInterval, int retry, double sample)
    {
        double window = Window(retry) * (double)baseInterval.Ticks;
        return TimeSpan.FromTicks(Math.Min((long)(sample * window), baseInterval.Ticks * MaxIntervalFactor));
    }

    /// <summary>The longest the waits before <paramref name="retries"/> retries can add up to (each under its window,
    /// none over the max interval).</summary>
    public static TimeSpan WorstCaseTotal(TimeSpan baseInterval, int retries)
    {
        long bases = 0;
        for (int n = 1; n <= retries; n++)
        {
            bases += Math.Min(Window(n), MaxIntervalFactor);
        }

        return baseInterval * bases;
    }

    // (2^n - 1) base intervals; 2^4 - 1 = 15 already passes the max (10), so the exponent need not grow beyond that
    private static long Window(int retry) => (1L << Math.Clamp(retry, 0, 4)) - 1;
}
