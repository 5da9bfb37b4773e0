using System.Globalization;
using System.Text.Json.Nodes;
using BelizeMesh.Configuration;
using BelizeMesh.Mesh.Model;
using BelizeMesh.Mesh.Parsing;
using static BelizeMesh.Mesh.Emit.MeshEmitter;

namespace BelizeMesh.Mesh.Emit;

/// <summary>
/// Builds the <c>SidecarPolicy</c> document (the contract in DESIGN.md that <c>belizemesh-proxy</c> parses) for one
/// quantum-enabled service: its identity; inbound authorization mirroring the service's ALLOW rules; its rate limits;
/// and one outbound route for every quantum-enabled service it may call, with the callee's timeout, retries, load
/// balancing and its VirtualService routes as ordered <c>http</c> rules (<see cref="SidecarTraffic"/>).
/// </summary>
internal static class SidecarPolicyBuilder
{
    // The kubelet's readiness probe (set by the injector) and Prometheus reach the admin port on the pod IP, so it
    // cannot bind loopback only; the injector also excludes 16090 from Envoy's inbound capture.
    public static readonly string AdminListen = "0.0.0.0:" + MeshNames.AdminPort.ToString(CultureInfo.InvariantCulture);
    public static readonly string InboundListen = "0.0.0.0:" + MeshNames.InboundPort.ToString(CultureInfo.InvariantCulture);
    public static readonly string OutboundListen = "127.0.0.1:" + MeshNames.OutboundPort.ToString(CultureInfo.InvariantCulture);
    public const int ChannelPort = MeshNames.InboundPort;

    /// <summary>The most retry attempts the sidecar accepts on an outbound route.</summary>
    public const int MaxSidecarRetries = 10;

    public static string ConfigMapName(ServiceSpec service) => MeshNames.PolicyConfigMapPrefix + service.ServiceAccount;

    public static JsonObject Build(MeshDescription mesh, ServiceSpec service)
    {
        var inbound = new JsonObject
        {
            ["listen"] = InboundListen,
            ["app"] = "http://127.0.0.1:" + service.EffectiveAppPort!.Value.ToString(CultureInfo.InvariantCulture),
            ["mode"] = mesh.EffectiveMtls(service) switch
            {
                MtlsMode.Strict => "STRICT",
                MtlsMode.Permissive => "PERMISSIVE",
                _ => "DISABLE",
            },
        };
        string appProtocol = AppProtocol(AppPortSpec(service));
        if (appProtocol != "http")
        {
            inbound["appProtocol"] = appProtocol;
        }

        if (appProtocol == "grpc")
        {
            // a gRPC app's streams may be quiet for long: no idle timeout, as Istio's inbound (stream_idle_timeout 0s)
            inbound["timeout"] = Durations.Format(TimeSpan.Zero);
        }

        if (InboundApps(service, appProtocol) is { } apps)
        {
            inbound["apps"] = apps;
        }

        if (InboundAuthorization(mesh, service) is { } authorization)
        {
            inbound["authorization"] = authorization;
        }

        if (JwtRules(service) is { } jwtRules)
        {
            inbound["jwtRules"] = jwtRules;
        }

        if (service.RateLimits.Count > 0)
        {
            var limits = new JsonArray();
            foreach (var limit in service.RateLimits)
            {
                limits.Push(new JsonObject
                {
                    ["name"] = limit.Name,
                    ["match"] = new JsonObject { ["paths"] = limit.Paths.Count > 0 ? Strings(limit.Paths) : new JsonArray("*") },
                    ["key"] = limit.Key,
                    ["requestsPerSecond"] = limit.RequestsPerSecond,
                    ["burst"] = limit.Burst,
                });
            }

            inbound["rateLimits"] = limits;
        }

        var routes = new List<(string Host, JsonObject Route)>();
        foreach (var callee in mesh.Services)
        {
            if (!callee.Quantum || ReferenceEquals(callee, service) || !MeshRules.MayCall(mesh, service, callee))
            {
                continue;
            }

            string host = mesh.HostOf(callee);
            var route = new JsonObject
            {
                ["host"] = host,
                ["endpoints"] = new JsonArray(PqServiceNames.Endpoint(mesh, callee)),
                ["identity"] = mesh.SpiffeIdOf(callee),
            };
            if (callee.Timeout is { } timeout)
            {
                route["timeout"] = Durations.Format(timeout);
            }
            else if (HasGrpcPort(callee))
            {
                // Istio's routes have no timeout unless the VirtualService sets one; the sidecar's 60 s idle default
                // would end a gRPC stream (a watch, a subscription) quiet for a minute
                route["timeout"] = Durations.Format(TimeSpan.Zero);
            }

            // Istio's retries as written (or Istio's default policy): attempts, per-try timeout, retryOn.
            route["retries"] = SidecarTraffic.Retries(callee.Retries);

            // The sidecar hashes on a header only; cookie and source-IP affinity fall back to its default, round robin.
            if (callee.LoadBalancing is { } lb && SidecarLoadBalancing(lb) is { } balancing)
            {
                route["loadBalancing"] = balancing;
            }

            // Istio's h2UpgradePolicy: the sidecar keeps the caller's protocol inside the channel unless UPGRADE
            if (MeshEmitter.H2UpgradeText(callee.ConnectionPool?.H2UpgradePolicy) is { } h2Upgrade)
            {
                route["connectionPool"] = new JsonObject { ["h2UpgradePolicy"] = h2Upgrade };
            }

            if (callee.OutlierDetection is { } outlier)
            {
                var detection = Obj(
                    ("consecutiveFailures", outlier.Consecutive5xxErrors ?? outlier.ConsecutiveGatewayErrors),
                    ("ejectionTime", Duration(outlier.BaseEjectionTime)));
                if (detection.Count > 0)
                {
                    route["outlierDetection"] = detection;
                }
            }

            if (SidecarTraffic.HttpRules(mesh, callee) is { } http)
            {
                route["http"] = http;
            }

            routes.Add((host, route));
        }

        routes.Sort(static (a, b) => string.CompareOrdinal(a.Host, b.Host));
        var outboundRoutes = new JsonArray();
        foreach (var (_, route) in routes)
        {
            outboundRoutes.Push(route);
        }

        return new JsonObject
        {
            ["apiVersion"] = MeshParser.ApiVersion,
            ["kind"] = "SidecarPolicy",
            ["metadata"] = new JsonObject { ["name"] = service.Name, ["namespace"] = service.Namespace },
            ["spec"] = new JsonObject
            {
                ["identity"] = mesh.SpiffeIdOf(service),
                ["admin"] = new JsonObject { ["listen"] = AdminListen },
                ["inbound"] = inbound,
                ["outbound"] = new JsonObject { ["listen"] = OutboundListen, ["routes"] = outboundRoutes },
            },
        };
    }

    /// <summary>
    /// The service's other HTTP-family ports as <c>inbound.apps</c> (<c>http://127.0.0.1:&lt;port&gt;</c>, selected by the
    /// port callers put in <c>Host</c>), so every HTTP port is reachable through the PQ path, not only the app port
    /// (the blockchain node's WebSocket 9944 next to its RPC 9933).
    /// </summary>
    /// <summary>The sidecar's <c>appProtocol</c> for a Service port: HTTP/2 with prior knowledge for <c>GRPC</c> and
    /// <c>HTTP2</c> ports, as Envoy's inbound cluster; HTTP/1.1 otherwise. <c>GRPC-WEB</c> included, unlike Istio (whose
    /// gRPC-Web filter translates to gRPC and speaks HTTP/2 to the app): the sidecar does not translate, so the app
    /// serves gRPC-Web itself, and gRPC-Web servers take HTTP/1.1 (docs/mesh.md).</summary>
    internal static string AppProtocol(PortSpec? port) => port?.EffectiveProtocol switch
    {
        "GRPC" => "grpc",
        "HTTP2" => "http2",
        _ => "http",
    };

    /// <summary>The Service port the sidecar's <c>inbound.app</c> stands for: the port numbered as the app port, else
    /// (a translated port, 80 → 8080) the first HTTP-family port.</summary>
    private static PortSpec? AppPortSpec(ServiceSpec service)
    {
        int appPort = service.EffectiveAppPort!.Value;
        PortSpec? firstHttp = null;
        foreach (var port in service.Ports)
        {
            if (port.Number == appPort)
            {
                return port;
            }

            if (firstHttp is null && port.EffectiveProtocol is { } protocol && Protocols.IsHttp(protocol))
            {
                firstHttp = port;
            }
        }

        return firstHttp;
    }

    private static JsonArray? InboundApps(ServiceSpec service, string defaultProtocol)
    {
        int appPort = service.EffectiveAppPort!.Value;
        JsonArray? apps = null;

        // Only when the app port is one of the Service's ports: the ports then map 1:1 to the container's. An appPort
        // outside them means the Service port is translated (80 → 8080), and the other port numbers say nothing
        // about where the container listens.
        bool oneToOne = false;
        foreach (var port in service.Ports)
        {
            oneToOne |= port.Number == appPort;
        }

        if (!oneToOne)
        {
            return null;
        }

        foreach (var port in service.Ports)
        {
            if (port.Number != appPort && port.EffectiveProtocol is { } protocol && Protocols.IsHttp(protocol))
            {
                var entry = new JsonObject { ["port"] = port.Number };
                string entryProtocol = AppProtocol(port);
                if (entryProtocol != defaultProtocol)
                {
                    entry["appProtocol"] = entryProtocol;
                }

                // gRPC entries have no idle timeout, the others the sidecar's default: written where the entry would
                // otherwise inherit the other one from spec.inbound.timeout (written 0s for a gRPC app port)
                if ((entryProtocol == "grpc") != (defaultProtocol == "grpc"))
                {
                    entry["timeout"] = Durations.Format(entryProtocol == "grpc" ? TimeSpan.Zero : MeshNames.DefaultIdleTimeout);
                }

                (apps ??= []).Push(entry);
            }
        }

        return apps;
    }

    /// <summary>Whether any of the service's ports is a <c>GRPC</c> port (written or from its name).</summary>
    private static bool HasGrpcPort(ServiceSpec service)
    {
        foreach (var port in service.Ports)
        {
            if (port.EffectiveProtocol == "GRPC")
            {
                return true;
            }
        }

        return false;
    }

    internal static JsonObject? SidecarLoadBalancing(LoadBalancingSpec lb) => lb.Policy switch
    {
        LoadBalancingPolicy.RoundRobin => Obj(("policy", "RoundRobin")),
        LoadBalancingPolicy.LeastRequests => Obj(("policy", "LeastRequests")),
        LoadBalancingPolicy.Random => Obj(("policy", "Random")),
        _ when lb.Header is not null => Obj(("policy", "ConsistentHash"), ("header", lb.Header)),
        _ => null,
    };

    /// <summary>
    /// The ALLOW and DENY rules in the sidecar's vocabulary, with Istio's semantics (docs/policy.md): service accounts and
    /// principals become <c>principals</c>; namespaces, not-clauses and request principals are kept as they are; a rule
    /// without a source has no <c>from</c> (anyone). A required JWT adds <c>requestPrincipals: ["*"]</c> to every ALLOW
    /// rule (one rule requiring it when there are none), as the Istio AuthorizationPolicy does. <c>to.ports</c> and
    /// <c>to.notPorts</c> are kept: the sidecar matches them against the app port a request is forwarded to (the app port
    /// or an <c>inbound.apps</c> port); a rule that cannot match any of those ports is left out. No ALLOW rules: no <c>rules</c> (allow what no DENY rule matches)
    /// unless the namespace denies by default (an empty list: deny all); no rules at all: no section (allow all).
    /// </summary>
    private static JsonObject? InboundAuthorization(MeshDescription mesh, ServiceSpec service)
    {
        bool requireJwt = service.Jwt is { Required: true };
        var allow = service.Authorization.Allow;
        if (allow.Count == 0 && requireJwt)
        {
            allow = [new AuthorizationRule(null, null, null, service.Jwt!.Position)];
        }

        // The ports the sidecar forwards to (inbound.app and inbound.apps), which to.ports / to.notPorts are matched against.
        var appPorts = new List<int> { service.EffectiveAppPort!.Value };
        if (InboundApps(service, "http") is { } apps)
        {
            foreach (var app in apps)
            {
                appPorts.Add((int)app!["port"]!);
            }
        }

        var rules = new JsonArray();
        foreach (var rule in allow)
        {
            if (SidecarRule(mesh, service, rule, requireJwt, appPorts) is { } mirrored)
            {
                rules.Push(mirrored);
            }
        }

        var denyRules = new JsonArray();
        foreach (var rule in service.Authorization.Deny)
        {
            if (SidecarRule(mesh, service, rule, requireJwt: false, appPorts) is { } mirrored)
            {
                denyRules.Push(mirrored);
            }
        }

        bool allowPolicy = allow.Count > 0 || mesh.FindNamespace(service.Namespace) is { DefaultDeny: true };
        if (!allowPolicy && denyRules.Count == 0)
        {
            return null;
        }

        var result = new JsonObject();
        if (allowPolicy)
        {
            result["rules"] = rules;
        }

        if (denyRules.Count > 0)
        {
            result["denyRules"] = denyRules;
        }

        return result;
    }

    /// <summary>One rule for the sidecar, or null when it cannot match there: its <c>ports</c> name none of the sidecar's
    /// app ports, or its <c>notPorts</c> name them all.</summary>
    private static JsonObject? SidecarRule(MeshDescription mesh, ServiceSpec service, AuthorizationRule rule, bool requireJwt, List<int> appPorts)
    {
        if (rule.To is { } operation)
        {
            bool anyListed = false, allExcluded = true;
            foreach (int port in appPorts)
            {
                anyListed |= operation.Ports.Contains(port);
                allExcluded &= operation.NotPorts.Contains(port);
            }

            if ((operation.Ports.Count > 0 && !anyListed) || (operation.NotPorts.Count > 0 && allExcluded))
            {
                return null;
            }
        }

        var from = new JsonObject();
        if (rule.From is { } source)
        {
            var principals = new JsonArray();
            foreach (var sa in source.ServiceAccounts)
            {
                principals.Push(mesh.PrincipalOf(sa.Namespace, sa.Name));
            }

            foreach (var p in source.Principals)
            {
                principals.Push(p);
            }

            Put(from, "principals", principals);
            Put(from, "notPrincipals", Strings(source.NotPrincipals));
            Put(from, "requestPrincipals", Strings(source.RequestPrincipals));
            Put(from, "notRequestPrincipals", Strings(source.NotRequestPrincipals));
            Put(from, "namespaces", Strings(source.Namespaces));
            Put(from, "notNamespaces", Strings(source.NotNamespaces));
        }

        if (requireJwt && !from.ContainsKey("requestPrincipals"))
        {
            from["requestPrincipals"] = new JsonArray("*");
        }

        var result = new JsonObject();
        if (from.Count > 0)
        {
            result["from"] = from;
        }

        if (rule.To is { } to)
        {
            var toNode = new JsonObject();
            Put(toNode, "methods", Strings(to.Methods));
            Put(toNode, "notMethods", Strings(to.NotMethods));
            Put(toNode, "paths", Strings(to.Paths));
            Put(toNode, "notPaths", Strings(to.NotPaths));
            Put(toNode, "ports", Ports(to.Ports));
            Put(toNode, "notPorts", Ports(to.NotPorts));
            if (toNode.Count > 0)
            {
                result["to"] = toNode;
            }
        }

        return result;
    }

    private static JsonArray Ports(IReadOnlyList<int> ports)
    {
        var result = new JsonArray();
        foreach (int port in ports)
        {
            result.Push(port);
        }

        return result;
    }

    private static void Put(JsonObject target, string name, JsonArray values)
    {
        if (values.Count > 0)
        {
            target[name] = values;
        }
    }

    /// <summary>
    /// The service's RequestAuthentication for the sidecar: one <c>jwtRules</c> entry per issuer, with its keys as
    /// <c>jwks</c> (inline), <c>jwksFile</c> (a mounted copy, when the mesh file gives one) or <c>jwksUri</c> (the
    /// sidecar fetches it, as Envoy's <c>remote_jwks</c>).
    /// </summary>
    private static JsonArray? JwtRules(ServiceSpec service)
    {
        if (service.Jwt is not { } jwt)
        {
            return null;
        }

        var rules = new JsonArray();
        foreach (var issuer in jwt.Issuers)
        {
            var rule = new JsonObject { ["issuer"] = issuer.Issuer };
            Put(rule, "audiences", Strings(issuer.Audiences));
            if (issuer.Jwks is not null)
            {
                rule["jwks"] = issuer.Jwks;
            }
            else if (issuer.JwksFile is not null)
            {
                rule["jwksFile"] = issuer.JwksFile;
            }
            else
            {
                rule["jwksUri"] = issuer.JwksUri;
            }

            rules.Push(rule);
        }

        return rules.Count > 0 ? rules : null;
    }
}
