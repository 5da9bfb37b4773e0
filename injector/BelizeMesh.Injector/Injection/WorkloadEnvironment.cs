using BelizeMesh.Configuration;
using System.Text.Json.Nodes;

namespace BelizeMesh.Injector.Injection;

/// <summary>
/// The sidecar container's environment for its Istio metrics' labels (docs/injector.md, "Workload labels"): the pod's
/// namespace, name and <c>pod-template-hash</c> (downward API) and, computed from the pod as admitted, its workload
/// name, <c>app</c>, <c>version</c>, canonical service and revision. The sidecar reads them at start; its principal and namespace come from its
/// certificate.
/// </summary>
/// <remarks>
/// Istio's derivations: the workload is the pod's controller with a ReplicaSet's template hash removed (the Deployment's
/// name), else the pod's name or <c>generateName</c>; <c>app</c> is the <c>app</c> label, else
/// <c>app.kubernetes.io/name</c>; <c>version</c> the <c>version</c> label, else <c>app.kubernetes.io/version</c>; the
/// canonical service <c>service.istio.io/canonical-name</c>, else the app (unset: the sidecar uses the workload
/// name); the canonical revision <c>service.istio.io/canonical-revision</c>, else the version (unset: <c>latest</c>).
/// Values are literals, not downward-API label references, so the fallbacks apply (labels are fixed once the pod is
/// created; Istio's injector adds the canonical labels from the same chain).
/// <para>The variable names are <see cref="MeshNames.WorkloadEnv"/>. The pod's name and <c>pod-template-hash</c> label
/// come by downward API: where the workload name is not known at admission (a workload's template injected offline),
/// the sidecar derives it from them as Istio does.</para>
/// </remarks>
internal static class WorkloadEnvironment
{
    /// <summary>The <c>env</c> list of the sidecar container for a pod with <paramref name="metadata"/>.</summary>
    public static JsonArray Build(JsonObject? metadata, string? clusterName = null)
    {
        JsonObject? labels = metadata?["labels"] as JsonObject;
        var env = new JsonArray();
        env.Add((JsonNode)FieldRef(MeshNames.WorkloadEnv.Namespace, "metadata.namespace"));

        string? app = Label(labels, "app") ?? Label(labels, "app.kubernetes.io/name");
        string? version = Label(labels, "version") ?? Label(labels, "app.kubernetes.io/version");
        env.Add((JsonNode)FieldRef(MeshNames.WorkloadEnv.PodName, "metadata.name"));
        env.Add((JsonNode)FieldRef(MeshNames.WorkloadEnv.PodTemplateHash, "metadata.labels['pod-template-hash']"));
        Add(env, MeshNames.WorkloadEnv.WorkloadName, WorkloadName(metadata, labels));
        Add(env, MeshNames.WorkloadEnv.App, app);
        Add(env, MeshNames.WorkloadEnv.Version, version);
        Add(env, MeshNames.WorkloadEnv.CanonicalService, Label(labels, "service.istio.io/canonical-name") ?? app);
        Add(env, MeshNames.WorkloadEnv.CanonicalRevision, Label(labels, "service.istio.io/canonical-revision") ?? version);
        Add(env, MeshNames.WorkloadEnv.Cluster, clusterName);
        return env;
    }

    /// <summary>The workload a pod belongs to, as Istio names it; null when the pod says nothing (a bare template).</summary>
    public static string? WorkloadName(JsonObject? metadata, JsonObject? labels)
    {
        if (metadata?["ownerReferences"] is JsonArray owners)
        {
            foreach (JsonNode? node in owners)
            {
                if (node is JsonObject owner && owner["controller"] is JsonValue controller && controller.TryGetValue(out bool isController) && isController
                    && SidecarInjector.ReadString(owner, "name") is { Length: > 0 } name)
                {
                    string? kind = SidecarInjector.ReadString(owner, "kind");
                    if (kind == "ReplicaSet" && Label(labels, "pod-template-hash") is { } hash && name.EndsWith("-" + hash, StringComparison.Ordinal))
                    {
                        return name[..^(hash.Length + 1)]; // the Deployment
                    }

                    return name;
                }
            }
        }

        if (SidecarInjector.ReadString(metadata, "name") is { Length: > 0 } podName)
        {
            return podName;
        }

        if (SidecarInjector.ReadString(metadata, "generateName") is { Length: > 0 } generateName)
        {
            string trimmed = generateName.TrimEnd('-');
            if (Label(labels, "pod-template-hash") is { } hash && trimmed.EndsWith("-" + hash, StringComparison.Ordinal))
            {
                trimmed = trimmed[..^(hash.Length + 1)];
            }

            return trimmed.Length > 0 ? trimmed : null;
        }

        return null;
    }

    private static JsonObject FieldRef(string name, string fieldPath) => new()
    {
        ["name"] = name,
        ["valueFrom"] = new JsonObject { ["fieldRef"] = new JsonObject { ["fieldPath"] = fieldPath } },
    };

    private static string? Label(JsonObject? labels, string key) => SidecarInjector.ReadString(labels, key) is { Length: > 0 } value ? value : null;

    private static void Add(JsonArray env, string name, string? value)
    {
        if (value is not null)
        {
            env.Add((JsonNode)new JsonObject { ["name"] = name, ["value"] = value });
        }
    }
}
