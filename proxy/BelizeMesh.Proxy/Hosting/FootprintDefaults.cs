namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Settings of the sidecar process that the runtime reads only from the environment (no runtimeconfig knob), applied
/// at the top of <c>Main</c>, before anything rents from the shared array pool or creates a socket. A value already in
/// the environment wins, so an operator can still set it in the pod spec.
/// </summary>
internal static class FootprintDefaults
{
    // Not set any more: DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION (was 4, against the runtime's 32, so a
    // burst of handshakes would not leave ~3 MiB of pooled record buffers behind). The idle trimmer's collections now
    // return those either way (footprint, session 13: 60 s after the burst 21.5 MiB with 32 against 21.7 with 4), while
    // 4 starved HTTP/2 inside the channel: its client rents a 16 KiB response buffer per stream, 64 streams at once
    // missed the pool, and the outbound sidecar allocated 33 KiB per request instead of 3.5 (perf/README.md, "data
    // path, eighth session: the shared array pool"). An operator can still set it in the pod spec.

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
