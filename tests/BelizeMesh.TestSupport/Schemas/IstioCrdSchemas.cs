using System.Text.Json.Nodes;

namespace BelizeMesh.TestSupport.Schemas;

/// <summary>The openAPIV3Schema of each Istio CRD version in <c>shared/istio-crds/crds.yaml</c>.</summary>
public static class IstioCrdSchemas
{
    private static readonly Lazy<Dictionary<(string Group, string Kind, string Version), JsonNode>> s_schemas = new(Load);

    /// <summary>The schema of <paramref name="kind"/> at <paramref name="version"/> (e.g. "VirtualService", "v1beta1").</summary>
    public static JsonNode Get(string kind, string version)
    {
        foreach (var ((_, k, v), schema) in s_schemas.Value)
        {
            if (k == kind && v == version)
            {
                return schema;
            }
        }

        throw new KeyNotFoundException($"no Istio CRD schema for {kind} {version} in {Path}");
    }

    /// <summary>The (group, kind, version) triples available.</summary>
    public static IEnumerable<(string Group, string Kind, string Version)> Available => s_schemas.Value.Keys;

    /// <summary>
    /// Validates a whole Istio resource (<c>apiVersion</c>, <c>kind</c>, <c>metadata</c>, <c>spec</c>) against the CRD
    /// schema its apiVersion names. The API server checks apiVersion/kind/metadata itself; this checks that
    /// metadata.name exists and the rest against the CRD.
    /// </summary>
    public static IReadOnlyList<string> ValidateResource(JsonNode resource)
    {
        var errors = new List<string>();
        string? apiVersion = resource["apiVersion"]?.GetValue<string>();
        string? kind = resource["kind"]?.GetValue<string>();
        if (apiVersion is null || kind is null || !apiVersion.Contains('/'))
        {
            return ["$: apiVersion (group/version) and kind are required"];
        }

        string group = apiVersion[..apiVersion.IndexOf('/')];
        string version = apiVersion[(apiVersion.IndexOf('/') + 1)..];
        if (!s_schemas.Value.TryGetValue((group, kind, version), out var schema))
        {
            return [$"$: {kind} is not served as {apiVersion} by the Istio CRDs"];
        }

        if (resource["metadata"]?["name"] is null)
        {
            errors.Add("$.metadata.name: required");
        }

        var body = new JsonObject();
        foreach (var (key, value) in resource.AsObject())
        {
            if (key is not ("apiVersion" or "kind" or "metadata"))
            {
                body[key] = value?.DeepClone();
            }
        }

        errors.AddRange(JsonSchemaValidator.Validate(schema, body));
        return errors;
    }

    private static string Path => RepoPaths.SharedFile("istio-crds", "crds.yaml");

    private static Dictionary<(string, string, string), JsonNode> Load()
    {
        var result = new Dictionary<(string, string, string), JsonNode>();
        foreach (var crd in YamlJson.LoadAll(File.ReadAllText(Path)))
        {
            string group = crd!["spec"]!["group"]!.GetValue<string>();
            string kind = crd["spec"]!["names"]!["kind"]!.GetValue<string>();
            foreach (var version in crd["spec"]!["versions"]!.AsArray())
            {
                string name = version!["name"]!.GetValue<string>();
                result[(group, kind, name)] = version["schema"]!["openAPIV3Schema"]!;
            }
        }

        return result;
    }
}

/// <summary>The Kubernetes JSON Schemas in <c>shared/k8s-schemas/</c> (draft-04, standalone-strict).</summary>
public static class KubernetesSchemas
{
    private static readonly Lazy<JsonNode> s_pod = new(() => LoadSchema("pod-v1.json"));
    private static readonly Lazy<JsonNode> s_mwc = new(() => LoadSchema("mutatingwebhookconfiguration-admissionregistration-v1.json"));

    /// <summary>core/v1 Pod.</summary>
    public static JsonNode Pod => s_pod.Value;

    /// <summary>admissionregistration.k8s.io/v1 MutatingWebhookConfiguration.</summary>
    public static JsonNode MutatingWebhookConfiguration => s_mwc.Value;

    private static JsonNode LoadSchema(string file) =>
        JsonNode.Parse(File.ReadAllText(RepoPaths.SharedFile("k8s-schemas", file)))!;
}
