using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Tests.Controller;

/// <summary>One request the fake API server answered.</summary>
internal sealed record ApiRequest(string Client, string Method, string Resource, string? Namespace, string? Name, bool Watch, string? ResourceVersion, int Status);

/// <summary>
/// An in-process Kubernetes API server for the controller's tests: Kestrel on 127.0.0.1 with the real REST paths and
/// JSON of core/v1 (namespaces, serviceaccounts, secrets, events) and coordination.k8s.io/v1 (leases). Lists carry
/// the collection resourceVersion; watches (<c>?watch=true</c>) stream newline-delimited events from a resourceVersion
/// with label and field selectors (an object leaving a label selector arrives as DELETED), BOOKMARKs on demand, and
/// an ERROR event with 410 Gone when the version was compacted; creates answer 409 AlreadyExists, updates 409 Conflict
/// on a stale resourceVersion (and 422 Invalid when they change a Secret's immutable type), deletes honour preconditions. Tests drive it through KubernetesClient and steer it with
/// <see cref="BreakWatches"/>, <see cref="Compact"/>, <see cref="SendBookmarks"/>, <see cref="BeforeWrite"/>,
/// <see cref="AfterWrite"/> and <see cref="Partition"/>.
/// </summary>
internal sealed class FakeApiServer : IAsyncDisposable
{
    /// <summary>Header naming the calling test client (added by <see cref="ClientHeaderHandler"/>).</summary>
    public const string ClientHeader = "X-Test-Client";

    private readonly object _lock = new();
    private readonly Dictionary<string, SortedDictionary<string, JsonObject>> _store = new(StringComparer.Ordinal);
    private readonly List<Change> _history = [];
    private readonly List<Watch> _watches = [];
    private readonly List<ApiRequest> _requests = [];
    private readonly HashSet<string> _partitioned = new(StringComparer.Ordinal);
    private WebApplication? _app;
    private long _resourceVersion = 1000;
    private long _compactedThrough;
    private TaskCompletionSource _pulse = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed record Change(long ResourceVersion, string Resource, string Type, JsonObject Object, JsonObject? Previous);

    private sealed class Watch
    {
        public required string Resource { get; init; }
        public string? Namespace { get; init; }
        public required Dictionary<string, string> Labels { get; init; }
        public required Dictionary<string, string> Fields { get; init; }
        public bool Bookmarks { get; init; }
        public required string Client { get; init; }
        public required System.Threading.Channels.Channel<string> Lines { get; init; }
        public required HttpContext Context { get; init; }
    }

    /// <summary>Called before a create, update or delete is applied (method, resource, namespace, name); tests use it to race the controller.</summary>
    public Func<string, string, string?, string?, Task>? BeforeWrite { get; set; }

    /// <summary>
    /// Called after a create, update or delete was applied and before it is answered (method, resource, namespace,
    /// name, status); tests use it to let other changes and their watch events overtake the writer's answer.
    /// </summary>
    public Func<string, string, string?, string?, int, Task>? AfterWrite { get; set; }

    /// <summary>
    /// Consulted for every request (method, resource, namespace, name; a create's name is the body's) before it is
    /// handled: a status code answers it with that code and a Status object as the real API server sends one (a 5xx,
    /// a 403, a 409 …), null handles it as usual.
    /// </summary>
    public Func<string, string, string?, string?, int?>? Intercept { get; set; }

    /// <summary>The Retry-After (header, and the Status's details.retryAfterSeconds) of an intercepted 429, as API Priority and Fairness sends it.</summary>
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>
    /// When set, a new watch sends what it has to send from its resourceVersion and then ends at once with a clean
    /// end of the response (a server or proxy that closes every watch straight away).
    /// </summary>
    public bool EndWatchesAtOnce { get; set; }

    /// <summary>
    /// When set, a new watch answers its headers and then nothing, ever, not even its end at timeoutSeconds: the
    /// connection went silent (a NAT or load balancer dropped it without a reset) and only the client can notice.
    /// </summary>
    public bool SilenceNewWatches { get; set; }

    public Uri Uri { get; private set; } = null!;

    public static async Task<FakeApiServer> StartAsync()
    {
        var server = new FakeApiServer();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        WebApplication app = builder.Build();
        app.Run(server.HandleAsync);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.Uri = new Uri(address);
        server._app = app;
        return server;
    }

    public long CurrentResourceVersion
    {
        get
        {
            lock (_lock)
            {
                return _resourceVersion;
            }
        }
    }

    public IReadOnlyList<ApiRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Requests from <paramref name="client"/> are answered 503 until healed (a network partition).</summary>
    public void Partition(string client, bool partitioned = true)
    {
        lock (_lock)
        {
            if (partitioned)
            {
                _partitioned.Add(client);
            }
            else
            {
                _partitioned.Remove(client);
            }
        }

        if (partitioned)
        {
            foreach (Watch watch in Snapshot())
            {
                if (watch.Client == client)
                {
                    Abort(watch);
                }
            }
        }
    }

    // ---- direct store access for test setup and assertions (as kubectl would do) ----

    public JsonObject Create(string resource, string? ns, JsonObject obj)
    {
        lock (_lock)
        {
            return CreateLocked(resource, ns, obj) ?? throw new InvalidOperationException($"{resource} {ns}/{obj["metadata"]?["name"]} exists");
        }
    }

    public JsonObject? Get(string resource, string? ns, string name)
    {
        lock (_lock)
        {
            return Objects(resource).TryGetValue(Key(ns, name), out JsonObject? o) ? (JsonObject)o.DeepClone() : null;
        }
    }

    public List<JsonObject> List(string resource)
    {
        lock (_lock)
        {
            return [.. Objects(resource).Values.Select(o => (JsonObject)o.DeepClone())];
        }
    }

    /// <summary>Changes an object in place (a new resourceVersion, a MODIFIED event), as another writer would.</summary>
    public JsonObject Mutate(string resource, string? ns, string name, Action<JsonObject> change)
    {
        lock (_lock)
        {
            JsonObject current = Objects(resource)[Key(ns, name)];
            var updated = (JsonObject)current.DeepClone();
            change(updated);
            return StoreLocked(resource, ns, updated, current, "MODIFIED");
        }
    }

    public void Delete(string resource, string? ns, string name)
    {
        lock (_lock)
        {
            DeleteLocked(resource, ns, name);
        }
    }

    public JsonObject AddNamespace(string name, bool optedIn) =>
        Create("namespaces", null, new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Namespace",
            ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = optedIn ? new JsonObject { ["belizemesh-injection"] = "enabled" } : new JsonObject() },
        });

    public JsonObject AddServiceAccount(string ns, string name) =>
        Create("serviceaccounts", ns, new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "ServiceAccount",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
        });

    public JsonObject AddSecret(string ns, string name, Dictionary<string, string> data, Dictionary<string, string>? labels = null, string type = "Opaque")
    {
        var dataNode = new JsonObject();
        foreach (var pair in data)
        {
            dataNode[pair.Key] = Convert.ToBase64String(Encoding.UTF8.GetBytes(pair.Value));
        }

        var labelNode = new JsonObject();
        foreach (var pair in labels ?? [])
        {
            labelNode[pair.Key] = pair.Value;
        }

        return Create("secrets", ns, new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns, ["labels"] = labelNode },
            ["type"] = type,
            ["data"] = dataNode,
        });
    }

    /// <summary>Forgets the history up to now: a watch resuming from an older resourceVersion gets 410 Gone.</summary>
    public void Compact() => Compact(CurrentResourceVersion);

    /// <summary>Forgets the history up to <paramref name="through"/> (etcd compaction at a revision).</summary>
    public void Compact(long through)
    {
        lock (_lock)
        {
            _compactedThrough = through;
            _history.RemoveAll(c => c.ResourceVersion <= through);
        }
    }

    /// <summary>Drops every open watch connection, or those of <paramref name="resource"/> (the TCP connection is aborted mid-stream).</summary>
    public void BreakWatches(string? resource = null)
    {
        foreach (Watch watch in Snapshot())
        {
            if (resource is null || watch.Resource == resource)
            {
                Abort(watch);
            }
        }
    }

    /// <summary>Ends every open watch normally, as the server does when a watch's timeoutSeconds has passed.</summary>
    public void EndWatches()
    {
        foreach (Watch watch in Snapshot())
        {
            watch.Lines.Writer.TryComplete();
        }
    }

    private static void Abort(Watch watch)
    {
        try
        {
            watch.Context.Abort();
        }
        catch (ObjectDisposedException)
        {
            // the request ended between the snapshot and now
        }
    }

    /// <summary>Sends a BOOKMARK with the current resourceVersion to every watch that allowed bookmarks; returns that version.</summary>
    public long SendBookmarks()
    {
        lock (_lock)
        {
            long sent = _resourceVersion;
            foreach (Watch watch in _watches)
            {
                if (watch.Bookmarks)
                {
                    var bookmark = new JsonObject
                    {
                        ["type"] = "BOOKMARK",
                        ["object"] = new JsonObject { ["kind"] = KindOf(watch.Resource), ["apiVersion"] = ApiVersionOf(watch.Resource), ["metadata"] = new JsonObject { ["resourceVersion"] = Rv(_resourceVersion) } },
                    };
                    watch.Lines.Writer.TryWrite(bookmark.ToJsonString());
                }
            }

            return sent;
        }
    }

    public int OpenWatches(string resource)
    {
        lock (_lock)
        {
            return _watches.Count(w => w.Resource == resource);
        }
    }

    /// <summary>Completes at the next request or change.</summary>
    public Task NextChangeAsync()
    {
        lock (_lock)
        {
            return _pulse.Task;
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, re-checking after every request and change (no polling delay).</summary>
    public async Task WaitForAsync(Func<bool> condition, string what, int timeoutSeconds = 30)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        while (true)
        {
            Task pulse;
            lock (_lock)
            {
                pulse = _pulse.Task;
            }

            if (condition())
            {
                return;
            }

            try
            {
                // The condition may depend on client-side state that changes after the last request: re-check at
                // least every 50 ms as well.
                await Task.WhenAny(pulse, Task.Delay(50, timeout.Token)).WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"timed out after {timeoutSeconds} s waiting for: {what}");
            }
        }
    }

    private void Pulse()
    {
        TaskCompletionSource old;
        lock (_lock)
        {
            old = _pulse;
            _pulse = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        old.TrySetResult();
    }

    private List<Watch> Snapshot()
    {
        lock (_lock)
        {
            return [.. _watches];
        }
    }

    // ---- HTTP ----

    private async Task HandleAsync(HttpContext context)
    {
        string client = context.Request.Headers[ClientHeader].ToString();
        bool partitioned;
        lock (_lock)
        {
            partitioned = _partitioned.Contains(client);
        }

        if (partitioned)
        {
            context.Response.StatusCode = 503;
            return;
        }

        string[] segments = (context.Request.Path.Value ?? "").Trim('/').Split('/');
        if (!TryRoute(segments, out string resource, out string? ns, out string? name))
        {
            await StatusAsync(context, 404, "NotFound", $"the server could not find the requested resource {context.Request.Path}");
            return;
        }

        IQueryCollection query = context.Request.Query;
        bool watch = query["watch"] == "true" || query["watch"] == "1";
        string? rv = query.ContainsKey("resourceVersion") ? query["resourceVersion"].ToString() : null;
        int status = 200;
        try
        {
            string method = context.Request.Method;
            if (method == "GET" && name is null && watch)
            {
                if (Intercept?.Invoke(method, resource, ns, null) is { } refused)
                {
                    Record(new ApiRequest(client, method, resource, ns, name, true, rv, refused));
                    await StatusAsync(context, refused, ReasonOf(refused), $"injected by the test: {refused}");
                    return;
                }

                Record(new ApiRequest(client, method, resource, ns, name, true, rv, 200));
                await WatchAsync(context, resource, ns, query);
                return;
            }

            JsonObject? body = null;
            if (method is "POST" or "PUT" or "DELETE" && context.Request.ContentLength != 0)
            {
                using var reader = new StreamReader(context.Request.Body);
                string text = await reader.ReadToEndAsync();
                if (text.Length > 0)
                {
                    body = JsonNode.Parse(text) as JsonObject;
                }
            }

            if (Intercept?.Invoke(method, resource, ns, name ?? body?["metadata"]?["name"]?.GetValue<string>()) is { } injected)
            {
                status = injected;
                if (injected == 429)
                {
                    await TooManyRequestsAsync(context, RetryAfterSeconds);
                    return;
                }

                await StatusAsync(context, injected, ReasonOf(injected), $"injected by the test: {injected}");
                return;
            }

            if (method is "POST" or "PUT" or "DELETE" && BeforeWrite is { } hook)
            {
                await hook(method, resource, ns, name ?? body?["metadata"]?["name"]?.GetValue<string>());
            }

            (status, JsonNode answer) = method switch
            {
                "GET" when name is null => (200, ListLocked(resource, ns, query)),
                "GET" => GetOne(resource, ns, name),
                "POST" when name is null && body is not null => CreateRequest(resource, ns, body),
                "PUT" when name is not null && body is not null => Replace(resource, ns, name, body),
                "DELETE" when name is not null => DeleteRequest(resource, ns, name, body),
                _ => (405, StatusObject(405, "MethodNotAllowed", $"{method} is not supported here")),
            };
            if (method is "POST" or "PUT" or "DELETE" && AfterWrite is { } after)
            {
                await after(method, resource, ns, name ?? body?["metadata"]?["name"]?.GetValue<string>(), status);
            }

            context.Response.StatusCode = status;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(answer.ToJsonString());
        }
        finally
        {
            if (!watch)
            {
                Record(new ApiRequest(client, context.Request.Method, resource, ns, name, false, rv, status));
            }
        }
    }

    private void Record(ApiRequest request)
    {
        lock (_lock)
        {
            _requests.Add(request);
        }

        Pulse();
    }

    /// <summary>/api/v1/{r}, /api/v1/namespaces/{ns}/{r}[/{name}], /api/v1/namespaces/{name}, /apis/{g}/{v}/… alike.</summary>
    private static bool TryRoute(string[] s, out string resource, out string? ns, out string? name)
    {
        resource = "";
        ns = name = null;
        int start = s.Length >= 2 && s[0] == "api" && s[1] == "v1" ? 2 : s.Length >= 3 && s[0] == "apis" ? 3 : -1;
        if (start < 0)
        {
            return false;
        }

        string[] rest = s[start..];
        switch (rest.Length)
        {
            case 1:
                resource = rest[0];
                return true;
            case 2 when rest[0] == "namespaces":
                resource = "namespaces";
                name = rest[1];
                return true;
            case 3 when rest[0] == "namespaces":
                ns = rest[1];
                resource = rest[2];
                return true;
            case 4 when rest[0] == "namespaces":
                ns = rest[1];
                resource = rest[2];
                name = rest[3];
                return true;
            default:
                return false;
        }
    }

    private JsonObject ListLocked(string resource, string? ns, IQueryCollection query)
    {
        Dictionary<string, string> labels = ParseSelector(query["labelSelector"]);
        Dictionary<string, string> fields = ParseSelector(query["fieldSelector"]);
        lock (_lock)
        {
            var items = new JsonArray();
            foreach (JsonObject o in Objects(resource).Values)
            {
                if (Matches(o, ns, labels, fields))
                {
                    items.Add(o.DeepClone());
                }
            }

            return new JsonObject
            {
                ["apiVersion"] = ApiVersionOf(resource),
                ["kind"] = KindOf(resource) + "List",
                ["metadata"] = new JsonObject { ["resourceVersion"] = Rv(_resourceVersion) },
                ["items"] = items,
            };
        }
    }

    private (int, JsonNode) GetOne(string resource, string? ns, string name)
    {
        JsonObject? o = Get(resource, ns, name);
        return o is null ? (404, StatusObject(404, "NotFound", $"{resource} \"{name}\" not found")) : (200, o);
    }

    private (int, JsonNode) CreateRequest(string resource, string? ns, JsonObject body)
    {
        lock (_lock)
        {
            JsonObject? created = CreateLocked(resource, ns, body);
            string name = body["metadata"]?["name"]?.GetValue<string>() ?? "";
            return created is null ? (409, StatusObject(409, "AlreadyExists", $"{resource} \"{name}\" already exists")) : (201, created.DeepClone());
        }
    }

    private (int, JsonNode) Replace(string resource, string? ns, string name, JsonObject body)
    {
        lock (_lock)
        {
            if (!Objects(resource).TryGetValue(Key(ns, name), out JsonObject? current))
            {
                return (404, StatusObject(404, "NotFound", $"{resource} \"{name}\" not found"));
            }

            string? sent = body["metadata"]?["resourceVersion"]?.GetValue<string>();
            string stored = current["metadata"]!["resourceVersion"]!.GetValue<string>();
            if (sent is null || sent != stored)
            {
                return (409, StatusObject(409, "Conflict", $"Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"));
            }

            // A Secret's type is immutable: the real API server refuses to change it with 422 Invalid.
            string typeNow = current["type"]?.GetValue<string>() ?? "Opaque";
            string typeSent = body["type"]?.GetValue<string>() ?? "Opaque";
            if (resource == "secrets" && typeSent != typeNow)
            {
                var invalid = StatusObject(422, "Invalid", $"Secret \"{name}\" is invalid: type: Invalid value: \"{typeSent}\": field is immutable");
                invalid["details"] = new JsonObject { ["name"] = name, ["kind"] = "Secret", ["causes"] = new JsonArray(new JsonObject { ["reason"] = "FieldValueInvalid", ["message"] = $"Invalid value: \"{typeSent}\": field is immutable", ["field"] = "type" }) };
                return (422, invalid);
            }

            body["metadata"]!["uid"] = current["metadata"]!["uid"]!.DeepClone();
            body["metadata"]!["creationTimestamp"] = current["metadata"]!["creationTimestamp"]!.DeepClone();
            return (200, StoreLocked(resource, ns, body, current, "MODIFIED").DeepClone());
        }
    }

    private (int, JsonNode) DeleteRequest(string resource, string? ns, string name, JsonObject? options)
    {
        lock (_lock)
        {
            if (!Objects(resource).TryGetValue(Key(ns, name), out JsonObject? current))
            {
                return (404, StatusObject(404, "NotFound", $"{resource} \"{name}\" not found"));
            }

            if (options?["preconditions"] is JsonObject preconditions)
            {
                string? uid = preconditions["uid"]?.GetValue<string>();
                string? version = preconditions["resourceVersion"]?.GetValue<string>();
                if ((uid is not null && uid != current["metadata"]!["uid"]!.GetValue<string>())
                    || (version is not null && version != current["metadata"]!["resourceVersion"]!.GetValue<string>()))
                {
                    return (409, StatusObject(409, "Conflict", $"Precondition failed for {resource} \"{name}\""));
                }
            }

            DeleteLocked(resource, ns, name);
            var ok = StatusObject(200, "", "");
            ok["status"] = "Success";
            ok["details"] = new JsonObject { ["name"] = name, ["kind"] = resource };
            return (200, ok);
        }
    }

    private async Task WatchAsync(HttpContext context, string resource, string? ns, IQueryCollection query)
    {
        var watch = new Watch
        {
            Resource = resource,
            Namespace = ns,
            Labels = ParseSelector(query["labelSelector"]),
            Fields = ParseSelector(query["fieldSelector"]),
            Bookmarks = query["allowWatchBookmarks"] == "true",
            Client = context.Request.Headers[ClientHeader].ToString(),
            Lines = System.Threading.Channels.Channel.CreateUnbounded<string>(),
            Context = context,
        };
        long from = long.TryParse(query["resourceVersion"], NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : 0;
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        lock (_lock)
        {
            if (from == 0)
            {
                foreach (JsonObject o in Objects(resource).Values)
                {
                    if (Matches(o, ns, watch.Labels, watch.Fields))
                    {
                        watch.Lines.Writer.TryWrite(Event("ADDED", o));
                    }
                }
            }
            else if (from < _compactedThrough)
            {
                watch.Lines.Writer.TryWrite(new JsonObject { ["type"] = "ERROR", ["object"] = StatusObject(410, "Expired", $"too old resource version: {from} ({_compactedThrough})") }.ToJsonString());
                watch.Lines.Writer.TryComplete();
            }
            else
            {
                foreach (Change change in _history)
                {
                    if (change.ResourceVersion > from && change.Resource == resource && Translate(watch, change) is { } line)
                    {
                        watch.Lines.Writer.TryWrite(line);
                    }
                }
            }

            _watches.Add(watch);
            if (EndWatchesAtOnce)
            {
                watch.Lines.Writer.TryComplete();
            }
        }

        Pulse();
        int timeoutSeconds = int.TryParse(query["timeoutSeconds"], out int t) ? t : 300;
        bool silent = SilenceNewWatches;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            await context.Response.StartAsync(timeout.Token);
            if (silent)
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }

            await foreach (string line in watch.Lines.Reader.ReadAllAsync(timeout.Token))
            {
                await context.Response.WriteAsync(line + "\n", timeout.Token);
                await context.Response.Body.FlushAsync(timeout.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
        }
        finally
        {
            lock (_lock)
            {
                _watches.Remove(watch);
            }

            Pulse();
        }
    }

    private static string? Translate(Watch watch, Change change)
    {
        bool now = Matches(change.Object, watch.Namespace, watch.Labels, watch.Fields);
        bool before = change.Previous is not null && Matches(change.Previous, watch.Namespace, watch.Labels, watch.Fields);
        string? type = change.Type switch
        {
            "ADDED" => now ? "ADDED" : null,
            "MODIFIED" => (before, now) switch { (true, true) => "MODIFIED", (false, true) => "ADDED", (true, false) => "DELETED", _ => null },
            "DELETED" => now ? "DELETED" : null,
            _ => null,
        };
        return type is null ? null : Event(type, change.Object);
    }

    private static string Event(string type, JsonObject o) => new JsonObject { ["type"] = type, ["object"] = o.DeepClone() }.ToJsonString();

    // ---- store (callers hold _lock) ----

    private SortedDictionary<string, JsonObject> Objects(string resource)
    {
        if (!_store.TryGetValue(resource, out var objects))
        {
            objects = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
            _store[resource] = objects;
        }

        return objects;
    }

    private JsonObject? CreateLocked(string resource, string? ns, JsonObject obj)
    {
        var metadata = (JsonObject)(obj["metadata"] ??= new JsonObject());
        string name = metadata["name"]!.GetValue<string>();
        if (Objects(resource).ContainsKey(Key(ns, name)))
        {
            return null;
        }

        if (ns is not null)
        {
            metadata["namespace"] = ns;
        }

        metadata["uid"] = Guid.NewGuid().ToString();
        metadata["creationTimestamp"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        return StoreLocked(resource, ns, obj, null, "ADDED");
    }

    private JsonObject StoreLocked(string resource, string? ns, JsonObject obj, JsonObject? previous, string type)
    {
        _resourceVersion++;
        obj["metadata"]!["resourceVersion"] = Rv(_resourceVersion);
        obj["apiVersion"] ??= ApiVersionOf(resource);
        obj["kind"] ??= KindOf(resource);
        Objects(resource)[Key(ns, obj["metadata"]!["name"]!.GetValue<string>())] = obj;
        Publish(new Change(_resourceVersion, resource, type, (JsonObject)obj.DeepClone(), previous));
        return obj;
    }

    private void DeleteLocked(string resource, string? ns, string name)
    {
        if (Objects(resource).Remove(Key(ns, name), out JsonObject? removed))
        {
            _resourceVersion++;
            removed["metadata"]!["resourceVersion"] = Rv(_resourceVersion);
            Publish(new Change(_resourceVersion, resource, "DELETED", removed, removed));
        }
    }

    private void Publish(Change change)
    {
        _history.Add(change);
        foreach (Watch watch in _watches)
        {
            if (watch.Resource == change.Resource && Translate(watch, change) is { } line)
            {
                watch.Lines.Writer.TryWrite(line);
            }
        }

        ThreadPool.QueueUserWorkItem(_ => Pulse());
    }

    private static bool Matches(JsonObject o, string? ns, Dictionary<string, string> labels, Dictionary<string, string> fields)
    {
        JsonNode? metadata = o["metadata"];
        if (ns is not null && metadata?["namespace"]?.GetValue<string>() != ns)
        {
            return false;
        }

        foreach (var (key, value) in labels)
        {
            if (metadata?["labels"]?[key]?.GetValue<string>() != value)
            {
                return false;
            }
        }

        foreach (var (key, value) in fields)
        {
            string? actual = key switch
            {
                "metadata.name" => metadata?["name"]?.GetValue<string>(),
                "metadata.namespace" => metadata?["namespace"]?.GetValue<string>(),
                _ => null,
            };
            if (actual != value)
            {
                return false;
            }
        }

        return true;
    }

    private static Dictionary<string, string> ParseSelector(string? selector)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(selector))
        {
            return result;
        }

        foreach (string term in selector.Split(','))
        {
            string[] kv = term.Split('=', 2);
            result[kv[0].TrimEnd('=')] = kv.Length == 2 ? kv[1].TrimStart('=') : "";
        }

        return result;
    }

    private static string Key(string? ns, string name) => ns is null ? name : ns + "/" + name;

    private static string Rv(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string KindOf(string resource) => resource switch
    {
        "namespaces" => "Namespace",
        "serviceaccounts" => "ServiceAccount",
        "secrets" => "Secret",
        "leases" => "Lease",
        "events" => "Event",
        _ => resource,
    };

    private static string ApiVersionOf(string resource) => resource == "leases" ? "coordination.k8s.io/v1" : "v1";

    private static JsonObject StatusObject(int code, string reason, string message) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = code,
    };

    private static string ReasonOf(int code) => code switch
    {
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    };

    private static async Task TooManyRequestsAsync(HttpContext context, int retryAfterSeconds)
    {
        JsonObject status = StatusObject(429, "TooManyRequests", "Too many requests, please try again later.");
        status["details"] = new JsonObject { ["retryAfterSeconds"] = retryAfterSeconds };
        context.Response.StatusCode = 429;
        context.Response.Headers["Retry-After"] = retryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(status.ToJsonString());
    }

    private static async Task StatusAsync(HttpContext context, int code, string reason, string message)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(StatusObject(code, reason, message).ToJsonString());
    }

    public async ValueTask DisposeAsync()
    {
        BreakWatches();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}

/// <summary>Adds <see cref="FakeApiServer.ClientHeader"/> to every request of one client.</summary>
internal sealed class ClientHeaderHandler(string client) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        request.Headers.TryAddWithoutValidation(FakeApiServer.ClientHeader, client);
        return base.SendAsync(request, cancellationToken);
    }
}
