using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace BelizeMesh.Proxy.Metrics;

/// <summary>Which side of the sidecar handled a request (metric label <c>direction</c>).</summary>
internal enum Direction
{
    Inbound,
    Outbound,
}

/// <summary>
/// The proxy's instruments, owned by one <see cref="Meter"/> named <c>BelizeMesh.Proxy</c> created through
/// <see cref="IMeterFactory"/> (as Kestrel's <c>KestrelMetrics</c>). Each recording method checks
/// <c>Enabled</c> before building tags, so an unobserved instrument costs one branch. The Prometheus names are the
/// instrument names with <c>.</c> → <c>_</c>, a unit suffix and <c>_total</c> for counters (see
/// <see cref="PrometheusExporter"/>).
/// </summary>
internal sealed partial class ProxyMetrics
{
    public const string MeterName = "BelizeMesh.Proxy";

    // Request durations in seconds: 1 ms … 5 min, roughly doubling, plus the slow tail long-lived streams produce.
    private static readonly double[] s_durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

    private readonly Histogram<double> _duration;
    // Requests completed per (direction, route, status), read by an observable counter when scraped: one dictionary
    // lookup and an interlocked increment per request instead of a measurement through the listener (perf/README.md,
    // "data path, session 24"). The label sets are bounded as before: the policy's routes and the status codes seen.
    private readonly ConcurrentDictionary<RequestSeries, StrongBox<long>> _requestCounts = new();
    // Requests in flight per direction (Interlocked), read by an observable up-down counter when scraped: two
    // measurements per request less through the listener (perf/README.md, "data path"). A direction is reported from
    // its first request on, as an up-down counter's series appears with its first measurement.
    private long _activeInbound;
    private long _activeOutbound;
    private int _directionsSeen;
    private readonly Counter<long> _authorizationDenials;
    private readonly Counter<long> _rateLimited;
    private readonly Counter<long> _policyReloads;
    private readonly Counter<long> _forwardErrors;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _ejections;
    private readonly Counter<long> _certificateReloads;
    private readonly Counter<long> _listenerRejections;
    private readonly Counter<long> _dnsResolutions;
    private Func<IEnumerable<Measurement<long>>>? _endpointCounts;
    private Func<IEnumerable<Measurement<long>>>? _rateLimitEvictions;
    private readonly Counter<long> _jwtFailures;
    private readonly Counter<long> _jwksLoads;

    // notAfter of the certificate in force, Unix seconds; long.MinValue while no certificate is loaded (mode DISABLE
    // everywhere), when the gauge reports nothing rather than a misleading 0.
    private long _certificateNotAfter = long.MinValue;

    // Whether the policy file's content (and the certificates directory's files) are what is in force, as the store
    // that watches them knows it (WatchedStore.InputInForce); null until a store is created (no gauge sample).
    private Func<bool>? _policyFileInForce;
    private Func<bool>? _certificateFilesInForce;

    public ProxyMetrics(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(MeterName);
        Meter.CreateObservableCounter("belizemesh.proxy.requests", ObserveRequests, "{request}", "Requests completed, by direction, route and status code.");
        _duration = Meter.CreateHistogram<double>("belizemesh.proxy.request.duration", "s", "Time from request start to the end of the response.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_durationBuckets });
        Meter.CreateObservableUpDownCounter("belizemesh.proxy.active_requests", ObserveActiveRequests, "{request}", "Requests in flight.");
        _authorizationDenials = Meter.CreateCounter<long>("belizemesh.proxy.authorization.denials", "{request}", "Inbound requests refused (403) because no authorization rule allowed them.");
        _rateLimited = Meter.CreateCounter<long>("belizemesh.proxy.rate_limited", "{request}", "Inbound requests refused (429) by a rate limit, by limit name.");
        Meter.CreateObservableCounter("belizemesh.proxy.rate_limit.evictions", ObserveRateLimitEvictions, "{key}", "Keys a keyed rate limit forgot, with their consumption, to make room for a new key because it held maxKeys keys, by limit.");
        _policyReloads = Meter.CreateCounter<long>("belizemesh.policy.reloads", "{reload}", "Policy file reloads, by result (success or failure).");
        _forwardErrors = Meter.CreateCounter<long>("belizemesh.proxy.forward.errors", "{request}", "Requests that failed while forwarding, by direction and YARP error.");
        _retries = Meter.CreateCounter<long>("belizemesh.proxy.retries", "{request}", "Outbound attempts retried (connect failure or a retryOn condition), by route.");
        _ejections = Meter.CreateCounter<long>("belizemesh.proxy.outlier.ejections", "{ejection}", "Endpoints ejected after consecutive failures.");
        _listenerRejections = Meter.CreateCounter<long>("belizemesh.proxy.listener.rejections", "{event}", "Connections or requests a listener refused or closed before the application saw them, by listener and reason (method_case, sniff_timeout, ...).");
        _jwtFailures = Meter.CreateCounter<long>("belizemesh.proxy.jwt.failures", "{request}", "Inbound requests refused (401, or 403 for a disallowed audience) because a JWT was invalid, by reason.");
        _jwksLoads = Meter.CreateCounter<long>("belizemesh.proxy.jwks.loads", "{load}", "Reads of jwtRules[].jwksFile key sets, by result (success or failure: the last good set stays).");
        _certificateReloads = Meter.CreateCounter<long>("belizemesh.certificate.reloads", "{reload}", "Reloads of the certificates directory (tls.crt, tls.key, ca.crt), by result (success or failure).");
        _dnsResolutions = Meter.CreateCounter<long>("belizemesh.proxy.dns.resolutions", "{resolution}", "Resolutions of outbound endpoint DNS names, by route and result (success or failure; a failure keeps the last good addresses).");
        Meter.CreateObservableGauge("belizemesh.proxy.endpoints", ObserveEndpointCounts, "{endpoint}", "Endpoints an outbound route balances across now (one per resolved address of a DNS endpoint), by route.");
        Meter.CreateObservableGauge("belizemesh.certificate.expiry_timestamp", ObserveCertificateExpiry, "s", "Expiry (notAfter) of the certificate in force for new channels, as Unix time in seconds.");
        Meter.CreateObservableGauge("belizemesh.policy.last_reload_successful", () => ObserveInForce(Volatile.Read(ref _policyFileInForce)), description: "1 when the policy file's content is the policy in force; 0 while the file holds a policy the sidecar rejected, or cannot be read, and the last good policy stays in force.");
        Meter.CreateObservableGauge("belizemesh.certificate.last_reload_successful", () => ObserveInForce(Volatile.Read(ref _certificateFilesInForce)), description: "1 when the certificates directory's files are the set in force; 0 while they are rejected (invalid, not yet valid, mismatched) and the last good set stays in force.");
    }

    public Meter Meter { get; }

    public void RequestStarted(Direction direction)
    {
        int seen = direction == Direction.Inbound ? 1 : 2;
        if ((Volatile.Read(ref _directionsSeen) & seen) == 0)
        {
            Interlocked.Or(ref _directionsSeen, seen);
        }

        Interlocked.Increment(ref direction == Direction.Inbound ? ref _activeInbound : ref _activeOutbound);
    }

    public void RequestCompleted(Direction direction, string route, int status, long startTimestamp)
    {
        Interlocked.Decrement(ref direction == Direction.Inbound ? ref _activeInbound : ref _activeOutbound);
        if (_duration.Enabled)
        {
            RecordDuration(direction, route, status, startTimestamp);
        }

        // counted after the duration: a scrape that sees the request counted sees its duration too
        var series = new RequestSeries(direction, route, status);
        if (!_requestCounts.TryGetValue(series, out StrongBox<long>? count))
        {
            count = _requestCounts.GetOrAdd(series, static _ => new StrongBox<long>());
        }

        Interlocked.Increment(ref count.Value);
    }

    private List<Measurement<long>> ObserveRequests()
    {
        var measurements = new List<Measurement<long>>(_requestCounts.Count);
        foreach (KeyValuePair<RequestSeries, StrongBox<long>> entry in _requestCounts)
        {
            measurements.Add(new Measurement<long>(Interlocked.Read(ref entry.Value.Value),
                new KeyValuePair<string, object?>("direction", DirectionName(entry.Key.Direction)),
                new KeyValuePair<string, object?>("route", entry.Key.Route),
                new KeyValuePair<string, object?>("status", StatusText(entry.Key.Status))));
        }

        return measurements;
    }

    private readonly record struct RequestSeries(Direction Direction, string Route, int Status);

    private IEnumerable<Measurement<long>> ObserveActiveRequests()
    {
        int seen = Volatile.Read(ref _directionsSeen);
        if (seen == 0)
        {
            return [];
        }

        var measurements = new List<Measurement<long>>(2);
        if ((seen & 1) != 0)
        {
            measurements.Add(new Measurement<long>(Volatile.Read(ref _activeInbound), new KeyValuePair<string, object?>("direction", DirectionName(Direction.Inbound))));
        }

        if ((seen & 2) != 0)
        {
            measurements.Add(new Measurement<long>(Volatile.Read(ref _activeOutbound), new KeyValuePair<string, object?>("direction", DirectionName(Direction.Outbound))));
        }

        return measurements;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordDuration(Direction direction, string route, int status, long startTimestamp)
    {
        var tags = new TagList { { "direction", DirectionName(direction) }, { "route", route }, { "status", StatusText(status) } };
        _duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }

    public void AuthorizationDenied(string reason)
    {
        if (_authorizationDenials.Enabled)
        {
            _authorizationDenials.Add(1, new KeyValuePair<string, object?>("reason", reason));
        }
    }

    public void JwtFailed(string reason)
    {
        if (_jwtFailures.Enabled)
        {
            _jwtFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));
        }
    }

    public void JwksLoaded(bool success)
    {
        if (_jwksLoads.Enabled)
        {
            _jwksLoads.Add(1, new KeyValuePair<string, object?>("result", success ? "success" : "failure"));
        }
    }

    public void RateLimited(string limit)
    {
        if (_rateLimited.Enabled)
        {
            _rateLimited.Add(1, new KeyValuePair<string, object?>("limit", limit));
        }
    }

    public void PolicyReloaded(bool success)
    {
        if (_policyReloads.Enabled)
        {
            _policyReloads.Add(1, new KeyValuePair<string, object?>("result", success ? "success" : "failure"));
        }
    }

    /// <summary>
    /// The certificates are in use: publishes both reload series at 0, so that the first failure is an increase a
    /// Prometheus rule can see (a series that appears at 1 has no increase), and the gauge's first value.
    /// </summary>
    public void CertificatesInUse(DateTimeOffset notAfter)
    {
        CertificateInForce(notAfter);
        _certificateReloads.Add(0, new KeyValuePair<string, object?>("result", "success"));
        _certificateReloads.Add(0, new KeyValuePair<string, object?>("result", "failure"));
    }

    public void CertificateInForce(DateTimeOffset notAfter) => Volatile.Write(ref _certificateNotAfter, notAfter.ToUnixTimeSeconds());

    public void CertificateReloaded(bool success)
    {
        if (_certificateReloads.Enabled)
        {
            _certificateReloads.Add(1, new KeyValuePair<string, object?>("result", success ? "success" : "failure"));
        }
    }

    /// <summary>Where <c>belizemesh.policy.last_reload_successful</c> reads whether the policy file's content is in force
    /// (the policy store's <c>InputInForce</c>), at every scrape.</summary>
    public void ObservePolicyFileInForce(Func<bool> inForce) => Volatile.Write(ref _policyFileInForce, inForce);

    /// <summary>Where <c>belizemesh.certificate.last_reload_successful</c> reads whether the certificates directory's
    /// files are in force (the certificate store's <c>InputInForce</c>); never called when no certificate is used.</summary>
    public void ObserveCertificateFilesInForce(Func<bool> inForce) => Volatile.Write(ref _certificateFilesInForce, inForce);

    private static IEnumerable<Measurement<int>> ObserveInForce(Func<bool>? inForce) =>
        inForce is null ? [] : [new Measurement<int>(inForce() ? 1 : 0)];

    private IEnumerable<Measurement<long>> ObserveCertificateExpiry()
    {
        long notAfter = Volatile.Read(ref _certificateNotAfter);
        return notAfter == long.MinValue ? [] : [new Measurement<long>(notAfter)];
    }

    public void ForwardError(Direction direction, string error)
    {
        if (_forwardErrors.Enabled)
        {
            _forwardErrors.Add(1, new KeyValuePair<string, object?>("direction", DirectionName(direction)), new KeyValuePair<string, object?>("error", error));
        }
    }

    /// <summary>A listener refused a request or closed a connection itself; <paramref name="reason"/> is a fixed snake_case word.</summary>
    public void ListenerRejected(string listener, string reason)
    {
        if (_listenerRejections.Enabled)
        {
            _listenerRejections.Add(1, new KeyValuePair<string, object?>("listener", listener), new KeyValuePair<string, object?>("reason", reason));
        }
    }

    public void Retried(string route)
    {
        if (_retries.Enabled)
        {
            _retries.Add(1, new KeyValuePair<string, object?>("route", route));
        }
    }

    public void DnsResolved(string route, bool success)
    {
        if (_dnsResolutions.Enabled)
        {
            _dnsResolutions.Add(1, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("result", success ? "success" : "failure"));
        }
    }

    /// <summary>Where <c>belizemesh_proxy_endpoints</c> reads its values (the endpoint set registry).</summary>
    public void ObserveEndpoints(Func<IEnumerable<Measurement<long>>> source) => Volatile.Write(ref _endpointCounts, source);

    private IEnumerable<Measurement<long>> ObserveEndpointCounts() => Volatile.Read(ref _endpointCounts)?.Invoke() ?? [];

    /// <summary>Where <c>belizemesh_proxy_rate_limit_evictions_total</c> reads its values (the rate limiter registry).</summary>
    public void ObserveRateLimitEvictions(Func<IEnumerable<Measurement<long>>> source) => Volatile.Write(ref _rateLimitEvictions, source);

    private IEnumerable<Measurement<long>> ObserveRateLimitEvictions() => Volatile.Read(ref _rateLimitEvictions)?.Invoke() ?? [];

    public void EndpointEjected(string route, string endpoint)
    {
        if (_ejections.Enabled)
        {
            _ejections.Add(1, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("endpoint", endpoint));
        }
    }

    private static string DirectionName(Direction direction) => direction == Direction.Inbound ? "inbound" : "outbound";

    // Status labels come from a small cache so recording does not format an integer per request.
    private static readonly string[] s_statusText = CreateStatusText();

    private static string StatusText(int status) => (uint)status < (uint)s_statusText.Length ? s_statusText[status] : status.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string[] CreateStatusText()
    {
        var text = new string[600];
        for (int i = 0; i < text.Length; i++)
        {
            text[i] = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return text;
    }
}
