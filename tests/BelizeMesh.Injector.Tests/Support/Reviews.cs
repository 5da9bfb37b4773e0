using System.Text;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Injection;

namespace BelizeMesh.Injector.Tests.Support;

/// <summary>Builds AdmissionReview request bodies like the API server sends.</summary>
internal static class Reviews
{
    public static JsonObject Pod(string name = "web", string? ns = "shop", JsonObject? annotations = null, JsonObject? labels = null, JsonObject? spec = null)
    {
        var metadata = new JsonObject { ["name"] = name };
        if (ns is not null)
        {
            metadata["namespace"] = ns;
        }

        if (labels is not null)
        {
            metadata["labels"] = labels;
        }

        if (annotations is not null)
        {
            metadata["annotations"] = annotations;
        }

        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = metadata,
            ["spec"] = spec ?? new JsonObject
            {
                ["containers"] = new JsonArray(new JsonObject { ["name"] = "app", ["image"] = "nginx:1.27" }),
            },
        };
    }

    public static JsonObject Review(JsonNode? obj, string uid = "6f6bd0a4-1c38-4ad6-9d3c-5f1b0c2a7e11", string ns = "shop",
        string kind = "Pod", string group = "", string operation = "CREATE", bool dryRun = false, string? subResource = null)
    {
        var request = new JsonObject
        {
            ["uid"] = uid,
            ["kind"] = new JsonObject { ["group"] = group, ["version"] = "v1", ["kind"] = kind },
            ["resource"] = new JsonObject { ["group"] = group, ["version"] = "v1", ["resource"] = kind.ToLowerInvariant() + "s" },
            ["requestKind"] = new JsonObject { ["group"] = group, ["version"] = "v1", ["kind"] = kind },
            ["namespace"] = ns,
            ["operation"] = operation,
            ["userInfo"] = new JsonObject { ["username"] = "system:serviceaccount:kube-system:replicaset-controller" },
            ["object"] = obj,
            ["oldObject"] = null,
            ["dryRun"] = dryRun,
            ["options"] = new JsonObject { ["apiVersion"] = "meta.k8s.io/v1", ["kind"] = "CreateOptions" },
        };
        if (subResource is not null)
        {
            request["subResource"] = subResource;
        }

        return new JsonObject { ["apiVersion"] = "admission.k8s.io/v1", ["kind"] = "AdmissionReview", ["request"] = request };
    }

    public static byte[] Bytes(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString());

    /// <summary>Injects <paramref name="pod"/> (namespace <c>shop</c>) in place: asserts it was injected and that the
    /// patched pod is still a valid Pod.</summary>
    public static JsonObject Injected(JsonObject pod, SidecarTemplate template)
    {
        InjectionResult result = SidecarInjector.Inject(pod, "shop", template);
        Assert.Equal(InjectionReason.Injected, result.Reason);
        JsonPatch.Apply(pod, result.Patch);
        Assert.Empty(KubeSchemas.ValidatePod(pod));
        return pod;
    }
}
