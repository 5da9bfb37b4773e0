namespace BelizeMesh.Proxy.Configuration;

/// <summary>
/// <c>spec.outbound.routes[].http[]</c>: one HTTP rule of a route, as one entry of an Istio VirtualService's
/// <c>http</c> list. The rules of a route are tried in order and the first whose <see cref="Matches"/> select the
/// request wins; a request no rule matches is answered 404, as Envoy does.
/// </summary>
public sealed record HttpRuleSpec(
    string Name,
    IReadOnlyList<RequestMatchSpec> Matches,
    IReadOnlyList<DestinationSpec> Destinations,
    TimeSpan? Timeout,
    RetryPolicySpec? Retries,
    FaultInjectionSpec? Fault);

/// <summary>
/// One entry of <c>match</c> (Istio's <c>HTTPMatchRequest</c>): every condition present must hold (AND); the entries of
/// one rule are OR-ed. An entry with no condition matches every request.
/// </summary>
public sealed record RequestMatchSpec(StringMatchSpec? Uri, StringMatchSpec? Method, IReadOnlyList<HeaderMatchSpec> Headers);

/// <summary>How a string is compared: exactly, by prefix, or by a regular expression that must match it whole.</summary>
public enum StringMatchKind
{
    /// <summary>The whole value, case-sensitive.</summary>
    Exact,

    /// <summary>The value starts with the text (plain string prefix, as Envoy's).</summary>
    Prefix,

    /// <summary>An RE2-style regular expression matched against the whole value (Envoy's <c>safe_regex</c>).</summary>
    Regex,

    /// <summary>Headers only: the header is present, whatever its value.</summary>
    Present,
}

/// <summary>A string match (<c>{ exact | prefix | regex: … }</c>); <see cref="Value"/> is empty for <see cref="StringMatchKind.Present"/>.</summary>
public sealed record StringMatchSpec(StringMatchKind Kind, string Value);

/// <summary>A request header condition; names are case-insensitive.</summary>
public sealed record HeaderMatchSpec(string Name, StringMatchSpec Match);

/// <summary>
/// One weighted destination of a rule: a subset (or the whole service) with its own endpoints, load balancer and
/// expected identity (the route's when left out).
/// </summary>
public sealed record DestinationSpec(
    string? Subset,
    int Weight,
    IReadOnlyList<EndpointAddress> Endpoints,
    string? Identity,
    LoadBalancingPolicy? LoadBalancing,
    string? HashHeader)
{
    /// <summary>A short name for logs and metric labels: the subset, or <c>default</c>.</summary>
    public string Label => Subset ?? "default";

    /// <summary><c>appPort</c>: the peer's app port for this destination (an Istio destination port); null = the route's.</summary>
    public int? AppPort { get; init; }
}

/// <summary>Conditions under which a failed attempt is retried (Envoy's <c>retry_on</c> names).</summary>
[Flags]
public enum RetryConditions
{
    /// <summary>Nothing.</summary>
    None = 0,

    /// <summary><c>connect-failure</c>: the connection (or the PQ handshake) to the endpoint failed.</summary>
    ConnectFailure = 1,

    /// <summary><c>reset</c>: the endpoint did not answer at all: a reset, disconnect or (per-try) timeout.</summary>
    Reset = 2,

    /// <summary><c>5xx</c>: any 5xx response, or no response at all (connect failure, reset, refused stream, timeout).</summary>
    FiveXx = 4,

    /// <summary><c>gateway-error</c>: a 502, 503 or 504 response (also a per-try timeout, answered 504).</summary>
    GatewayError = 8,

    /// <summary><c>retriable-4xx</c>: a 409 response.</summary>
    Retriable4xx = 16,

    /// <summary><c>refused-stream</c>: the endpoint refused the HTTP/2 stream (REFUSED_STREAM).</summary>
    RefusedStream = 32,

    /// <summary><c>retriable-status-codes</c>: a response status listed in the policy's status codes.</summary>
    RetriableStatusCodes = 64,

    /// <summary>gRPC <c>cancelled</c> (grpc-status 1 in the response headers).</summary>
    GrpcCancelled = 128,

    /// <summary>gRPC <c>deadline-exceeded</c> (4).</summary>
    GrpcDeadlineExceeded = 256,

    /// <summary>gRPC <c>internal</c> (13).</summary>
    GrpcInternal = 512,

    /// <summary>gRPC <c>resource-exhausted</c> (8).</summary>
    GrpcResourceExhausted = 1024,

    /// <summary>gRPC <c>unavailable</c> (14).</summary>
    GrpcUnavailable = 2048,
}

/// <summary>
/// A retry policy. <see cref="Conditions"/> null is the sidecar's original behaviour: connect failures only, for
/// idempotent methods only. With conditions (Envoy's names), any method is retried as Envoy does, provided the request
/// body can be replayed (no body, or a Content-Length up to 64 KiB, buffered before the first try).
/// </summary>
public sealed record RetryPolicySpec(int Attempts, TimeSpan? PerTryTimeout, RetryConditions? Conditions, IReadOnlyList<int> StatusCodes)
{
    /// <summary>The base interval of the jittered exponential back-off before each retry (Istio's <c>retries.backoff</c>,
    /// Envoy's <c>base_interval</c>; the max interval is 10 times it); null = Envoy's default, 25 ms.</summary>
    public TimeSpan? Backoff { get; init; }
}

/// <summary>
/// The retry budget of a route: retries in flight may be at most <see cref="Percent"/> of the route's requests in
/// flight, but at least <see cref="MinConcurrency"/> (Envoy's <c>retry_budget</c>, same defaults: 20%, 3).
/// </summary>
public sealed record RetryBudgetSpec(double Percent, int MinConcurrency)
{
    /// <summary>20% of active requests, at least 3 retries at once.</summary>
    public static readonly RetryBudgetSpec Default = new(20, 3);
}

/// <summary>Istio's <c>HTTPFaultInjection</c>: delay and/or abort a percentage (0-100) of the rule's requests.</summary>
public sealed record FaultInjectionSpec(TimeSpan? FixedDelay, double DelayPercent, int? AbortStatus, double AbortPercent);
