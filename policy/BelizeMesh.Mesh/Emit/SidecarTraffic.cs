using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Model;
using BelizeMesh.Mesh.Parsing;
using static BelizeMesh.Mesh.Emit.MeshEmitter;

namespace BelizeMesh.Mesh.Emit;

/// <summary>
/// The callee's Istio traffic intent in the SidecarPolicy's vocabulary (docs/policy.md), so PQ callers see what Envoy
/// callers see: the VirtualService's routes become ordered <c>http</c> rules with the same matches, weighted subset
/// destinations (each with its own headless Service endpoint, <see cref="PqServiceNames"/>), timeouts, retries and
/// faults; retries keep Istio's <c>retryOn</c>, or Istio's default policy where the mesh file names none.
/// </summary>
internal static class SidecarTraffic
{
    /// <summary>The <c>retryOn</c> conditions the sidecar implements (Envoy's names; a 3-digit status code also works).</summary>
    public static readonly IReadOnlyList<string> SidecarRetryConditions =
    [
        "5xx", "gateway-error", "connect-failure", "reset", "retriable-4xx", "refused-stream", "retriable-status-codes",
        "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
    ];

    /// <summary>
    /// Istio's retry policy for a route that sets none, or sets attempts without <c>retryOn</c>
    /// (<c>pilot/pkg/networking/core/route/retry</c>): 2 attempts on connect-failure, refused-stream, gRPC unavailable
    /// and cancelled, and status 503 (its retriable-status-codes).
    /// </summary>
    public const string IstioDefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,503";

    public const int IstioDefaultAttempts = 2;

    /// <summary>Whether the sidecar understands one <c>retryOn</c> entry.</summary>
    public static bool IsSidecarCondition(string condition) =>
        SidecarRetryConditions.Contains(condition)
        || (condition.Length == 3 && int.TryParse(condition, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int code) && code is >= 100 and <= 599);

    /// <summary>The sidecar's <c>retries</c> for a route or rule: Istio's default when <paramref name="spec"/> is null; null when no retry is left.</summary>
    public static JsonObject? Retries(RetrySpec? spec)
    {
        int attempts = Math.Min(spec?.Attempts ?? IstioDefaultAttempts, SidecarPolicyBuilder.MaxSidecarRetries);
        if (attempts <= 0)
        {
            return Obj(("attempts", 0));
        }

        string retryOn = IstioDefaultRetryOn;
        if (spec?.RetryOn is { } written)
        {
            var kept = new List<string>();
            foreach (string raw in written.Split(','))
            {
                string condition = raw.Trim();
                if (IsSidecarCondition(condition) && !kept.Contains(condition))
                {
                    kept.Add(condition);
                }
            }

            if (kept.Count == 0)
            {
                return Obj(("attempts", 0));
            }

            retryOn = string.Join(',', kept);
        }

        return Obj(("attempts", attempts), ("perTryTimeout", Duration(spec?.PerTryTimeout)), ("backoff", Duration(spec?.Backoff)), ("retryOn", retryOn));
    }

    /// <summary>The service a destination of a route of a service in <paramref name="routeNamespace"/> reaches over the PQ
    /// path, or null (an external host, a service without the sidecar). A <c>host</c> naming a mesh service is that
    /// service, as Envoy resolves it (<see cref="MeshDescription.DestinationService"/>).</summary>
    public static ServiceSpec? PqTarget(MeshDescription mesh, RouteDestination destination, string routeNamespace) =>
        mesh.DestinationService(destination, routeNamespace) is { Quantum: true } target ? target : null;

    /// <summary>
    /// The weights to write for a rule's reachable destinations, or null when the rule is left out (none reachable, or
    /// only ones Envoy sends nothing: weights 0). One destination keeps its weight as written (it takes all
    /// traffic). Several get every weight written and adding up to 100, as the sidecar requires (as an Istio
    /// VirtualService): an omitted weight is Istio's 0, and when unreachable destinations were left out the others
    /// share their weight in proportion (largest remainder; ties to the earlier destination).
    /// </summary>
    private static int?[]? SettleWeights(List<(RouteDestination Destination, ServiceSpec Target)> reachable)
    {
        if (reachable.Count == 0)
        {
            return null;
        }

        if (reachable.Count == 1)
        {
            // weight 0 next to destinations left out: Envoy sends it nothing, so the rule must not take the requests
            return reachable[0].Destination.Weight == 0 ? null : [reachable[0].Destination.Weight];
        }

        var weights = new int?[reachable.Count];
        var remainders = new int[reachable.Count];
        int total = 0;
        foreach (var (d, _) in reachable)
        {
            total += d.Weight ?? 0;
        }

        if (total == 0)
        {
            return null;
        }

        int assigned = 0;
        for (int i = 0; i < reachable.Count; i++)
        {
            int scaled = (reachable[i].Destination.Weight ?? 0) * 100;
            weights[i] = scaled / total;
            remainders[i] = scaled % total;
            assigned += weights[i]!.Value;
        }

        for (int left = 100 - assigned; left > 0; left--)
        {
            int best = 0;
            for (int i = 1; i < remainders.Length; i++)
            {
                if (remainders[i] > remainders[best])
                {
                    best = i;
                }
            }

            weights[best]++;
            remainders[best] = -1;
        }

        return weights;
    }

    /// <summary>The callee's routes as ordered <c>http</c> rules; null when it declares none (the route's endpoints take everything).</summary>
    public static JsonArray? HttpRules(MeshDescription mesh, ServiceSpec callee)
    {
        if (callee.Routes.Count == 0)
        {
            return null;
        }

        var rules = new JsonArray();
        foreach (var route in callee.Routes)
        {
            // Only PQ-reachable destinations are written; analyze reports the others (BM0023).
            var reachable = new List<(RouteDestination Destination, ServiceSpec Target)>();
            foreach (var d in route.Destinations)
            {
                if (PqTarget(mesh, d, callee.Namespace) is { } pqTarget)
                {
                    reachable.Add((d, pqTarget));
                }
            }

            if (SettleWeights(reachable) is not { } weights)
            {
                continue;
            }

            var destinations = new JsonArray();
            for (int i = 0; i < reachable.Count; i++)
            {
                var (d, target) = reachable[i];
                var destination = Obj(("subset", d.Subset), ("weight", weights[i]));
                destination["endpoints"] = new JsonArray(PqServiceNames.Endpoint(mesh, target, d.Subset));
                if (d.Port is { } port)
                {
                    // the destination port Istio routes to (the blockchain's WebSocket rule → 9944): the peer's inbound
                    // forwards to that app port (its inbound.apps) whatever port the caller's Host names
                    destination["appPort"] = port;
                }

                if (!ReferenceEquals(target, callee))
                {
                    destination["identity"] = mesh.SpiffeIdOf(target);
                    if (target.LoadBalancing is { } lb && SidecarPolicyBuilder.SidecarLoadBalancing(lb) is { } balancing)
                    {
                        destination["loadBalancing"] = balancing;
                    }
                }

                destinations.Push(destination);
            }

            var rule = Obj(("name", route.Name));
            var matches = VirtualServiceMatches(route.Match);
            if (matches.Count > 0)
            {
                rule["match"] = matches;
            }

            rule["destinations"] = destinations;
            if (route.Timeout is not null || route.WebSocket)
            {
                rule["timeout"] = Durations.Format(MeshRules.RouteTimeout(callee, route) ?? TimeSpan.Zero);
            }

            if (route.Retries is not null || route.WebSocket)
            {
                // a WebSocket route drops the service's retries (an upgrade is not retried)
                rule["retries"] = route.Retries is { } own ? Retries(own) : Obj(("attempts", 0));
            }

            if (route.Fault is { } fault)
            {
                var f = new JsonObject();
                if (fault.DelayPercentage is { } delayPct && fault.FixedDelay is { } delay)
                {
                    f["delay"] = Obj(("fixedDelay", Durations.Format(delay)), ("percentage", delayPct));
                }

                if (fault.AbortPercentage is { } abortPct && fault.AbortHttpStatus is { } status)
                {
                    f["abort"] = Obj(("httpStatus", status), ("percentage", abortPct));
                }

                if (f.Count > 0)
                {
                    rule["fault"] = f;
                }
            }

            rules.Push(rule);
        }

        return rules.Count > 0 ? rules : null;
    }
}
