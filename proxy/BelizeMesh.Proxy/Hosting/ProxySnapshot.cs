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

    /// <summary>The default app (<c>spec.inbound.app</c>).</summary>
    public UpstreamTarget InboundApp { get; } = inboundApp;

    /// <summary>The apps of <c>spec.inbound.apps</c> by the port callers address; null when there are none.</summary>
    public IReadOnlyDictionary<int, UpstreamTarget>? InboundAppsByPort { get; init; }

    /// <summary>The app for a request whose <c>Host</c> names <paramref name="port"/> (null: no port): a listed port's
    /// app, else the default app.</summary>
    public UpstreamTarget InboundAppFor(int? port)
        => port is { } p && InboundAppsByPort is { } apps && apps.TryGetValue(p, out UpstreamTarget? target) ? target : InboundApp;

    /// <summary>As <see cref="InboundAppFor(int?)"/>, with the port of the chosen app's URL: the workload port that
    /// authorization <c>to.ports</c> match, as Istio's <c>operation.ports</c> match the port the workload receives on.</summary>
    public UpstreamTarget InboundAppFor(int? port, out int appPort)
    {
        if (port is { } p && InboundAppsByPort is { } apps && apps.TryGetValue(p, out UpstreamTarget? target))
        {
            IReadOnlyList<InboundAppSpec> entries = Policy.Spec.Inbound.Apps;
            for (int i = 0; i < entries.Count; i++)
            {
                if (entries[i].Port == p)
                {
                    appPort = entries[i].App.Port;
                    return target;
                }
            }
        }

        appPort = Policy.Spec.Inbound.App.Port;
        return InboundApp;
    }

    public OutboundRouteTable Outbound { get; } = outbound;

    public bool AccessLog => Policy.Spec.AccessLog;

    /// <summary><c>spec.inbound.jwtRules</c> compiled (<see cref="RequestAuthenticator.None"/> without rules).</summary>
    public RequestAuthenticator Jwt { get; init; } = RequestAuthenticator.None;
}

/// <summary>Compiles policies into snapshots, reusing long-lived state (connection pools, buckets, endpoint health).</summary>
internal sealed class SnapshotBuilder(UpstreamClientFactory clients, RateLimiterRegistry rateLimiters, EndpointStateRegistry endpoints, EndpointSetRegistry endpointSets, JwksFiles jwksFiles, RemoteJwksRegistry remoteJwks)
{
    /// <summary>Whether a <c>jwksFile</c> of <paramref name="policy"/> changed since it was last read (a rebuild picks it up).</summary>
    public bool JwksChanged(SidecarPolicy policy) => jwksFiles.Changed(policy);

    /// <summary>Whether outbound routes can use the PQ channel (it is set up at start-up only).</summary>
    public bool ChannelConfigured => clients.ChannelConfigured;

    public ProxySnapshot Build(SidecarPolicy policy, string contentHash)
    {
        InboundSpec inbound = policy.Spec.Inbound;
        UpstreamTarget inboundTarget = InboundTarget("inbound", inbound.App, inbound.Timeout, inbound.AppProtocol);
        Dictionary<int, UpstreamTarget>? appsByPort = null;
        foreach (InboundAppSpec app in inbound.Apps)
        {
            (appsByPort ??= [])[app.Port] = InboundTarget("inbound:" + app.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), app.App, app.Timeout, app.AppProtocol);
        }

        var routes = new List<(string, string?, OutboundRoute)>(policy.Spec.Outbound.Routes.Count);
        foreach (OutboundRouteSpec route in policy.Spec.Outbound.Routes)
        {
            ChannelMode mode = policy.Spec.Outbound.Mode;
            var budget = new RetryBudget(route.RetryBudget.Percent, route.RetryBudget.MinConcurrency);
            Metrics.ServiceLabels service = Metrics.ServiceLabels.FromHost(route.Host, policy.Namespace);

            // Inside the PQ channel HTTP/2 requests go as HTTP/2; HTTP/1.x requests keep their protocol (one request at a
            // time per pooled channel) unless the route's h2UpgradePolicy (or the outbound default) is UPGRADE. Left
            // unset on both, the sidecar chooses per request: HTTP/1.1 while few requests are in flight to the
            // endpoint, HTTP/2 beyond (UpstreamTarget.AdaptiveHttp1InFlight, with hysteresis).
            H2UpgradePolicy h2Upgrade = route.H2UpgradePolicy == H2UpgradePolicy.Default ? policy.Spec.Outbound.H2UpgradePolicy : route.H2UpgradePolicy;
            bool keepHttp1 = mode != ChannelMode.Disable && h2Upgrade != H2UpgradePolicy.Upgrade;
            int http1InFlightLimit = h2Upgrade == H2UpgradePolicy.Default ? UpstreamTarget.AdaptiveHttp1InFlight : int.MaxValue;

            // One target per destination: its own endpoint list turned into an endpoint set (a DNS name → one endpoint
            // per pod, re-resolved), its own load balancer and client; all share the route's retry budget. A destination
            // without endpoints uses the route's set; one with its own (a subset's headless Service) gets its own set,
            // with its own endpoint health, as each Istio subset is its own Envoy cluster.
            UpstreamTarget Target(string label, string setId, IReadOnlyList<EndpointAddress> addresses, LoadBalancingPolicy balancing, string? hashHeader, string? identity, TimeSpan timeout, RetryPolicySpec? retries, int? appPort)
            {
                EndpointSet states = endpointSets.Get(setId, addresses, route.DnsRefresh);

                return new UpstreamTarget(
                    label,
                    states,
                    LoadBalancer.Create(balancing, hashHeader),
                    clients.GetOrCreate(mode, identity),
                    UpstreamTarget.CreateConfig(timeout, http2: mode != ChannelMode.Disable),
                    retries?.Attempts ?? 0,
                    route.OutlierConsecutiveFailures,
                    route.OutlierEjectionTime)
                {
                    Http1Config = keepHttp1 ? UpstreamTarget.CreateConfig(timeout, http2: false) : null,
                    Http1InFlightLimit = http1InFlightLimit,
                    Retry = RetryPlan.From(retries),
                    Budget = budget,
                    AppPort = (appPort ?? route.AppPort) is { } port ? new ForwardedAppPortFeature(port) : null,
                    Telemetry = new Metrics.DestinationTelemetry(service, mode == ChannelMode.Disable ? null : identity, mode != ChannelMode.Disable),
                };
            }

            var rules = new RouteRule[route.Http.Count];
            for (int r = 0; r < rules.Length; r++)
            {
                HttpRuleSpec rule = route.Http[r];
                string label = route.Id + "#" + rule.Name;
                var matchers = new RequestMatcher[rule.Matches.Count];
                for (int m = 0; m < matchers.Length; m++)
                {
                    matchers[m] = new RequestMatcher(rule.Matches[m]);
                }

                var destinations = new UpstreamTarget[rule.Destinations.Count];
                var weights = new int[destinations.Length];
                for (int d = 0; d < destinations.Length; d++)
                {
                    DestinationSpec destination = rule.Destinations[d];
                    destinations[d] = Target(
                        label,
                        destination.Endpoints.Count > 0 ? route.Id + "@" + destination.Label : route.Id,
                        destination.Endpoints.Count > 0 ? destination.Endpoints : route.Endpoints,
                        destination.LoadBalancing ?? route.LoadBalancing,
                        destination.LoadBalancing is null ? route.HashHeader : destination.HashHeader,
                        destination.Identity ?? route.Identity,
                        rule.Timeout ?? route.Timeout,
                        rule.Retries ?? route.Retries,
                        destination.AppPort);
                    weights[d] = destination.Weight;
                }

                rules[r] = new RouteRule(label, matchers, destinations, weights, rule.Fault);
            }

            UpstreamTarget main = Target(route.Id, route.Id, route.Endpoints, route.LoadBalancing, route.HashHeader, route.Identity, route.Timeout, route.Retries, null);
            routes.Add((route.Host, route.PathPrefix, new OutboundRoute(route.Id, main, rules)));
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
            Jwt = RequestAuthenticator.Create(inbound.JwtRules, jwksFiles.KeysFor, jwksFiles.Time, remoteJwks.Get),
        };
        rateLimiters.Commit();
        endpointSets.Commit();
        remoteJwks.Commit();
        return snapshot;
    }

    /// <summary>A local app: one fixed endpoint (the app's host is connected to as written, never resolved per pod),
    /// spoken to with HTTP/1.1, or HTTP/2 with prior knowledge when its <see cref="AppProtocol"/> says so (gRPC, h2c:
    /// every request, HTTP/1.1 ones too, goes as HTTP/2, as Envoy's inbound cluster does).</summary>
    private UpstreamTarget InboundTarget(string id, Uri app, TimeSpan timeout, AppProtocol protocol)
        => new(
            "inbound",
            EndpointSet.Fixed(id, endpoints.Get(id, new EndpointAddress(app.Host, app.Port))),
            LoadBalancer.Create(LoadBalancingPolicy.RoundRobin, null),
            clients.GetOrCreate(ChannelMode.Disable, null),
            UpstreamTarget.CreateConfig(timeout, http2: protocol.IsHttp2()),
            retryAttempts: 0,
            outlierThreshold: 0,
            ejectionTime: TimeSpan.Zero);
}
