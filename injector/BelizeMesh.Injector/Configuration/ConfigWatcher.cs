using BelizeMesh.Configuration;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Configuration;

/// <summary>
/// Holds the configuration in force: the configuration file and, optionally, <c>belizemesh emit</c>'s exclusion list
/// (a second file, usually another ConfigMap). The first load must succeed (the caller exits 1 otherwise); a later bad
/// file is logged and the last good version of that file stays in force.
/// </summary>
internal sealed partial class ConfigStore : IDisposable
{
    private readonly string? _path;
    private readonly string? _exclusionsPath;
    private readonly ILogger _logger;
    private readonly Action<bool>? _onReload;
    private readonly object _reloadLock = new();
    private DirectoryWatcher? _watcher;
    private DirectoryWatcher? _exclusionsWatcher;
    private string? _lastText;
    private string? _lastExclusionsText;
    private InjectorConfig _fileConfig;
    private IReadOnlyList<WorkloadExclusion> _exclusions;
    private volatile Injection.SidecarTemplate _current;

    /// <summary>Loads <paramref name="path"/> (or the defaults when null) and <paramref name="exclusionsPath"/> (none when
    /// null or absent); throws <see cref="ConfigException"/> on a bad file.</summary>
    public ConfigStore(string? path, ILogger logger, Action<bool>? onReload = null, string? exclusionsPath = null)
    {
        _path = path is null ? null : Path.GetFullPath(path);
        _exclusionsPath = exclusionsPath is null ? null : Path.GetFullPath(exclusionsPath);
        _logger = logger;
        _onReload = onReload;
        _fileConfig = InjectorConfig.Default;
        if (_path is not null)
        {
            _lastText = File.ReadAllText(_path);
            _fileConfig = InjectorConfigLoader.Parse(_lastText, _path);
        }

        _exclusions = [];
        if (_exclusionsPath is not null && File.Exists(_exclusionsPath))
        {
            _lastExclusionsText = File.ReadAllText(_exclusionsPath);
            _exclusions = WorkloadExclusions.Parse(_lastExclusionsText, _exclusionsPath);
        }

        _current = Build();
    }

    /// <summary>Raised after every reload attempt with whether a new configuration took effect.</summary>
    public event Action<bool>? Reloaded;

    /// <summary>The configuration (and its sidecar template) in force.</summary>
    public Injection.SidecarTemplate Current => _current;

    private Injection.SidecarTemplate Build() => new(_fileConfig with { Exclusions = _exclusions });

    /// <summary>Starts watching the files' directories for changes (and polling them every
    /// <paramref name="pollInterval"/>, in case an event is lost).</summary>
    public void Watch(TimeSpan settle, TimeSpan pollInterval, TimeProvider time)
    {
        if (_path is not null)
        {
            _watcher ??= DirectoryWatcher.ForFile(_path, settle, pollInterval, ReloadAsync, time, OnWatchError);
        }

        // An optional ConfigMap volume that does not exist yet is still an (empty) directory, so this normally watches.
        if (_exclusionsPath is not null && Directory.Exists(Path.GetDirectoryName(_exclusionsPath)))
        {
            _exclusionsWatcher ??= DirectoryWatcher.ForFile(_exclusionsPath, settle, pollInterval, ReloadAsync, time, OnWatchError);
        }
    }

    private Task ReloadAsync()
    {
        Reload();
        return Task.CompletedTask;
    }

    private void OnWatchError(DirectoryWatchFault fault, Exception exception) => LogWatchFailed(_logger, fault, exception);

    /// <summary>Re-reads the files; returns true when a new configuration took effect.</summary>
    public bool Reload()
    {
        lock (_reloadLock)
        {
            bool changed = false;
            if (_path is not null)
            {
                changed |= ReloadConfig(_path);
            }

            if (_exclusionsPath is not null)
            {
                changed |= ReloadExclusions(_exclusionsPath);
            }

            if (changed)
            {
                _current = Build();
                _onReload?.Invoke(true);
                Reloaded?.Invoke(true);
            }

            return changed;
        }
    }

    private bool ReloadConfig(string path)
    {
        if (!BelizeMesh.Configuration.YamlInputGuard.TryReadFile(path, "configuration file", out string text, out string? readError))
        {
            Failed(path, readError!);
            return false;
        }

        if (text == _lastText)
        {
            return false; // an event for another file in the directory, or a rewrite with the same content
        }

        try
        {
            _fileConfig = InjectorConfigLoader.Parse(text, path);
            _lastText = text;
            LogReloaded(_logger, path);
            return true;
        }
        catch (ConfigException e)
        {
            _lastText = text; // do not log the same bad content again for every event
            Failed(path, e.Message);
            return false;
        }
    }

    private bool ReloadExclusions(string path)
    {
        // A deleted ConfigMap empties the optional volume: no exclusions any more.
        string text = "";
        if (File.Exists(path) && !BelizeMesh.Configuration.YamlInputGuard.TryReadFile(path, "exclusions file", out text, out string? readError))
        {
            Failed(path, readError!);
            return false;
        }

        if (text == (_lastExclusionsText ?? ""))
        {
            return false;
        }

        try
        {
            _exclusions = WorkloadExclusions.Parse(text, path);
            _lastExclusionsText = text;
            LogReloaded(_logger, path);
            return true;
        }
        catch (ConfigException e)
        {
            _lastExclusionsText = text;
            Failed(path, e.Message);
            return false;
        }
    }

    private void Failed(string path, string reason)
    {
        LogReloadFailed(_logger, path, reason);
        _onReload?.Invoke(false);
        Reloaded?.Invoke(false);
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _exclusionsWatcher?.Dispose();
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Configuration reloaded from {Path}")]
    private static partial void LogReloaded(ILogger logger, string path);

    [LoggerMessage(EventId = 201, Level = LogLevel.Error, Message = "Configuration {Path} is invalid; keeping the last good configuration: {Reason}")]
    private static partial void LogReloadFailed(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "Watching the configuration failed ({Fault}); changes are picked up by the next poll")]
    private static partial void LogWatchFailed(ILogger logger, DirectoryWatchFault fault, Exception exception);
}
