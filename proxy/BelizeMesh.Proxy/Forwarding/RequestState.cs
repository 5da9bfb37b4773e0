using BelizeMesh.Proxy.Inbound;
using BelizeMesh.Proxy.Metrics;
using Yarp.ReverseProxy.Forwarder;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// What the sidecar's own code decides and reads about one proxied request, in one object: created by
/// <see cref="Hosting.ProxyDispatcher"/> for every inbound and outbound request, handed to the handlers, the engine and
/// the Istio metrics as an argument, and to <see cref="ForwardingTransformer"/> (which YARP calls with the
/// <c>HttpContext</c> only) as the request's one feature of the sidecar's own.
/// </summary>
/// <remarks>
/// Each of these values used to be a request feature of its own, set by one step and looked up by the next ones: 11
/// lookups per request in the outbound sidecar and 9 in the inbound one, of which 3-4 misses (a miss walks Kestrel's
/// whole feature chain and then the connection's) and, inbound, the PQ channel's connection feature three times (the
/// sidecar's lookups were ~0.75% of the pair's CPU samples at 64 connections; perf/README.md, "data path"). Now a
/// request costs one <c>Set</c> and two lookups that hit (request and response transform), and inbound one lookup of
/// the caller's identity.
/// </remarks>
internal sealed class RequestState(Direction direction, LocalWorkloadFeature local, PeerIdentity? peer)
{
    /// <summary>When the request started (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>), for its duration.</summary>
    public long Start { get; init; }

    /// <summary>The route label the request's metrics and access-log line carry; set by the dispatcher, and by
    /// <see cref="ForwardingEngine.ForwardAsync"/> for a request it forwards.</summary>
    public string Route { get; set; } = "";

    /// <summary>Records the request (metrics, access log) once it ended, exactly once: the dispatcher for a request a
    /// handler answered itself, <see cref="ForwardingEngine.ForwardAsync"/> as it ends for a forwarded one (so the
    /// dispatcher need not wait for the forwarding in an async method of its own). Null: nobody records it (tests).</summary>
    public IRequestRecorder? Recorder { get; init; }

    /// <summary>Whether the request's access-log line is written (decided from the snapshot it started with).</summary>
    public bool AccessLog { get; init; }

    /// <summary>Whether <see cref="Recorder"/> ran (it runs at most once per request).</summary>
    public bool Recorded { get; set; }

    public Direction Direction { get; } = direction;

    /// <summary>This sidecar's peer metadata (sent to authenticated peers) and where a peer's is interned.</summary>
    public LocalWorkloadFeature Local { get; } = local;

    /// <summary>Inbound: the caller's verified identity (the request came through the PQ channel); null for a plaintext
    /// caller and for every outbound request. Looked up once, when the request starts.</summary>
    public PeerIdentity? Peer { get; } = peer;

    /// <summary>
    /// The request target as it goes upstream, set by the handler; null = YARP's default (the decoded path, re-encoded).
    /// YARP's default builds the upstream URI from <c>Request.Path</c>, which Kestrel has already percent-decoded;
    /// re-encoding it cannot give back what the client sent (<c>%3B</c> came back as <c>;</c>, <c>%FF</c> as
    /// <c>%25FF</c>, <c>%2F</c> as <c>%252F</c>). So the handlers set the exact target — the normalized path that was
    /// authorized (inbound) or the path as received (outbound), plus the raw query — and
    /// <see cref="ForwardingTransformer"/> sends it without canonicalization.
    /// </summary>
    public string? TargetPathAndQuery { get; set; }

    /// <summary>Inbound: the verified SPIFFE ID to hand to the app (<see cref="ProxyHeaders.PeerIdentity"/>), once the
    /// request was authorized; null = none.</summary>
    public string? ForwardedIdentity { get; set; }

    /// <summary>Outbound: the destination's Istio labels (the Istio metrics' destination, also for a 404 or a fault).</summary>
    public DestinationTelemetry? Destination { get; set; }

    /// <summary>Outbound: the route's <c>appPort</c> (<see cref="ProxyHeaders.AppPort"/>); null when not set.</summary>
    public ForwardedAppPortFeature? AppPort { get; set; }

    /// <summary>The retry state of the attempt under way, when the route's retry policy replays the request.</summary>
    public RetryAttemptFeature? Retry { get; set; }

    /// <summary>Outbound: the peer's metadata read from its response (interned); null when it sent none.</summary>
    public PeerMetadata? PeerMetadata { get; set; }

    /// <summary>The response flag decided by the sidecar itself (a fault, a local 404 or 429); None otherwise.</summary>
    public ResponseFlag Flag { get; set; }

    /// <summary>The counter of a body without <c>Content-Length</c> (request or response); null when none is counted.</summary>
    public BodyCounter? Counter { get; set; }

    /// <summary>YARP's error of the last forwarding attempt (<see cref="IForwarderErrorFeature"/>); null when it
    /// succeeded or nothing was forwarded.</summary>
    public IForwarderErrorFeature? ForwardError { get; set; }
}

/// <summary>Records a request that ended (<see cref="RequestState.Recorder"/>).</summary>
internal interface IRequestRecorder
{
    /// <summary>Records the request's metrics and access-log line; called once, after its response ended.</summary>
    void Record(Microsoft.AspNetCore.Http.HttpContext context, RequestState state);
}
