using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Watches a directory and calls back, debounced, when anything in it changes. Kubernetes updates a ConfigMap or
/// Secret volume by writing a new timestamped directory and swapping the <c>..data</c> symlink, so the file's own
/// inode never changes: watching the directory (not the file) is what sees it. A slow poll backs the watcher up
/// (inotify events can be lost). The callback re-reads through the symlink and compares content hashes, so extra
/// calls are cheap. Calls never overlap. Serves the policy file and, with the channel, the certificate directory.
/// </summary>
internal sealed partial class DirectoryWatcher : IDisposable
{
    private readonly FileSystemWatcher? _watcher;
    private readonly ITimer _debounce;
    private readonly ITimer _poll;
    private readonly TimeSpan _delay;
    private readonly Func<Task> _onChange;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private int _disposed;

    public DirectoryWatcher(string directory, TimeSpan debounce, TimeSpan pollInterval, Func<Task> onChange, TimeProvider time, ILogger logger)
    {
        _delay = debounce;
        _onChange = onChange;
        _logger = logger;
        _debounce = time.CreateTimer(static s => ((DirectoryWatcher)s!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _poll = time.CreateTimer(static s => ((DirectoryWatcher)s!).Fire(), this, pollInterval, pollInterval);
        try
        {
            _watcher = new FileSystemWatcher(directory)
            {
                IncludeSubdirectories = false,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            _watcher.Changed += OnEvent;
            _watcher.Created += OnEvent;
            _watcher.Deleted += OnEvent;
            _watcher.Renamed += OnEvent;
            _watcher.Error += (_, e) => Log.WatcherError(_logger, directory, e.GetException());
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException)
        {
            Log.WatcherError(_logger, directory, ex);
            _watcher = null;
        }
    }

    private void OnEvent(object sender, FileSystemEventArgs e) => _debounce.Change(_delay, Timeout.InfiniteTimeSpan);

    private async void Fire()
    {
        if (Volatile.Read(ref _disposed) != 0 || !await _gate.WaitAsync(0).ConfigureAwait(false))
        {
            // a call is running; it re-reads the file, and another event re-arms the timer anyway
            _debounce.Change(_delay, Timeout.InfiniteTimeSpan);
            return;
        }

        try
        {
            await _onChange().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // a watcher callback must never crash the process
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.CallbackFailed(_logger, ex);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _watcher?.Dispose();
        _debounce.Dispose();
        _poll.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(50, LogLevel.Warning, "Watching {Directory} failed; changes are picked up by polling only.", EventName = "WatcherError")]
        public static partial void WatcherError(ILogger logger, string directory, Exception? exception);

        [LoggerMessage(51, LogLevel.Error, "Handling a change in a watched directory failed.", EventName = "WatchCallbackFailed")]
        public static partial void CallbackFailed(ILogger logger, Exception exception);
    }
}
