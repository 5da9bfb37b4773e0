using System.Globalization;
using System.Runtime.InteropServices;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// The Linux scheduling policy of the sidecar's threads: <c>SCHED_BATCH</c> unless <c>BELIZEMESH_SCHED_POLICY</c> says
/// <c>other</c> (<c>SCHED_OTHER</c>, the kernel's default for every process). A <c>SCHED_BATCH</c> thread that wakes up
/// does not preempt the thread running on its CPU (the scheduler's wake-up preemption skips it): it takes an idle CPU,
/// or runs when the current thread blocks or its slice ends. Under load the sidecar's socket and pool threads then stop
/// preempting each other at every wake-up — 1.11 → ~0.75 context switches per request through the pair at <c>-c 64</c>,
/// CPU per request 0.93× there and 0.86–0.92× at 1,000 req/s with p99 level, also beside a CPU-bound neighbour that
/// leaves a CPU idle (perf/README.md, "data path, twelfth session"). When every CPU is busy a waking thread waits for
/// the running one's slice instead, which raised the pair's p50 at 1,000 req/s from 0.47 to 0.85 ms beside two
/// neighbours (session 26): the injector's <c>belizemesh.io/scheduling-policy: other</c> annotation is for
/// latency-critical workloads on such nodes. Applied at the top of <c>Main</c> to every thread the process has
/// then (those on <c>SCHED_OTHER</c> or <c>SCHED_BATCH</c>: a real-time or idle start is left as it is); threads made
/// later inherit it from their creator. Switching between the two needs no privilege or capability.
/// </summary>
internal static partial class SchedulingPolicy
{
    internal const string Variable = "BELIZEMESH_SCHED_POLICY";

    private const int SchedOther = 0;
    private const int SchedBatch = 3;

    /// <summary>The policy <paramref name="value"/> names, <c>SCHED_BATCH</c> when unset.</summary>
    /// <exception cref="ArgumentException">Neither <c>batch</c> nor <c>other</c>.</exception>
    internal static int Parse(string? value) => value switch
    {
        null or "" or "batch" => SchedBatch,
        "other" => SchedOther,
        _ => throw new ArgumentException($"{Variable}={value} is not a scheduling policy: set it to 'batch' (the default) or 'other' (the kernel's SCHED_OTHER), or leave it unset"),
    };

    /// <summary>Applies the policy; returns a warning to print (the process then runs on as it is) or null.</summary>
    public static string? Apply()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        int chosen;
        try
        {
            chosen = Parse(Environment.GetEnvironmentVariable(Variable));
        }
        catch (ArgumentException e)
        {
            return $"warning: {e.Message}; keeping the process's scheduling policy";
        }

        int failed = 0;
        int error = 0;
        string[] tasks;
        try
        {
            tasks = Directory.GetFileSystemEntries("/proc/self/task");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            tasks = [];
        }

        foreach (string task in tasks)
        {
            // Only threads on one of the two time-sharing policies: an operator who started the sidecar real-time
            // (SCHED_FIFO/RR) or idle (SCHED_IDLE) keeps what they chose.
            if (int.TryParse(Path.GetFileName(task), NumberStyles.None, CultureInfo.InvariantCulture, out int tid)
                && GetScheduler(tid) is SchedOther or SchedBatch)
            {
                int priority = 0;
                if (SetScheduler(tid, chosen, ref priority) != 0)
                {
                    failed++;
                    error = Marshal.GetLastPInvokeError();
                }
            }
        }

        return failed == 0 ? null : $"warning: {(chosen == SchedBatch ? "SCHED_BATCH" : "SCHED_OTHER")} could not be set on {failed} thread(s) (sched_setscheduler errno {error}); those keep their scheduling policy";
    }

    [LibraryImport("libc", EntryPoint = "sched_getscheduler")]
    private static partial int GetScheduler(int pid);

    [LibraryImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static partial int SetScheduler(int pid, int policy, ref int priority);
}
