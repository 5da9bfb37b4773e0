using System.Text.Json.Nodes;
using BelizeMesh.TestSupport;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Injector.Tests.Support;

/// <summary>The Kubernetes JSON Schemas in shared/k8s-schemas, validated with the project's validator.</summary>
internal static class KubeSchemas
{
    private static readonly Lazy<JsonNode> s_pod = new(() => Load("pod-v1.json"));
    private static readonly Lazy<JsonNode> s_mwc = new(() => Load("mutatingwebhookconfiguration-admissionregistration-v1.json"));

    public static string PodPath => RepoPaths.SharedFile("k8s-schemas", "pod-v1.json");

    public static string MutatingWebhookConfigurationPath => RepoPaths.SharedFile("k8s-schemas", "mutatingwebhookconfiguration-admissionregistration-v1.json");

    public static IReadOnlyList<string> ValidatePod(JsonNode pod) => JsonSchemaValidator.Validate(s_pod.Value, pod);

    public static IReadOnlyList<string> ValidateMutatingWebhookConfiguration(JsonNode mwc) => JsonSchemaValidator.Validate(s_mwc.Value, mwc);

    private static JsonNode Load(string file) => JsonNode.Parse(File.ReadAllText(RepoPaths.SharedFile("k8s-schemas", file)))!;
}
