using BelizeMesh.Configuration;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Injection;
using BelizeMesh.Injector.Yaml;

namespace BelizeMesh.Injector.Offline;

/// <summary>A document the offline path cannot inject under <c>failurePolicy: Fail</c>; the message names the place.</summary>
internal sealed class OfflineInjectionException(string message) : Exception(message);

/// <summary>The mutated YAML and the notes for stderr.</summary>
/// <param name="Yaml">The documents, mutated where injected.</param>
/// <param name="Warnings">What was left unchanged and why.</param>
/// <param name="Injected">Pods and pod templates that received the sidecar.</param>
/// <param name="Workloads">Pods and workloads found (injected or not); 0 means the input held nothing to inject.</param>
internal sealed record OfflineResult(string Yaml, IReadOnlyList<string> Warnings, int Injected, int Workloads);

/// <summary>
/// <c>belizemesh-injector inject</c>: the same core as the webhook (<see cref="SidecarInjector"/>), applied offline
/// to Pods and to the pod templates of workloads, like <c>istioctl kube-inject</c>. The patch the webhook would send is
/// applied with <see cref="JsonPatch.Apply"/>, so the two paths cannot drift. Other kinds pass through unchanged.
/// </summary>
internal static class OfflineInjector
{
    /// <summary>Injects every Pod and workload in (multi-document) YAML <paramref name="text"/>.</summary>
    /// <exception cref="YamlInputException">The YAML cannot be read.</exception>
    /// <exception cref="OfflineInjectionException">A document wants the sidecar and cannot get it (failurePolicy Fail).</exception>
    public static OfflineResult Run(string text, string source, SidecarTemplate template)
    {
        List<YamlJsonDocument> documents = YamlJsonReader.ReadDocuments(text, source);
        var warnings = new List<string>();
        int injected = 0, workloads = 0;
        var roots = new List<JsonNode?>(documents.Count);
        foreach (YamlJsonDocument document in documents)
        {
            if (document.Root is JsonObject obj)
            {
                workloads += CountWorkloads(obj);
                injected += Process(obj, $"{source}:{document.Line}:{document.Column}", template, warnings);
            }

            roots.Add(document.Root);
        }

        return new OfflineResult(roots.Count == 0 ? "" : YamlWriter.ToYaml(roots, YamlListLayout.Kubectl), warnings, injected, workloads);
    }

    /// <summary>The kinds that carry a pod (the cases of <see cref="Process"/>), counted through Lists.</summary>
    private static int CountWorkloads(JsonObject obj)
    {
        switch (SidecarInjector.ReadString(obj, "kind"))
        {
            case "Pod" or "Deployment" or "StatefulSet" or "DaemonSet" or "ReplicaSet" or "Job" or "ReplicationController" or "PodTemplate" or "CronJob":
                return 1;
            case "List" when obj["items"] is JsonArray items:
                int count = 0;
                foreach (JsonNode? item in items)
                {
                    count += item is JsonObject o ? CountWorkloads(o) : 0;
                }

                return count;
            default:
                return 0;
        }
    }

    private static JsonNode? Child(JsonNode? node, string key) => node is JsonObject obj ? obj[key] : null;

    private static int Process(JsonObject obj, string where, SidecarTemplate template, List<string> warnings)
    {
        string? kind = SidecarInjector.ReadString(obj, "kind");
        JsonObject? metadata = obj["metadata"] as JsonObject;
        string name = SidecarInjector.ReadString(metadata, "name") ?? SidecarInjector.ReadString(metadata, "generateName") ?? "(unnamed)";
        string? ns = SidecarInjector.ReadString(metadata, "namespace");
        string what = $"{where}: {kind} {name}";

        JsonNode? target;
        switch (kind)
        {
            case "Pod":
                target = obj;
                break;
            case "Deployment" or "StatefulSet" or "DaemonSet" or "ReplicaSet" or "Job" or "ReplicationController" or "PodTemplate":
                target = kind == "PodTemplate" ? obj["template"] : Child(obj["spec"], "template");
                break;
            case "CronJob":
                target = Child(Child(Child(obj["spec"], "jobTemplate"), "spec"), "template");
                break;
            case "List":
                int count = 0;
                if (obj["items"] is JsonArray items)
                {
                    for (int i = 0; i < items.Count; i++)
                    {
                        if (items[i] is JsonObject item)
                        {
                            count += Process(item, $"{where} (items[{i}])", template, warnings);
                        }
                    }
                }

                return count;
            default:
                return 0; // other kinds pass through unchanged
        }

        InjectionResult result = target is JsonObject pod
            ? SidecarInjector.Inject(pod, ns, template)
            : InjectionResult.Skip(InjectionReason.InvalidPod, kind == "CronJob" ? "it has no spec.jobTemplate.spec.template" : "it has no pod template");

        if (result.IsFailure)
        {
            string message = $"{what}: cannot inject the sidecar: {result.Message}";
            if (template.Config.FailurePolicy == FailurePolicy.Fail)
            {
                throw new OfflineInjectionException(message);
            }

            warnings.Add(message + " (left unchanged: failurePolicy is Ignore)");
            return 0;
        }

        if (result.Message is not null && (result.Warn || result.Reason != InjectionReason.Injected))
        {
            warnings.Add($"{what}: {result.Message}");
        }

        if (result.Patch.Count == 0)
        {
            return 0;
        }

        JsonPatch.Apply(target!, result.Patch);
        return 1;
    }
}
