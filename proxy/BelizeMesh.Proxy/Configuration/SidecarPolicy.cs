using System.Net;

namespace BelizeMesh.Proxy.Configuration;

/// <summary>
/// One <c>SidecarPolicy</c> document (<c>apiVersion: belizemesh.io/v1alpha1</c>), parsed and validated. Every value is
/// immutable; a reload produces a new instance. The full schema is documented in <c>docs/policy.md</c>.
/// </summary>
public sealed record SidecarPolicy(string Name, string Namespace, PolicySpec Spec);

/// <summary><c>spec</c>: the sidecar's own identity, its three listeners and process-wide settings.</summary>
public sealed record PolicySpec(
    string? Identity,
    AdminSpec Admin,
    InboundSpec Inbound,
    OutboundSpec Outbound,
    bool AccessLog,
    TimeSpan DrainTimeout);

/// <summary><c>spec.admin</c>: the metrics and readiness listener.</summary>
public sealed record AdminSpec(ListenAddress Listen);

/// <summary><c>spec.inbound</c>: callers reach the local app through authorization and rate limits.</summary>
public sealed record InboundSpec(
    ListenAddress Listen,
    Uri App,
    ChannelMode Mode,
    TimeSpan Timeout,
    AuthorizationSpec? Authorization,
    IReadOnlyList<RateLimitSpec> RateLimits)
{
    /// <summary><c>spec.inbound.limits</c>.</summary>
    public ListenerLimitsSpec Limits { get; init; } = ListenerLimitsSpec.InboundDefault;

    /// <summary>
    /// <c>spec.inbound.apps</c>: more app ports. A request whose <c>Host</c> names one of these ports (the port the caller
    /// addressed) goes to that app; any other request goes to <see cref="App"/>.
    /// </summary>
    public IReadOnlyList<InboundAppSpec> Apps { get; init; } = [];

    /// <summary><c>spec.inbound.jwtRules</c>: JWT validation as an Istio <c>RequestAuthentication</c> (none = tokens ignored).</summary>
    public IReadOnlyList<JwtRuleSpec> JwtRules { get; init; } = [];

    /// <summary><c>spec.inbound.appProtocol</c>: how <see cref="App"/> is spoken to (HTTP/1.1 unless HTTP/2 is named);
    /// entries of <see cref="Apps"/> inherit it unless they set their own.</summary>
    public AppProtocol AppProtocol { get; init; } = AppProtocol.Http;
}

/// <summary>One entry of <c>spec.inbound.apps</c>: requests for <see cref="Port"/> go to <see cref="App"/> with its own idle timeout.</summary>
public sealed record InboundAppSpec(int Port, Uri App, TimeSpan Timeout)
{
    /// <summary><c>appProtocol</c> of the entry, else <c>spec.inbound.appProtocol</c>.</summary>
    public AppProtocol AppProtocol { get; init; } = AppProtocol.Http;
}

/// <summary>
/// <c>spec.inbound.limits</c> / <c>spec.outbound.limits</c>: deadlines and caps of one listener (docs/policy.md).
/// <see cref="MaxConnections"/> (0 = no cap) and <see cref="SniffTimeout"/> (everything before the first HTTP byte:
/// PERMISSIVE and h2c sniffing, the channel handshake; 0 = none) are read per connection, so a reload applies to new
/// connections. <see cref="HeaderTimeout"/> and <see cref="IdleTimeout"/> are Kestrel's
/// <c>RequestHeadersTimeout</c>/<c>KeepAliveTimeout</c>, which Kestrel holds once for the whole server: it runs with
/// the smaller of the inbound and outbound values, fixed at start. On the outbound listener the sniff deadline starts at
/// the connection's first byte; before it the connection is idle, bounded by this listener's <see cref="IdleTimeout"/>
/// read per connection (<c>ListenerGuard</c>).
/// </summary>
public sealed record ListenerLimitsSpec(int MaxConnections, TimeSpan SniffTimeout, TimeSpan HeaderTimeout, TimeSpan IdleTimeout)
{
    public static readonly ListenerLimitsSpec Default = new(10_000, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(130));

    /// <summary>The inbound listener's defaults: also <see cref="MaxPendingPerSource"/> 64 and a handshake rate of
    /// 50/s per source with a burst of 100.</summary>
    public static readonly ListenerLimitsSpec InboundDefault = Default with { MaxPendingPerSource = 64, HandshakesPerSecondPerSource = 50, HandshakeBurstPerSource = 100 };

    /// <summary>
    /// Connections from one source address that may be before their first HTTP byte at once — sniffing, or in the
    /// channel handshake (0 = no cap). Without it one host holding half-open handshakes could take every
    /// <see cref="MaxConnections"/> slot; a mesh caller needs few (its channels are pooled and multiplexed).
    /// Default 64 inbound, none outbound (the app is the only source there).
    /// </summary>
    public int MaxPendingPerSource { get; init; }

    /// <summary>
    /// Channel handshakes one source address may start per second, as a token bucket refilled at this rate
    /// (0 = no limit; inbound only). Checked before the server does any work for a ClientHello, so a source over it
    /// costs a lookup and a 6-byte <c>Overloaded</c> alert instead of ~0.6 ms of ECDH and ML-KEM work and ~8 KB sent.
    /// A mesh caller pools its channels and needs a few per restart; the default 50/s (burst 100) bounds one source to a
    /// few percent of a core.
    /// </summary>
    public int HandshakesPerSecondPerSource { get; init; }

    /// <summary>The bucket's size: handshakes a source may start at once after being quiet (default twice the rate).</summary>
    public int HandshakeBurstPerSource { get; init; }
}

/// <summary>
/// <c>spec.inbound.authorization</c>: ALLOW rules (<see cref="Rules"/>) and DENY rules (<see cref="DenyRules"/>) with
/// Istio semantics: any matching DENY rule refuses; then, when there is an ALLOW policy, a request must match one of its
/// rules. Absent means allow all.
/// </summary>
public sealed record AuthorizationSpec(IReadOnlyList<AuthorizationRuleSpec> Rules)
{
    /// <summary><c>denyRules</c>: a request matching any of them is refused, whatever the ALLOW rules say.</summary>
    public IReadOnlyList<AuthorizationRuleSpec> DenyRules { get; init; } = [];

    /// <summary>False when the section has <c>denyRules</c> but no <c>rules</c>: there is no ALLOW policy, so what no
    /// DENY rule matches is allowed (an empty <c>rules</c> list, in contrast, is an ALLOW policy that admits nothing).</summary>
    public bool HasAllowPolicy { get; init; } = true;
}

/// <summary>One rule; it matches when every clause present matches.</summary>
public sealed record AuthorizationRuleSpec(FromSpec? From, ToSpec? To);

/// <summary>
/// <c>from</c>: who is calling. Every list present must match (AND), any entry of a list (OR). Principals and namespaces
/// come from the PQ channel's verified peer; request principals (<c>iss/sub</c>) from a JWT validated by
/// <c>jwtRules</c>. A positive list never matches a caller without that identity; a <c>not</c> list always does.
/// </summary>
public sealed record FromSpec(IReadOnlyList<string>? Principals)
{
    public IReadOnlyList<string>? NotPrincipals { get; init; }

    public IReadOnlyList<string>? RequestPrincipals { get; init; }

    public IReadOnlyList<string>? NotRequestPrincipals { get; init; }

    public IReadOnlyList<string>? Namespaces { get; init; }

    public IReadOnlyList<string>? NotNamespaces { get; init; }
}

/// <summary><c>to</c>: what is called. An absent list matches anything.</summary>
public sealed record ToSpec(IReadOnlyList<string>? Methods, IReadOnlyList<string>? Paths)
{
    public IReadOnlyList<string>? NotMethods { get; init; }

    public IReadOnlyList<string>? NotPaths { get; init; }

    /// <summary>The app port the request is forwarded to (the port of <c>app</c> or of the <c>apps</c> entry) is / is not one of these.</summary>
    public IReadOnlyList<int>? Ports { get; init; }

    public IReadOnlyList<int>? NotPorts { get; init; }
}

/// <summary>
/// One <c>spec.inbound.jwtRules[]</c> entry, as an Istio <c>RequestAuthentication</c> jwtRule: tokens whose <c>iss</c> is
/// <see cref="Issuer"/> are verified with the keys of <see cref="Jwks"/> (inline), <see cref="JwksFile"/> (a mounted
/// file, re-read at every policy reload and poll) or <see cref="JwksUri"/> (fetched in the background).
/// </summary>
public sealed record JwtRuleSpec(
    string Issuer,
    IReadOnlyList<string> Audiences,
    string? Jwks,
    string? JwksFile,
    IReadOnlyList<JwtHeaderSpec> FromHeaders,
    IReadOnlyList<string> FromParams,
    bool ForwardOriginalToken)
{
    /// <summary>An http(s) URL the sidecar fetches the key set from (Istio's <c>jwksUri</c>, Envoy's <c>remote_jwks</c>).</summary>
    public Uri? JwksUri { get; init; }
}

/// <summary>A header a token is read from, and the prefix stripped before it (<c>Authorization</c>, <c>"Bearer "</c>).</summary>
public sealed record JwtHeaderSpec(string Name, string Prefix);

/// <summary>One token-bucket rate limit.</summary>
public sealed record RateLimitSpec(
    string Name,
    IReadOnlyList<string>? MatchPaths,
    IReadOnlyList<string>? MatchMethods,
    RateLimitKey Key,
    double RequestsPerSecond,
    int Burst)
{
    /// <summary>The default of <see cref="MaxKeys"/> (Envoy Gateway's default for Envoy's <c>max_dynamic_descriptors</c>, whose own default, 20, is a test-sized value).</summary>
    public const int DefaultMaxKeys = 10_000;

    /// <summary>The largest <see cref="MaxKeys"/> a policy may write.</summary>
    public const int MaxMaxKeys = 1_000_000;

    /// <summary>The most keys holding a bucket at once; a new key beyond it takes the least recently used key's bucket.</summary>
    public int MaxKeys { get; init; } = DefaultMaxKeys;
}

/// <summary>What a rate limit partitions its buckets by.</summary>
public enum RateLimitKeyKind
{
    /// <summary>One bucket for everybody.</summary>
    None,

    /// <summary>One bucket per authenticated caller principal (plaintext callers share one bucket).</summary>
    SourcePrincipal,

    /// <summary>One bucket per value of a request header (requests without it share one bucket).</summary>
    Header,
}

/// <summary>A rate limit key: <c>none</c>, <c>sourcePrincipal</c> or <c>header:&lt;Name&gt;</c>.</summary>
public readonly record struct RateLimitKey(RateLimitKeyKind Kind, string? HeaderName)
{
    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        RateLimitKeyKind.None => "none",
        RateLimitKeyKind.SourcePrincipal => "sourcePrincipal",
        _ => "header:" + HeaderName,
    };
}

/// <summary>How a listener or route secures its connections.</summary>
public enum ChannelMode
{
    /// <summary>Only the post-quantum channel.</summary>
    Strict,

    /// <summary>The post-quantum channel or plaintext, detected per connection (inbound only).</summary>
    Permissive,

    /// <summary>Plaintext HTTP; callers have no verified identity.</summary>
    Disable,
}

/// <summary><c>spec.outbound</c>: the local app's calls to other services.</summary>
public sealed record OutboundSpec(ListenAddress Listen, ChannelMode Mode, IReadOnlyList<OutboundRouteSpec> Routes)
{
    /// <summary><c>spec.outbound.limits</c>.</summary>
    public ListenerLimitsSpec Limits { get; init; } = ListenerLimitsSpec.Default;

    /// <summary><c>spec.outbound.h2UpgradePolicy</c>: the policy of routes that leave theirs at
    /// <see cref="H2UpgradePolicy.Default"/> (Istio's mesh-wide setting). <see cref="H2UpgradePolicy.Default"/> when not
    /// set: the sidecar chooses per request by the endpoint's requests in flight (HTTP/1.1 while few, HTTP/2 beyond).</summary>
    public H2UpgradePolicy H2UpgradePolicy { get; init; } = H2UpgradePolicy.Default;
}

/// <summary>One outbound route, selected by <c>Host</c> and an optional path prefix.</summary>
public sealed record OutboundRouteSpec(
    string Host,
    string? PathPrefix,
    IReadOnlyList<EndpointAddress> Endpoints,
    string? Identity,
    TimeSpan Timeout,
    int RetryAttempts,
    LoadBalancingPolicy LoadBalancing,
    string? HashHeader,
    int OutlierConsecutiveFailures,
    TimeSpan OutlierEjectionTime)
{
    /// <summary>A stable, human-readable route id used in logs and metric labels.</summary>
    public string Id => PathPrefix is null ? Host : Host + PathPrefix;

    /// <summary>
    /// <c>dnsRefresh</c>: how often the DNS names among <see cref="Endpoints"/> are re-resolved (each A/AAAA record is
    /// one endpoint); also soon after a connect failure. Default 5 s, as Envoy's STRICT_DNS and CoreDNS's TTL.
    /// </summary>
    public TimeSpan DnsRefresh { get; init; } = DefaultDnsRefresh;

    /// <summary>
    /// <c>appPort</c>: the peer's app port this route's requests are for (sent in <c>x-belizemesh-app-port</c>; the
    /// peer's inbound forwards to that port's app whatever port <c>Host</c> names). Null: the <c>Host</c>'s port decides.
    /// </summary>
    public int? AppPort { get; init; }

    /// <summary><c>connectionPool.h2UpgradePolicy</c>: whether HTTP/1.x requests cross a STRICT channel as HTTP/2
    /// (<see cref="H2UpgradePolicy.Upgrade"/>) or as HTTP/1.1; <see cref="H2UpgradePolicy.Default"/> takes
    /// <see cref="OutboundSpec.H2UpgradePolicy"/>.</summary>
    public H2UpgradePolicy H2UpgradePolicy { get; init; } = H2UpgradePolicy.Default;

    /// <summary>The default of <see cref="DnsRefresh"/>.</summary>
    public static readonly TimeSpan DefaultDnsRefresh = TimeSpan.FromSeconds(5);

    /// <summary><c>retries</c> in full (attempts, per-try timeout, conditions); null when the route has none.</summary>
    public RetryPolicySpec? Retries { get; init; }

    /// <summary><c>retries.budget</c>: how many retries may be in flight on this route (shared by its rules).</summary>
    public RetryBudgetSpec RetryBudget { get; init; } = RetryBudgetSpec.Default;

    /// <summary><c>http</c>: ordered rules (matches, weighted destinations, retries, faults); empty = one implicit rule
    /// sending everything to <see cref="Endpoints"/>.</summary>
    public IReadOnlyList<HttpRuleSpec> Http { get; init; } = [];
}

/// <summary>A <c>host:port</c> upstream endpoint (DNS name or IP literal).</summary>
public sealed partial record EndpointAddress(string Host, int Port)
{
    /// <summary><c>host:port</c>, with IPv6 literals in brackets.</summary>
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>A listen address: an IP literal and a port (0 = any free port, for tests).</summary>
public sealed partial record ListenAddress(IPAddress Address, int Port)
{
    /// <summary>The address as an <see cref="IPEndPoint"/>.</summary>
    public IPEndPoint ToEndPoint() => new(Address, Port);

    /// <inheritdoc />
    public override string ToString() => ToEndPoint().ToString();
}
