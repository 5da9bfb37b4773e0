using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// How fast each CPU runs a fixed integer loop right now, one pinned thread per CPU in turn. On a virtual machine a
/// vCPU can run at a fraction of its sibling's speed for minutes when the host's core is shared (seen on the two-vCPU
/// machines since session 13: one vCPU 1.5× slower than the other, then the other way round; perf/README.md, "the
/// vCPUs"): every process that lands on it then looks slower, which is the "two steady states" of earlier runs. The
/// harness probes before, between and after its measurements and prints the figures beside them, so a comparison taken
/// while the vCPUs disagreed can be seen as such; the probe takes about 0.1 s and nothing else runs meanwhile.
/// </summary>
internal static partial class CpuSpeed
{
    /// <summary>Above this ratio of the slowest to the fastest CPU, a run's figures are flagged.</summary>
    public const double UnevenSpread = 1.15;

    private const int Iterations = 4_000_000;
    private const int Tries = 3;

    /// <summary>Milliseconds per fixed loop for each CPU this process may run on (the best of three), labelled.</summary>
    public static CpuProbe Measure(string label)
    {
        var perCpu = new List<CpuTime>();
        for (int cpu = 0; cpu < Math.Min(Environment.ProcessorCount, 64); cpu++)
        {
            double best = double.MaxValue;
            bool pinned = false;
            var thread = new Thread(() =>
            {
                pinned = Pin(cpu);
                for (int t = 0; t < Tries && pinned; t++)
                {
                    long start = Stopwatch.GetTimestamp();
                    Spin(Iterations);
                    best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            })
            { IsBackground = true, Name = "cpu probe" };
            thread.Start();
            thread.Join();
            if (pinned)
            {
                perCpu.Add(new CpuTime(cpu, Math.Round(best, 2)));
            }
        }

        return new CpuProbe(label, DateTimeOffset.UtcNow, perCpu);
    }

    /// <summary>A dependent chain of multiplies and xor-shifts: no memory traffic, nothing to vectorise or fold.</summary>
    internal static ulong Spin(int iterations)
    {
        ulong x = 0x9E3779B97F4A7C15;
        for (int i = 0; i < iterations; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x *= 0xBF58476D1CE4E5B9;
        }

        s_sink = x;
        return x;
    }

    private static ulong s_sink;

    /// <summary>Pins the calling thread to <paramref name="cpu"/>; false where that is not possible (not Linux, not allowed).</summary>
    private static bool Pin(int cpu)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        ulong mask = 1UL << cpu;
        return SchedSetAffinity(0, sizeof(ulong), ref mask) == 0;
    }

    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static partial int SchedSetAffinity(int pid, nint cpuSetSize, ref ulong mask);
}

/// <summary>One CPU's time for the probe's loop.</summary>
internal sealed record CpuTime(int Cpu, double Milliseconds);

/// <summary>One probe: when, and each CPU's time.</summary>
internal sealed record CpuProbe(string Label, DateTimeOffset At, IReadOnlyList<CpuTime> Cpus)
{
    /// <summary>Slowest over fastest (1 = even); 1 when fewer than two CPUs were probed.</summary>
    public double Spread => Cpus.Count < 2 ? 1 : Cpus.Max(c => c.Milliseconds) / Cpus.Min(c => c.Milliseconds);

    public bool Uneven => Spread > CpuSpeed.UnevenSpread;

    /// <summary><c>start: cpu0 7.1 ms, cpu1 10.6 ms (1.49× apart: uneven)</c>.</summary>
    public override string ToString() =>
        $"{Label}: {string.Join(", ", Cpus.Select(c => string.Create(CultureInfo.InvariantCulture, $"cpu{c.Cpu} {c.Milliseconds:0.0} ms")))}"
        + string.Create(CultureInfo.InvariantCulture, $" ({Spread:0.00}× apart{(Uneven ? ": uneven" : "")})");
}
