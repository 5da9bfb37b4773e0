using BelizeMesh.Configuration;
using BelizeMesh.Mesh.Model;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Mesh.Parsing;

/// <summary>
/// Binds a mesh description (YAML, <c>kind: Mesh</c>) into a <see cref="MeshDescription"/> by hand over YamlDotNet's
/// representation model (no reflection). Every problem is collected — unknown fields, wrong types, bad durations,
/// references to unknown services — with file, line and column, before anything is reported.
/// </summary>
public static class MeshParser
{
    public const string ApiVersion = MeshNames.ApiVersion;
    public const string Kind = "Mesh";

    private static readonly (string, MtlsMode)[] s_mtlsModes = [("STRICT", MtlsMode.Strict), ("PERMISSIVE", MtlsMode.Permissive), ("DISABLE", MtlsMode.Disable)];
    private static readonly (string, ClientTlsMode)[] s_tlsModes = [("ISTIO_MUTUAL", ClientTlsMode.IstioMutual), ("DISABLE", ClientTlsMode.Disable)];
    private static readonly (string, LoadBalancingPolicy)[] s_lbPolicies =
        [("RoundRobin", LoadBalancingPolicy.RoundRobin), ("LeastRequest", LoadBalancingPolicy.LeastRequests), ("Random", LoadBalancingPolicy.Random), ("ConsistentHash", LoadBalancingPolicy.ConsistentHash)];

    /// <summary>Reads and parses a file; an unreadable file is reported as an error at 1:1.</summary>
    public static MeshParseResult ParseFile(string path)
    {
        if (!BelizeMesh.Configuration.YamlInputGuard.TryReadFile(path, "file", out string text, out string? error))
        {
            return new MeshParseResult(null, [new ConfigError(path, new SourcePosition(1, 1), "", error!)]);
        }

        return Parse(text, path);
    }

    /// <summary>Parses mesh-description text; <paramref name="file"/> is only used in diagnostics.</summary>
    public static MeshParseResult Parse(string text, string file)
    {
        var ctx = new BindContext(file);
        if (YamlDocuments.Load(text, out YamlLoadFailure failure) is not { } stream)
        {
            return new MeshParseResult(null, [YamlDocuments.Describe(failure, file, text)]);
        }

        if (stream.Documents.Count != 1)
        {
            var at = stream.Documents.Count > 1 ? BindContext.PositionOf(stream.Documents[1].RootNode) : new SourcePosition(1, 1);
            return new MeshParseResult(null, [new ConfigError(file, at, "", $"expected exactly one YAML document (a kind: Mesh), found {stream.Documents.Count}")]);
        }

        var mesh = new Binder(ctx).Bind(stream.Documents[0].RootNode);

        // Report in file order (nested mappings finish before their parents); the sort is stable for equal positions.
        var sorted = ctx.Sorted();
        return sorted.Count == 0 && mesh is not null
            ? new MeshParseResult(mesh, [])
            : new MeshParseResult(null, sorted);
    }

    private sealed class Binder(BindContext ctx)
    {
        private readonly List<(ServiceRef Ref, string Path)> _serviceRefs = [];
        private string? _defaultNamespace;
        private bool _recordReferences = true;

        public MeshDescription? Bind(YamlNode root)
        {
            var doc = YamlMap.From(root, "", ctx, "a mesh description");
            if (doc is null)
            {
                return null;
            }

            string? apiVersion = doc.String("apiVersion", required: true, hint: ApiVersion);
            if (apiVersion is not null && apiVersion != ApiVersion)
            {
                ctx.Error(doc.PositionOf("apiVersion"), "apiVersion", $"unsupported apiVersion \"{apiVersion}\"; expected {ApiVersion}");
            }

            string? kind = doc.String("kind", required: true, hint: Kind);
            if (kind is not null && kind != Kind)
            {
                ctx.Error(doc.PositionOf("kind"), "kind", $"unsupported kind \"{kind}\"; expected {Kind}");
            }

            string name = "mesh";
            if (doc.Map("metadata", "metadata") is { } metadata)
            {
                name = metadata.Name("name", required: true, "mesh name") ?? name;
                metadata.Finish();
            }
            else
            {
                doc.Missing("metadata", "metadata: { name: <mesh name> }");
            }

            var spec = doc.Map("spec", "the mesh spec");
            if (spec is null)
            {
                if (!doc.Has("spec"))
                {
                    doc.Missing("spec", "the mesh: namespaces, gateways, services");
                }

                doc.Finish();
                return null;
            }

            doc.Finish();

            string trustDomain = spec.String("trustDomain", hint: "a trust domain, e.g. cluster.local") ?? "cluster.local";
            string clusterDomain = spec.String("clusterDomain", hint: "a DNS domain, e.g. cluster.local") ?? "cluster.local";
            string rootNamespace = spec.Name("rootNamespace", false, "namespace name") ?? "istio-system";
            _defaultNamespace = spec.Name("namespace", false, "namespace name");
            var meshMtls = spec.Enum("mtls", s_mtlsModes);

            var namespaces = new List<NamespaceSpec>();
            foreach (var item in spec.MapList("namespaces", "namespace"))
            {
                var ns = item.Name("name", true, "namespace name");
                var mtls = item.Enum("mtls", s_mtlsModes);
                bool defaultDeny = item.Bool("defaultDeny") ?? false;
                item.Finish();
                if (ns is not null)
                {
                    namespaces.Add(new NamespaceSpec(ns, mtls, defaultDeny, item.Position));
                }
            }

            var gateways = new List<GatewaySpec>();
            foreach (var item in spec.MapList("gateways", "gateway"))
            {
                if (BindGateway(item) is { } gateway)
                {
                    gateways.Add(gateway);
                }
            }

            var services = new List<ServiceSpec>();
            foreach (var item in spec.MapList("services", "service"))
            {
                if (BindService(item) is { } service)
                {
                    services.Add(service);
                }
            }

            spec.Finish();

            var known = new HashSet<(string, string)>();
            foreach (var s in services)
            {
                known.Add((s.Namespace, s.Name));
            }

            foreach (var (reference, path) in _serviceRefs)
            {
                if (!known.Contains((reference.Namespace, reference.Name)))
                {
                    ctx.Error(reference.Position, path, $"unknown service \"{reference.Name}\" in namespace \"{reference.Namespace}\"; declare it under spec.services or fix the name (write \"name.namespace\" for another namespace)");
                }
            }

            return new MeshDescription
            {
                File = ctx.File,
                Name = name,
                TrustDomain = trustDomain,
                ClusterDomain = clusterDomain,
                RootNamespace = rootNamespace,
                MeshMtls = meshMtls,
                Namespaces = namespaces,
                Gateways = gateways,
                Services = services,
            };
        }

        private string? NamespaceOf(YamlMap item)
        {
            var ns = item.Name("namespace", false, "namespace name") ?? _defaultNamespace;
            if (ns is null && !item.Has("namespace"))
            {
                item.Missing("namespace", "a namespace name, or set spec.namespace as the default");
            }

            return ns;
        }

        /// <summary>A service reference: <c>name</c> (in <paramref name="ns"/>) or <c>name.namespace</c>; checked once all services are bound.</summary>
        private ServiceRef? ServiceReference(YamlMap item, string key, string ns, bool required)
        {
            var text = item.String(key, required, "a service name (or name.namespace)");
            if (text is null)
            {
                return null;
            }

            int dot = text.IndexOf('.', StringComparison.Ordinal);
            string name = dot < 0 ? text : text[..dot];
            string refNs = dot < 0 ? ns : text[(dot + 1)..];
            if (!YamlMap.IsDnsLabel(name) || !YamlMap.IsDnsLabel(refNs))
            {
                ctx.Error(item.PositionOf(key), item.PathOf(key), $"\"{text}\" is not a service reference; expected \"name\" or \"name.namespace\"");
                return null;
            }

            var reference = new ServiceRef(name, refNs, item.PositionOf(key));
            if (_recordReferences)
            {
                _serviceRefs.Add((reference, item.PathOf(key)));
            }

            return reference;
        }

        private GatewaySpec? BindGateway(YamlMap item)
        {
            var name = item.Name("name", true, "gateway name");
            var ns = NamespaceOf(item);
            var selector = item.StringMap("selector", "pod labels") ?? [new("istio", "ingressgateway")];
            var credential = item.String("credentialName", hint: "the name of a kubernetes.io/tls Secret");
            bool redirect = item.Bool("httpsRedirect") ?? false;
            var hosts = new List<GatewayHost>();
            foreach (var h in item.MapList("hosts", "gateway host"))
            {
                var host = h.String("host", true, "a DNS name, e.g. rpc.example.com");
                var service = ns is null ? null : ServiceReference(h, "service", ns, required: true);
                h.Finish();
                if (host is not null && service is not null)
                {
                    hosts.Add(new GatewayHost(host, service, h.Position));
                }
            }

            if (!item.Has("hosts"))
            {
                item.Missing("hosts", "a list of { host, service }");
            }

            if (redirect && credential is null)
            {
                ctx.Error(item.PositionOf("httpsRedirect"), item.PathOf("httpsRedirect"), "httpsRedirect needs HTTPS: set credentialName to the TLS Secret, or remove httpsRedirect");
            }

            item.Finish();
            if (name is null || ns is null)
            {
                return null;
            }

            return new GatewaySpec
            {
                Name = name,
                Namespace = ns,
                Selector = selector,
                CredentialName = credential,
                HttpsRedirect = redirect,
                Hosts = hosts,
                Position = item.Position,
            };
        }

        private ServiceSpec? BindService(YamlMap item)
        {
            var name = item.Name("name", true, "service name");
            var ns = NamespaceOf(item);
            var serviceAccount = item.Name("serviceAccount", false, "service account name") ?? name;
            var labels = item.StringMap("labels", "pod labels");
            bool quantum = item.Bool("quantum") ?? true;
            int? appPort = item.Int("appPort", 1, 65535, hint: "a port number");

            var ports = new List<PortSpec>();
            int errorsBeforePorts = ctx.Errors.Count;
            foreach (var p in item.MapList("ports", "port"))
            {
                var portName = p.Name("name", true, "port name");
                var number = p.Int("number", 1, 65535, required: true, hint: "a port number");
                string? protocol = null;
                if (p.Raw("protocol") is { } protocolNode)
                {
                    protocol = protocolNode is YamlScalarNode { Value: { } text } && Contains(Protocols.Known, text) ? text : null;
                    if (protocol is null)
                    {
                        ctx.Error(protocolNode, p.PathOf("protocol"), $"expected one of {string.Join(", ", Protocols.Known)}, got {BindContext.Describe(protocolNode)}");
                    }
                }

                p.Finish();
                if (portName is not null && number is not null)
                {
                    ports.Add(new PortSpec(portName, number.Value, protocol, p.Position));
                }
            }

            bool portErrors = ctx.Errors.Count != errorsBeforePorts;
            var timeout = item.Duration("timeout");
            var retries = BindRetries(item);

            var subsets = new List<SubsetSpec>();
            foreach (var s in item.MapList("subsets", "subset"))
            {
                var subsetName = s.Name("name", true, "subset name");
                var subsetLabels = s.StringMap("labels", "pod labels");
                if (!s.Has("labels"))
                {
                    s.Missing("labels", "the pod labels of this subset, e.g. { version: v1 }");
                }

                s.Finish();
                if (subsetName is not null && subsetLabels is not null)
                {
                    subsets.Add(new SubsetSpec(subsetName, subsetLabels, s.Position));
                }
            }

            // Routes are checked even when the service's own name or namespace is bad; references are then not recorded.
            var routes = new List<RouteSpec>();
            _recordReferences = ns is not null && name is not null;
            foreach (var r in item.MapList("routes", "route"))
            {
                if (BindRoute(r, name ?? "unnamed", ns ?? "unnamed") is { } route)
                {
                    routes.Add(route);
                }
            }

            _recordReferences = true;

            var loadBalancing = BindLoadBalancing(item);
            var pool = BindConnectionPool(item);
            var outlier = BindOutlierDetection(item);
            var tlsMode = item.Enum("tlsMode", s_tlsModes);
            var tlsModePosition = item.PositionOf("tlsMode");
            var mtls = BindServiceMtls(item);
            var authorization = ns is null ? AuthorizationSpec.None : BindAuthorization(item, ns);
            var jwt = BindJwt(item);
            var rateLimits = BindRateLimits(item);
            item.Finish();

            if (name is null || ns is null || serviceAccount is null)
            {
                return null;
            }

            var service = new ServiceSpec
            {
                Name = name,
                Namespace = ns,
                ServiceAccount = serviceAccount,
                Labels = labels ?? [new("app", name)],
                Ports = ports,
                Quantum = quantum,
                AppPort = appPort,
                Timeout = timeout,
                Retries = retries,
                Subsets = subsets,
                Routes = routes,
                LoadBalancing = loadBalancing,
                ConnectionPool = pool,
                OutlierDetection = outlier,
                TlsMode = tlsMode,
                TlsModePosition = tlsModePosition,
                Mtls = mtls,
                Authorization = authorization,
                Jwt = jwt,
                RateLimits = rateLimits,
                Position = item.Position,
            };

            // Only when the ports themselves bound cleanly, so one typo does not also report a missing HTTP port.
            if (quantum && service.EffectiveAppPort is null && !portErrors)
            {
                ctx.Error(item.Position, item.Path, $"service \"{name}\" runs the quantum sidecar but has no HTTP port to forward to; add a port with protocol HTTP, HTTP2 or GRPC, set appPort, or set quantum: false");
            }

            return service;
        }

        private static bool Contains(IReadOnlyList<string> list, string value)
        {
            foreach (var item in list)
            {
                if (item == value)
                {
                    return true;
                }
            }

            return false;
        }

        private RetrySpec? BindRetries(YamlMap item)
        {
            if (item.Map("retries", "a retry policy") is not { } r)
            {
                return null;
            }

            var attempts = r.Int("attempts", 0, 100, required: true, hint: "a number of attempts");
            var perTry = r.Duration("perTryTimeout");
            var backoff = r.Duration("backoff");
            if (backoff < TimeSpan.FromMilliseconds(1))
            {
                r.Error("backoff", $"{Durations.Format(backoff.Value)} is too short; Istio requires at least 1ms between retries (leave 'backoff' out for Envoy's 25ms)");
                backoff = null;
            }

            var retryOn = r.String("retryOn", hint: "Envoy retry conditions, e.g. 5xx,reset,connect-failure");
            r.Finish();
            return attempts is null ? null : new RetrySpec(attempts.Value, perTry, retryOn, r.Position) { Backoff = backoff };
        }

        private RouteSpec? BindRoute(YamlMap r, string serviceName, string ns)
        {
            var name = r.Name("name", true, "route name");
            bool isPublic = r.Bool("public") ?? false;
            bool webSocket = r.Bool("websocket") ?? false;
            var match = RouteMatch.Any;
            if (r.Map("match", "a request match") is { } m)
            {
                var paths = m.StringList("paths", "path pattern");
                CheckPaths(m, "paths", paths);
                var headers = new List<HeaderMatch>();
                if (m.Map("headers", "header matches") is { } h)
                {
                    var seenHeaders = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                    foreach (var field in h.Entries())
                    {
                        string header = field.Key;
                        // Envoy and the sidecar take only RFC 9110 token names (the sidecar refuses the whole policy
                        // otherwise); names are case-insensitive, so "X-Id" and "x-id" are one header and one would
                        // silently replace the other's condition.
                        if (!IsHeaderName(header))
                        {
                            ctx.Error(field.KeyNode, h.PathOf(header), $"\"{header}\" is not a header name; expected letters, digits and !#$%&'*+-.^_`|~ only (e.g. x-version)");
                            continue;
                        }

                        if (!seenHeaders.Add(header))
                        {
                            ctx.Error(field.KeyNode, h.PathOf(header), $"header \"{header}\" is matched twice (header names are case-insensitive); give one condition per header");
                            continue;
                        }

                        var node = h.Raw(header);
                        if (node is YamlScalarNode { Value: { Length: > 0 } exact })
                        {
                            headers.Add(new HeaderMatch(header.ToLowerInvariant(), "exact", exact));
                        }
                        else if (node is not null && YamlMap.From(node, h.PathOf(header), ctx, "a header match") is { } hm)
                        {
                            var exactValue = hm.String("exact");
                            var prefix = hm.String("prefix");
                            var regex = hm.String("regex");
                            hm.Finish();
                            int count = (exactValue is null ? 0 : 1) + (prefix is null ? 0 : 1) + (regex is null ? 0 : 1);
                            if (count != 1)
                            {
                                ctx.Error(hm.Position, hm.Path, "a header match needs exactly one of exact, prefix, regex");
                            }
                            else
                            {
                                headers.Add(new HeaderMatch(header.ToLowerInvariant(), exactValue is not null ? "exact" : prefix is not null ? "prefix" : "regex", (exactValue ?? prefix ?? regex)!));
                            }
                        }
                        else if (node is null)
                        {
                            ctx.Error(h.PositionOf(header), h.PathOf(header), "expected a header value or { exact | prefix | regex: ... }, got null");
                        }
                    }
                }

                var methods = Methods(m, "methods");
                m.Finish();
                match = new RouteMatch(paths, headers, methods);
            }

            var destinations = new List<RouteDestination>();
            foreach (var d in r.MapList("destinations", "destination"))
            {
                var service = d.Has("service") ? ServiceReference(d, "service", ns, required: false) : null;
                var host = d.String("host", hint: "an external DNS host");
                var subset = d.Name("subset", false, "subset name");
                var port = d.Int("port", 1, 65535, hint: "a port number");
                var weight = d.Int("weight", 0, 100, hint: "a weight");
                d.Finish();
                if (d.Has("service") && d.Has("host"))
                {
                    ctx.Error(d.Position, d.Path, "a destination has either service (a service of the mesh) or host (an external host), not both");
                }

                if (!d.Has("service") && !d.Has("host"))
                {
                    service = new ServiceRef(serviceName, ns, d.Position);
                }

                if (service is not null || host is not null)
                {
                    destinations.Add(new RouteDestination(service, service is null ? host : null, subset, port, weight, d.Position));
                }
            }

            if (destinations.Count == 0)
            {
                destinations.Add(new RouteDestination(new ServiceRef(serviceName, ns, r.Position), null, null, null, null, r.Position));
            }

            var timeout = r.Duration("timeout");
            var retries = BindRetries(r);
            FaultSpec? fault = null;
            if (r.Map("fault", "fault injection") is { } f)
            {
                double? abortPct = null;
                int? status = null;
                double? delayPct = null;
                TimeSpan? delay = null;
                if (f.Map("abort", "an abort fault") is { } a)
                {
                    abortPct = a.Percentage("percentage");
                    status = a.Int("httpStatus", 200, 599, required: true, hint: "an HTTP status");
                    if (!a.Has("percentage"))
                    {
                        a.Missing("percentage", "the share of requests to abort, 0 to 100");
                    }

                    a.Finish();
                }

                if (f.Map("delay", "a delay fault") is { } dl)
                {
                    delayPct = dl.Percentage("percentage");
                    delay = dl.Duration("fixedDelay");
                    if (!dl.Has("percentage"))
                    {
                        dl.Missing("percentage", "the share of requests to delay, 0 to 100");
                    }

                    if (!dl.Has("fixedDelay"))
                    {
                        dl.Missing("fixedDelay", "a duration, e.g. 5s");
                    }

                    dl.Finish();
                }

                if (!f.Has("abort") && !f.Has("delay"))
                {
                    ctx.Error(f.Position, f.Path, "fault injection needs abort, delay or both");
                }

                f.Finish();
                fault = new FaultSpec(abortPct, status, delayPct, delay, f.Position);
            }

            r.Finish();
            if (name is null)
            {
                return null;
            }

            return new RouteSpec
            {
                Name = name,
                Public = isPublic,
                WebSocket = webSocket,
                Match = match,
                Destinations = destinations,
                Timeout = timeout,
                Retries = retries,
                Fault = fault,
                Position = r.Position,
            };
        }

        private void CheckPaths(YamlMap owner, string key, IReadOnlyList<string> paths)
        {
            for (int i = 0; i < paths.Count; i++)
            {
                string p = paths[i];
                if (!(p.StartsWith('/') || p.StartsWith('*')) || p.IndexOf('*', 1) is int star && star > 0 && star != p.Length - 1)
                {
                    ctx.Error(owner.PositionOf(key), $"{owner.PathOf(key)}[{i}]", $"\"{p}\" is not a path pattern; expected an absolute path, optionally with one '*' at the start or the end (e.g. /api/v1/upload*)");
                }
            }
        }

        private LoadBalancingSpec? BindLoadBalancing(YamlMap item)
        {
            if (item.Map("loadBalancing", "a load-balancing policy") is not { } lb)
            {
                return null;
            }

            var policy = lb.Enum("policy", s_lbPolicies);
            if (!lb.Has("policy"))
            {
                lb.Missing("policy", "RoundRobin, LeastRequest, Random or ConsistentHash");
            }

            var header = lb.String("header", hint: "an HTTP header name");
            var cookie = lb.String("cookie", hint: "a cookie name");
            var ttl = lb.Duration("cookieTtl");
            bool sourceIp = lb.Bool("sourceIp") ?? false;
            lb.Finish();
            int keys = (header is null ? 0 : 1) + (cookie is null ? 0 : 1) + (sourceIp ? 1 : 0);
            if (policy == LoadBalancingPolicy.ConsistentHash && keys != 1)
            {
                ctx.Error(lb.Position, lb.Path, "ConsistentHash needs exactly one hash key: header, cookie or sourceIp: true");
            }
            else if (policy is not null and not LoadBalancingPolicy.ConsistentHash && keys != 0)
            {
                ctx.Error(lb.Position, lb.Path, $"header, cookie and sourceIp only apply to policy ConsistentHash, not {policy}");
            }

            if (ttl is not null && cookie is null)
            {
                ctx.Error(lb.PositionOf("cookieTtl"), lb.PathOf("cookieTtl"), "cookieTtl needs cookie");
            }

            return policy is null ? null : new LoadBalancingSpec(policy.Value, header, cookie, ttl, sourceIp, lb.Position);
        }

        private static readonly (string, H2UpgradePolicy)[] s_h2UpgradePolicies = [("DEFAULT", H2UpgradePolicy.Default), ("DO_NOT_UPGRADE", H2UpgradePolicy.DoNotUpgrade), ("UPGRADE", H2UpgradePolicy.Upgrade)];

        private static ConnectionPoolSpec? BindConnectionPool(YamlMap item)
        {
            if (item.Map("connectionPool", "connection-pool limits") is not { } p)
            {
                return null;
            }

            var spec = new ConnectionPoolSpec(
                p.Int("maxConnections", 1, int.MaxValue, hint: "a connection count"),
                p.Duration("connectTimeout"),
                p.Int("http2MaxRequests", 1, int.MaxValue, hint: "a request count"),
                p.Int("maxPendingRequests", 1, int.MaxValue, hint: "a request count"),
                p.Int("maxRequestsPerConnection", 1, int.MaxValue, hint: "a request count"),
                p.Position)
            {
                H2UpgradePolicy = p.Enum("h2UpgradePolicy", s_h2UpgradePolicies),
            };
            p.Finish();
            return spec;
        }

        private static OutlierDetectionSpec? BindOutlierDetection(YamlMap item)
        {
            if (item.Map("outlierDetection", "outlier detection") is not { } o)
            {
                return null;
            }

            var spec = new OutlierDetectionSpec(
                o.Int("consecutive5xxErrors", 0, int.MaxValue, hint: "an error count"),
                o.Int("consecutiveGatewayErrors", 0, int.MaxValue, hint: "an error count"),
                o.Duration("interval"),
                o.Duration("baseEjectionTime"),
                o.Int("maxEjectionPercent", 0, 100, hint: "a percentage"),
                o.Position);
            o.Finish();
            return spec;
        }

        private ServiceMtls? BindServiceMtls(YamlMap item)
        {
            var node = item.Raw("mtls");
            if (node is null)
            {
                return null;
            }

            if (node is YamlScalarNode)
            {
                var mode = item.EnumValue(node, item.PathOf("mtls"), s_mtlsModes);
                return mode is null ? null : new ServiceMtls(mode, [], BindContext.PositionOf(node));
            }

            if (YamlMap.From(node, item.PathOf("mtls"), ctx, "an mTLS mode or { mode, ports }") is not { } m)
            {
                return null;
            }

            var serviceMode = m.Enum("mode", s_mtlsModes);
            var ports = new List<PortMtls>();
            if (m.Map("ports", "port-level modes, e.g. { \"30333\": DISABLE }") is { } pm)
            {
                foreach (var key in pm.Keys)
                {
                    var valueNode = pm.Raw(key);
                    var position = pm.PositionOf(key);
                    if (!int.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
                    {
                        ctx.Error(position, pm.PathOf(key), $"\"{key}\" is not a port number; expected a port from 1 to 65535 as the key");
                        continue;
                    }

                    if (valueNode is null)
                    {
                        ctx.Error(position, pm.PathOf(key), "expected one of STRICT, PERMISSIVE, DISABLE, got null");
                        continue;
                    }

                    if (pm.EnumValue(valueNode, pm.PathOf(key), s_mtlsModes) is { } portMode)
                    {
                        ports.Add(new PortMtls(port, portMode, position));
                    }
                }
            }

            m.Finish();
            return new ServiceMtls(serviceMode, ports, m.Position);
        }

        private AuthorizationSpec BindAuthorization(YamlMap item, string ns)
        {
            if (item.Map("authorization", "allow and deny rules") is not { } a)
            {
                return AuthorizationSpec.None;
            }

            var allow = BindRules(a, "allow", ns);
            var deny = BindRules(a, "deny", ns);
            a.Finish();
            return new AuthorizationSpec(allow, deny);
        }

        private List<AuthorizationRule> BindRules(YamlMap a, string key, string ns)
        {
            var rules = new List<AuthorizationRule>();
            foreach (var r in a.MapList(key, "rule"))
            {
                var policy = r.Name("policy", false, "policy name");
                RuleSource? from = null;
                if (r.Map("from", "a source") is { } f)
                {
                    var accounts = new List<ServiceAccountRef>();
                    var names = f.StringList("serviceAccounts", "service account");
                    for (int i = 0; i < names.Count; i++)
                    {
                        string text = names[i];
                        int slash = text.IndexOf('/', StringComparison.Ordinal);
                        string saNs = slash < 0 ? ns : text[..slash];
                        string sa = slash < 0 ? text : text[(slash + 1)..];
                        if (!YamlMap.IsDnsLabel(saNs) || !YamlMap.IsDnsLabel(sa))
                        {
                            ctx.Error(f.PositionOf("serviceAccounts"), $"{f.PathOf("serviceAccounts")}[{i}]", $"\"{text}\" is not a service account; expected \"name\" (this namespace) or \"namespace/name\"");
                            continue;
                        }

                        accounts.Add(new ServiceAccountRef(saNs, sa, f.PositionOf("serviceAccounts")));
                    }

                    from = new RuleSource(
                        accounts,
                        SourcePatterns(f, "namespaces", "namespace", SourcePattern.Namespace),
                        SourcePatterns(f, "notNamespaces", "namespace", SourcePattern.Namespace),
                        SourcePatterns(f, "principals", "principal", SourcePattern.Principal),
                        SourcePatterns(f, "requestPrincipals", "request principal", SourcePattern.RequestPrincipal),
                        f.Position)
                    {
                        NotPrincipals = SourcePatterns(f, "notPrincipals", "principal", SourcePattern.Principal),
                        NotRequestPrincipals = SourcePatterns(f, "notRequestPrincipals", "request principal", SourcePattern.RequestPrincipal),
                    };
                    f.Finish();
                }

                RuleOperation? to = null;
                if (r.Map("to", "an operation") is { } t)
                {
                    var paths = t.StringList("paths", "path pattern");
                    CheckPaths(t, "paths", paths);
                    to = new RuleOperation(Methods(t, "methods"), paths, t.IntList("ports", 1, 65535, "a port"), t.Position);
                    var notPaths = t.StringList("notPaths", "path pattern");
                    CheckPaths(t, "notPaths", notPaths);
                    to = to with { NotMethods = Methods(t, "notMethods"), NotPaths = notPaths, NotPorts = t.IntList("notPorts", 1, 65535, "a port") };
                    t.Finish();
                }

                r.Finish();
                rules.Add(new AuthorizationRule(policy, from, to, r.Position));
            }

            return rules;
        }

        /// <summary>
        /// A list of HTTP methods. Envoy compares <c>:method</c> case-sensitively (RFC 9110: methods are case-sensitive),
        /// so <c>get</c> would match no request, in a route and in a rule alike (a DENY rule on <c>delete</c> would refuse
        /// nothing), and the sidecar refuses it in a policy: only upper-case tokens (<c>GET</c>, <c>M-SEARCH</c>) are taken.
        /// </summary>
        private IReadOnlyList<string> Methods(YamlMap owner, string key)
        {
            var values = owner.StringList(key, "HTTP method");
            if (values.Count == 0 || owner.Raw(key) is not YamlSequenceNode items)
            {
                return values;
            }

            for (int i = 0; i < items.Children.Count; i++)
            {
                if (items.Children[i] is YamlScalarNode { Value: { Length: > 0 } value } && !IsMethod(value))
                {
                    ctx.Error(items.Children[i], $"{owner.PathOf(key)}[{i}]",
                        $"\"{value}\" is not an HTTP method as requests carry it; methods are case-sensitive and Istio compares them exactly, so it would match no request; write {value.ToUpperInvariant()}");
                }
            }

            return values;
        }

        private static bool IsHeaderName(string name)
        {
            if (name.Length == 0)
            {
                return false;
            }

            foreach (char c in name)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
                {
                    return false;
                }
            }

            return true;
        }

        private static bool IsMethod(string value)
        {
            foreach (char c in value)
            {
                if (!char.IsAsciiLetterUpper(c) && c != '-' && c != '_')
                {
                    return false;
                }
            }

            return true;
        }

        private enum SourcePattern
        {
            Principal,
            RequestPrincipal,
            Namespace,
        }

        /// <summary>
        /// A source list of an authorization rule, each value checked against what Istio's string match reads it as:
        /// exact, <c>*</c>, <c>prefix*</c> or <c>*suffix</c>. A <c>*</c> anywhere else is matched literally by Envoy (so
        /// the rule matches no peer, and a DENY rule refuses nothing); a principal with the <c>spiffe://</c> scheme never
        /// equals Istio's scheme-less <c>source.principal</c>; a namespace has no <c>/</c>. The sidecar refuses all three,
        /// so emitting them would also give every affected sidecar a policy it cannot load.
        /// </summary>
        private IReadOnlyList<string> SourcePatterns(YamlMap owner, string key, string hint, SourcePattern kind)
        {
            var values = owner.StringList(key, hint);
            if (values.Count == 0 || owner.Raw(key) is not YamlSequenceNode items)
            {
                return values;
            }

            for (int i = 0; i < items.Children.Count; i++)
            {
                if (items.Children[i] is YamlScalarNode { Value: { Length: > 0 } value } && SourcePatternProblem(value, kind) is { } problem)
                {
                    ctx.Error(items.Children[i], $"{owner.PathOf(key)}[{i}]", problem);
                }
            }

            return values;
        }

        private static string? SourcePatternProblem(string value, SourcePattern kind)
        {
            int star = value.IndexOf('*', StringComparison.Ordinal);
            if (star >= 0 && value != "*" && !(star == 0 && value.LastIndexOf('*') == 0) && star != value.Length - 1)
            {
                return $"\"{value}\" has a '*' Istio does not expand (it matches only '*' alone, at the start or at the end) and would compare literally, matching no one; write an exact value, a prefix such as 'cluster.local/ns/shop/*' or a suffix such as '*/sa/web'";
            }

            if (kind == SourcePattern.Principal && value.StartsWith("spiffe://", StringComparison.OrdinalIgnoreCase))
            {
                return $"\"{value}\" is a SPIFFE ID; Istio compares principals without the scheme, so this matches no peer; write \"{value["spiffe://".Length..]}\"";
            }

            if (kind == SourcePattern.Namespace && value.Contains('/', StringComparison.Ordinal))
            {
                return $"\"{value}\" is not a namespace name (a namespace has no '/'); write e.g. belizechain, or a pattern such as 'team-*' (use principals for a service account)";
            }

            return null;
        }

        private static JwtSpec? BindJwt(YamlMap item)
        {
            if (item.Map("jwt", "JWT settings") is not { } j)
            {
                return null;
            }

            bool required = j.Bool("required") ?? false;
            var issuers = new List<JwtIssuer>();
            foreach (var i in j.MapList("issuers", "JWT issuer"))
            {
                var issuer = i.String("issuer", true, "the token issuer (iss), e.g. https://auth.example.com");
                var jwksUri = i.String("jwksUri", false, "the issuer's JWKS URL, e.g. https://auth.example.com/.well-known/jwks.json");
                bool keysOk = true;
                if (jwksUri is not null && (!Uri.TryCreate(jwksUri, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http")))
                {
                    i.Context.Error(i.PositionOf("jwksUri"), i.PathOf("jwksUri"), $"\"{jwksUri}\" is not an http(s) URL; expected the issuer's JWKS URL");
                    keysOk = false;
                }

                var jwks = i.String("jwks", false, "the issuer's JWKS JSON inline, {\"keys\": [...]}");
                if (jwks is not null && !IsJwksJson(jwks))
                {
                    i.Context.Error(i.PositionOf("jwks"), i.PathOf("jwks"), "not a JWKS; expected a JSON object with a \"keys\" array, e.g. '{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"...\",\"y\":\"...\"}]}'");
                    keysOk = false;
                }

                var jwksFile = i.String("jwksFile", false, "an absolute path where the quantum sidecar reads the JWKS instead of fetching jwksUri, e.g. /etc/belizemesh/jwks/auth.json");
                if (jwksFile is not null && !jwksFile.StartsWith('/'))
                {
                    i.Context.Error(i.PositionOf("jwksFile"), i.PathOf("jwksFile"), $"\"{jwksFile}\" is not an absolute path; expected where the JWKS is mounted in the pod, e.g. /etc/belizemesh/jwks/auth.json");
                    keysOk = false;
                }

                if (issuer is not null && (jwksUri is null) == (jwks is null) && keysOk)
                {
                    i.Context.Error(i.Position, i.Path, "give exactly one of jwksUri (istiod and the quantum sidecar fetch it) or jwks (the JWKS inline)");
                    keysOk = false;
                }
                else if (jwks is not null && jwksFile is not null)
                {
                    i.Context.Error(i.PositionOf("jwksFile"), i.PathOf("jwksFile"), "not needed with jwks: the quantum sidecar uses the inline JWKS; remove jwksFile");
                    keysOk = false;
                }

                var audiences = i.StringList("audiences", "audience");
                i.Finish();
                if (issuer is not null && keysOk)
                {
                    issuers.Add(new JwtIssuer(issuer, jwksUri, audiences, i.Position) { Jwks = jwks, JwksFile = jwksFile });
                }
            }

            if (!j.Has("issuers"))
            {
                j.Missing("issuers", "a list of { issuer, jwksUri, audiences }");
            }

            j.Finish();
            return new JwtSpec(required, issuers, j.Position);
        }

        private static bool IsJwksJson(string text)
        {
            try
            {
                using var document = System.Text.Json.JsonDocument.Parse(text);
                return document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                    && document.RootElement.TryGetProperty("keys", out var keys)
                    && keys.ValueKind == System.Text.Json.JsonValueKind.Array;
            }
            catch (System.Text.Json.JsonException)
            {
                return false;
            }
        }

        private List<RateLimitSpec> BindRateLimits(YamlMap item)
        {
            var limits = new List<RateLimitSpec>();
            foreach (var l in item.MapList("rateLimits", "rate limit"))
            {
                var name = l.Name("name", true, "rate-limit name");
                var paths = l.StringList("paths", "path pattern");
                CheckPaths(l, "paths", paths);
                var rps = l.Int("requestsPerSecond", 1, 10_000_000, required: true, hint: "a rate");
                var burst = l.Int("burst", 1, 10_000_000, hint: "a token count");
                var key = l.String("key", hint: "sourcePrincipal, none or header:<Name>") ?? "sourcePrincipal";
                if (key is not ("sourcePrincipal" or "none") && !(key.StartsWith("header:", StringComparison.Ordinal) && key.Length > 7))
                {
                    ctx.Error(l.PositionOf("key"), l.PathOf("key"), $"\"{key}\" is not a rate-limit key; expected sourcePrincipal, none or header:<Name>");
                }

                l.Finish();
                if (name is not null && rps is not null)
                {
                    limits.Add(new RateLimitSpec(name, paths, rps.Value, burst ?? rps.Value, key, l.Position));
                }
            }

            return limits;
        }
    }
}
