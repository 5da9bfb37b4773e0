using BelizeMesh.Configuration;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// The sidecar's <see cref="DirectoryWatcher"/>s (policy and certificate directories, each reloading its
/// <see cref="WatchedStore{T}"/>): the host's debounce, poll and clock, and the watcher's faults logged.
/// </summary>
internal static partial class DirectoryWatchers
{
    public static DirectoryWatcher Watch<T>(WatchedStore<T> store, string directory, ProxyHostOptions options, ILogger logger)
        where T : class =>
        store.Watch(directory, options.WatchDebounce, options.WatchPollInterval, options.Time, OnError(directory, logger));

    private static Action<DirectoryWatchFault, Exception> OnError(string directory, ILogger logger) =>
        (fault, exception) =>
        {
            if (fault == DirectoryWatchFault.Watching)
            {
                Log.WatcherError(logger, directory, exception);
            }
            else
            {
                Log.CallbackFailed(logger, exception);
            }
        };

    private static partial class Log
    {
        [LoggerMessage(50, LogLevel.Warning, "Watching {Directory} failed; changes are picked up by polling only, and each poll tries to watch it again.", EventName = "WatcherError")]
        public static partial void WatcherError(ILogger logger, string directory, Exception? exception);

        [LoggerMessage(51, LogLevel.Error, "Handling a change in a watched directory failed.", EventName = "WatchCallbackFailed")]
        public static partial void CallbackFailed(ILogger logger, Exception exception);
    }
}
