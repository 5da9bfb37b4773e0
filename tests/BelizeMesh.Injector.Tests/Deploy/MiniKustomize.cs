using System.Text.Json.Nodes;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Injector.Tests.Deploy;

/// <summary>
/// Just enough of kustomize to render <c>deploy/</c> without a binary, so the schema checks run everywhere:
/// <c>resources</c> (files and directories), <c>components</c>, <c>patches</c> (strategic-merge patches of mappings,
/// by target or by the patch's own kind and name), <c>namespace</c>, <c>labels</c> (without selectors) and
/// <c>images</c>. Anything else in a kustomization is an error, so a feature this resolver does not know cannot be
/// skipped silently; where <c>kubectl kustomize</c> exists, the tests check that both render the same objects.
/// </summary>
internal static class MiniKustomize
{
    private static readonly HashSet<string> s_known =
        ["apiVersion", "kind", "resources", "components", "patches", "namespace", "labels", "images"];

    private static readonly HashSet<string> s_clusterScoped =
        ["Namespace", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "CustomResourceDefinition"];

    public static List<JsonObject> Build(string directory)
    {
        string file = Path.Combine(directory, "kustomization.yaml");
        var kustomization = YamlJson.Load(File.ReadAllText(file)) as JsonObject
            ?? throw new InvalidOperationException($"{file}: not a mapping");
        foreach (var (key, _) in kustomization)
        {
            if (!s_known.Contains(key))
            {
                throw new InvalidOperationException($"{file}: '{key}' is not supported by the in-test resolver; extend MiniKustomize or drop it");
            }
        }

        var documents = new List<JsonObject>();
        foreach (string path in Strings(kustomization["resources"]))
        {
            string full = Path.GetFullPath(Path.Combine(directory, path));
            documents.AddRange(Directory.Exists(full) ? Build(full) : LoadFile(full));
        }

        foreach (string path in Strings(kustomization["components"]))
        {
            // A component adds its resources and applies its patches to everything gathered so far.
            documents = BuildComponent(Path.GetFullPath(Path.Combine(directory, path)), documents);
        }

        ApplyTransformers(directory, kustomization, documents);
        return documents;
    }

    private static List<JsonObject> BuildComponent(string componentDirectory, List<JsonObject> accumulated)
    {
        string file = Path.Combine(componentDirectory, "kustomization.yaml");
        var component = (JsonObject)YamlJson.Load(File.ReadAllText(file))!;
        if ((string?)component["kind"] != "Component")
        {
            throw new InvalidOperationException($"{file}: a component must have kind: Component");
        }

        var documents = new List<JsonObject>(accumulated);
        foreach (string path in Strings(component["resources"]))
        {
            documents.AddRange(LoadFile(Path.GetFullPath(Path.Combine(componentDirectory, path))));
        }

        ApplyTransformers(componentDirectory, component, documents);
        return documents;
    }

    private static void ApplyTransformers(string directory, JsonObject kustomization, List<JsonObject> documents)
    {
        foreach (JsonNode? entry in kustomization["patches"] as JsonArray ?? [])
        {
            string path = Path.Combine(directory, (string)entry!["path"]!);
            foreach (JsonObject patch in LoadFile(path))
            {
                JsonObject? target = entry["target"] as JsonObject;
                int matched = 0;
                foreach (JsonObject document in documents)
                {
                    if (Matches(document, patch, target))
                    {
                        Merge(document, patch);
                        matched++;
                    }
                }

                if (matched == 0)
                {
                    throw new InvalidOperationException($"{path}: the patch matches no resource");
                }
            }
        }

        if ((string?)kustomization["namespace"] is { } ns)
        {
            foreach (JsonObject document in documents)
            {
                SetNamespace(document, ns);
            }
        }

        foreach (JsonNode? label in kustomization["labels"] as JsonArray ?? [])
        {
            if (label!["includeSelectors"] is JsonValue include && include.GetValue<bool>())
            {
                throw new InvalidOperationException("labels with includeSelectors: true are not supported by the in-test resolver");
            }

            foreach (JsonObject document in documents)
            {
                var metadata = (JsonObject)document["metadata"]!;
                var labels = metadata["labels"] as JsonObject ?? (JsonObject)(metadata["labels"] = new JsonObject());
                foreach (var (key, value) in (JsonObject)label["pairs"]!)
                {
                    labels[key] = value!.DeepClone();
                }
            }
        }

        foreach (JsonNode? image in kustomization["images"] as JsonArray ?? [])
        {
            string name = (string)image!["name"]!;
            foreach (JsonObject container in Containers(documents))
            {
                string current = (string)container["image"]!;
                int colon = current.LastIndexOf(':');
                string repository = colon > current.LastIndexOf('/') ? current[..colon] : current;
                if (repository == name)
                {
                    container["image"] = ((string?)image["newName"] ?? repository) + ":" + ((string?)image["newTag"] ?? current[(colon + 1)..]);
                }
            }
        }
    }

    private static IEnumerable<JsonObject> Containers(List<JsonObject> documents)
    {
        foreach (JsonObject document in documents)
        {
            if (document["spec"]?["template"]?["spec"] is JsonObject pod)
            {
                foreach (string field in new[] { "containers", "initContainers" })
                {
                    foreach (JsonNode? c in pod[field] as JsonArray ?? [])
                    {
                        yield return (JsonObject)c!;
                    }
                }
            }
        }
    }

    private static void SetNamespace(JsonObject document, string ns)
    {
        string kind = (string)document["kind"]!;
        if (!s_clusterScoped.Contains(kind))
        {
            document["metadata"]!["namespace"] = ns;
        }

        // kustomize also moves the references that name the namespace.
        foreach (JsonNode? subject in document["subjects"] as JsonArray ?? [])
        {
            if ((string?)subject!["kind"] == "ServiceAccount")
            {
                subject["namespace"] = ns;
            }
        }

        foreach (JsonNode? webhook in document["webhooks"] as JsonArray ?? [])
        {
            if (webhook!["clientConfig"]?["service"] is JsonObject service)
            {
                service["namespace"] = ns;
            }
        }
    }

    private static bool Matches(JsonObject document, JsonObject patch, JsonObject? target)
    {
        string? kind = (string?)target?["kind"] ?? (string?)patch["kind"];
        string? name = (string?)target?["name"] ?? (string?)patch["metadata"]?["name"];
        return (string?)document["kind"] == kind && (string?)document["metadata"]?["name"] == name
            && (target is not null || (string?)patch["metadata"]?["namespace"] is not { } ns || (string?)document["metadata"]?["namespace"] == ns);
    }

    /// <summary>Strategic merge restricted to mappings: nested mappings merge, anything else (lists too) replaces.</summary>
    private static void Merge(JsonObject target, JsonObject patch)
    {
        foreach (var (key, value) in patch)
        {
            if (value is JsonObject patchObject && target[key] is JsonObject targetObject)
            {
                Merge(targetObject, patchObject);
            }
            else if (value is JsonArray)
            {
                throw new InvalidOperationException($"patch field '{key}' is a list: list merges are not supported by the in-test resolver");
            }
            else
            {
                target[key] = value?.DeepClone();
            }
        }
    }

    public static List<JsonObject> LoadFile(string path)
    {
        var result = new List<JsonObject>();
        foreach (JsonNode? node in YamlJson.LoadAll(File.ReadAllText(path)))
        {
            if (node is JsonObject document)
            {
                result.Add(document);
            }
        }

        return result;
    }

    private static IEnumerable<string> Strings(JsonNode? node)
    {
        foreach (JsonNode? item in node as JsonArray ?? [])
        {
            yield return (string)item!;
        }
    }
}
