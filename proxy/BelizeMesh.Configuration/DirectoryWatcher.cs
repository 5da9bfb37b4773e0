namespace BelizeMesh.Configuration;

/// <summary>What went wrong in a <see cref="DirectoryWatcher"/>, for its error handler.</summary>
public enum DirectoryWatchFault
{
    /// <summary>The file-system watcher could not start, stopped, or lost events; changes are picked up by polling
    /// until a poll watches the directory again (each poll starts a new watch).</summary>
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
    private readonly string _directory;
    private readonly Lock _watcherLock = new();
    private readonly ITimer _debounce;
    private readonly ITimer _poll;
    private readonly TimeSpan _delay;
    private readonly Func<Task> _onChange;
    private readonly Action<DirectoryWatchFault, Exception> _onError;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private FileSystemWatcher? _watcher;
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
        _directory = directory;
        _delay = debounce;
        _onChange = onChange;
        _onError = onError;
        _debounce = time.CreateTimer(static s => ((DirectoryWatcher)s!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _watcher = StartWatching(out Exception? error);
        if (error is not null)
        {
            Report(DirectoryWatchFault.Watching, error);
        }

        _poll = time.CreateTimer(static s => ((DirectoryWatcher)s!).Poll(), this, pollInterval, pollInterval);
    }

    /// <summary>Creates a watcher for the directory that holds <paramref name="filePath"/>.</summary>
    public static DirectoryWatcher ForFile(string filePath, TimeSpan debounce, TimeSpan pollInterval, Func<Task> onChange, TimeProvider time, Action<DirectoryWatchFault, Exception> onError) =>
        new(Path.GetDirectoryName(Path.GetFullPath(filePath))!, debounce, pollInterval, onChange, time, onError);

    /// <summary>True when file-system events are being received (false: polling only).</summary>
    public bool IsWatching => Volatile.Read(ref _watcher) is not null;

    private void OnEvent(object sender, FileSystemEventArgs e) => Changed();

    private FileSystemWatcher? StartWatching(out Exception? error)
    {
        FileSystemWatcher? watcher = null;
        try
        {
            watcher = new FileSystemWatcher(_directory)
            {
                IncludeSubdirectories = false,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            watcher.Changed += OnEvent;
            watcher.Created += OnEvent;
            watcher.Deleted += OnEvent;
            watcher.Renamed += OnEvent;
            watcher.Error += (_, e) => Report(DirectoryWatchFault.Watching, e.GetException());
            watcher.EnableRaisingEvents = true;
            error = null;
            return watcher;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException)
        {
            watcher?.Dispose();
            error = ex;
            return null;
        }
    }

    /// <summary>
    /// The poll: watches the directory afresh, then calls back. A directory deleted and created again (or renamed
    /// away and replaced) is a new directory the old watch never hears from, and on Linux the runtime does not say so
    /// (no Error event up to .NET 10); so each poll starts a new watch before dropping the old one, and a directory
    /// that could not be watched is watched as soon as it can be. The callback that follows reads whatever changed
    /// while no watch was listening.
    /// </summary>
    private void Poll()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        FileSystemWatcher? fresh = StartWatching(out Exception? error);
        FileSystemWatcher? old;
        lock (_watcherLock)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                fresh?.Dispose();
                return;
            }

            old = _watcher;
            Volatile.Write(ref _watcher, fresh);
        }

        old?.Dispose();
        if (error is not null && old is not null)
        {
            Report(DirectoryWatchFault.Watching, error); // reported when watching stops, not again at every poll
        }

        Fire();
    }

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

        _poll.Dispose();
        FileSystemWatcher? watcher;
        lock (_watcherLock)
        {
            watcher = _watcher;
            _watcher = null;
        }

        watcher?.Dispose();
        _debounce.Dispose();
    }
}
