using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Controller;

/// <summary>
/// A list-then-watch cache of one resource (client-go's reflector + store): lists with the collection's
/// resourceVersion, watches from it with bookmarks, resumes a dropped or timed-out watch from the last resourceVersion
/// it saw (an event's or a bookmark's), and relists only when the server answers 410 Gone (the version was compacted).
/// The controller records its own writes here as soon as the server answers them (<see cref="Upsert"/>), ahead of the
/// watch; the cache then keeps whichever copy is newer by resourceVersion, so neither a late watch event older than an
/// own write nor an own write older than a change the watch has already delivered can put a stale copy back.
/// </summary>
internal sealed partial class Reflector<T> where T : class, IKubernetesObject<V1ObjectMeta>
{
    private const int MaxTombstones = 4096;

    /// <summary>A watch that ends sooner than this without delivering an event counts as failed (backoff before the next).</summary>
    private static readonly TimeSpan MinimumQuietWatch = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long past its timeoutSeconds a watch may stay open before the client gives up on it: the server ends every
    /// watch at its timeout, so one still open then is on a connection that died silently (no reset ever came).
    /// </summary>
    private static readonly TimeSpan WatchGrace = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, T> _items = new(StringComparer.Ordinal);
    // Serialises every change to _items (the watch and the controller's own writes); readers need no lock.
    private readonly Lock _gate = new();
    // resourceVersions of deletions the watch delivered, so an own write older than a deletion does not resurrect it.
    private readonly Dictionary<string, string> _tombstones = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ControllerKubernetes _client;
    private readonly WatchedResource _resource;
    private readonly Func<CancellationToken, Task<(IList<T> Items, string ResourceVersion)>> _list;
    private readonly string _watchPath;
    private readonly Action _changed;
    private readonly ControllerMetrics _metrics;
    private readonly TimeSpan _watchTimeout;
    private readonly TimeProvider _retryClock;
    private readonly ILogger _logger;

    /// <summary>A cache whose list is <paramref name="list"/> and whose watch is on <paramref name="watchPath"/> (the collection's
    /// path relative to the API root with its selectors, e.g. <c>api/v1/secrets?labelSelector=…</c>).</summary>
    public Reflector(ControllerKubernetes client, WatchedResource resource, Func<CancellationToken, Task<(IList<T> Items, string ResourceVersion)>> list,
        string watchPath, Action changed, ControllerMetrics metrics, TimeSpan watchTimeout, TimeProvider retryClock, ILogger logger)
    {
        _client = client;
        _resource = resource;
        _list = list;
        _watchPath = watchPath;
        _changed = changed;
        _metrics = metrics;
        _watchTimeout = watchTimeout;
        _retryClock = retryClock;
        _logger = logger;
    }

    /// <summary>Completes after the first successful list.</summary>
    public Task Synced => _synced.Task;

    /// <summary>The last resourceVersion seen.</summary>
    public string ResourceVersion { get; private set; } = "";

    /// <summary>The cached objects by <c>namespace/name</c> (or <c>name</c> for cluster-scoped ones).</summary>
    public IReadOnlyDictionary<string, T> Items => _items;

    public static string Key(V1ObjectMeta metadata) =>
        string.IsNullOrEmpty(metadata.NamespaceProperty) ? metadata.Name : metadata.NamespaceProperty + "/" + metadata.Name;

    public static string Key(string? ns, string name) => string.IsNullOrEmpty(ns) ? name : ns + "/" + name;

    /// <summary>
    /// Records an object the controller itself just wrote, so the next pass does not act on a stale copy — unless the
    /// watch has already delivered a later version of it (or its later deletion): then the watch's copy stands.
    /// Without comparable resourceVersions the written copy is recorded as before.
    /// </summary>
    public void Upsert(T written)
    {
        string key = Key(written.Metadata);
        string? version = written.Metadata.ResourceVersion;
        lock (_gate)
        {
            if (_items.TryGetValue(key, out T? cached))
            {
                if (CompareVersions(cached.Metadata.ResourceVersion, version) >= 0)
                {
                    return;
                }
            }
            else if (_tombstones.TryGetValue(key, out string? deleted) && CompareVersions(deleted, version) > 0)
            {
                return;
            }

            _items[key] = written;
        }
    }

    /// <summary>
    /// Forgets an object the controller itself just deleted at <paramref name="deletedVersion"/>, unless the watch has
    /// already delivered a later object under that key (it was created again meanwhile).
    /// </summary>
    public void Remove(string key, string? deletedVersion)
    {
        lock (_gate)
        {
            if (_items.TryGetValue(key, out T? cached) && CompareVersions(cached.Metadata.ResourceVersion, deletedVersion) > 0)
            {
                return;
            }

            _items.TryRemove(key, out _);
        }
    }

    /// <summary>
    /// Orders two resourceVersions as Kubernetes 1.35 defines them for objects of one resource (KEP-5504, "comparable
    /// resource versions"): decimal integers without leading zeros, the longer one newer, equal lengths compared digit
    /// by digit. Answers null when either is not of that form (an older or aggregated server): the caller then does
    /// what it did before versions were comparable.
    /// </summary>
    public static int? CompareVersions(string? a, string? b)
    {
        if (!IsComparable(a) || !IsComparable(b))
        {
            return null;
        }

        if (a!.Length != b!.Length)
        {
            return a.Length < b.Length ? -1 : 1;
        }

        return Math.Sign(string.CompareOrdinal(a, b));
    }

    private static bool IsComparable(string? version)
    {
        if (string.IsNullOrEmpty(version) || version[0] == '0')
        {
            return false;
        }

        foreach (char c in version)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Stores a listed or watched object unless the cache already holds a newer version (an own write).</summary>
    private void Store(string key, T item)
    {
        lock (_gate)
        {
            if (_items.TryGetValue(key, out T? cached) && CompareVersions(cached.Metadata.ResourceVersion, item.Metadata.ResourceVersion) > 0)
            {
                return;
            }

            _items[key] = item;
            _tombstones.Remove(key);
        }
    }

    /// <summary>Applies a watched deletion unless the cache holds a newer object under that key (an own create after it).</summary>
    private void Delete(string key, string? version)
    {
        lock (_gate)
        {
            if (_items.TryGetValue(key, out T? cached) && CompareVersions(cached.Metadata.ResourceVersion, version) > 0)
            {
                return;
            }

            _items.TryRemove(key, out _);
            if (_tombstones.Count >= MaxTombstones)
            {
                _tombstones.Clear();
            }

            if (version is not null)
            {
                _tombstones[key] = version;
            }
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        // Backoff between failed attempts uses the retry clock (the real one in production) on purpose: it paces
        // network retries, it is not a certificate or lease decision (those use the injected TimeProvider).
        var backoff = TimeSpan.FromMilliseconds(100);
        bool mustList = true;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (mustList)
                {
                    await ListAsync(cancellationToken).ConfigureAwait(false);
                    mustList = false;
                }

                long started = _retryClock.GetTimestamp();
                (WatchEnd end, bool sawEvent) = await WatchAsync(cancellationToken).ConfigureAwait(false);
                if (end == WatchEnd.Gone)
                {
                    backoff = TimeSpan.FromMilliseconds(100);
                    _metrics.RecordRelisted(_resource);
                    LogRelist(_logger, ControllerMetrics.Label(_resource), ResourceVersion);
                    mustList = true;
                    continue;
                }

                _metrics.RecordResumed(_resource);
                TimeSpan lasted = _retryClock.GetElapsedTime(started);
                if (sawEvent || lasted >= MinimumQuietWatch)
                {
                    backoff = TimeSpan.FromMilliseconds(100);
                    continue;
                }

                // Ended at once without a single event (a server shutting down, a proxy closing every stream): a
                // failure like any other, retried with backoff rather than in a loop as fast as the server answers.
                LogWatchEndedAtOnce(_logger, ControllerMetrics.Label(_resource), ResourceVersion, lasted.TotalMilliseconds, backoff.TotalMilliseconds);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (HttpOperationException e) when (e.Response?.StatusCode == HttpStatusCode.Gone)
            {
                _metrics.RecordRelisted(_resource);
                LogRelist(_logger, ControllerMetrics.Label(_resource), ResourceVersion);
                mustList = true;
                continue;
            }
            catch (Exception e)
            {
                // Anything else, expected (the network, the server, a bad payload) or not (a client library exception,
                // a FormatException from a malformed field, a cancellation that is not ours), is a failed attempt: the
                // cache keeps what it has and retries with backoff, for as long as the controller runs.
                if (!mustList)
                {
                    _metrics.RecordResumed(_resource);
                }

                if (e is HttpOperationException or HttpRequestException or IOException or JsonException or OperationCanceledException)
                {
                    LogWatchFailed(_logger, ControllerMetrics.Label(_resource), ResourceVersion, ApiErrors.Describe(e), backoff.TotalMilliseconds);
                }
                else
                {
                    LogWatchFailedUnexpectedly(_logger, ControllerMetrics.Label(_resource), ResourceVersion, backoff.TotalMilliseconds, e);
                }
            }

            try
            {
                await Task.Delay(backoff, _retryClock, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }

    private async Task ListAsync(CancellationToken cancellationToken)
    {
        (IList<T> items, string resourceVersion) = await _list(cancellationToken).ConfigureAwait(false);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (T item in items)
        {
            string key = Key(item.Metadata);
            seen.Add(key);
            Store(key, item);
        }

        lock (_gate)
        {
            foreach ((string key, T cached) in _items)
            {
                // Not listed: gone, unless it is an own write newer than the list.
                if (!seen.Contains(key) && CompareVersions(cached.Metadata.ResourceVersion, resourceVersion) is not > 0)
                {
                    _items.TryRemove(key, out _);
                }
            }

            _tombstones.Clear();
        }

        ResourceVersion = resourceVersion;
        _synced.TrySetResult();
        _changed();
    }

    private enum WatchEnd
    {
        Closed,
        Gone,
    }

    /// <summary>One watch until it ends; says how, and whether it delivered any event (a bookmark included).</summary>
    private async Task<(WatchEnd End, bool SawEvent)> WatchAsync(CancellationToken cancellationToken)
    {
        TimeSpan deadline = _watchTimeout + WatchGrace;
        using var dead = new CancellationTokenSource(deadline, _retryClock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, dead.Token);
        try
        {
            return await ReadWatchAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (dead.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"the watch was still open {deadline.TotalSeconds} s after it started, past its timeout: its connection is presumed dead");
        }
    }

    private async Task<(WatchEnd End, bool SawEvent)> ReadWatchAsync(CancellationToken cancellationToken)
    {
        bool sawEvent = false;
        char separator = _watchPath.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        string uri = $"{_watchPath}{separator}watch=true&allowWatchBookmarks=true&resourceVersion={Uri.EscapeDataString(ResourceVersion)}&timeoutSeconds={(int)_watchTimeout.TotalSeconds}";
        using HttpResponseMessage response = await _client.GetStreamingAsync(uri, cancellationToken).ConfigureAwait(false);
        using Stream stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            using JsonDocument doc = JsonDocument.Parse(line);
            JsonElement root = doc.RootElement;
            string type = root.GetProperty("type").GetString() ?? "";
            JsonElement obj = root.GetProperty("object");
            sawEvent |= type is "ADDED" or "MODIFIED" or "DELETED" or "BOOKMARK";
            switch (type)
            {
                case "ADDED":
                case "MODIFIED":
                {
                    T item = KubernetesJson.Deserialize<T>(obj);
                    Store(Key(item.Metadata), item);
                    ResourceVersion = item.Metadata.ResourceVersion;
                    _changed();
                    break;
                }

                case "DELETED":
                {
                    T item = KubernetesJson.Deserialize<T>(obj);
                    Delete(Key(item.Metadata), item.Metadata.ResourceVersion);
                    ResourceVersion = item.Metadata.ResourceVersion;
                    _changed();
                    break;
                }

                case "BOOKMARK":
                    if (obj.TryGetProperty("metadata", out JsonElement metadata) && metadata.TryGetProperty("resourceVersion", out JsonElement rv))
                    {
                        ResourceVersion = rv.GetString() ?? ResourceVersion;
                    }

                    break;

                case "ERROR":
                {
                    int code = obj.TryGetProperty("code", out JsonElement c) && c.TryGetInt32(out int v) ? v : 0;
                    string message = obj.TryGetProperty("message", out JsonElement m) ? m.GetString() ?? "" : "";
                    if (code == (int)HttpStatusCode.Gone)
                    {
                        return (WatchEnd.Gone, sawEvent);
                    }

                    throw new IOException($"watch error {code}: {message}");
                }
            }
        }

        return (WatchEnd.Closed, sawEvent);
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "Watch of {Resource} expired (410 Gone at resourceVersion {ResourceVersion}): relisting")]
    private static partial void LogRelist(ILogger logger, string resource, string resourceVersion);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "Watch of {Resource} ended after {LastedMs} ms without an event at resourceVersion {ResourceVersion}; retrying in {DelayMs} ms")]
    private static partial void LogWatchEndedAtOnce(ILogger logger, string resource, string resourceVersion, double lastedMs, double delayMs);

    [LoggerMessage(EventId = 23, Level = LogLevel.Error, Message = "List or watch of {Resource} failed unexpectedly at resourceVersion {ResourceVersion}; retrying in {DelayMs} ms")]
    private static partial void LogWatchFailedUnexpectedly(ILogger logger, string resource, string resourceVersion, double delayMs, Exception exception);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "List or watch of {Resource} failed at resourceVersion {ResourceVersion}: {Error}; retrying in {DelayMs} ms")]
    private static partial void LogWatchFailed(ILogger logger, string resource, string resourceVersion, string error, double delayMs);
}
