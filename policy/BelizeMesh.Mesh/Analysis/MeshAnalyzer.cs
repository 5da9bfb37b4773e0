using BelizeMesh.Configuration;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Model;
using BelizeMesh.Mesh.Parsing;

namespace BelizeMesh.Mesh.Analysis;

/// <summary>
/// Finds what <c>istioctl analyze</c> would flag in the emitted resources (undefined subsets and hosts, mTLS
/// conflicts, duplicate names, unnamed port protocols) and what only the mesh model knows (unknown service accounts in
/// rules, bursts below the rate, retries outlasting the timeout, settings the quantum sidecar cannot enforce).
/// Findings are ordered by position, then code.
/// </summary>
public static partial class MeshAnalyzer
{
    /// <summary>Analyzes <paramref name="mesh"/>; pass <paramref name="emitted"/> when the caller has already emitted it (saves a second emit).</summary>
    public static IReadOnlyList<MeshFinding> Analyze(MeshDescription mesh, IReadOnlyList<EmittedResource>? emitted = null)
    {
        var findings = new Checks(mesh, emitted);
        findings.Run();
        var list = findings.Findings;
        list.Sort(static (a, b) =>
        {
            int c = a.Position.Line.CompareTo(b.Position.Line);
            if (c == 0)
            {
                c = a.Position.Column.CompareTo(b.Position.Column);
            }

            return c != 0 ? c : string.CompareOrdinal(a.Code, b.Code);
        });
        return list;
    }

    public static int CountErrors(IReadOnlyList<MeshFinding> findings)
    {
        int n = 0;
        foreach (var f in findings)
        {
            if (f.Severity == FindingSeverity.Error)
            {
                n++;
            }
        }

        return n;
    }

    private sealed partial class Checks(MeshDescription mesh, IReadOnlyList<EmittedResource>? emitted)
    {
        public List<MeshFinding> Findings { get; } = [];

        private void Add(string code, FindingSeverity severity, SourcePosition position, string message, string hint) =>
            Findings.Add(new MeshFinding(code, severity, mesh.File, position, message, hint));

        public void Run()
        {
            CheckDuplicates();
            var serviceAccounts = new HashSet<(string, string)>();
            var hosts = new HashSet<string>(StringComparer.Ordinal);
            foreach (var s in mesh.Services)
            {
                serviceAccounts.Add((s.Namespace, s.ServiceAccount));
                hosts.Add(mesh.HostOf(s));
            }

            foreach (var service in mesh.Services)
            {
                CheckPorts(service);
                CheckRoutes(service, hosts);
                CheckPqTraffic(service);
                CheckTls(service);
                CheckAuthorization(service, serviceAccounts);
                CheckRateLimits(service);
            }

            CheckPqPath();

            foreach (var gateway in mesh.Gateways)
            {
                foreach (var h in gateway.Hosts)
                {
                    if (mesh.FindService(h.Service.Namespace, h.Service.Name) is { Routes.Count: > 0 } service && !AnyPublic(service))
                    {
                        Add(FindingCodes.NoPublicRoute, FindingSeverity.Error, h.Position,
                            $"gateway \"{gateway.Name}\" exposes {h.Host} on service \"{service.Name}\", but none of its routes is public, so the gateway would route nothing",
                            $"mark the routes the public may use with public: true, or remove {h.Host} from the gateway");
                    }
                }
            }

            // Names that collide only after generation (e.g. two services sharing a service account, a policy name reused).
            // Skipped while declarations are duplicated: each of those would only repeat here.
            if (Findings.Exists(static f => f.Code == FindingCodes.DuplicateName))
            {
                return;
            }

            var seen = new Dictionary<(ResourceKind, string, string), SourcePosition>();
            foreach (var r in emitted ?? MeshEmitter.Emit(mesh))
            {
                if (!seen.TryAdd((r.Kind, r.Namespace, r.Name), r.Origin))
                {
                    Add(FindingCodes.DuplicateName, FindingSeverity.Error, r.Origin,
                        $"two {r.Kind} objects would both be named {r.Namespace}/{r.Name} (the first comes from line {seen[(r.Kind, r.Namespace, r.Name)].Line})",
                        r.Kind == ResourceKind.ConfigMap
                            ? "give each quantum-enabled service its own serviceAccount: the sidecar policy ConfigMap is named after it"
                            : "rename one of them (policy names, service names and gateway names must be unique per namespace)");
                }
            }
        }

        private static bool AnyPublic(ServiceSpec service)
        {
            foreach (var r in service.Routes)
            {
                if (r.Public)
                {
                    return true;
                }
            }

            return false;
        }

        private void CheckDuplicates()
        {
            var services = new Dictionary<(string, string), SourcePosition>();
            foreach (var s in mesh.Services)
            {
                Unique(services, (s.Namespace, s.Name), s.Position, $"service \"{s.Name}\" in namespace \"{s.Namespace}\"");
                var subsets = new Dictionary<string, SourcePosition>(StringComparer.Ordinal);
                foreach (var subset in s.Subsets)
                {
                    Unique(subsets, subset.Name, subset.Position, $"subset \"{subset.Name}\" of service \"{s.Name}\"");
                }

                var routes = new Dictionary<string, SourcePosition>(StringComparer.Ordinal);
                foreach (var route in s.Routes)
                {
                    Unique(routes, route.Name, route.Position, $"route \"{route.Name}\" of service \"{s.Name}\"");
                }

                var portNames = new Dictionary<string, SourcePosition>(StringComparer.Ordinal);
                var portNumbers = new Dictionary<int, SourcePosition>();
                foreach (var port in s.Ports)
                {
                    Unique(portNames, port.Name, port.Position, $"port name \"{port.Name}\" of service \"{s.Name}\"");
                    Unique(portNumbers, port.Number, port.Position, $"port {port.Number} of service \"{s.Name}\"");
                }

                var limits = new Dictionary<string, SourcePosition>(StringComparer.Ordinal);
                foreach (var limit in s.RateLimits)
                {
                    Unique(limits, limit.Name, limit.Position, $"rate limit \"{limit.Name}\" of service \"{s.Name}\"");
                }
            }

            var namespaces = new Dictionary<string, SourcePosition>(StringComparer.Ordinal);
            foreach (var ns in mesh.Namespaces)
            {
                Unique(namespaces, ns.Name, ns.Position, $"namespace \"{ns.Name}\"");
            }

            var gateways = new Dictionary<(string, string), SourcePosition>();
            var gatewayHosts = new Dictionary<string, SourcePosition>(StringComparer.OrdinalIgnoreCase);
            foreach (var g in mesh.Gateways)
            {
                Unique(gateways, (g.Namespace, g.Name), g.Position, $"gateway \"{g.Name}\" in namespace \"{g.Namespace}\"");
                foreach (var h in g.Hosts)
                {
                    Unique(gatewayHosts, h.Host, h.Position, $"gateway host {h.Host}");
                }
            }
        }

        private void Unique<TKey>(Dictionary<TKey, SourcePosition> seen, TKey key, SourcePosition position, string what)
            where TKey : notnull
        {
            if (!seen.TryAdd(key, position))
            {
                Add(FindingCodes.DuplicateName, FindingSeverity.Error, position,
                    $"{what} is declared twice (first at line {seen[key].Line})",
                    "remove one declaration or give it another name");
            }
        }

        private void CheckPorts(ServiceSpec service)
        {
            foreach (var port in service.Ports)
            {
                var fromName = Protocols.FromPortName(port.Name);
                if (fromName is null)
                {
                    string protocol = port.Protocol ?? "";
                    Add(FindingCodes.PortProtocol, FindingSeverity.Warning, port.Position,
                        port.Protocol is null
                            ? $"port \"{port.Name}\" ({port.Number}) of service \"{service.Name}\" declares no protocol, so Istio sniffs it or treats it as TCP"
                            : $"port name \"{port.Name}\" ({port.Number}) of service \"{service.Name}\" does not declare its protocol; the Kubernetes Service port Istio reads will not say {protocol}",
                        port.Protocol is null
                            ? $"name the port <protocol>-{port.Name} (Istio's convention, e.g. tcp-{port.Name} or http-{port.Name}) in the mesh and the Service, or set protocol here and appProtocol on the Service port"
                            : $"name the port {protocol.ToLowerInvariant()}-{port.Name} (Istio's <protocol>[-<suffix>] convention) in the mesh and the Service, or set appProtocol: {protocol.ToLowerInvariant()} on the Service port");
                }
                else if (port.Protocol is { } declared && declared != fromName)
                {
                    Add(FindingCodes.PortProtocol, FindingSeverity.Warning, port.Position,
                        $"port \"{port.Name}\" of service \"{service.Name}\" is named for {fromName} but declares protocol {declared}; Istio goes by the name",
                        $"rename the port to {declared.ToLowerInvariant()}-<suffix> or change protocol to {fromName}");
                }
            }

            if (service.Mtls is { } mtls)
            {
                foreach (var p in mtls.Ports)
                {
                    if (!HasPort(service, p.Port))
                    {
                        Add(FindingCodes.PortMtlsUnknownPort, FindingSeverity.Error, p.Position,
                            $"mTLS override for port {p.Port}, which service \"{service.Name}\" does not declare; Istio ignores it",
                            $"add port {p.Port} to the service's ports, or fix the port number");
                    }
                }
            }
        }

        private static bool HasPort(ServiceSpec service, int number)
        {
            foreach (var port in service.Ports)
            {
                if (port.Number == number)
                {
                    return true;
                }
            }

            return false;
        }

        private void CheckRoutes(ServiceSpec service, HashSet<string> hosts)
        {
            foreach (var route in service.Routes)
            {
                int total = 0;
                bool anyWeight = false;
                foreach (var d in route.Destinations)
                {
                    if (d.Weight is { } w)
                    {
                        anyWeight = true;
                        total += w;
                    }

                    // a host naming a mesh service is that service to Envoy: its subsets and ports are checked alike
                    if (mesh.DestinationService(d, service.Namespace) is { } target)
                    {
                        if (d.Subset is { } subset && !HasSubset(target, subset))
                        {
                            Add(FindingCodes.UndefinedSubset, FindingSeverity.Error, d.Position,
                                $"route \"{route.Name}\" of service \"{service.Name}\" sends traffic to subset \"{subset}\" of \"{target.Name}\", which defines {SubsetList(target)}; Envoy answers 503 (no healthy upstream)",
                                $"add subset \"{subset}\" with its pod labels under {target.Name}.subsets, or route to an existing subset");
                        }

                        if (d.Port is { } port && target.Ports.Count > 0 && !HasPort(target, port))
                        {
                            Add(FindingCodes.UndefinedPort, FindingSeverity.Error, d.Position,
                                $"route \"{route.Name}\" of service \"{service.Name}\" sends traffic to port {port} of \"{target.Name}\", which does not declare it",
                                $"use one of the ports of \"{target.Name}\" or add port {port} to it");
                        }
                    }
                    else if (d.Host is { } host && !hosts.Contains(host))
                    {
                        Add(FindingCodes.UnknownHost, FindingSeverity.Warning, d.Position,
                            $"route \"{route.Name}\" of service \"{service.Name}\" sends traffic to {host}, which is not a service of this mesh; without a ServiceEntry Istio cannot resolve it",
                            "route to a service of the mesh with service: <name>, or create a ServiceEntry for the external host");
                    }
                }

                if ((anyWeight || route.Destinations.Count > 1) && total != 100)
                {
                    Add(FindingCodes.WeightsNotHundred, FindingSeverity.Error, route.Position,
                        $"the destinations of route \"{route.Name}\" of service \"{service.Name}\" have weights adding up to {total}, not 100",
                        "give every destination a weight and make them add up to 100 (e.g. 90 and 10)");
                }

                var timeout = MeshRules.RouteTimeout(service, route);
                var retries = MeshRules.RouteRetries(service, route);
                if (timeout is { } t && t > TimeSpan.Zero && retries is { PerTryTimeout: { } perTry, Attempts: > 0 })
                {
                    var backoff = MeshRules.WorstCaseBackoff(retries);
                    var total2 = (perTry * (retries.Attempts + 1)) + backoff;
                    if (total2 > t)
                    {
                        Add(FindingCodes.RetriesExceedTimeout, FindingSeverity.Warning, retries.Position,
                            $"route \"{route.Name}\" of service \"{service.Name}\": the first try and {retries.Attempts} retries of {Durations.Format(perTry)} each, with up to {Durations.Format(backoff)} of back-off between them, take up to {Durations.Format(total2)}, longer than the route timeout {Durations.Format(t)}, so the last retries never run",
                            $"lower attempts, perTryTimeout or backoff, or raise the timeout to at least {Durations.Format(total2)}");
                    }
                }

                if (route.WebSocket && route.Timeout is { } wsTimeout && wsTimeout > TimeSpan.Zero)
                {
                    Add(FindingCodes.WebSocketTimeout, FindingSeverity.Warning, route.Position,
                        $"WebSocket route \"{route.Name}\" of service \"{service.Name}\" has timeout {Durations.Format(wsTimeout)}; Envoy will cut long-lived connections after it",
                        "remove the timeout (WebSocket routes default to none) or set timeout: 0");
                }
            }
        }

        private static bool HasSubset(ServiceSpec service, string subset)
        {
            foreach (var s in service.Subsets)
            {
                if (s.Name == subset)
                {
                    return true;
                }
            }

            return false;
        }

        private static string SubsetList(ServiceSpec service)
        {
            if (service.Subsets.Count == 0)
            {
                return "no subsets";
            }

            var names = new List<string>();
            foreach (var s in service.Subsets)
            {
                names.Add(s.Name);
            }

            return "only " + string.Join(", ", names);
        }

        private void CheckTls(ServiceSpec service)
        {
            if (service.TlsMode is not { } tls)
            {
                return;
            }

            var peer = mesh.EffectiveMtls(service);
            if (tls == ClientTlsMode.Disable && peer == MtlsMode.Strict)
            {
                Add(FindingCodes.TlsConflict, FindingSeverity.Error, service.TlsModePosition,
                    $"service \"{service.Name}\": the DestinationRule sends plaintext (tlsMode: DISABLE) but its PeerAuthentication is STRICT, so every request is refused",
                    "remove tlsMode (BelizeMesh derives ISTIO_MUTUAL), or set the service's mtls to PERMISSIVE or DISABLE");
            }
            else if (tls == ClientTlsMode.IstioMutual && peer == MtlsMode.Disable)
            {
                Add(FindingCodes.TlsConflict, FindingSeverity.Error, service.TlsModePosition,
                    $"service \"{service.Name}\": the DestinationRule sends Istio mTLS (tlsMode: ISTIO_MUTUAL) but its PeerAuthentication is DISABLE, so the server side never terminates it",
                    "remove tlsMode (BelizeMesh derives DISABLE), or set the service's mtls to STRICT or PERMISSIVE");
            }
        }

        private void CheckAuthorization(ServiceSpec service, HashSet<(string, string)> serviceAccounts)
        {
            foreach (var rule in Concat(service.Authorization.Allow, service.Authorization.Deny))
            {
                if (rule.From is not { } from)
                {
                    continue;
                }

                foreach (var sa in from.ServiceAccounts)
                {
                    if (!serviceAccounts.Contains((sa.Namespace, sa.Name)))
                    {
                        Add(FindingCodes.UnknownServiceAccount, FindingSeverity.Warning, sa.Position,
                            $"a rule of service \"{service.Name}\" names service account {sa.Namespace}/{sa.Name}, which no service of the mesh uses (principal {mesh.PrincipalOf(sa.Namespace, sa.Name)})",
                            "fix the name (write namespace/name for another namespace), or add the calling service to the mesh");
                    }
                }
            }

            if (service.Quantum)
            {
                if (service.LoadBalancing is { } lb && SidecarPolicyBuilder.SidecarLoadBalancing(lb) is null)
                {
                    Add(FindingCodes.AffinityNotOnQuantumChannel, FindingSeverity.Info, lb.Position,
                        $"service \"{service.Name}\" hashes on {(lb.Cookie is not null ? "a cookie" : "the source IP")}; Envoy keeps that affinity, the callers' quantum sidecars balance round robin",
                        "hash on a header (loadBalancing: { policy: ConsistentHash, header: ... }) to keep affinity on both paths");
                }
            }

            if (service.Jwt is { } jwt)
            {
                foreach (var issuer in jwt.Issuers)
                {
                    if (issuer.JwksUri is { } uri && uri.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
                    {
                        string fetchers = service.Quantum && issuer.JwksFile is null ? "istiod (for Envoy) and the quantum sidecar fetch" : "istiod fetches";
                        Add(FindingCodes.JwksOverPlainHttp, FindingSeverity.Warning, issuer.Position,
                            $"service \"{service.Name}\" takes the keys of JWT issuer \"{issuer.Issuer}\" from {uri}; {fetchers} them over plain http, so anyone on the network path can replace the keys that authenticate requests",
                            "serve the JWKS over https, or give it inline with jwks");
                    }
                }
            }

            if (service.Authorization.Allow.Count == 0 && service.Jwt is not { Required: true }
                && mesh.FindNamespace(service.Namespace) is { DefaultDeny: true })
            {
                Add(FindingCodes.Unreachable, FindingSeverity.Warning, service.Position,
                    $"service \"{service.Name}\" is in namespace \"{service.Namespace}\", which denies by default, and has no allow rules, so nothing can reach it",
                    "add authorization.allow rules for its callers");
            }
        }

        private static IEnumerable<AuthorizationRule> Concat(IReadOnlyList<AuthorizationRule> a, IReadOnlyList<AuthorizationRule> b)
        {
            foreach (var r in a)
            {
                yield return r;
            }

            foreach (var r in b)
            {
                yield return r;
            }
        }

        private void CheckRateLimits(ServiceSpec service)
        {
            foreach (var limit in service.RateLimits)
            {
                if (limit.Burst < limit.RequestsPerSecond)
                {
                    Add(FindingCodes.BurstBelowRate, FindingSeverity.Warning, limit.Position,
                        $"rate limit \"{limit.Name}\" of service \"{service.Name}\" allows {limit.RequestsPerSecond} requests per second but a burst of only {limit.Burst}, so the bucket cannot hold one second of traffic",
                        $"set burst to at least {limit.RequestsPerSecond} (or leave it out: it defaults to the rate)");
                }

                if (!service.Quantum)
                {
                    Add(FindingCodes.RateLimitWithoutSidecar, FindingSeverity.Warning, limit.Position,
                        $"rate limit \"{limit.Name}\" of service \"{service.Name}\" is enforced by the quantum sidecar, which this service does not run (quantum: false)",
                        "set quantum: true, or remove the rate limit");
                }
            }
        }
    }
}
