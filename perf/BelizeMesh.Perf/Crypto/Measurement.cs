using System.Diagnostics;

namespace BelizeMesh.Perf.Crypto;

/// <summary>Per-operation time percentiles and minimum in microseconds, and managed bytes allocated per operation (in-process implementations only: ours and BouncyCastle).</summary>
internal sealed record Measurement(double Median, double P10, double P90, double Min, double? BytesPerOp, int Samples);

/// <summary>
/// Stopwatch sampling, the same method as <c>tests/interop/pqc-bench.mjs</c>: warm up, pick a batch size so one
/// sample lasts a few milliseconds, time a number of batches, and report percentiles of the per-operation mean of
/// each batch. Single-threaded; allocation is <see cref="GC.GetAllocatedBytesForCurrentThread"/> over all samples.
/// </summary>
internal static class Sampler
{
    public static Measurement Measure(Action operation, bool quick)
    {
        int samples = quick ? 15 : 61;
        long sampleTicks = Stopwatch.Frequency / (quick ? 1000 : 333);     // 1 ms quick, 3 ms full
        long warmupTicks = Stopwatch.Frequency / (quick ? 10 : 2);         // lets tiered JIT reach tier 1

        long warmupEnd = Stopwatch.GetTimestamp() + warmupTicks;
        int batch = 1;
        while (Stopwatch.GetTimestamp() < warmupEnd)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < batch; i++)
            {
                operation();
            }

            long elapsed = Stopwatch.GetTimestamp() - t0;
            if (elapsed < sampleTicks && batch < (1 << 16))
            {
                batch *= 2;
            }
        }

        var times = new double[samples];
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        for (int s = 0; s < samples; s++)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < batch; i++)
            {
                operation();
            }

            times[s] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds / batch;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        Array.Sort(times);
        return new Measurement(Percentile(times, 0.5), Percentile(times, 0.1), Percentile(times, 0.9), times[0], (double)allocated / ((long)samples * batch), samples);
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Floor((p * (sorted.Length - 1)) + 0.5))];
}
