using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Forwarding;
using BelizeMesh.Proxy.Outbound;
using BelizeMesh.Proxy.Policy.Authentication;
using BelizeMesh.Proxy.Policy.Authorization;
using BelizeMesh.Proxy.Policy.RateLimiting;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Everything a request needs, compiled from one policy: published as one immutable object through a volatile
/// reference, so a request sees either the old policy or the new one, never a mix.
/// </summary>
internal sealed class ProxySnapshot(
    SidecarPolicy policy,
    string contentHash,
    AuthorizationPolicy authorization,
    RateLimitPolicy rateLimits,
    UpstreamTarget inboundApp,
    OutboundRouteTable outbound)
{
    public SidecarPolicy Policy { get; } = policy;

    public string ContentHash { get; } = contentHash;

    public AuthorizationPolicy Authorization { get; } = authorization;

    public RateLimitPolicy RateLimits { get; } = rateLimits;

    public UpstreamTarget InboundApp { get; } = inboundApp;

    public OutboundRouteTable Outbound { get; } = outbound;

    public bool AccessLog => Policy.Spec.AccessLog;

    /// <summary><c>spec.inbound.jwtRules</c> compiled (<see cref="RequestAuthenticator.None"/> without rules).</summary>
    public RequestAuthenticator Jwt { get; init; } = RequestAuthenticator.None;
}

/// <summary>Compiles policies into snapshots, reusing long-lived state (connection pools, buckets, endpoint health).</summary>
internal sealed class SnapshotBuilder(UpstreamClientFactory clients, RateLimiterRegistry rateLimiters, EndpointStateRegistry endpoints, JwksFiles jwksFiles)
{
    /// <summary>Whether a <c>jwksFile</c> of <paramref name="policy"/> changed since it was last read (a rebuild picks it up).</summary>
    public bool JwksChanged(SidecarPolicy policy) => jwksFiles.Changed(policy);

    public ProxySnapshot Build(SidecarPolicy policy, string contentHash)
    {
        InboundSpec inbound = policy.Spec.Inbound;
        var app = new EndpointAddress(inbound.App.Host, inbound.App.Port);
        var inboundTarget = new UpstreamTarget(
            "inbound",
            [endpoints.Get("inbound", app)],
            LoadBalancer.Create(LoadBalancingPolicy.RoundRobin, null),
            clients.GetOrCreate(ChannelMode.Disable, null),
            UpstreamTarget.CreateConfig(inbound.Timeout, http2: false),
            retryAttempts: 0,
            outlierThreshold: 0,
            ejectionTime: TimeSpan.Zero);

        var routes = new List<(string, string?, UpstreamTarget)>(policy.Spec.Outbound.Routes.Count);
        foreach (OutboundRouteSpec route in policy.Spec.Outbound.Routes)
        {
            var states = new EndpointState[route.Endpoints.Count];
            for (int i = 0; i < states.Length; i++)
            {
                states[i] = endpoints.Get(route.Id, route.Endpoints[i]);
            }

            ChannelMode mode = policy.Spec.Outbound.Mode;
            routes.Add((route.Host, route.PathPrefix, new UpstreamTarget(
                route.Id,
                states,
                LoadBalancer.Create(route.LoadBalancing, route.HashHeader),
                clients.GetOrCreate(mode, route.Identity),
                UpstreamTarget.CreateConfig(route.Timeout, http2: mode != ChannelMode.Disable),
                route.RetryAttempts,
                route.OutlierConsecutiveFailures,
                route.OutlierEjectionTime)));
        }

        var snapshot = new ProxySnapshot(
            policy,
            contentHash,
            AuthorizationPolicy.Create(inbound.Authorization),
            RateLimitPolicy.Create(inbound.RateLimits, rateLimiters),
            inboundTarget,
            new OutboundRouteTable(routes))
        {
            Jwt = RequestAuthenticator.Create(inbound.JwtRules, jwksFiles.KeysFor, jwksFiles.Time),
        };
        rateLimiters.Commit();
        return snapshot;
    }
}
