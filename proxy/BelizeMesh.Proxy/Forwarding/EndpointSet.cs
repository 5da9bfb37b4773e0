using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Metrics;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// One endpoint list of a policy (a route's <c>endpoints</c>) turned into the endpoints a load balancer picks from.
/// An IP literal is one endpoint. A DNS name (a headless Service, <c>&lt;svc&gt;-pq.&lt;ns&gt;.svc…:16443</c>) becomes
/// one endpoint per A/AAAA record, with the entry's port, so balancing, consistent hashing and outlier ejection work per
/// pod; it is re-resolved every <c>dnsRefresh</c> and soon after a connect failure.
/// </summary>
/// <remarks>
/// <para>Endpoints that stay keep their <see cref="EndpointState"/> (ejection, requests in flight) across re-resolutions
/// and policy reloads. An address that leaves is no longer picked; requests already on it finish, and its pooled
/// connections close when idle (the handler's <c>PooledConnectionIdleTimeout</c>). A failed resolution — an error, a
/// timeout or no records — keeps the last good addresses. A name that never resolved is used as it is: the connection
/// handler resolves it per connection (the behaviour before per-pod endpoints), so a DNS outage at start-up degrades
/// to one endpoint instead of failing the route.</para>
/// <para>Why a fixed interval and not the records' TTL: <see cref="Dns"/> (getaddrinfo) does not report TTLs, and a
/// resolver of our own would bypass the pod's <c>resolv.conf</c> search path and <c>/etc/hosts</c>. Kubernetes DNS
/// answers headless Services with a TTL of 5 s (CoreDNS's default), and Envoy's STRICT_DNS re-resolves every 5 s by
/// default; <c>dnsRefresh</c> defaults to the same.</para>
/// </remarks>
internal sealed partial class EndpointSet : IDisposable
{
    /// <summary>A connect failure re-resolves at once, but not more often than this.</summary>
    internal static readonly TimeSpan MinRefreshAfterFailure = TimeSpan.FromSeconds(1);

    /// <summary>How long one resolution may take before it counts as failed.</summary>
    internal static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(10);

    // SemaphoreSlim waits at most int.MaxValue ms; a longer dnsRefresh (durations go up to years) re-resolves daily.
    private static readonly TimeSpan s_longestWait = TimeSpan.FromDays(1);

    private readonly IReadOnlyList<EndpointAddress> _entries;
    private readonly string[] _names;
    private readonly IEndpointResolver _resolver;
    private readonly TimeProvider _time;
    private readonly ProxyMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly Lock _sync = new();
    private readonly SemaphoreSlim _refreshGate = new(1, 1);
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<string, IPAddress[]> _lastGood = new(StringComparer.Ordinal);
    private readonly HashSet<string> _failing = new(StringComparer.Ordinal);
    private Dictionary<string, EndpointState> _states = new(StringComparer.Ordinal);
    private volatile EndpointState[] _current = [];
    private long _lastResolved;
    private int _wakePending;

    public EndpointSet(string id, IReadOnlyList<EndpointAddress> entries, TimeSpan refresh, IEndpointResolver resolver, TimeProvider time,
        ProxyMetrics? metrics, ILogger logger, EndpointSet? previous = null)
    {
        Id = id;
        _entries = entries;
        Refresh = refresh;
        _resolver = resolver;
        _time = time;
        _metrics = metrics;
        _logger = logger;

        var names = new List<string>();
        foreach (EndpointAddress entry in entries)
        {
            if (!IPAddress.TryParse(entry.Host, out _) && !names.Contains(entry.Host))
            {
                names.Add(entry.Host);
            }
        }

        _names = [.. names];

        // A reload that changes the list keeps what the previous list knew: endpoint states and resolved names.
        if (previous is not null)
        {
            lock (previous._sync)
            {
                _states = new Dictionary<string, EndpointState>(previous._states, StringComparer.Ordinal);
                foreach (string name in _names)
                {
                    if (previous._lastGood.TryGetValue(name, out IPAddress[]? addresses))
                    {
                        _lastGood[name] = addresses;
                    }
                }
            }
        }

        Publish(log: false);
        if (_names.Length == 0 || _lastGood.Count == _names.Length)
        {
            _ready.TrySetResult();
        }

        if (_names.Length > 0)
        {
            _ = Task.Run(RunAsync);
        }
    }

    /// <summary>The owner's id (a route id): metric label and log field.</summary>
    public string Id { get; }

    /// <summary>The re-resolution interval.</summary>
    public TimeSpan Refresh { get; }

    /// <summary>True when an entry is a DNS name (the set changes over time).</summary>
    public bool IsDynamic => _names.Length > 0;

    /// <summary>The endpoints to pick from now; never empty. Read once per pick.</summary>
    public EndpointState[] Current => _current;

    /// <summary>Completes once every name had its first resolution attempt (at once for a list of IP literals).</summary>
    public Task Ready => _ready.Task;

    /// <summary>A set of fixed endpoints, never resolved by the sidecar (the inbound app).</summary>
    public static EndpointSet Fixed(string id, EndpointState state) => new(id, state);

    private EndpointSet(string id, EndpointState state)
    {
        Id = id;
        _entries = [state.Address];
        _names = [];
        _resolver = SystemEndpointResolver.Instance;
        _time = TimeProvider.System;
        _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _current = [state];
        _ready.TrySetResult();
    }

    /// <summary>Whether this set was built from the same list and interval (a reload that keeps them keeps the set).</summary>
    public bool Matches(IReadOnlyList<EndpointAddress> entries, TimeSpan refresh)
    {
        if (refresh != Refresh || entries.Count != _entries.Count)
        {
            return false;
        }

        for (int i = 0; i < entries.Count; i++)
        {
            if (!entries[i].Equals(_entries[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A connect failure on one of the endpoints: re-resolve now (pods may have moved), at most once a second.</summary>
    public void RefreshSoon()
    {
        if (_names.Length == 0 || _time.GetElapsedTime(Volatile.Read(ref _lastResolved)) < MinRefreshAfterFailure)
        {
            return;
        }

        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            _wake.Release();
        }
    }

    private async Task RunAsync()
    {
        CancellationToken stop = _stop.Token;
        try
        {
            while (true)
            {
                try
                {
                    await RefreshAsync(stop).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // never let one bad round end re-resolution for the sidecar's lifetime
                    Log.RefreshFailed(_logger, Id, ex);
                }

                if (await _wake.WaitAsync(Refresh < s_longestWait ? Refresh : s_longestWait, stop).ConfigureAwait(false))
                {
                    // Only a consumed wake-up clears the flag, so the semaphore's single slot can never be released twice.
                    Volatile.Write(ref _wakePending, 0);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>Resolves every name once and publishes the new endpoints if an answer changed (tests call it directly).</summary>
    internal async Task RefreshAsync(CancellationToken cancellationToken)
    {
        await _refreshGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            bool changed = false;
            foreach (string name in _names)
            {
                (IPAddress[]? addresses, string? problem) = await ResolveAsync(name, cancellationToken).ConfigureAwait(false);
                _metrics?.DnsResolved(Id, problem is null);
                if (problem is not null)
                {
                    int known;
                    lock (_sync)
                    {
                        known = _lastGood.TryGetValue(name, out IPAddress[]? last) ? last.Length : 0;
                    }

                    if (_failing.Add(name))
                    {
                        Log.ResolutionFailed(_logger, Id, name, problem, known);
                    }
                    else
                    {
                        Log.ResolutionStillFailing(_logger, Id, name, problem, known);
                    }

                    continue;
                }

                if (_failing.Remove(name))
                {
                    Log.ResolutionRecovered(_logger, Id, name, addresses!.Length);
                }

                lock (_sync)
                {
                    if (!_lastGood.TryGetValue(name, out IPAddress[]? last) || !SameAddresses(last, addresses!))
                    {
                        _lastGood[name] = addresses!;
                        changed = true;
                    }
                }
            }

            if (changed)
            {
                Publish(log: true);
            }

            Volatile.Write(ref _lastResolved, _time.GetTimestamp());
        }
        finally
        {
            _refreshGate.Release();
            _ready.TrySetResult();
        }
    }

    private async Task<(IPAddress[]? Addresses, string? Problem)> ResolveAsync(string name, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ResolveTimeout);
        IPAddress[] answer;
        try
        {
            answer = await _resolver.ResolveAsync(name, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (null, $"no answer within {ResolveTimeout.TotalSeconds:0}s");
        }
        catch (SocketException ex)
        {
            return (null, $"{ex.SocketErrorCode}: {ex.Message}");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // a name the resolver refuses (ArgumentException), or any other failure: still "keep the last good set"
            return (null, $"{ex.GetType().Name}: {ex.Message}");
        }

        // Usable addresses only, in a fixed order (round robin then visits pods in the same order at every sidecar).
        var usable = new List<IPAddress>(answer.Length);
        foreach (IPAddress address in answer)
        {
            IPAddress plain = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
            // a scoped (link-local) IPv6 address cannot be written into a URL without its zone; pods never need one
            bool usableFamily = plain.AddressFamily == AddressFamily.InterNetwork || (plain.AddressFamily == AddressFamily.InterNetworkV6 && plain.ScopeId == 0);
            if (usableFamily && !usable.Contains(plain))
            {
                usable.Add(plain);
            }
        }

        if (usable.Count == 0)
        {
            return (null, "no A or AAAA records");
        }

        usable.Sort(static (a, b) => a.AddressFamily != b.AddressFamily
            ? a.AddressFamily.CompareTo(b.AddressFamily)
            : a.GetAddressBytes().AsSpan().SequenceCompareTo(b.GetAddressBytes()));
        return ([.. usable], null);
    }

    private static bool SameAddresses(IPAddress[] a, IPAddress[] b)
    {
        if (a.Length != b.Length)
        {
            return false;
        }

        for (int i = 0; i < a.Length; i++)
        {
            if (!a[i].Equals(b[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Builds <see cref="Current"/> from the entries and the last good answers, reusing the states of endpoints that stay.</summary>
    private void Publish(bool log)
    {
        lock (_sync)
        {
            var next = new Dictionary<string, EndpointState>(StringComparer.Ordinal);
            var list = new List<EndpointState>();
            foreach (EndpointAddress entry in _entries)
            {
                if (_lastGood.TryGetValue(entry.Host, out IPAddress[]? addresses))
                {
                    foreach (IPAddress address in addresses)
                    {
                        Add(new EndpointAddress(address.ToString(), entry.Port));
                    }
                }
                else
                {
                    Add(entry); // an IP literal, or a name not resolved yet (the connection resolves it)
                }
            }

            if (log)
            {
                List<string> added = [], removed = [];
                foreach (string key in next.Keys)
                {
                    if (!_states.ContainsKey(key))
                    {
                        added.Add(key);
                    }
                }

                foreach (string key in _states.Keys)
                {
                    if (!next.ContainsKey(key))
                    {
                        removed.Add(key);
                    }
                }

                Log.EndpointsChanged(_logger, Id, list.Count, added.Count == 0 ? "none" : string.Join(", ", added), removed.Count == 0 ? "none" : string.Join(", ", removed));
            }

            _states = next;
            _current = [.. list];

            void Add(EndpointAddress address)
            {
                string key = address.ToString();
                if (!next.ContainsKey(key))
                {
                    EndpointState state = _states.TryGetValue(key, out EndpointState? kept) ? kept : new EndpointState(address, _time);
                    next[key] = state;
                    list.Add(state);
                }
            }
        }
    }

    /// <summary>Stops re-resolving; <see cref="Current"/> stays usable for requests that still hold the set.</summary>
    public void Dispose()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(110, LogLevel.Information, "Route {Route}: {Count} endpoints now (added: {Added}; removed: {Removed}).", EventName = "EndpointsChanged")]
        public static partial void EndpointsChanged(ILogger logger, string route, int count, string added, string removed);

        [LoggerMessage(111, LogLevel.Warning, "Route {Route}: resolving {Name} failed ({Problem}); keeping the last good {Known} addresses (0 = the name is used as it is). Retrying every refresh interval and after connect failures.", EventName = "DnsResolutionFailed")]
        public static partial void ResolutionFailed(ILogger logger, string route, string name, string problem, int known);

        [LoggerMessage(112, LogLevel.Debug, "Route {Route}: resolving {Name} still fails ({Problem}); keeping {Known} addresses.", EventName = "DnsResolutionStillFailing")]
        public static partial void ResolutionStillFailing(ILogger logger, string route, string name, string problem, int known);

        [LoggerMessage(114, LogLevel.Error, "Route {Route}: re-resolving its endpoints failed unexpectedly; keeping the current endpoints and trying again at the next interval.", EventName = "DnsRefreshFailed")]
        public static partial void RefreshFailed(ILogger logger, string route, Exception exception);

        [LoggerMessage(113, LogLevel.Information, "Route {Route}: {Name} resolves again ({Count} addresses).", EventName = "DnsResolutionRecovered")]
        public static partial void ResolutionRecovered(ILogger logger, string route, string name, int count);
    }
}

/// <summary>
/// The endpoint sets of the policy in force, by owner id (a route id), shared by successive snapshots: a reload that
/// keeps a route's endpoint list keeps its set (resolutions, states); one that changes the list builds a new set that
/// inherits what the old one knew. <see cref="Commit"/> after each build stops the sets no route uses any more.
/// </summary>
internal sealed class EndpointSetRegistry : IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, EndpointSet> _sets = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly IEndpointResolver _resolver;
    private readonly TimeProvider _time;
    private readonly ProxyMetrics _metrics;
    private readonly ILogger _logger;

    public EndpointSetRegistry(IEndpointResolver resolver, TimeProvider time, ProxyMetrics metrics, ILoggerFactory loggers)
    {
        _resolver = resolver;
        _time = time;
        _metrics = metrics;
        _logger = loggers.CreateLogger("BelizeMesh.Proxy.Forwarding.EndpointSet");
        metrics.ObserveEndpoints(Observe);
    }

    /// <summary>The set for <paramref name="id"/>'s endpoint list (kept if unchanged since the last build).</summary>
    public EndpointSet Get(string id, IReadOnlyList<EndpointAddress> endpoints, TimeSpan refresh)
    {
        lock (_lock)
        {
            // Two lists under one id in one build (two rules naming the same subset with different endpoints) must not
            // replace each other: the later one gets a numbered id.
            string baseId = id;
            for (int n = 2; _used.Contains(id) && _sets.TryGetValue(id, out EndpointSet? taken) && !taken.Matches(endpoints, refresh); n++)
            {
                id = baseId + "#" + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            _used.Add(id);
            _sets.TryGetValue(id, out EndpointSet? existing);
            if (existing is not null && existing.Matches(endpoints, refresh))
            {
                return existing;
            }

            var set = new EndpointSet(id, endpoints, refresh, _resolver, _time, _metrics, _logger, existing);
            _sets[id] = set;
            existing?.Dispose();
            return set;
        }
    }

    /// <summary>Stops the sets that the last build did not ask for.</summary>
    public void Commit()
    {
        lock (_lock)
        {
            List<string>? unused = null;
            foreach (string id in _sets.Keys)
            {
                if (!_used.Contains(id))
                {
                    (unused ??= []).Add(id);
                }
            }

            if (unused is not null)
            {
                foreach (string id in unused)
                {
                    _sets.Remove(id, out EndpointSet? set);
                    set!.Dispose();
                }
            }

            _used.Clear();
        }
    }

    /// <summary>The set in force for <paramref name="id"/>, if any (tests).</summary>
    internal EndpointSet? Find(string id)
    {
        lock (_lock)
        {
            return _sets.GetValueOrDefault(id);
        }
    }

    /// <summary>Re-resolves every set now (tests; the sets refresh themselves on their interval).</summary>
    internal async Task RefreshAllAsync()
    {
        EndpointSet[] sets;
        lock (_lock)
        {
            sets = [.. _sets.Values];
        }

        foreach (EndpointSet set in sets)
        {
            await set.RefreshAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private IEnumerable<Measurement<long>> Observe()
    {
        lock (_lock)
        {
            var measurements = new List<Measurement<long>>(_sets.Count);
            foreach (EndpointSet set in _sets.Values)
            {
                measurements.Add(new Measurement<long>(set.Current.Length, new KeyValuePair<string, object?>("route", set.Id)));
            }

            return measurements;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (EndpointSet set in _sets.Values)
            {
                set.Dispose();
            }

            _sets.Clear();
        }
    }
}
