using BelizeMesh.Configuration;
using BelizeMesh.Mesh.Model;

namespace BelizeMesh.Mesh.Emit;

/// <summary>Derived facts the emitter and the analyzer must agree on (defaults, effective values, names).</summary>
internal static class MeshRules
{
    /// <summary>The DestinationRule client TLS mode: as written, else DISABLE where peers accept no mTLS, else ISTIO_MUTUAL.</summary>
    public static ClientTlsMode ClientTls(MeshDescription mesh, ServiceSpec service) =>
        service.TlsMode ?? (mesh.EffectiveMtls(service) == MtlsMode.Disable ? ClientTlsMode.Disable : ClientTlsMode.IstioMutual);

    /// <summary>The client TLS mode for one port: follows a port-level mTLS override, else the service's.</summary>
    public static ClientTlsMode ClientTls(MeshDescription mesh, ServiceSpec service, int port)
    {
        if (service.Mtls is { } mtls)
        {
            foreach (var p in mtls.Ports)
            {
                if (p.Port == port)
                {
                    return p.Mode == MtlsMode.Disable ? ClientTlsMode.Disable : ClientTlsMode.IstioMutual;
                }
            }
        }

        return ClientTls(mesh, service);
    }

    /// <summary>The service's routes, or one catch-all route named <c>default</c> when it declares none.</summary>
    public static IReadOnlyList<RouteSpec> EffectiveRoutes(ServiceSpec service)
    {
        if (service.Routes.Count > 0)
        {
            return service.Routes;
        }

        return
        [
            new RouteSpec
            {
                Name = "default",
                Match = RouteMatch.Any,
                Destinations = [new RouteDestination(new ServiceRef(service.Name, service.Namespace, service.Position), null, null, null, null, service.Position)],
                Position = service.Position,
            },
        ];
    }

    /// <summary>Route timeout: the route's, else none for WebSocket routes, else the service's (null = Istio's default).</summary>
    public static TimeSpan? RouteTimeout(ServiceSpec service, RouteSpec route) =>
        route.Timeout ?? (route.WebSocket ? TimeSpan.Zero : service.Timeout);

    /// <summary>Route retries: the route's, else the service's except on WebSocket routes (an upgrade is not retried).</summary>
    public static RetrySpec? RouteRetries(ServiceSpec service, RouteSpec route) =>
        route.Retries ?? (route.WebSocket ? null : service.Retries);

    /// <summary>The longest the back-off before all the retries can add up to (the sidecar's rule,
    /// <see cref="RetryBackoff"/>, which is Envoy's).</summary>
    public static TimeSpan WorstCaseBackoff(RetrySpec retries) =>
        RetryBackoff.WorstCaseTotal(retries.Backoff ?? RetryBackoff.DefaultBase, retries.Attempts);

    public static string GatewayVirtualServiceName(ServiceSpec service, GatewaySpec gateway) => $"{service.Name}-{gateway.Name}";

    /// <summary>
    /// Whether <paramref name="caller"/> may call <paramref name="callee"/> at all under the callee's authorization:
    /// not denied outright by a whole-service DENY rule, and matched by some ALLOW rule (no ALLOW rules means allowed
    /// unless the callee's namespace denies by default).
    /// </summary>
    public static bool MayCall(MeshDescription mesh, ServiceSpec caller, ServiceSpec callee)
    {
        foreach (var rule in callee.Authorization.Deny)
        {
            if (rule.To is null && SourceMatches(mesh, rule.From, caller, forDeny: true))
            {
                return false;
            }
        }

        var allow = callee.Authorization.Allow;
        if (allow.Count == 0)
        {
            return callee.Jwt is { Required: true } || mesh.FindNamespace(callee.Namespace) is not { DefaultDeny: true };
        }

        foreach (var rule in allow)
        {
            if (SourceMatches(mesh, rule.From, caller, forDeny: false))
            {
                return true;
            }
        }

        return false;
    }

    private static bool SourceMatches(MeshDescription mesh, RuleSource? from, ServiceSpec caller, bool forDeny)
    {
        if (from is null)
        {
            return true;
        }

        // A DENY rule that needs a request principal does not deny the workload as such.
        // Whether a DENY rule on request principals matches depends on each request's JWT, not on the caller.
        if (forDeny && (from.RequestPrincipals.Count > 0 || from.NotRequestPrincipals.Count > 0))
        {
            return false;
        }

        if (from.NotPrincipals.Count > 0)
        {
            string principal = mesh.PrincipalOf(caller.Namespace, caller.ServiceAccount);
            foreach (var p in from.NotPrincipals)
            {
                if (PatternMatches(p, principal))
                {
                    return false;
                }
            }
        }

        if (from.ServiceAccounts.Count > 0 || from.Principals.Count > 0)
        {
            bool any = false;
            foreach (var sa in from.ServiceAccounts)
            {
                any |= sa.Namespace == caller.Namespace && sa.Name == caller.ServiceAccount;
            }

            if (!any && from.Principals.Count > 0)
            {
                string principal = mesh.PrincipalOf(caller.Namespace, caller.ServiceAccount);
                foreach (var p in from.Principals)
                {
                    any |= PatternMatches(p, principal);
                }
            }

            if (!any)
            {
                return false;
            }
        }

        if (from.Namespaces.Count > 0 && !Contains(from.Namespaces, caller.Namespace))
        {
            return false;
        }

        return !Contains(from.NotNamespaces, caller.Namespace);
    }

    /// <summary>Istio's string match: exact, <c>*</c>, <c>prefix*</c> or <c>*suffix</c>.</summary>
    public static bool PatternMatches(string pattern, string value)
    {
        if (pattern == "*")
        {
            return true;
        }

        if (pattern.EndsWith('*'))
        {
            return value.StartsWith(pattern[..^1], StringComparison.Ordinal);
        }

        if (pattern.StartsWith('*'))
        {
            return value.EndsWith(pattern[1..], StringComparison.Ordinal);
        }

        return pattern == value;
    }

    private static bool Contains(IReadOnlyList<string> list, string value)
    {
        foreach (var item in list)
        {
            if (PatternMatches(item, value))
            {
                return true;
            }
        }

        return false;
    }
}
