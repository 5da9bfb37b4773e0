using System.Collections.Concurrent;
using System.Diagnostics;
using BelizeMesh.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Prometheus;
using Yarp.ReverseProxy.Forwarder;

namespace BelizeMesh.Proxy.Metrics;

/// <summary>Who reports a request (<c>reporter</c>): the caller's sidecar (outbound) or the callee's (inbound).</summary>
internal enum Reporter : byte
{
    Source,
    Destination,
}

/// <summary><c>connection_security_policy</c>.</summary>
internal enum SecurityPolicy : byte
{
    /// <summary>No route was found, so nothing is known about the connection.</summary>
    Unknown,

    /// <summary>Plaintext (mode DISABLE, or a PERMISSIVE connection that was not a channel).</summary>
    None,

    /// <summary>The PQ channel: both sides authenticated by mesh certificates, traffic encrypted.</summary>
    MutualTls,
}

/// <summary>Envoy's <c>%RESPONSE_FLAGS%</c> the sidecar can tell (one per request; <c>-</c> when none).</summary>
internal enum ResponseFlag : byte
{
    None,
    NoRoute,
    RateLimited,
    FaultAbort,
    DelayInjected,
    DelayAndAbort,
    UpstreamConnectFailure,
    UpstreamTimeout,
    UpstreamTermination,
    DownstreamTermination,
}

/// <summary>This sidecar's own <see cref="PeerMetadata"/> header value, which the forwarding transformer sends to
/// authenticated peers (one instance per sidecar, in every request's <see cref="RequestState"/>).</summary>
internal sealed class LocalWorkloadFeature(string headerValue, IstioRequestMetrics metrics)
{
    public string HeaderValue { get; } = headerValue;

    /// <summary>Where the peer's metadata values are interned.</summary>
    public IstioRequestMetrics Metrics { get; } = metrics;
}

/// <summary>
/// Istio's standard request metrics for the PQ hop, which Envoy never sees (port 16443 bypasses it):
/// <c>istio_requests_total</c>, <c>istio_request_duration_milliseconds</c>, <c>istio_request_bytes</c>,
/// <c>istio_response_bytes</c>, with Istio's label set in Envoy's order, <c>reporter="source"</c> on the outbound side
/// and <c>reporter="destination"</c> on the inbound side (docs/observability.md).
/// </summary>
/// <remarks>
/// The families are registered directly in the exporter's prometheus-net registry (25 labels would not fit
/// <c>TagList</c>'s inline storage, and a tag list would be sorted and looked up on every request).
/// Every label set is a <see cref="SeriesKey"/> of interned objects and small integers, mapped once to its four
/// prometheus-net children: recording a request is one dictionary lookup and four lock-free updates, with no
/// allocation. Cardinality is bounded: at most <see cref="MaxPeers"/> peer label sets, <see cref="MaxServices"/>
/// inbound services, <see cref="MaxPeerMetadata"/> distinct peer metadata values and <see cref="MaxSeries"/> label sets; past
/// a bound the peer and service are recorded as <c>unknown</c> and <c>belizemesh_proxy_telemetry_overflow_total</c> counts it.
/// </remarks>
internal sealed class IstioRequestMetrics
{
    public const int MaxSeries = 1000;
    public const int MaxPeers = 256;
    public const int MaxServices = 256;
    public const int MaxPeerMetadata = 256;

    /// <summary>Envoy's default histogram bounds (what Istio's sidecars use for all three histograms).</summary>
    internal static readonly double[] EnvoyBuckets = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

    /// <summary>Milliseconds: four bounds below Envoy's first (0.5 ms) to resolve the sidecar hop itself, then exactly
    /// Envoy's, so that <c>sum by (le)</c> over our series and Envoy's stays a valid histogram above 0.5 ms.</summary>
    internal static readonly double[] DurationBuckets = [0.025, 0.05, 0.1, 0.25, .. EnvoyBuckets];

    internal static readonly string[] LabelNames =
    [
        "reporter",
        "source_workload", "source_canonical_service", "source_canonical_revision", "source_workload_namespace",
        "source_principal", "source_app", "source_version", "source_cluster",
        "destination_workload", "destination_workload_namespace", "destination_principal", "destination_app", "destination_version",
        "destination_service", "destination_canonical_service", "destination_canonical_revision",
        "destination_service_name", "destination_service_namespace", "destination_cluster",
        "request_protocol", "response_code", "grpc_response_status", "response_flags", "connection_security_policy",
    ];

    private static readonly string[] s_codes = CreateCodes(600);
    private static readonly string[] s_grpcCodes = CreateCodes(17);

    private readonly Prometheus.Counter _requests;
    private readonly Prometheus.Histogram _duration;
    private readonly Prometheus.Histogram _requestBytes;
    private readonly Prometheus.Histogram _responseBytes;
    private readonly ProxyMetrics _metrics;
    private readonly string _defaultNamespace;
    private readonly ConcurrentDictionary<SeriesKey, Series> _series = new();
    private readonly ConcurrentDictionary<PeerKey, WorkloadLabels> _peers = new();
    private readonly ConcurrentDictionary<string, ServiceLabels> _services = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, PeerMetadata> _metadata = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly BodyCounter.Pool _bodyCounters = new();

    // The last peer, service and metadata value resolved: a sidecar mostly sees one caller and one service again and
    // again, and comparing the strings (usually the same instances) is cheaper than hashing them for the dictionaries.
    // Each is an immutable pair swapped whole, so a reader never sees half of one.
    private LastPeer? _lastPeer;
    private LastService? _lastService;
    private LastMetadata? _lastMetadata;

    public IstioRequestMetrics(PrometheusExporter exporter, WorkloadLabels local, string defaultNamespace, ProxyMetrics metrics)
    {
        Local = local;
        LocalFeature = new LocalWorkloadFeature(PeerMetadata.Encode(local), this);
        _defaultNamespace = defaultNamespace;
        _metrics = metrics;
        metrics.TelemetryBoundsKnown(); // the exporter (a parameter) already listens
        MetricFactory factory = exporter.Factory;
        _requests = factory.CreateCounter("istio_requests_total", "Requests through the PQ channel hop (and plaintext mesh hops), by Istio's standard labels.", LabelNames);
        _duration = factory.CreateHistogram("istio_request_duration_milliseconds", "Time from the start of the request to the end of the response, in milliseconds, by Istio's standard labels.", LabelNames,
            new HistogramConfiguration { Buckets = DurationBuckets });
        _requestBytes = factory.CreateHistogram("istio_request_bytes", "Request body size in bytes (Content-Length, else counted as forwarded), by Istio's standard labels.", LabelNames,
            new HistogramConfiguration { Buckets = EnvoyBuckets });
        _responseBytes = factory.CreateHistogram("istio_response_bytes", "Response body size in bytes (Content-Length, else counted as forwarded), by Istio's standard labels.", LabelNames,
            new HistogramConfiguration { Buckets = EnvoyBuckets });
    }

    /// <summary>This sidecar's labels: <c>source_*</c> when it reports as the source, <c>destination_*</c> as the destination.</summary>
    public WorkloadLabels Local { get; }

    /// <summary>In every proxied request's <see cref="RequestState"/>: the transformer sends <see cref="LocalWorkloadFeature.HeaderValue"/> to authenticated peers.</summary>
    public LocalWorkloadFeature LocalFeature { get; }

    /// <summary>Label sets in use (tests).</summary>
    internal int SeriesCount => _series.Count;

    /// <summary>
    /// Called when the sidecar starts handling a request: for a request body without a <c>Content-Length</c>, starts
    /// counting it.
    /// </summary>
    public void BeginRequest(HttpContext context, RequestState state)
    {
        if (context.Request.ContentLength is null && context.Features.Get<IHttpRequestBodyDetectionFeature>() is not { CanHaveBody: false })
        {
            BodyCounter counter = _bodyCounters.Rent();
            context.Features.Set(counter);
            state.Counter = counter;
            counter.CountRequest(context);
        }
    }

    /// <summary>Called once the response headers are known and before its body is written: starts counting a body
    /// without a <c>Content-Length</c>.</summary>
    public void ResponseStarting(HttpContext context, RequestState state)
    {
        if (context.Response.ContentLength is null && !NoResponseBody(context))
        {
            BodyCounter? counter = state.Counter;
            if (counter is null)
            {
                counter = _bodyCounters.Rent();
                context.Features.Set(counter);
                state.Counter = counter;
            }

            counter.CountResponse(context);
        }
    }

    private static bool NoResponseBody(HttpContext context)
        => context.Response.StatusCode is StatusCodes.Status204NoContent or StatusCodes.Status304NotModified or < 200 || HttpMethods.IsHead(context.Request.Method);

    /// <summary>
    /// Records one completed request from what its <see cref="RequestState"/> says: the inbound side reads the caller
    /// from the PQ channel (and its <see cref="PeerMetadata"/> request header), the outbound side the destination the
    /// handler chose (<see cref="DestinationTelemetry"/>) and the peer's metadata from its response.
    /// </summary>
    public void RecordRequest(HttpContext context, RequestState state, int status, long startTimestamp)
    {
        Direction direction = state.Direction;
        double milliseconds = Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;
        Reporter reporter;
        WorkloadLabels peer;
        ServiceLabels service;
        SecurityPolicy security;
        if (direction == Direction.Inbound)
        {
            reporter = Reporter.Destination;
            if (state.Peer is { } caller)
            {
                security = SecurityPolicy.MutualTls;
                Microsoft.Extensions.Primitives.StringValues header = context.Request.Headers[PeerMetadata.Header];
                peer = Peer(caller.SpiffeId, header.Count == 1 ? Metadata(header[0]!) : PeerMetadata.None);
            }
            else
            {
                security = SecurityPolicy.None;
                peer = WorkloadLabels.None;
            }

            service = InboundService(context.Request.Host.Host);
        }
        else
        {
            reporter = Reporter.Source;
            if (state.Destination is { } destination)
            {
                security = destination.Secured ? SecurityPolicy.MutualTls : SecurityPolicy.None;
                PeerMetadata metadata = destination.Secured ? state.PeerMetadata ?? PeerMetadata.None : PeerMetadata.None;
                peer = Peer(destination.Principal, metadata);
                service = destination.Service;
            }
            else
            {
                security = SecurityPolicy.Unknown;
                peer = WorkloadLabels.None;
                service = ServiceLabels.None;
            }
        }

        ResponseFlag flag = Flag(context, state);
        BodyCounter? counted = state.Counter;
        long requestBytes = context.Request.ContentLength
            ?? (context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false } ? 0 : counted?.RequestBytes ?? -1);
        long responseBytes = context.Response.ContentLength ?? (NoResponseBody(context) ? 0 : counted?.ResponseBytes ?? -1);
        bool grpc = IsGrpc(context.Request.ContentType);
        Record(reporter, peer, service, status, grpc ? GrpcStatus(context) : "", flag, grpc, security, milliseconds, requestBytes, responseBytes);
        if (counted is not null)
        {
            state.Counter = null;
            _bodyCounters.Return(counted);
        }
    }

    /// <summary>Records one request with its labels resolved; a body size of -1 (unknown: neither declared nor counted)
    /// is left out of its histogram rather than recorded as 0.</summary>
    public void Record(Reporter reporter, WorkloadLabels peer, ServiceLabels service, int status, string grpcStatus, ResponseFlag flag, bool grpc, SecurityPolicy security,
        double milliseconds, long requestBytes, long responseBytes)
    {
        var key = new SeriesKey(reporter, peer, service, status, grpcStatus, flag, grpc, security);
        if (!_series.TryGetValue(key, out Series? series))
        {
            series = Create(key);
        }

        series.Duration.Observe(milliseconds);
        if (requestBytes >= 0)
        {
            series.RequestBytes.Observe(requestBytes);
        }

        if (responseBytes >= 0)
        {
            series.ResponseBytes.Observe(responseBytes);
        }

        series.Requests.Inc(); // last: a scrape that sees the request counted sees its histograms too
    }

    /// <summary>The peer's labels: its namespace and principal from the verified SPIFFE ID, the rest from its metadata.</summary>
    public WorkloadLabels Peer(string? spiffeId, PeerMetadata metadata)
    {
        if (spiffeId is null && ReferenceEquals(metadata, PeerMetadata.None))
        {
            return WorkloadLabels.None;
        }

        if (Volatile.Read(ref _lastPeer) is { } last && ReferenceEquals(last.Metadata, metadata) && string.Equals(last.SpiffeId, spiffeId, StringComparison.Ordinal))
        {
            return last.Labels;
        }

        var key = new PeerKey(spiffeId, metadata);
        if (_peers.TryGetValue(key, out WorkloadLabels? labels))
        {
            Volatile.Write(ref _lastPeer, new LastPeer(spiffeId, metadata, labels));
            return labels;
        }

        if (_peers.Count >= MaxPeers)
        {
            _metrics.TelemetryOverflow("peer");
            return WorkloadLabels.None;
        }

        labels = new WorkloadLabels(metadata.Workload, WorkloadLabels.NamespaceOf(spiffeId), spiffeId ?? WorkloadLabels.Unknown, metadata.App, metadata.Version,
            metadata.CanonicalService, metadata.CanonicalRevision, metadata.Cluster);
        return _peers.GetOrAdd(key, labels);
    }

    /// <summary>The parsed, interned form of a peer's metadata header value (<see cref="PeerMetadata.None"/> past the bound).</summary>
    public PeerMetadata Metadata(string value)
    {
        if (Volatile.Read(ref _lastMetadata) is { } last && string.Equals(last.Value, value, StringComparison.Ordinal))
        {
            return last.Metadata;
        }

        if (_metadata.TryGetValue(value, out PeerMetadata? metadata))
        {
            Volatile.Write(ref _lastMetadata, new LastMetadata(value, metadata));
            return metadata;
        }

        if (_metadata.Count >= MaxPeerMetadata)
        {
            _metrics.TelemetryOverflow("peer_metadata");
            return PeerMetadata.None;
        }

        return _metadata.GetOrAdd(value, static v => PeerMetadata.Parse(v));
    }

    /// <summary>The Service an inbound request was addressed to, from its <c>Host</c> (the caller's route host).</summary>
    public ServiceLabels InboundService(string host)
    {
        if (Volatile.Read(ref _lastService) is { } last && string.Equals(last.Host, host, StringComparison.OrdinalIgnoreCase))
        {
            return last.Service;
        }

        if (_services.TryGetValue(host, out ServiceLabels? service))
        {
            Volatile.Write(ref _lastService, new LastService(host, service));
            return service;
        }

        if (_services.Count >= MaxServices)
        {
            _metrics.TelemetryOverflow("service");
            return ServiceLabels.None;
        }

        return _services.GetOrAdd(host, static (h, ns) => ServiceLabels.FromHost(h, ns), _defaultNamespace);
    }

    private Series Create(SeriesKey key)
    {
        lock (_gate)
        {
            if (_series.TryGetValue(key, out Series? existing))
            {
                return existing;
            }

            if (_series.Count >= MaxSeries)
            {
                _metrics.TelemetryOverflow("series");
                var overflow = key with { Peer = WorkloadLabels.None, Service = ServiceLabels.None };
                if (_series.TryGetValue(overflow, out existing))
                {
                    return existing;
                }

                key = overflow; // admitted beyond the bound: one per (reporter, code, flag, protocol, policy) at most
            }

            string[] values = LabelValues(key);
            var series = new Series(
                _requests.WithLabels(values),
                _duration.WithLabels(values),
                _requestBytes.WithLabels(values),
                _responseBytes.WithLabels(values));
            _series[key] = series;
            return series;
        }
    }

    private string[] LabelValues(SeriesKey key)
    {
        (WorkloadLabels source, WorkloadLabels destination) = key.Reporter == Reporter.Source ? (Local, key.Peer) : (key.Peer, Local);
        ServiceLabels service = key.Service;
        return
        [
            key.Reporter == Reporter.Source ? "source" : "destination",
            source.Workload, source.CanonicalService, source.CanonicalRevision, source.Namespace,
            source.Principal, source.App, source.Version, source.Cluster,
            destination.Workload, destination.Namespace, destination.Principal, destination.App, destination.Version,
            service.Service, destination.CanonicalService, destination.CanonicalRevision,
            service.Name, service.Namespace, destination.Cluster,
            key.Grpc ? "grpc" : "http",
            (uint)key.Status < (uint)s_codes.Length ? s_codes[key.Status] : key.Status.ToString(System.Globalization.CultureInfo.InvariantCulture),
            key.GrpcStatus,
            FlagText(key.Flag),
            key.Security switch { SecurityPolicy.MutualTls => "mutual_tls", SecurityPolicy.None => "none", _ => "unknown" },
        ];
    }

    internal static string FlagText(ResponseFlag flag) => flag switch
    {
        ResponseFlag.NoRoute => "NR",
        ResponseFlag.RateLimited => "RL",
        ResponseFlag.FaultAbort => "FI",
        ResponseFlag.DelayInjected => "DI",
        ResponseFlag.DelayAndAbort => "DI,FI",
        ResponseFlag.UpstreamConnectFailure => "UF",
        ResponseFlag.UpstreamTimeout => "UT",
        ResponseFlag.UpstreamTermination => "UC",
        ResponseFlag.DownstreamTermination => "DC",
        _ => "-",
    };

    private static ResponseFlag Flag(HttpContext context, RequestState state)
    {
        if (state.Flag != ResponseFlag.None)
        {
            return state.Flag;
        }

        if (state.ForwardError is { Error: not ForwarderError.None } error)
        {
            return error.Error switch
            {
                ForwarderError.RequestTimedOut => ResponseFlag.UpstreamTimeout,
                ForwarderError.Request when error.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError } => ResponseFlag.UpstreamConnectFailure,
                ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient or ForwarderError.ResponseBodyCanceled
                    or ForwarderError.ResponseBodyClient or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeRequestClient
                    or ForwarderError.UpgradeResponseCanceled or ForwarderError.UpgradeResponseClient => ResponseFlag.DownstreamTermination,
                _ => ResponseFlag.UpstreamTermination,
            };
        }

        return context.RequestAborted.IsCancellationRequested ? ResponseFlag.DownstreamTermination : ResponseFlag.None;
    }

    private static bool IsGrpc(string? contentType)
        => contentType is not null && contentType.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);

    /// <summary><c>grpc-status</c> from the trailers (or the headers of a trailers-only response); empty when absent or not 0-16.</summary>
    private static string GrpcStatus(HttpContext context)
    {
        Microsoft.Extensions.Primitives.StringValues value = default;
        if (context.Features.Get<IHttpResponseTrailersFeature>() is { Trailers: { } trailers })
        {
            value = trailers["grpc-status"];
        }

        if (value.Count == 0)
        {
            value = context.Response.Headers["grpc-status"];
        }

        return value.Count == 1 && int.TryParse(value[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int code) && (uint)code < (uint)s_grpcCodes.Length
            ? s_grpcCodes[code]
            : "";
    }

    private static string[] CreateCodes(int count)
    {
        var codes = new string[count];
        for (int i = 0; i < codes.Length; i++)
        {
            codes[i] = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return codes;
    }

    private sealed record LastPeer(string? SpiffeId, PeerMetadata Metadata, WorkloadLabels Labels);

    private sealed record LastService(string Host, ServiceLabels Service);

    private sealed record LastMetadata(string Value, PeerMetadata Metadata);

    private readonly record struct PeerKey(string? SpiffeId, PeerMetadata Metadata)
    {
        public bool Equals(PeerKey other) => string.Equals(SpiffeId, other.SpiffeId, StringComparison.Ordinal) && ReferenceEquals(Metadata, other.Metadata);

        public override int GetHashCode() => HashCode.Combine(SpiffeId is null ? 0 : StringComparer.Ordinal.GetHashCode(SpiffeId), System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(Metadata));
    }

    private readonly record struct SeriesKey(Reporter Reporter, WorkloadLabels Peer, ServiceLabels Service, int Status, string GrpcStatus, ResponseFlag Flag, bool Grpc, SecurityPolicy Security)
    {
        public bool Equals(SeriesKey other)
            => Reporter == other.Reporter && ReferenceEquals(Peer, other.Peer) && ReferenceEquals(Service, other.Service) && Status == other.Status
            && ReferenceEquals(GrpcStatus, other.GrpcStatus) && Flag == other.Flag && Grpc == other.Grpc && Security == other.Security;

        public override int GetHashCode()
            => HashCode.Combine(Reporter, System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(Peer), System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(Service),
                Status, System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(GrpcStatus), Flag, Grpc, Security);
    }

    private sealed class Series(Prometheus.Counter.Child requests, Prometheus.Histogram.Child duration, Prometheus.Histogram.Child requestBytes, Prometheus.Histogram.Child responseBytes)
    {
        public Prometheus.Counter.Child Requests { get; } = requests;

        public Prometheus.Histogram.Child Duration { get; } = duration;

        public Prometheus.Histogram.Child RequestBytes { get; } = requestBytes;

        public Prometheus.Histogram.Child ResponseBytes { get; } = responseBytes;
    }
}
