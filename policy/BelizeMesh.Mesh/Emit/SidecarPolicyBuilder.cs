using System.Globalization;
using System.Text.Json.Nodes;
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
    public const string AdminListen = "0.0.0.0:16090";
    public const string InboundListen = "0.0.0.0:16443";
    public const string OutboundListen = "127.0.0.1:16001";
    public const int ChannelPort = 16443;

    /// <summary>The most retry attempts the sidecar accepts on an outbound route.</summary>
    public const int MaxSidecarRetries = 10;

    public static string ConfigMapName(ServiceSpec service) => "belizemesh-policy-" + service.ServiceAccount;

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
        if (InboundApps(service) is { } apps)
        {
            inbound["apps"] = apps;
        }

        if (InboundAuthorization(mesh, service) is { } authorization)
        {
            inbound["authorization"] = authorization;
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

            // Istio's retries as written (or Istio's default policy): attempts, per-try timeout, retryOn.
            route["retries"] = SidecarTraffic.Retries(callee.Retries);

            // The sidecar hashes on a header only; cookie and source-IP affinity fall back to its default, round robin.
            if (callee.LoadBalancing is { } lb && SidecarLoadBalancing(lb) is { } balancing)
            {
                route["loadBalancing"] = balancing;
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
    private static JsonArray? InboundApps(ServiceSpec service)
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
                (apps ??= []).Push(new JsonObject { ["port"] = port.Number });
            }
        }

        return apps;
    }

    internal static JsonObject? SidecarLoadBalancing(LoadBalancingSpec lb) => lb.Policy switch
    {
        LoadBalancingPolicy.RoundRobin => Obj(("policy", "RoundRobin")),
        LoadBalancingPolicy.LeastRequest => Obj(("policy", "LeastRequests")),
        LoadBalancingPolicy.Random => Obj(("policy", "Random")),
        _ when lb.Header is not null => Obj(("policy", "ConsistentHash"), ("header", lb.Header)),
        _ => null,
    };

    /// <summary>Whether the sidecar can mirror an ALLOW rule (it has no "not" clauses).</summary>
    internal static bool CanMirror(AuthorizationRule rule) => rule.From is not { NotNamespaces.Count: > 0 };

    /// <summary>
    /// The ALLOW rules in the sidecar's vocabulary (Istio semantics, see docs/policy.md): service accounts become
    /// principals; a namespace becomes the pattern <c>&lt;td&gt;/ns/&lt;ns&gt;/sa/*</c>; a rule without a source has no
    /// <c>from</c> (anyone, authenticated or not); a source of request principals only becomes <c>principals: ["*"]</c>
    /// (any authenticated peer: the sidecar does not check JWTs). A rule the sidecar cannot express (notNamespaces) is
    /// left out, which fails closed. No ALLOW rules: no authorization section (allow all) unless the namespace denies by
    /// default (then an empty rule list, deny all).
    /// </summary>
    private static JsonObject? InboundAuthorization(MeshDescription mesh, ServiceSpec service)
    {
        bool requireJwt = service.Jwt is { Required: true };
        var rules = new JsonArray();
        if (service.Authorization.Allow.Count == 0)
        {
            if (requireJwt)
            {
                rules.Push(new JsonObject { ["from"] = new JsonObject { ["principals"] = new JsonArray("*") } });
                return new JsonObject { ["rules"] = rules };
            }

            return mesh.FindNamespace(service.Namespace) is { DefaultDeny: true } ? new JsonObject { ["rules"] = rules } : null;
        }

        foreach (var rule in service.Authorization.Allow)
        {
            if (!CanMirror(rule))
            {
                continue;
            }

            var principals = new JsonArray();
            if (rule.From is { } from)
            {
                foreach (var sa in from.ServiceAccounts)
                {
                    principals.Push(mesh.PrincipalOf(sa.Namespace, sa.Name));
                }

                foreach (var p in from.Principals)
                {
                    principals.Push(p);
                }

                foreach (var ns in from.Namespaces)
                {
                    principals.Push($"{mesh.TrustDomain}/ns/{ns}/sa/*");
                }
            }

            if (principals.Count == 0 && (rule.From is not null || requireJwt))
            {
                principals.Push("*");
            }

            var result = new JsonObject();
            if (principals.Count > 0)
            {
                result["from"] = new JsonObject { ["principals"] = principals };
            }

            if (rule.To is { } to && (to.Methods.Count > 0 || to.Paths.Count > 0))
            {
                var toNode = new JsonObject();
                if (to.Methods.Count > 0)
                {
                    toNode["methods"] = Strings(to.Methods);
                }

                if (to.Paths.Count > 0)
                {
                    toNode["paths"] = Strings(to.Paths);
                }

                result["to"] = toNode;
            }

            rules.Push(result);
        }

        return new JsonObject { ["rules"] = rules };
    }
}
