using System.Text.Json.Nodes;

namespace BelizeMesh.TestSupport.Schemas;

/// <summary>
/// The Kubernetes 1.32 schemas of every core kind the project writes, chosen by a document's <c>apiVersion</c> and
/// <c>kind</c>: <c>tests/BelizeMesh.TestSupport/TestData/k8s-schemas/</c> (see its README) plus Pod and
/// MutatingWebhookConfiguration from <c>shared/k8s-schemas/</c>.
/// </summary>
public static class KubernetesSchemaSet
{
    private static readonly Dictionary<(string ApiVersion, string Kind), string> s_files = new()
    {
        [("v1", "Namespace")] = "namespace-v1.json",
        [("v1", "Service")] = "service-v1.json",
        [("v1", "ServiceAccount")] = "serviceaccount-v1.json",
        [("v1", "ConfigMap")] = "configmap-v1.json",
        [("v1", "Secret")] = "secret-v1.json",
        [("apps/v1", "Deployment")] = "deployment-apps-v1.json",
        [("policy/v1", "PodDisruptionBudget")] = "poddisruptionbudget-policy-v1.json",
        [("rbac.authorization.k8s.io/v1", "ClusterRole")] = "clusterrole-rbac-v1.json",
        [("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")] = "clusterrolebinding-rbac-v1.json",
        [("rbac.authorization.k8s.io/v1", "Role")] = "role-rbac-v1.json",
        [("rbac.authorization.k8s.io/v1", "RoleBinding")] = "rolebinding-rbac-v1.json",
    };

    private static readonly Dictionary<string, JsonNode> s_loaded = new(StringComparer.Ordinal);

    /// <summary>Whether a schema for this apiVersion and kind is known.</summary>
    public static bool Has(string? apiVersion, string? kind) =>
        apiVersion is not null && kind is not null
        && (s_files.ContainsKey((apiVersion, kind)) || (apiVersion, kind) is ("v1", "Pod") or ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"));

    /// <summary>Validates one document; an unknown apiVersion/kind is itself an error.</summary>
    public static IReadOnlyList<string> Validate(JsonNode document)
    {
        string? apiVersion = (string?)document["apiVersion"];
        string? kind = (string?)document["kind"];
        JsonNode? schema = (apiVersion, kind) switch
        {
            ("v1", "Pod") => KubernetesSchemas.Pod,
            ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => KubernetesSchemas.MutatingWebhookConfiguration,
            _ when apiVersion is not null && kind is not null && s_files.TryGetValue((apiVersion, kind), out string? file) => Load(file),
            _ => null,
        };
        return schema is null
            ? [$"$: no Kubernetes schema for apiVersion {apiVersion ?? "(none)"} kind {kind ?? "(none)"}"]
            : JsonSchemaValidator.Validate(schema, document);
    }

    private static JsonNode Load(string file)
    {
        lock (s_loaded)
        {
            if (!s_loaded.TryGetValue(file, out JsonNode? schema))
            {
                schema = JsonNode.Parse(File.ReadAllText(RepoPaths.RepoFile("tests", "BelizeMesh.TestSupport", "TestData", "k8s-schemas", file)))!;
                s_loaded[file] = schema;
            }

            return schema;
        }
    }
}
