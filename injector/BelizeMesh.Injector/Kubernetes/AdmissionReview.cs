using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace BelizeMesh.Injector.Kubernetes;

/// <summary>
/// The <c>admission.k8s.io/v1</c> AdmissionReview envelope, reduced to the fields the injector reads and writes.
/// Unknown fields are kept in <see cref="Extra"/> so nothing the API server sends is lost if a review is echoed.
/// </summary>
internal sealed class AdmissionReview
{
    public const string ApiVersionV1 = "admission.k8s.io/v1";
    public const string KindName = "AdmissionReview";

    [JsonPropertyName("apiVersion")]
    public string? ApiVersion { get; set; }

    [JsonPropertyName("kind")]
    public string? Kind { get; set; }

    [JsonPropertyName("request")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public AdmissionRequest? Request { get; set; }

    [JsonPropertyName("response")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public AdmissionResponse? Response { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>The request half of a review: who asks to do what to which object.</summary>
internal sealed class AdmissionRequest
{
    [JsonPropertyName("uid")]
    public string? Uid { get; set; }

    [JsonPropertyName("kind")]
    public GroupVersionKind? Kind { get; set; }

    [JsonPropertyName("resource")]
    public GroupVersionResource? Resource { get; set; }

    [JsonPropertyName("subResource")]
    public string? SubResource { get; set; }

    [JsonPropertyName("name")]
    public string? Name { get; set; }

    [JsonPropertyName("namespace")]
    public string? Namespace { get; set; }

    [JsonPropertyName("operation")]
    public string? Operation { get; set; }

    [JsonPropertyName("dryRun")]
    public bool? DryRun { get; set; }

    /// <summary>The object as the API server holds it; kept as a node so unknown pod fields survive untouched.</summary>
    [JsonPropertyName("object")]
    public JsonNode? Object { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

/// <summary>The answer: allowed or not, and the JSON Patch to apply.</summary>
internal sealed class AdmissionResponse
{
    [JsonPropertyName("uid")]
    public string Uid { get; set; } = "";

    [JsonPropertyName("allowed")]
    public bool Allowed { get; set; }

    [JsonPropertyName("patchType")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? PatchType { get; set; }

    /// <summary>The RFC 6902 patch; serialized as base64 as the API requires for <c>[]byte</c>.</summary>
    [JsonPropertyName("patch")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public byte[]? Patch { get; set; }

    [JsonPropertyName("status")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public AdmissionStatus? Status { get; set; }

    [JsonPropertyName("warnings")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Warnings { get; set; }
}

/// <summary>A <c>metav1.Status</c> subset: why a request was denied.</summary>
internal sealed class AdmissionStatus
{
    [JsonPropertyName("code")]
    public int Code { get; set; }

    [JsonPropertyName("reason")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Reason { get; set; }

    [JsonPropertyName("message")]
    public string Message { get; set; } = "";
}

internal sealed class GroupVersionKind
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("version")]
    public string? Version { get; set; }

    [JsonPropertyName("kind")]
    public string? Kind { get; set; }
}

internal sealed class GroupVersionResource
{
    [JsonPropertyName("group")]
    public string? Group { get; set; }

    [JsonPropertyName("version")]
    public string? Version { get; set; }

    [JsonPropertyName("resource")]
    public string? Resource { get; set; }
}

/// <summary>What <c>belizemesh.io/status</c> records about an injection (compact JSON in the annotation).</summary>
internal sealed class SidecarStatus
{
    [JsonPropertyName("version")]
    public string Version { get; set; } = "";

    [JsonPropertyName("image")]
    public string Image { get; set; } = "";

    [JsonPropertyName("containers")]
    public List<string> Containers { get; set; } = [];

    [JsonPropertyName("initContainers")]
    public List<string> InitContainers { get; set; } = [];

    [JsonPropertyName("volumes")]
    public List<string> Volumes { get; set; } = [];

    [JsonPropertyName("nativeSidecar")]
    public bool NativeSidecar { get; set; }
}

/// <summary>Source-generated serializers: the project is AOT-compatible, so no reflection-based System.Text.Json.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(AdmissionReview))]
[JsonSerializable(typeof(SidecarStatus))]
internal sealed partial class InjectorJsonContext : JsonSerializerContext;
