using System.Text.RegularExpressions;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Model;

namespace BelizeMesh.Mesh.Analysis;

/// <summary>What of a quantum service's traffic intent its callers' sidecars cannot honour (BM0023).</summary>
public static partial class MeshAnalyzer
{
    private sealed partial class Checks
    {
        private void CheckPqTraffic(ServiceSpec service)
        {
            if (!service.Quantum)
            {
                return;
            }

            CheckPqRetries(service.Retries, $"service \"{service.Name}\"");
            foreach (var route in service.Routes)
            {
                string where = $"route \"{route.Name}\" of service \"{service.Name}\"";
                CheckPqRetries(route.Retries, where);
                int reachable = 0;
                foreach (var d in route.Destinations)
                {
                    if (SidecarTraffic.PqTarget(mesh, d, service.Namespace) is not null)
                    {
                        reachable++;
                        continue;
                    }

                    string what = d.Host ?? $"service \"{d.Service?.Name}\", which runs without the quantum sidecar";
                    Add(FindingCodes.TrafficNotOnQuantumChannel, FindingSeverity.Warning, d.Position,
                        $"{where} sends traffic to {what}; the callers' quantum sidecars cannot reach it over the post-quantum channel and leave this destination out{(route.Destinations.Count > 1 ? " (the others share its weight)" : "")}",
                        "route to quantum services only, or call this destination through Envoy (set quantum: false on the callers)");
                }

                if (reachable == 0)
                {
                    Add(FindingCodes.TrafficNotOnQuantumChannel, FindingSeverity.Warning, route.Position,
                        $"{where} has no destination the quantum sidecars can reach, so their policy leaves the rule out and its requests fall through to the next rule (or 404)",
                        "give the route a quantum destination, or keep its callers on Envoy");
                }

                foreach (var header in route.Match.Headers)
                {
                    if (header.Kind == "regex" && !CompilesNonBacktracking(header.Value, out string? reason))
                    {
                        Add(FindingCodes.TrafficNotOnQuantumChannel, FindingSeverity.Error, route.Position,
                            $"{where}: header regex \"{header.Value}\" for {header.Name} cannot run in the sidecar's linear-time (RE2-like) engine: {reason}",
                            "write the expression without backreferences, lookarounds or atomic groups (RE2 refuses them too)");
                    }
                }
            }
        }

        private void CheckPqRetries(RetrySpec? retries, string where)
        {
            if (retries is null)
            {
                return;
            }

            if (retries.Attempts > SidecarPolicyBuilder.MaxSidecarRetries)
            {
                Add(FindingCodes.TrafficNotOnQuantumChannel, FindingSeverity.Warning, retries.Position,
                    $"{where} allows {retries.Attempts} retries; the quantum sidecars make at most {SidecarPolicyBuilder.MaxSidecarRetries}",
                    $"lower attempts to {SidecarPolicyBuilder.MaxSidecarRetries} or fewer");
            }

            if (retries.RetryOn is not { } retryOn)
            {
                return;
            }

            foreach (string raw in retryOn.Split(','))
            {
                string condition = raw.Trim();
                if (!SidecarTraffic.IsSidecarCondition(condition))
                {
                    Add(FindingCodes.TrafficNotOnQuantumChannel, FindingSeverity.Warning, retries.Position,
                        $"{where} retries on \"{condition}\", which the quantum sidecars do not implement; they retry on the other conditions only",
                        $"use conditions both enforce: {string.Join(", ", SidecarTraffic.SidecarRetryConditions)}, or a status code such as 503");
                }
            }

        }

        private static bool CompilesNonBacktracking(string pattern, out string? reason)
        {
            try
            {
                _ = new Regex(@"\A(?:" + pattern + @")\z", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
                reason = null;
                return true;
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                reason = e.Message;
                return false;
            }
        }
    }
}
