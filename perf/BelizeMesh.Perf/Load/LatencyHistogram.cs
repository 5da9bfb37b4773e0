using System.Diagnostics;
using System.Numerics;

namespace BelizeMesh.Perf.Load;

/// <summary>
/// A log-linear latency histogram in the manner of HdrHistogram: values below 128 ns are exact, and every power of
/// two above is split into 128 equal sub-buckets, so any recorded value is known to within 1/128 (0.8%) at any
/// magnitude from nanoseconds to minutes, in a fixed 36 KiB array. Recording is one array increment (no allocation,
/// no lock): each load-generator worker owns one and they are <see cref="Add"/>ed at the end.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int SubBucketBits = 7;
    private const int SubBuckets = 1 << SubBucketBits;

    // 2^42 ns is 73 minutes: larger values are clamped into the last bucket (and still counted exactly in Max).
    private const int MaxExponent = 42;
    private const int BucketCount = (MaxExponent - SubBucketBits + 2) * SubBuckets;

    private readonly long[] _counts = new long[BucketCount];

    public long Count { get; private set; }

    public long MaxNanoseconds { get; private set; }

    public double SumNanoseconds { get; private set; }

    public double MeanMilliseconds => Count == 0 ? 0 : SumNanoseconds / Count / 1e6;

    /// <summary>Records the time from <paramref name="startTimestamp"/> (a <see cref="Stopwatch"/> timestamp) until now.</summary>
    public long RecordSince(long startTimestamp)
    {
        long now = Stopwatch.GetTimestamp();
        RecordNanoseconds(TicksToNanoseconds(now - startTimestamp));
        return now;
    }

    public void RecordNanoseconds(long nanoseconds)
    {
        if (nanoseconds < 0)
        {
            nanoseconds = 0;
        }

        _counts[IndexOf(nanoseconds)]++;
        Count++;
        SumNanoseconds += nanoseconds;
        if (nanoseconds > MaxNanoseconds)
        {
            MaxNanoseconds = nanoseconds;
        }
    }

    public void Add(LatencyHistogram other)
    {
        for (int i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        SumNanoseconds += other.SumNanoseconds;
        MaxNanoseconds = Math.Max(MaxNanoseconds, other.MaxNanoseconds);
    }

    /// <summary>The value at percentile <paramref name="percentile"/> (0–100) in milliseconds: the midpoint of the
    /// bucket holding the sample of that rank; 100 is the exact maximum.</summary>
    public double PercentileMilliseconds(double percentile)
    {
        if (Count == 0)
        {
            return 0;
        }

        if (percentile >= 100)
        {
            return MaxNanoseconds / 1e6;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(percentile / 100 * Count));
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                // A bucket's midpoint can exceed the largest value actually seen; never report more than the max.
                return Math.Min(Midpoint(i), MaxNanoseconds) / 1e6;
            }
        }

        return MaxNanoseconds / 1e6;
    }

    public static long TicksToNanoseconds(long ticks) => (long)(ticks * (1e9 / Stopwatch.Frequency));

    internal static int IndexOf(long value)
    {
        if (value < SubBuckets)
        {
            return (int)value;
        }

        int exponent = 63 - BitOperations.LeadingZeroCount((ulong)value);
        if (exponent > MaxExponent)
        {
            return BucketCount - 1;
        }

        int shift = exponent - SubBucketBits;
        long mantissa = (value >> shift) - SubBuckets;     // 0..127: the 7 bits after the leading one
        return ((shift + 1) * SubBuckets) + (int)mantissa;
    }

    internal static double Midpoint(int index)
    {
        if (index < SubBuckets)
        {
            return index;
        }

        int shift = (index / SubBuckets) - 1;
        long mantissa = index % SubBuckets;
        long lower = (SubBuckets + mantissa) << shift;
        long width = 1L << shift;
        return lower + ((width - 1) / 2.0);
    }
}
