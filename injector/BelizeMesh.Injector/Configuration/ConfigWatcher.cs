using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Configuration;

/// <summary>
/// Watches the directory holding a mounted file and calls back when anything in it changes. Kubernetes updates a
/// ConfigMap or Secret volume by writing a new timestamped directory and swapping the <c>..data</c> symlink, so
/// watching the file itself would miss updates; the directory sees the rename. Bursts of events are folded into one
/// callback after a short settle delay.
/// </summary>
internal sealed partial class DirectoryWatcher : IDisposable
{
    private readonly FileSystemWatcher _watcher;
    private readonly Timer _timer;
    private readonly TimeSpan _settle;

    public DirectoryWatcher(string filePath, Action onChange, TimeSpan settle)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(filePath))!;
        _settle = settle;
        _timer = new Timer(_ => onChange(), null, Timeout.Infinite, Timeout.Infinite);
        _watcher = new FileSystemWatcher(directory)
        {
            IncludeSubdirectories = false,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        _watcher.Changed += OnEvent;
        _watcher.Created += OnEvent;
        _watcher.Deleted += OnEvent;
        _watcher.Renamed += OnEvent;
        _watcher.EnableRaisingEvents = true;
    }

    private void OnEvent(object sender, FileSystemEventArgs e) => _timer.Change(_settle, Timeout.InfiniteTimeSpan);

    public void Dispose()
    {
        _watcher.Dispose();
        _timer.Dispose();
    }
}

/// <summary>
/// Holds the configuration in force. The first load must succeed (the caller exits 1 otherwise); a later bad file is
/// logged and the last good configuration stays in force.
/// </summary>
internal sealed partial class ConfigStore : IDisposable
{
    private readonly string? _path;
    private readonly ILogger _logger;
    private readonly Action<bool>? _onReload;
    private readonly object _reloadLock = new();
    private DirectoryWatcher? _watcher;
    private string? _lastText;
    private volatile Injection.SidecarTemplate _current;

    /// <summary>Loads <paramref name="path"/> (or the defaults when null); throws <see cref="ConfigException"/> on a bad file.</summary>
    public ConfigStore(string? path, ILogger logger, Action<bool>? onReload = null)
    {
        _path = path is null ? null : Path.GetFullPath(path);
        _logger = logger;
        _onReload = onReload;
        if (_path is null)
        {
            _current = new Injection.SidecarTemplate(InjectorConfig.Default);
            return;
        }

        _lastText = File.ReadAllText(_path);
        _current = new Injection.SidecarTemplate(InjectorConfigLoader.Parse(_lastText, _path));
    }

    /// <summary>Raised after every reload attempt with whether a new configuration took effect.</summary>
    public event Action<bool>? Reloaded;

    /// <summary>The configuration (and its sidecar template) in force.</summary>
    public Injection.SidecarTemplate Current => _current;

    /// <summary>Starts watching the file's directory for changes.</summary>
    public void Watch(TimeSpan settle)
    {
        if (_path is not null)
        {
            _watcher ??= new DirectoryWatcher(_path, () => Reload(), settle);
        }
    }

    /// <summary>Re-reads the file; returns true when a new configuration took effect.</summary>
    public bool Reload()
    {
        if (_path is null)
        {
            return false;
        }

        lock (_reloadLock)
        {
            if (!BelizeMesh.Configuration.YamlInputGuard.TryReadFile(_path, "configuration file", out string text, out string? readError))
            {
                Failed(readError!);
                return false;
            }

            if (text == _lastText)
            {
                return false; // an event for another file in the directory, or a rewrite with the same content
            }

            try
            {
                _current = new Injection.SidecarTemplate(InjectorConfigLoader.Parse(text, _path));
                _lastText = text;
                LogReloaded(_logger, _path);
                _onReload?.Invoke(true);
                Reloaded?.Invoke(true);
                return true;
            }
            catch (ConfigException e)
            {
                _lastText = text; // do not log the same bad content again for every event
                Failed(e.Message);
                return false;
            }
        }
    }

    private void Failed(string reason)
    {
        LogReloadFailed(_logger, _path!, reason);
        _onReload?.Invoke(false);
        Reloaded?.Invoke(false);
    }

    public void Dispose() => _watcher?.Dispose();

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Configuration reloaded from {Path}")]
    private static partial void LogReloaded(ILogger logger, string path);

    [LoggerMessage(EventId = 201, Level = LogLevel.Error, Message = "Configuration {Path} is invalid; keeping the last good configuration: {Reason}")]
    private static partial void LogReloadFailed(ILogger logger, string path, string reason);
}
