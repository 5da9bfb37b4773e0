namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Memory settings of the sidecar process that the runtime reads only from the environment (no runtimeconfig knob),
/// applied at the top of <c>Main</c>, before anything rents from the shared array pool. A value already in the
/// environment wins, so an operator can still set it in the pod spec.
/// </summary>
internal static class FootprintDefaults
{
    /// <summary>How many arrays of each size each per-core partition of <c>ArrayPool&lt;byte&gt;.Shared</c> keeps.</summary>
    internal const string ArraysPerPartitionVariable = "DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION";

    /// <summary>
    /// 4 instead of the runtime's 32: a burst of handshakes rents one 32 KiB record buffer each, and returned buffers
    /// stay in the pool (trimmed only after minutes of gen2 collections) — 32 per size per core was ~3 MiB that never
    /// left an idle sidecar after 4,000 half-open handshakes (perf/README.md, "footprint": 38.4 → 34.6 MiB 60 s after the
    /// burst, idle 28.3).
    /// </summary>
    internal const string ArraysPerPartition = "4";

    public static void Apply()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(ArraysPerPartitionVariable)))
        {
            Environment.SetEnvironmentVariable(ArraysPerPartitionVariable, ArraysPerPartition);
        }
    }
}
