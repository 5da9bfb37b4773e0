namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Settings of the sidecar process that the runtime reads only from the environment (no runtimeconfig knob), applied
/// at the top of <c>Main</c>, before anything rents from the shared array pool or creates a socket. A value already in
/// the environment wins, so an operator can still set it in the pod spec.
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

    /// <summary>
    /// Socket continuations run on the socket engine's epoll thread instead of being queued to the thread pool. Read
    /// once, by the static constructor of the runtime's <c>SocketAsyncEngine</c> (the first socket of the process), so
    /// it must be set before anything creates a socket. With it the engine also runs one epoll thread per core.
    /// </summary>
    internal const string InlineSocketCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// "1": a request through the pair costs 5.9 instead of 26 context switches and half the CPU at 1,000 req/s
    /// (perf/README.md, "data path"). Everything slow that a connection starts (the channel handshake's ML-KEM/ML-DSA
    /// work) hops to the thread pool first, so it never holds up the other sockets of that epoll thread.
    /// </summary>
    internal const string InlineSocketCompletions = "1";

    /// <summary>The host builder's switch for watching its configuration files (<c>hostBuilder:reloadConfigOnChange</c>).</summary>
    internal const string ReloadConfigOnChangeVariable = "DOTNET_hostBuilder__reloadConfigOnChange";

    /// <summary>
    /// "false": a slim or default web host adds <c>appsettings.json</c> (and its environment variant) with
    /// reload-on-change, which starts a FileSystemWatcher — its own thread and an inotify descriptor on the binary's
    /// directory. The sidecar's own host reads no configuration file (<see cref="ProxyHost.CreateBuilder"/>); the
    /// switch still spares <c>demo</c>'s in-process app host that watcher. The sidecar's configuration is its policy
    /// file, which has its own watcher (docs/policy.md, "Reloading").
    /// </summary>
    internal const string ReloadConfigOnChange = "false";

    public static void Apply()
    {
        SetUnlessPresent(ArraysPerPartitionVariable, ArraysPerPartition);
        SetUnlessPresent(InlineSocketCompletionsVariable, InlineSocketCompletions);
        SetUnlessPresent(ReloadConfigOnChangeVariable, ReloadConfigOnChange);
    }

    private static void SetUnlessPresent(string variable, string value)
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(variable)))
        {
            Environment.SetEnvironmentVariable(variable, value);
        }
    }
}
