using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Forwarding;
using BelizeMesh.Proxy.Outbound;
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

    /// <summary>The default app (<c>spec.inbound.app</c>).</summary>
    public UpstreamTarget InboundApp { get; } = inboundApp;

    /// <summary>The apps of <c>spec.inbound.apps</c> by the port callers address; null when there are none.</summary>
    public IReadOnlyDictionary<int, UpstreamTarget>? InboundAppsByPort { get; init; }

    /// <summary>The app for a request whose <c>Host</c> names <paramref name="port"/> (null: no port): a listed port's
    /// app, else the default app.</summary>
    public UpstreamTarget InboundAppFor(int? port)
        => port is { } p && InboundAppsByPort is { } apps && apps.TryGetValue(p, out UpstreamTarget? target) ? target : InboundApp;

    public OutboundRouteTable Outbound { get; } = outbound;

    public bool AccessLog => Policy.Spec.AccessLog;
}

/// <summary>Compiles policies into snapshots, reusing long-lived state (connection pools, buckets, endpoint health).</summary>
internal sealed class SnapshotBuilder(UpstreamClientFactory clients, RateLimiterRegistry rateLimiters, EndpointStateRegistry endpoints, EndpointSetRegistry endpointSets)
{
    public ProxySnapshot Build(SidecarPolicy policy, string contentHash)
    {
        InboundSpec inbound = policy.Spec.Inbound;
        UpstreamTarget inboundTarget = InboundTarget("inbound", inbound.App, inbound.Timeout);
        Dictionary<int, UpstreamTarget>? appsByPort = null;
        foreach (InboundAppSpec app in inbound.Apps)
        {
            (appsByPort ??= [])[app.Port] = InboundTarget("inbound:" + app.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), app.App, app.Timeout);
        }

        var routes = new List<(string, string?, UpstreamTarget)>(policy.Spec.Outbound.Routes.Count);
        foreach (OutboundRouteSpec route in policy.Spec.Outbound.Routes)
        {
            // An endpoint list → the endpoints balanced across: a DNS name becomes one endpoint per A/AAAA record.
            EndpointSet states = endpointSets.Get(route.Id, route.Endpoints, route.DnsRefresh);

            ChannelMode mode = policy.Spec.Outbound.Mode;
            routes.Add((route.Host, route.PathPrefix, new UpstreamTarget(
                route.Id,
                states,
                LoadBalancer.Create(route.LoadBalancing, route.HashHeader),
                clients.GetOrCreate(mode, route.Identity),
                UpstreamTarget.CreateConfig(route.Timeout, http2: mode != ChannelMode.Disable),
                route.RetryAttempts,
                route.OutlierConsecutiveFailures,
                route.OutlierEjectionTime)
            {
                AppPort = route.AppPort is { } appPort ? new ForwardedAppPortFeature(appPort) : null,
            }));
        }

        var snapshot = new ProxySnapshot(
            policy,
            contentHash,
            AuthorizationPolicy.Create(inbound.Authorization),
            RateLimitPolicy.Create(inbound.RateLimits, rateLimiters),
            inboundTarget,
            new OutboundRouteTable(routes))
        {
            InboundAppsByPort = appsByPort,
        };
        rateLimiters.Commit();
        endpointSets.Commit();
        return snapshot;
    }

    /// <summary>A local app: one fixed endpoint (the app's host is connected to as written, never resolved per pod).</summary>
    private UpstreamTarget InboundTarget(string id, Uri app, TimeSpan timeout)
        => new(
            "inbound",
            EndpointSet.Fixed(id, endpoints.Get(id, new EndpointAddress(app.Host, app.Port))),
            LoadBalancer.Create(LoadBalancingPolicy.RoundRobin, null),
            clients.GetOrCreate(ChannelMode.Disable, null),
            UpstreamTarget.CreateConfig(timeout, http2: false),
            retryAttempts: 0,
            outlierThreshold: 0,
            ejectionTime: TimeSpan.Zero);
}
