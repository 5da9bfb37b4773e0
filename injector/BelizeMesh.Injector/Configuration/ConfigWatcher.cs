using BelizeMesh.Configuration;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Configuration;

/// <summary>
/// Holds the configuration in force: the configuration file and, optionally, <c>belizemesh emit</c>'s exclusion list
/// (a second file, usually another ConfigMap), each on the shared keep-last-good <see cref="WatchedStore{T}"/>. The
/// first load must succeed (the caller exits 1 otherwise); a later bad file is logged and counted once per distinct
/// content (an unreadable one at every look), and the last good version of that file stays in force.
/// </summary>
internal sealed partial class ConfigStore : IDisposable
{
    private readonly string? _path;
    private readonly string? _exclusionsPath;
    private readonly ILogger _logger;
    private readonly Action<bool>? _onReload;
    private readonly Lock _buildLock = new();
    private readonly WatchedStore<InjectorConfig>? _config;
    private readonly WatchedStore<IReadOnlyList<WorkloadExclusion>>? _exclusions;
    private volatile Injection.SidecarTemplate _current;
    private bool _watching;

    /// <summary>Loads <paramref name="path"/> (or the defaults when null) and <paramref name="exclusionsPath"/> (none when
    /// null or absent); throws <see cref="ConfigException"/> on a bad file.</summary>
    public ConfigStore(string? path, ILogger logger, Action<bool>? onReload = null, string? exclusionsPath = null)
    {
        _path = path is null ? null : Path.GetFullPath(path);
        _exclusionsPath = exclusionsPath is null ? null : Path.GetFullPath(exclusionsPath);
        _logger = logger;
        _onReload = onReload;
        if (_path is not null)
        {
            string text = File.ReadAllText(_path);
            _config = new WatchedStore<InjectorConfig>(InjectorConfigLoader.Parse(text, _path), WatchedStore.Fingerprint(text), LoadConfig, Hooks<InjectorConfig>(_path));
        }

        if (_exclusionsPath is not null)
        {
            bool exists = File.Exists(_exclusionsPath);
            string text = exists ? File.ReadAllText(_exclusionsPath) : "";
            IReadOnlyList<WorkloadExclusion> initial = exists ? WorkloadExclusions.Parse(text, _exclusionsPath) : [];
            _exclusions = new WatchedStore<IReadOnlyList<WorkloadExclusion>>(initial, WatchedStore.Fingerprint(text), LoadExclusions, Hooks<IReadOnlyList<WorkloadExclusion>>(_exclusionsPath));
        }

        _current = Build();
    }

    /// <summary>Raised after every reload attempt with whether a new configuration took effect.</summary>
    public event Action<bool>? Reloaded;

    /// <summary>Whether the configuration file's content is in force (<see cref="WatchedStore{T}.InputInForce"/>); null
    /// when no file is used (the defaults).</summary>
    public bool? ConfigFileInForce => _config?.InputInForce;

    /// <summary>The same for the exclusions file; null when none is used.</summary>
    public bool? ExclusionsFileInForce => _exclusions?.InputInForce;

    /// <summary>The configuration (and its sidecar template) in force.</summary>
    public Injection.SidecarTemplate Current => _current;

    private Injection.SidecarTemplate Build() =>
        new((_config?.Current ?? InjectorConfig.Default) with { Exclusions = _exclusions?.Current ?? [] });

    private WatchedStoreHooks<T> Hooks<T>(string path)
        where T : class => new()
        {
            Applied = (_, _) =>
            {
                LogReloaded(_logger, path);
                lock (_buildLock)
                {
                    _current = Build(); // from both files' values in force
                }

                Notify(true);
            },
            Rejected = (_, failure) =>
            {
                LogReloadFailed(_logger, path, failure.Reason);
                Notify(false);
            },
            Restored = _ => LogBackInForce(_logger, path),
        };

    private void Notify(bool applied)
    {
        _onReload?.Invoke(applied);
        Reloaded?.Invoke(applied);
    }

    /// <summary>Starts watching the files' directories for changes (and polling them every
    /// <paramref name="pollInterval"/>, in case an event is lost).</summary>
    public void Watch(TimeSpan settle, TimeSpan pollInterval, TimeProvider time)
    {
        if (_watching)
        {
            return;
        }

        _watching = true;
        if (_config is not null)
        {
            _config.Watch(Path.GetDirectoryName(_path)!, settle, pollInterval, time, OnWatchError);
        }

        if (_exclusions is not null)
        {
            // An optional ConfigMap volume that does not exist yet is still an (empty) directory, so this normally
            // watches; when it is missing, the configuration's directory (its events and poll) brings the re-reads.
            string directory = Path.GetDirectoryName(_exclusionsPath)!;
            if (Directory.Exists(directory))
            {
                _exclusions.Watch(directory, settle, pollInterval, time, OnWatchError);
            }
            else if (_path is not null)
            {
                _exclusions.Watch(Path.GetDirectoryName(_path)!, settle, pollInterval, time, OnWatchError);
            }
        }
    }

    private void OnWatchError(DirectoryWatchFault fault, Exception exception) => LogWatchFailed(_logger, fault, exception);

    /// <summary>Re-reads the files; returns true when a new configuration took effect.</summary>
    public bool Reload()
    {
        bool changed = _config?.Reload() == ReloadOutcome.Applied;
        changed |= _exclusions?.Reload() == ReloadOutcome.Applied;
        return changed;
    }

    private WatchedLoad<InjectorConfig> LoadConfig(WatchedLoadContext<InjectorConfig> context)
    {
        string path = _path!;
        if (!YamlInputGuard.TryReadFile(path, "configuration file", out string text, out string? readError))
        {
            return WatchedLoad<InjectorConfig>.Failed(ReloadFailure.FromReason(readError!), fingerprint: null);
        }

        string fingerprint = WatchedStore.Fingerprint(text);
        if (context.IsCurrent(fingerprint))
        {
            return WatchedLoad<InjectorConfig>.InForce; // an event for another file in the directory, or a rejected edit undone
        }

        if (context.WasRejected(fingerprint))
        {
            return WatchedLoad<InjectorConfig>.Unchanged; // reported once already
        }

        try
        {
            return WatchedLoad<InjectorConfig>.Loaded(InjectorConfigLoader.Parse(text, path), fingerprint);
        }
        catch (ConfigException e)
        {
            return WatchedLoad<InjectorConfig>.Failed(new ReloadFailure(e.Message, e.Problems), fingerprint);
        }
    }

    private WatchedLoad<IReadOnlyList<WorkloadExclusion>> LoadExclusions(WatchedLoadContext<IReadOnlyList<WorkloadExclusion>> context)
    {
        // A deleted ConfigMap empties the optional volume: no exclusions any more.
        string path = _exclusionsPath!;
        string text = "";
        if (File.Exists(path) && !YamlInputGuard.TryReadFile(path, "exclusions file", out text, out string? readError))
        {
            return WatchedLoad<IReadOnlyList<WorkloadExclusion>>.Failed(ReloadFailure.FromReason(readError!), fingerprint: null);
        }

        string fingerprint = WatchedStore.Fingerprint(text);
        if (context.IsCurrent(fingerprint))
        {
            return WatchedLoad<IReadOnlyList<WorkloadExclusion>>.InForce;
        }

        if (context.WasRejected(fingerprint))
        {
            return WatchedLoad<IReadOnlyList<WorkloadExclusion>>.Unchanged;
        }

        try
        {
            return WatchedLoad<IReadOnlyList<WorkloadExclusion>>.Loaded(WorkloadExclusions.Parse(text, path), fingerprint);
        }
        catch (ConfigException e)
        {
            return WatchedLoad<IReadOnlyList<WorkloadExclusion>>.Failed(new ReloadFailure(e.Message, e.Problems), fingerprint);
        }
    }

    public void Dispose()
    {
        _config?.Dispose();
        _exclusions?.Dispose();
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Configuration reloaded from {Path}")]
    private static partial void LogReloaded(ILogger logger, string path);

    [LoggerMessage(EventId = 201, Level = LogLevel.Error, Message = "Configuration {Path} is invalid; keeping the last good configuration: {Reason}")]
    private static partial void LogReloadFailed(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 203, Level = LogLevel.Information, Message = "{Path} holds the content in force again; it is no longer rejected")]
    private static partial void LogBackInForce(ILogger logger, string path);

    [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "Watching the configuration failed ({Fault}); changes are picked up by the next poll")]
    private static partial void LogWatchFailed(ILogger logger, DirectoryWatchFault fault, Exception exception);
}
