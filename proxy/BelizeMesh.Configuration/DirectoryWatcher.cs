namespace BelizeMesh.Configuration;

/// <summary>What went wrong in a <see cref="DirectoryWatcher"/>, for its error handler.</summary>
public enum DirectoryWatchFault
{
    /// <summary>The file-system watcher could not start or lost events; changes are picked up by polling only until
    /// the next poll re-reads the directory.</summary>
    Watching,

    /// <summary>The change callback threw; the watcher keeps running and calls it again on the next change or poll.</summary>
    Callback,
}

/// <summary>
/// Watches a directory and calls back, debounced, when anything in it changes. Kubernetes updates a ConfigMap or
/// Secret volume by writing a new timestamped directory and swapping the <c>..data</c> symlink, so the file's own
/// inode never changes: watching the directory (not the file) is what sees it. A slow poll backs the watcher up
/// (inotify events can be lost, and a directory that cannot be watched is polled only). The callback re-reads through
/// the symlink and compares content, so extra calls are cheap. Calls never overlap; a call that fails is handed to the
/// error handler and never crashes the process. Serves the sidecar's policy and certificate directories and the
/// injector's configuration, exclusion list and serving certificate.
/// </summary>
public sealed class DirectoryWatcher : IDisposable
{
    private readonly FileSystemWatcher? _watcher;
    private readonly ITimer _debounce;
    private readonly ITimer _poll;
    private readonly TimeSpan _delay;
    private readonly Func<Task> _onChange;
    private readonly Action<DirectoryWatchFault, Exception> _onError;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private int _disposed;

    /// <summary>Starts watching <paramref name="directory"/>.</summary>
    /// <param name="directory">The directory holding the watched files (for a file, its directory).</param>
    /// <param name="debounce">How long a burst of events must settle before <paramref name="onChange"/> runs.</param>
    /// <param name="pollInterval">How often <paramref name="onChange"/> runs even without an event.</param>
    /// <param name="onChange">Re-reads the watched files; never runs twice at once.</param>
    /// <param name="time">The clock the debounce and poll timers run on.</param>
    /// <param name="onError">Told when watching fails (polling continues) and when <paramref name="onChange"/> throws.</param>
    public DirectoryWatcher(string directory, TimeSpan debounce, TimeSpan pollInterval, Func<Task> onChange, TimeProvider time, Action<DirectoryWatchFault, Exception> onError)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(onChange);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(onError);
        _delay = debounce;
        _onChange = onChange;
        _onError = onError;
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
            _watcher.Error += (_, e) => Report(DirectoryWatchFault.Watching, e.GetException());
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException)
        {
            _watcher?.Dispose();
            _watcher = null;
            Report(DirectoryWatchFault.Watching, ex);
        }
    }

    /// <summary>Creates a watcher for the directory that holds <paramref name="filePath"/>.</summary>
    public static DirectoryWatcher ForFile(string filePath, TimeSpan debounce, TimeSpan pollInterval, Func<Task> onChange, TimeProvider time, Action<DirectoryWatchFault, Exception> onError) =>
        new(Path.GetDirectoryName(Path.GetFullPath(filePath))!, debounce, pollInterval, onChange, time, onError);

    /// <summary>True when file-system events are being received (false: polling only).</summary>
    public bool IsWatching => _watcher is not null;

    private void OnEvent(object sender, FileSystemEventArgs e) => Changed();

    /// <summary>Something in the directory changed: (re)starts the debounce delay.</summary>
    internal void Changed()
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            _debounce.Change(_delay, Timeout.InfiniteTimeSpan);
        }
    }

    private async void Fire()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        if (!await _gate.WaitAsync(0).ConfigureAwait(false))
        {
            // a call is running; it may have read the files before this change, so run again once it settles
            Changed();
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
            Report(DirectoryWatchFault.Callback, ex);
        }
        finally
        {
            _gate.Release();
        }
    }

    private void Report(DirectoryWatchFault fault, Exception exception)
    {
        try
        {
            _onError(fault, exception);
        }
#pragma warning disable CA1031 // the error handler itself must not crash the process either
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    /// <inheritdoc />
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
}
