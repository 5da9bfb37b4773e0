using System.Globalization;
using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Model;
using BelizeMesh.Mesh.Parsing;
using static BelizeMesh.Mesh.Emit.MeshEmitter;

namespace BelizeMesh.Mesh.Emit;

/// <summary>
/// Builds the <c>SidecarPolicy</c> document (the contract in DESIGN.md that <c>belizemesh-proxy</c> parses) for one
/// quantum-enabled service: its identity; inbound authorization mirroring the service's ALLOW rules; its rate limits;
/// and one outbound route for every quantum-enabled service it may call, with the callee's timeout, retries and load
/// balancing.
/// </summary>
internal static class SidecarPolicyBuilder
{
    public const string AdminListen = "127.0.0.1:16090";
    public const string InboundListen = "0.0.0.0:16443";
    public const string OutboundListen = "127.0.0.1:16001";
    public const int ChannelPort = 16443;

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
            ["authorization"] = new JsonObject { ["rules"] = InboundRules(mesh, service) },
        };

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
                ["endpoints"] = new JsonArray(host + ":" + ChannelPort.ToString(CultureInfo.InvariantCulture)),
                ["identity"] = mesh.SpiffeIdOf(callee),
            };
            if (callee.Timeout is { } timeout)
            {
                route["timeout"] = Durations.Format(timeout);
            }

            if (callee.Retries is { } retries)
            {
                route["retries"] = Obj(("attempts", retries.Attempts), ("perTryTimeout", Duration(retries.PerTryTimeout)), ("retryOn", retries.RetryOn));
            }

            if (callee.LoadBalancing is { } lb)
            {
                route["loadBalancing"] = lb.Policy switch
                {
                    LoadBalancingPolicy.ConsistentHash when lb.Header is not null => Obj(("policy", "ConsistentHash"), ("header", lb.Header)),
                    LoadBalancingPolicy.ConsistentHash when lb.Cookie is not null => Obj(("policy", "ConsistentHash"), ("cookie", lb.Cookie)),
                    LoadBalancingPolicy.ConsistentHash => Obj(("policy", "ConsistentHash"), ("sourceIp", true)),
                    _ => Obj(("policy", lb.Policy.ToString())),
                };
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
    /// The ALLOW rules in the sidecar's vocabulary: service accounts become principals, a namespace becomes the principal
    /// pattern <c>&lt;td&gt;/ns/&lt;ns&gt;/sa/*</c>, a not-namespace a <c>notPrincipals</c> pattern; a rule without a source
    /// allows principal <c>*</c>. No ALLOW rules: everyone, unless the namespace denies by default (then nobody).
    /// </summary>
    private static JsonArray InboundRules(MeshDescription mesh, ServiceSpec service)
    {
        var rules = new JsonArray();
        if (service.Authorization.Allow.Count == 0)
        {
            if (mesh.FindNamespace(service.Namespace) is not { DefaultDeny: true })
            {
                rules.Push(new JsonObject { ["from"] = new JsonObject { ["principals"] = new JsonArray("*") } });
            }

            return rules;
        }

        foreach (var rule in service.Authorization.Allow)
        {
            var principals = new JsonArray();
            var notPrincipals = new JsonArray();
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

                foreach (var ns in from.NotNamespaces)
                {
                    notPrincipals.Push($"{mesh.TrustDomain}/ns/{ns}/sa/*");
                }
            }

            if (principals.Count == 0)
            {
                principals.Push("*");
            }

            var fromNode = new JsonObject { ["principals"] = principals };
            if (notPrincipals.Count > 0)
            {
                fromNode["notPrincipals"] = notPrincipals;
            }

            var result = new JsonObject { ["from"] = fromNode };
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

        return rules;
    }
}
