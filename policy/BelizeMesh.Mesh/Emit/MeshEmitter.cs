using BelizeMesh.Configuration;
using System.Text;
using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Model;
using BelizeMesh.Mesh.Parsing;

namespace BelizeMesh.Mesh.Emit;

/// <summary>
/// Turns a <see cref="MeshDescription"/> into every object the cluster needs, in a deterministic order:
/// <list type="number">
/// <item>PeerAuthentication: mesh-wide (root namespace), per namespace, per workload with port-level overrides.</item>
/// <item>Gateway: an HTTP server (redirecting when asked) and an HTTPS server with the TLS credential.</item>
/// <item>DestinationRule per service: load balancing, connection pool, outlier detection, client TLS, subsets.</item>
/// <item>VirtualService per service (mesh traffic) and per gateway/service pair (public routes only).</item>
/// <item>RequestAuthentication per service with JWT issuers.</item>
/// <item>AuthorizationPolicy: default deny per namespace, grouped ALLOW and DENY policies per service.</item>
/// <item>ConfigMap <c>belizemesh-policy-&lt;serviceAccount&gt;</c> with the SidecarPolicy of each quantum-enabled service.</item>
/// </list>
/// Sorted by kind, then namespace, then name. Every object carries <c>app.kubernetes.io/managed-by: belizemesh</c>.
/// </summary>
public static partial class MeshEmitter
{
    public const string ManagedByLabel = MeshNames.ManagedByLabel;
    public const string ManagedByValue = MeshNames.ManagedByValue;

    public static IReadOnlyList<EmittedResource> Emit(MeshDescription mesh, IstioApiVersion version = IstioApiVersion.V1)
    {
        var output = new List<EmittedResource>();
        var emitter = new Builder(mesh, version, output);
        emitter.EmitAll();
        output.Sort(static (a, b) =>
        {
            int c = a.Kind.CompareTo(b.Kind);
            if (c == 0)
            {
                c = string.CompareOrdinal(a.Namespace, b.Namespace);
            }

            return c != 0 ? c : string.CompareOrdinal(a.Name, b.Name);
        });
        return output;
    }

    /// <summary>All resources as one multi-document YAML stream.</summary>
    public static string ToYaml(IReadOnlyList<EmittedResource> resources)
    {
        var builder = new StringBuilder(resources.Count * 512);
        var documents = new List<JsonNode>(resources.Count);
        foreach (var r in resources)
        {
            documents.Add(r.Document);
        }

        YamlWriter.WriteDocuments(builder, documents);
        return builder.ToString();
    }

    private sealed partial class Builder(MeshDescription mesh, IstioApiVersion version, List<EmittedResource> output)
    {
        public void EmitAll()
        {
            if (mesh.MeshMtls is { } meshMode)
            {
                Add(ResourceKind.PeerAuthentication, mesh.RootNamespace, "default", new SourcePosition(1, 1),
                    Obj(("mtls", Obj(("mode", Mode(meshMode))))));
            }

            foreach (var ns in mesh.Namespaces)
            {
                if (ns.Mtls is { } nsMode)
                {
                    Add(ResourceKind.PeerAuthentication, ns.Name, "default", ns.Position, Obj(("mtls", Obj(("mode", Mode(nsMode))))));
                }

                if (ns.DefaultDeny)
                {
                    // An ALLOW policy with no rules matches nothing: Istio's "allow-nothing", the zero-trust default.
                    Add(ResourceKind.AuthorizationPolicy, ns.Name, "default-deny", ns.Position, new JsonObject());
                }
            }

            foreach (var gateway in mesh.Gateways)
            {
                EmitGateway(gateway);
            }

            foreach (var service in mesh.Services)
            {
                EmitPeerAuthentication(service);
                EmitDestinationRule(service);
                EmitVirtualServices(service);
                EmitRequestAuthentication(service);
                EmitAuthorization(service);
                if (service.Quantum)
                {
                    var policy = SidecarPolicyBuilder.Build(mesh, service);
                    var data = new JsonObject { ["policy.yaml"] = YamlWriter.ToYaml(policy) };
                    Add(ResourceKind.ConfigMap, service.Namespace, SidecarPolicyBuilder.ConfigMapName(service), service.Position, null, data);
                    EmitPqServices(service);
                }
            }

            EmitInjectorExclusions();
        }

        private void Add(ResourceKind kind, string ns, string name, SourcePosition origin, JsonObject? spec, JsonObject? data = null)
        {
            string apiVersion = ResourceKinds.ApiVersion(kind, version);
            var document = new JsonObject
            {
                ["apiVersion"] = apiVersion,
                ["kind"] = KindName(kind),
                ["metadata"] = new JsonObject
                {
                    ["name"] = name,
                    ["namespace"] = ns,
                    ["labels"] = new JsonObject { [ManagedByLabel] = ManagedByValue },
                },
            };
            if (spec is not null)
            {
                document["spec"] = spec;
            }

            if (data is not null)
            {
                document["data"] = data;
            }

            output.Add(new EmittedResource(kind, apiVersion, ns, name, document, origin));
        }

        private void EmitGateway(GatewaySpec gateway)
        {
            var hosts = new JsonArray();
            foreach (var h in gateway.Hosts)
            {
                hosts.Push(h.Host);
            }

            var servers = new JsonArray();
            var http = Obj(
                ("port", Obj(("number", 80), ("name", "http"), ("protocol", "HTTP"))),
                ("hosts", hosts.DeepClone()));
            if (gateway.HttpsRedirect)
            {
                http["tls"] = Obj(("httpsRedirect", true));
            }

            servers.Push(http);
            if (gateway.CredentialName is { } credential)
            {
                servers.Push(Obj(
                    ("port", Obj(("number", 443), ("name", "https"), ("protocol", "HTTPS"))),
                    ("hosts", hosts.DeepClone()),
                    ("tls", Obj(("mode", "SIMPLE"), ("credentialName", credential)))));
            }

            Add(ResourceKind.Gateway, gateway.Namespace, gateway.Name, gateway.Position,
                Obj(("selector", Labels(gateway.Selector)), ("servers", servers)));
        }

        private void EmitPeerAuthentication(ServiceSpec service)
        {
            if (service.Mtls is not { } mtls)
            {
                return;
            }

            var spec = Obj(("selector", Obj(("matchLabels", Labels(service.Labels)))));
            if (mtls.Mode is { } mode)
            {
                spec["mtls"] = Obj(("mode", Mode(mode)));
            }

            if (mtls.Ports.Count > 0)
            {
                var ports = new JsonObject();
                foreach (var p in mtls.Ports)
                {
                    ports[p.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)] = Obj(("mode", Mode(p.Mode)));
                }

                spec["portLevelMtls"] = ports;
            }

            Add(ResourceKind.PeerAuthentication, service.Namespace, service.Name, mtls.Position, spec);
        }

        private void EmitDestinationRule(ServiceSpec service)
        {
            var policy = new JsonObject();
            if (service.LoadBalancing is { } lb)
            {
                policy["loadBalancer"] = LoadBalancer(lb);
            }

            if (service.ConnectionPool is { } pool)
            {
                var pooled = new JsonObject();
                var tcp = Obj(("maxConnections", pool.MaxConnections), ("connectTimeout", Duration(pool.ConnectTimeout)));
                if (tcp.Count > 0)
                {
                    pooled["tcp"] = tcp;
                }

                var http = Obj(
                    ("http2MaxRequests", pool.Http2MaxRequests),
                    ("http1MaxPendingRequests", pool.MaxPendingRequests),
                    ("maxRequestsPerConnection", pool.MaxRequestsPerConnection),
                    ("h2UpgradePolicy", H2UpgradeText(pool.H2UpgradePolicy)));
                if (http.Count > 0)
                {
                    pooled["http"] = http;
                }

                policy["connectionPool"] = pooled;
            }

            if (service.OutlierDetection is { } o)
            {
                policy["outlierDetection"] = Obj(
                    ("consecutive5xxErrors", o.Consecutive5xxErrors),
                    ("consecutiveGatewayErrors", o.ConsecutiveGatewayErrors),
                    ("interval", Duration(o.Interval)),
                    ("baseEjectionTime", Duration(o.BaseEjectionTime)),
                    ("maxEjectionPercent", o.MaxEjectionPercent));
            }

            var tlsMode = MeshRules.ClientTls(mesh, service);
            policy["tls"] = Obj(("mode", TlsMode(tlsMode)));

            var portLevel = new JsonArray();
            foreach (var port in service.Ports)
            {
                var portTls = MeshRules.ClientTls(mesh, service, port.Number);
                if (portTls != tlsMode)
                {
                    portLevel.Push(Obj(("port", Obj(("number", port.Number))), ("tls", Obj(("mode", TlsMode(portTls))))));
                }
            }

            if (portLevel.Count > 0)
            {
                policy["portLevelSettings"] = portLevel;
            }

            var spec = Obj(("host", mesh.HostOf(service)), ("trafficPolicy", policy));
            if (service.Subsets.Count > 0)
            {
                var subsets = new JsonArray();
                foreach (var s in service.Subsets)
                {
                    subsets.Push(Obj(("name", s.Name), ("labels", Labels(s.Labels))));
                }

                spec["subsets"] = subsets;
            }

            Add(ResourceKind.DestinationRule, service.Namespace, service.Name, service.Position, spec);
        }

        private void EmitVirtualServices(ServiceSpec service)
        {
            bool hasHttp = HasHttpPort(service);
            if (service.Routes.Count > 0 || (hasHttp && (service.Timeout is not null || service.Retries is not null)))
            {
                var http = new JsonArray();
                foreach (var route in MeshRules.EffectiveRoutes(service))
                {
                    http.Push(Route(service, route));
                }

                Add(ResourceKind.VirtualService, service.Namespace, service.Name, service.Position,
                    Obj(("hosts", new JsonArray(mesh.HostOf(service))), ("http", http)));
            }

            foreach (var gateway in mesh.Gateways)
            {
                var hosts = new JsonArray();
                SourcePosition origin = default;
                foreach (var h in gateway.Hosts)
                {
                    if (h.Service.Name == service.Name && h.Service.Namespace == service.Namespace)
                    {
                        hosts.Push(h.Host);
                        if (origin == default)
                        {
                            origin = h.Position;
                        }
                    }
                }

                if (hosts.Count == 0)
                {
                    continue;
                }

                var http = new JsonArray();
                foreach (var route in MeshRules.EffectiveRoutes(service))
                {
                    if (route.Public || service.Routes.Count == 0)
                    {
                        http.Push(Route(service, route));
                    }
                }

                string gatewayRef = gateway.Namespace == service.Namespace ? gateway.Name : $"{gateway.Namespace}/{gateway.Name}";
                Add(ResourceKind.VirtualService, service.Namespace, MeshRules.GatewayVirtualServiceName(service, gateway), origin,
                    Obj(("hosts", hosts), ("gateways", new JsonArray(gatewayRef)), ("http", http)));
            }
        }

        private static bool HasHttpPort(ServiceSpec service)
        {
            if (service.Ports.Count == 0)
            {
                return true;
            }

            foreach (var p in service.Ports)
            {
                if (p.EffectiveProtocol is null || Protocols.IsHttp(p.EffectiveProtocol))
                {
                    return true;
                }
            }

            return false;
        }

        private JsonObject Route(ServiceSpec service, RouteSpec route)
        {
            var http = Obj(("name", route.Name));
            var matches = RouteMatches(route.Match);
            if (matches.Count > 0)
            {
                http["match"] = matches;
            }

            var destinations = new JsonArray();
            foreach (var d in route.Destinations)
            {
                var destination = Obj(("host", d.Service is { } s ? $"{s.Name}.{s.Namespace}.svc.{mesh.ClusterDomain}" : d.Host));
                if (d.Subset is not null)
                {
                    destination["subset"] = d.Subset;
                }

                if (d.Port is { } port)
                {
                    destination["port"] = Obj(("number", port));
                }

                var entry = Obj(("destination", destination));
                if (d.Weight is { } weight)
                {
                    entry["weight"] = weight;
                }

                destinations.Push(entry);
            }

            http["route"] = destinations;
            var timeout = MeshRules.RouteTimeout(service, route);
            if (timeout is not null)
            {
                http["timeout"] = Durations.Format(timeout.Value);
            }

            if (MeshRules.RouteRetries(service, route) is { } retries)
            {
                http["retries"] = Obj(
                    ("attempts", retries.Attempts),
                    ("perTryTimeout", Duration(retries.PerTryTimeout)),
                    ("backoff", Duration(retries.Backoff)),
                    ("retryOn", retries.RetryOn));
            }

            if (route.Fault is { } fault)
            {
                var f = new JsonObject();
                if (fault.DelayPercentage is { } delayPct && fault.FixedDelay is { } delay)
                {
                    f["delay"] = Obj(("percentage", Obj(("value", delayPct))), ("fixedDelay", Durations.Format(delay)));
                }

                if (fault.AbortPercentage is { } abortPct && fault.AbortHttpStatus is { } status)
                {
                    f["abort"] = Obj(("percentage", Obj(("value", abortPct))), ("httpStatus", status));
                }

                http["fault"] = f;
            }

            return http;
        }

        private static readonly string?[] s_anyMatch = [null];

        internal static JsonArray RouteMatches(RouteMatch match)
        {
            var result = new JsonArray();
            if (match.IsAny)
            {
                return result;
            }

            // Paths and methods are OR-ed lists; Istio ORs match entries and ANDs inside one, so emit their product.
            IReadOnlyList<string?> paths = match.Paths.Count > 0 ? (IReadOnlyList<string?>)match.Paths : s_anyMatch;
            IReadOnlyList<string?> methods = match.Methods.Count > 0 ? (IReadOnlyList<string?>)match.Methods : s_anyMatch;
            foreach (var path in paths)
            {
                foreach (var method in methods)
                {
                    var entry = new JsonObject();
                    if (path is not null && PathMatch(path) is { } uri)
                    {
                        entry["uri"] = uri;
                    }

                    if (method is not null)
                    {
                        entry["method"] = Obj(("exact", method));
                    }

                    if (match.Headers.Count > 0)
                    {
                        var headers = new JsonObject();
                        foreach (var h in match.Headers)
                        {
                            headers[h.Name] = Obj((h.Kind, h.Value));
                        }

                        entry["headers"] = headers;
                    }

                    result.Push(entry);
                }
            }

            return result;
        }

        /// <summary>Authorization-style path pattern to a VirtualService URI match; <c>*</c> alone matches anything (null).</summary>
        private static JsonObject? PathMatch(string pattern)
        {
            if (pattern == "*")
            {
                return null;
            }

            if (pattern.EndsWith('*'))
            {
                return Obj(("prefix", pattern[..^1]));
            }

            if (pattern.StartsWith('*'))
            {
                return Obj(("regex", ".*" + System.Text.RegularExpressions.Regex.Escape(pattern[1..])));
            }

            return Obj(("exact", pattern));
        }

        private void EmitRequestAuthentication(ServiceSpec service)
        {
            if (service.Jwt is not { } jwt || jwt.Issuers.Count == 0)
            {
                return;
            }

            var rules = new JsonArray();
            foreach (var issuer in jwt.Issuers)
            {
                var rule = issuer.JwksUri is not null
                    ? Obj(("issuer", issuer.Issuer), ("jwksUri", issuer.JwksUri))
                    : Obj(("issuer", issuer.Issuer), ("jwks", issuer.Jwks));
                if (issuer.Audiences.Count > 0)
                {
                    rule["audiences"] = Strings(issuer.Audiences);
                }

                rules.Push(rule);
            }

            Add(ResourceKind.RequestAuthentication, service.Namespace, service.Name + "-jwt", jwt.Position,
                Obj(("selector", Obj(("matchLabels", Labels(service.Labels)))), ("jwtRules", rules)));
        }

        private void EmitAuthorization(ServiceSpec service)
        {
            bool requireJwt = service.Jwt is { Required: true };
            var allow = service.Authorization.Allow;
            if (allow.Count == 0 && requireJwt)
            {
                allow = [new AuthorizationRule(null, null, null, service.Jwt!.Position)];
            }

            EmitPolicies(service, allow, "ALLOW", service.Name + "-allow", requireJwt);
            EmitPolicies(service, service.Authorization.Deny, "DENY", service.Name + "-deny", requireJwt: false);
        }

        private void EmitPolicies(ServiceSpec service, IReadOnlyList<AuthorizationRule> rules, string action, string defaultName, bool requireJwt)
        {
            // Rules sharing a policy name become one AuthorizationPolicy, in the order the names first appear.
            var order = new List<string>();
            var grouped = new Dictionary<string, (JsonArray Rules, SourcePosition Origin)>(StringComparer.Ordinal);
            foreach (var rule in rules)
            {
                string name = rule.Policy ?? defaultName;
                if (!grouped.TryGetValue(name, out var group))
                {
                    group = (new JsonArray(), rule.Position);
                    grouped[name] = group;
                    order.Add(name);
                }

                group.Rules.Push(Rule(service, rule, requireJwt));
            }

            foreach (var name in order)
            {
                var (policyRules, origin) = grouped[name];
                Add(ResourceKind.AuthorizationPolicy, service.Namespace, name, origin, Obj(
                    ("selector", Obj(("matchLabels", Labels(service.Labels)))),
                    ("action", action),
                    ("rules", policyRules)));
            }
        }

        private JsonObject Rule(ServiceSpec service, AuthorizationRule rule, bool requireJwt)
        {
            var result = new JsonObject();
            var source = new JsonObject();
            if (rule.From is { } from)
            {
                var principals = new JsonArray();
                foreach (var sa in from.ServiceAccounts)
                {
                    principals.Push(mesh.PrincipalOf(sa.Namespace, sa.Name));
                }

                foreach (var p in from.Principals)
                {
                    principals.Push(p);
                }

                if (principals.Count > 0)
                {
                    source["principals"] = principals;
                }

                if (from.NotPrincipals.Count > 0)
                {
                    source["notPrincipals"] = Strings(from.NotPrincipals);
                }

                if (from.RequestPrincipals.Count > 0)
                {
                    source["requestPrincipals"] = Strings(from.RequestPrincipals);
                }

                if (from.NotRequestPrincipals.Count > 0)
                {
                    source["notRequestPrincipals"] = Strings(from.NotRequestPrincipals);
                }

                if (from.Namespaces.Count > 0)
                {
                    source["namespaces"] = Strings(from.Namespaces);
                }

                if (from.NotNamespaces.Count > 0)
                {
                    source["notNamespaces"] = Strings(from.NotNamespaces);
                }
            }

            if (requireJwt && !source.ContainsKey("requestPrincipals"))
            {
                source["requestPrincipals"] = new JsonArray("*");
            }

            if (source.Count > 0)
            {
                result["from"] = new JsonArray(Obj(("source", source)));
            }

            if (rule.To is { } to)
            {
                var operation = new JsonObject();
                if (to.Methods.Count > 0)
                {
                    operation["methods"] = Strings(to.Methods);
                }

                if (to.NotMethods.Count > 0)
                {
                    operation["notMethods"] = Strings(to.NotMethods);
                }

                if (to.Paths.Count > 0)
                {
                    operation["paths"] = Strings(to.Paths);
                }

                if (to.NotPaths.Count > 0)
                {
                    operation["notPaths"] = Strings(to.NotPaths);
                }

                if (to.Ports.Count > 0)
                {
                    var ports = new JsonArray();
                    foreach (var p in to.Ports)
                    {
                        ports.Push(p.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    }

                    operation["ports"] = ports;
                }

                if (to.NotPorts.Count > 0)
                {
                    var notPorts = new JsonArray();
                    foreach (var p in to.NotPorts)
                    {
                        notPorts.Push(p.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    }

                    operation["notPorts"] = notPorts;
                }

                if (operation.Count > 0)
                {
                    result["to"] = new JsonArray(Obj(("operation", operation)));
                }
            }

            _ = service;
            return result;
        }

        private static JsonObject LoadBalancer(LoadBalancingSpec lb) => lb.Policy switch
        {
            LoadBalancingPolicy.RoundRobin => Obj(("simple", "ROUND_ROBIN")),
            LoadBalancingPolicy.LeastRequests => Obj(("simple", "LEAST_REQUEST")),
            LoadBalancingPolicy.Random => Obj(("simple", "RANDOM")),
            _ => Obj(("consistentHash",
                lb.Header is not null ? Obj(("httpHeaderName", lb.Header))
                : lb.Cookie is not null ? Obj(("httpCookie", Obj(("name", lb.Cookie), ("ttl", Duration(lb.CookieTtl)))))
                : Obj(("useSourceIp", true)))),
        };

        private static string Mode(MtlsMode mode) => mode switch
        {
            MtlsMode.Strict => "STRICT",
            MtlsMode.Permissive => "PERMISSIVE",
            _ => "DISABLE",
        };

        private static string TlsMode(ClientTlsMode mode) => mode == ClientTlsMode.IstioMutual ? "ISTIO_MUTUAL" : "DISABLE";
    }

    /// <summary>A route's VirtualService <c>match</c> list; the SidecarPolicy's <c>http[].match</c> has the same shape.</summary>
    internal static JsonArray VirtualServiceMatches(RouteMatch match) => Builder.RouteMatches(match);

    internal static string? Duration(TimeSpan? value) => value is { } v ? Durations.Format(v) : null;

    internal static JsonObject Labels(IReadOnlyList<KeyValuePair<string, string>> labels)
    {
        var result = new JsonObject();
        foreach (var (key, value) in labels)
        {
            result[key] = value;
        }

        return result;
    }

    internal static JsonArray Strings(IReadOnlyList<string> values)
    {
        var result = new JsonArray();
        foreach (var v in values)
        {
            result.Push(v);
        }

        return result;
    }

    /// <summary>An object from (key, value) pairs, leaving out null values.</summary>
    /// <summary>Istio's spelling of an <c>h2UpgradePolicy</c>; null when not set.</summary>
    internal static string? H2UpgradeText(H2UpgradePolicy? policy) => policy switch
    {
        H2UpgradePolicy.Default => "DEFAULT",
        H2UpgradePolicy.DoNotUpgrade => "DO_NOT_UPGRADE",
        H2UpgradePolicy.Upgrade => "UPGRADE",
        _ => null,
    };

    internal static JsonObject Obj(params ReadOnlySpan<(string Key, JsonNode? Value)> properties)
    {
        var result = new JsonObject();
        foreach (var (key, value) in properties)
        {
            if (value is not null)
            {
                result[key] = value;
            }
        }

        return result;
    }
}

/// <summary>Adds a node through the non-generic <see cref="JsonArray.Add(JsonNode?)"/> (the generic overload is not trim-safe).</summary>
internal static class JsonArrayExtensions
{
    public static void Push(this JsonArray array, JsonNode? node) => array.Add(node);
}
