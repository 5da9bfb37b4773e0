using BelizeMesh.Configuration;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Model;

namespace BelizeMesh.Mesh.Analysis;

public static partial class MeshAnalyzer
{
    private sealed partial class Checks
    {
        /// <summary>The longest Kubernetes Service name (an RFC 1035 label).</summary>
        private const int MaxServiceName = 63;

        /// <summary>
        /// What the PQ path needs from the cluster: the headless Services must be valid Service names (BM0021), and
        /// the injector must be able to tell a <c>quantum: false</c> workload's pods from a quantum one's (BM0020).
        /// The injector skips pods whose labels include every label of a <c>quantum: false</c> service (emit writes
        /// those selectors into <c>belizemesh-injector-exclusions</c>); when those labels also select a quantum
        /// service's pods, or a quantum service's labels select the non-quantum pods, one of them goes wrong: either
        /// the quantum pods lose their sidecar, or the non-quantum pods get one whose policy ConfigMap does not exist
        /// (the pod waits on the missing volume) and the quantum service's headless Service lists pods that have no
        /// PQ listener.
        /// </summary>
        private void CheckPqPath()
        {
            foreach (var service in mesh.Services)
            {
                if (!service.Quantum)
                {
                    CheckExclusion(service);
                    continue;
                }

                CheckPqServiceName(service, null, service.Position);
                foreach (var subset in service.Subsets)
                {
                    CheckPqServiceName(service, subset.Name, subset.Position);
                }
            }
        }

        private void CheckPqServiceName(ServiceSpec service, string? subset, SourcePosition position)
        {
            string name = PqServiceNames.ServiceName(service, subset);
            string? problem = name.Length > MaxServiceName ? $"is {name.Length} characters long (at most {MaxServiceName})"
                : !char.IsAsciiLetterLower(name[0]) ? "does not start with a letter"
                : null;
            if (problem is null)
            {
                return;
            }

            Add(FindingCodes.PqServiceName, FindingSeverity.Error, position,
                $"the headless Service \"{name}\" that exposes the PQ port of service \"{service.Name}\"{(subset is null ? "" : $" subset \"{subset}\"")} {problem}, so Kubernetes would reject it and callers' sidecars could not resolve the pods",
                subset is null
                    ? "shorten the service name (it must start with a letter and leave room for the \"-pq\" suffix)"
                    : "shorten the service or subset name: <service>-<subset>-pq must be at most 63 characters and start with a letter");
        }

        private void CheckExclusion(ServiceSpec plain)
        {
            foreach (var quantum in mesh.Services)
            {
                if (!quantum.Quantum || quantum.Namespace != plain.Namespace)
                {
                    continue;
                }

                if (IsSubset(plain.Labels, quantum.Labels))
                {
                    Add(FindingCodes.InjectedWithoutPolicy, FindingSeverity.Error, plain.Position,
                        $"service \"{plain.Name}\" is quantum: false, but its labels {Format(plain.Labels)} also select the pods of quantum service \"{quantum.Name}\" ({Format(quantum.Labels)}): excluding \"{plain.Name}\" from injection would strip the sidecar from \"{quantum.Name}\", and injecting it would give its pods a sidecar without a policy ConfigMap",
                        $"give \"{plain.Name}\" a label the pods of \"{quantum.Name}\" do not carry (labels: {{ app: {plain.Name} }})");
                }
                else if (IsSubset(quantum.Labels, plain.Labels))
                {
                    Add(FindingCodes.InjectedWithoutPolicy, FindingSeverity.Error, plain.Position,
                        $"service \"{plain.Name}\" is quantum: false, but the labels of quantum service \"{quantum.Name}\" {Format(quantum.Labels)} select its pods too: its headless Service \"{PqServiceNames.ServiceName(quantum)}\" would list pods without a PQ listener",
                        $"give \"{quantum.Name}\" a label the pods of \"{plain.Name}\" do not carry");
                }
            }
        }

        /// <summary>Whether every label of <paramref name="selector"/> is in <paramref name="labels"/> (the selector matches them).</summary>
        private static bool IsSubset(IReadOnlyList<KeyValuePair<string, string>> selector, IReadOnlyList<KeyValuePair<string, string>> labels)
        {
            foreach (var (key, value) in selector)
            {
                bool found = false;
                foreach (var (k, v) in labels)
                {
                    if (k == key && v == value)
                    {
                        found = true;
                        break;
                    }
                }

                if (!found)
                {
                    return false;
                }
            }

            return true;
        }

        private static string Format(IReadOnlyList<KeyValuePair<string, string>> labels)
        {
            var parts = new List<string>(labels.Count);
            foreach (var (k, v) in labels)
            {
                parts.Add(k + ": " + v);
            }

            return "{ " + string.Join(", ", parts) + " }";
        }
    }
}
