using BelizeMesh.Configuration;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>The outcome of one reload attempt.</summary>
internal enum ReloadResult
{
    /// <summary>The file's content hash did not change.</summary>
    Unchanged,

    /// <summary>A new snapshot is in force.</summary>
    Applied,

    /// <summary>The file is invalid (or changes something only a restart can); the last good policy stays.</summary>
    Rejected,
}

/// <summary>The sidecar's <see cref="ReloadResult"/> for the shared store's <see cref="ReloadOutcome"/>.</summary>
internal static class ReloadResults
{
    public static ReloadResult From(ReloadOutcome outcome) => outcome switch
    {
        ReloadOutcome.Applied => ReloadResult.Applied,
        ReloadOutcome.Rejected => ReloadResult.Rejected,
        _ => ReloadResult.Unchanged,
    };
}

/// <summary>
/// Holds the policy snapshot in force, on the shared keep-last-good <see cref="WatchedStore{T}"/>. The first load must
/// succeed (the host is not built otherwise); later loads follow YARP's <c>ConfigurationConfigProvider</c>: a bad file
/// is logged with its location and counted (<c>belizemesh_policy_reloads_total{result="failure"}</c>) once per
/// distinct content, and the last good snapshot stays. Consumers read <see cref="Current"/> once per request;
/// <see cref="GetChangeToken"/> signals swaps.
/// </summary>
internal sealed partial class PolicyStore
{
    private readonly string _path;
    private readonly PolicyParserOptions _parserOptions;
    private readonly SnapshotBuilder _builder;
    private readonly ProxyMetrics _metrics;
    private readonly ILogger _logger;
    private readonly WatchedStore<ProxySnapshot> _store;

    public PolicyStore(string path, PolicyParserOptions parserOptions, SnapshotBuilder builder, ProxySnapshot initial, ProxyMetrics metrics, ILogger<PolicyStore> logger)
    {
        _path = path;
        _parserOptions = parserOptions;
        _builder = builder;
        _metrics = metrics;
        _logger = logger;
        _store = new WatchedStore<ProxySnapshot>(initial, initial.ContentHash, Load, new WatchedStoreHooks<ProxySnapshot>
        {
            Applied = (_, next) =>
            {
                _metrics.PolicyReloaded(success: true);
                Log.Reloaded(_logger, _path, next.ContentHash[..12]);
            },
            Rejected = (_, failure) =>
            {
                _metrics.PolicyReloaded(success: false);
                foreach (ConfigError error in failure.Errors)
                {
                    Log.ReloadRejected(_logger, error.File, error.Line, error.Column, error.Message);
                }
            },
            Restored = current => Log.BackInForce(_logger, _path, current.ContentHash[..12]),
        });
        metrics.ObservePolicyFileInForce(() => _store.InputInForce);
    }

    public string PolicyPath => _path;

    /// <summary>Tests: runs in a reload right after the policy file was read (a writer still at work would act here).</summary>
    internal Action? AfterRead { get; set; }

    public ProxySnapshot Current => _store.Current;

    public IChangeToken GetChangeToken() => new CancellationChangeToken(_store.ChangeToken);

    /// <summary>SHA-256 of the file's bytes, hex.</summary>
    public static string Hash(string text) => WatchedStore.Fingerprint(text);

    /// <summary>Re-reads the file (through any symlink) and swaps in a valid new policy.</summary>
    public Task<ReloadResult> ReloadAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(ReloadResults.From(_store.Reload()));
    }

    /// <summary>Reloads on every change in the policy file's directory (and at every poll) until the watcher is disposed.</summary>
    public DirectoryWatcher Watch(string directory, ProxyHostOptions options, ILogger logger) => DirectoryWatchers.Watch(_store, directory, options, logger);

    private WatchedLoad<ProxySnapshot> Load(WatchedLoadContext<ProxySnapshot> context)
    {
        // Bounded read (a 100 MB file is refused by its size, not read whole); the parse below bounds nesting and aliases.
        ProxySnapshot current = context.Current;
        if (!YamlInputGuard.TryReadFile(_path, "policy file", out string text, out string? readError))
        {
            // reported at every look until readable; meanwhile the policy in force still follows its JWKS files
            return _builder.JwksChanged(current.Policy)
                ? Rebuilt(current)
                : Failed([new PolicyError(_path, 1, 1, readError!)], fingerprint: null);
        }

        AfterRead?.Invoke();
        string hash = Hash(text);

        // A JWKS file that changed under the policy in force is picked up by rebuilding its snapshot (JwksFiles).
        if (context.IsCurrent(hash))
        {
            // The file holds the policy in force (e.g. a rejected edit undone).
            return _builder.JwksChanged(current.Policy)
                ? WatchedLoad<ProxySnapshot>.Loaded(_builder.Build(current.Policy, current.ContentHash), hash)
                : WatchedLoad<ProxySnapshot>.InForce;
        }

        if (context.WasRejected(hash))
        {
            // A rejected edit sits in the file: it stays rejected (reported and counted once), the keys are taken.
            return _builder.JwksChanged(current.Policy) ? Rebuilt(current) : WatchedLoad<ProxySnapshot>.Unchanged;
        }

        PolicyParseResult parsed = PolicyParser.Parse(text, _path, _parserOptions);
        if (Moved(hash))
        {
            // Read while a writer was still at work (truncate, then write in pieces): a prefix of a policy can parse
            // into a smaller valid one that silently lacks what follows. Judge only content that holds still; the
            // writer's own change event (or the poll) brings the next reload.
            return WatchedLoad<ProxySnapshot>.Unchanged;
        }

        if (!parsed.Succeeded)
        {
            return Failed(parsed.Errors, hash);
        }

        string? restartReason = RequiresRestart(current.Policy.Spec, parsed.Policy!.Spec, _builder.ChannelConfigured);
        if (restartReason is not null)
        {
            return Failed([new PolicyError(_path, 1, 1, restartReason + "; the running sidecar keeps its last good policy")], hash);
        }

        return WatchedLoad<ProxySnapshot>.Loaded(_builder.Build(parsed.Policy, hash), hash);
    }

    /// <summary>Whether the file no longer holds the content with <paramref name="hash"/> (or cannot be read now).</summary>
    private bool Moved(string hash) =>
        !YamlInputGuard.TryReadFile(_path, "policy file", out string again, out _) || !string.Equals(Hash(again), hash, StringComparison.Ordinal);

    /// <summary>The policy in force rebuilt (its JWKS files re-read) while the file holds something else: says nothing
    /// of the file.</summary>
    private WatchedLoad<ProxySnapshot> Rebuilt(ProxySnapshot current) =>
        WatchedLoad<ProxySnapshot>.Rebuilt(_builder.Build(current.Policy, current.ContentHash));

    private static WatchedLoad<ProxySnapshot> Failed(IReadOnlyList<ConfigError> errors, string? fingerprint) =>
        WatchedLoad<ProxySnapshot>.Failed(ReloadFailure.FromErrors(errors), fingerprint);

    /// <summary>Listeners are bound once; a policy that moves them (or changes the channel mode or the identity, or
    /// needs the channel a sidecar started without) needs a restart.</summary>
    private static string? RequiresRestart(PolicySpec old, PolicySpec next, bool channelConfigured)
    {
        if (!old.Admin.Listen.Equals(next.Admin.Listen))
        {
            return $"spec.admin.listen changed from {old.Admin.Listen} to {next.Admin.Listen}: listeners are bound at start-up, restart the sidecar to move them";
        }

        if (!old.Inbound.Listen.Equals(next.Inbound.Listen))
        {
            return $"spec.inbound.listen changed from {old.Inbound.Listen} to {next.Inbound.Listen}: listeners are bound at start-up, restart the sidecar to move them";
        }

        if (!old.Outbound.Listen.Equals(next.Outbound.Listen))
        {
            return $"spec.outbound.listen changed from {old.Outbound.Listen} to {next.Outbound.Listen}: listeners are bound at start-up, restart the sidecar to move them";
        }

        if (!string.Equals(old.Identity, next.Identity, StringComparison.Ordinal))
        {
            return $"spec.identity changed from {old.Identity ?? "(none)"} to {next.Identity ?? "(none)"}: the sidecar's identity is its certificate's, checked at start-up, and certificate reloads keep it; restart the sidecar (with a certificate for the new identity) to change it";
        }

        if (old.Inbound.Mode != next.Inbound.Mode)
        {
            return $"spec.inbound.mode changed from {old.Inbound.Mode} to {next.Inbound.Mode}: the listener's channel is set up at start-up, restart the sidecar to change it";
        }

        if (next.Outbound.Mode != ChannelMode.Disable && !channelConfigured)
        {
            return $"spec.outbound.mode changed from {old.Outbound.Mode} to {next.Outbound.Mode}: this sidecar started with every mode DISABLE, so without the PQ channel and without certificates; " +
                "restart the sidecar, with tls.crt, tls.key and ca.crt in its certificates directory (--certs), to use it";
        }

        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(200, LogLevel.Information, "Policy {File} reloaded (sha256 {Hash}).", EventName = "PolicyReloaded")]
        public static partial void Reloaded(ILogger logger, string file, string hash);

        [LoggerMessage(201, LogLevel.Error, "Policy reload rejected, keeping the last good policy: {File}:{Line}:{Column}: {Reason}", EventName = "PolicyReloadRejected")]
        public static partial void ReloadRejected(ILogger logger, string file, int line, int column, string reason);

        [LoggerMessage(202, LogLevel.Information, "Policy {File} holds the policy in force again (sha256 {Hash}); it is no longer rejected.", EventName = "PolicyBackInForce")]
        public static partial void BackInForce(ILogger logger, string file, string hash);
    }
}
