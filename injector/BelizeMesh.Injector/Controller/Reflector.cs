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
/// </summary>
internal sealed partial class Reflector<T> where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly ConcurrentDictionary<string, T> _items = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ControllerKubernetes _client;
    private readonly WatchedResource _resource;
    private readonly Func<CancellationToken, Task<(IList<T> Items, string ResourceVersion)>> _list;
    private readonly string _watchPath;
    private readonly Action _changed;
    private readonly ControllerMetrics _metrics;
    private readonly TimeSpan _watchTimeout;
    private readonly ILogger _logger;

    /// <summary>A cache whose list is <paramref name="list"/> and whose watch is on <paramref name="watchPath"/> (the collection's
    /// path relative to the API root with its selectors, e.g. <c>api/v1/secrets?labelSelector=…</c>).</summary>
    public Reflector(ControllerKubernetes client, WatchedResource resource, Func<CancellationToken, Task<(IList<T> Items, string ResourceVersion)>> list,
        string watchPath, Action changed, ControllerMetrics metrics, TimeSpan watchTimeout, ILogger logger)
    {
        _client = client;
        _resource = resource;
        _list = list;
        _watchPath = watchPath;
        _changed = changed;
        _metrics = metrics;
        _watchTimeout = watchTimeout;
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

    /// <summary>Records an object the controller itself just wrote, so the next pass does not act on a stale copy.</summary>
    public void Upsert(T item) => _items[Key(item.Metadata)] = item;

    /// <summary>Forgets an object the controller itself just deleted.</summary>
    public void Remove(string key) => _items.TryRemove(key, out _);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        // Backoff between failed attempts uses the real clock on purpose: it paces network retries, it is not a
        // certificate or lease decision (those use the injected TimeProvider).
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

                WatchEnd end = await WatchAsync(cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromMilliseconds(100);
                if (end == WatchEnd.Gone)
                {
                    _metrics.RecordRelisted(_resource);
                    LogRelist(_logger, ControllerMetrics.Label(_resource), ResourceVersion);
                    mustList = true;
                }
                else
                {
                    _metrics.RecordResumed(_resource);
                }

                continue;
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
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or JsonException or OperationCanceledException)
            {
                if (!mustList)
                {
                    _metrics.RecordResumed(_resource);
                }

                LogWatchFailed(_logger, ControllerMetrics.Label(_resource), ResourceVersion, ApiErrors.Describe(e), backoff.TotalMilliseconds);
            }

            try
            {
                await Task.Delay(backoff, TimeProvider.System, cancellationToken).ConfigureAwait(false);
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
            _items[key] = item;
        }

        foreach (string key in _items.Keys)
        {
            if (!seen.Contains(key))
            {
                _items.TryRemove(key, out _);
            }
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

    private async Task<WatchEnd> WatchAsync(CancellationToken cancellationToken)
    {
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
            switch (type)
            {
                case "ADDED":
                case "MODIFIED":
                {
                    T item = KubernetesJson.Deserialize<T>(obj);
                    _items[Key(item.Metadata)] = item;
                    ResourceVersion = item.Metadata.ResourceVersion;
                    _changed();
                    break;
                }

                case "DELETED":
                {
                    T item = KubernetesJson.Deserialize<T>(obj);
                    _items.TryRemove(Key(item.Metadata), out _);
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
                        return WatchEnd.Gone;
                    }

                    throw new IOException($"watch error {code}: {message}");
                }
            }
        }

        return WatchEnd.Closed;
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "Watch of {Resource} expired (410 Gone at resourceVersion {ResourceVersion}): relisting")]
    private static partial void LogRelist(ILogger logger, string resource, string resourceVersion);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "List or watch of {Resource} failed at resourceVersion {ResourceVersion}: {Error}; retrying in {DelayMs} ms")]
    private static partial void LogWatchFailed(ILogger logger, string resource, string resourceVersion, string error, double delayMs);
}
