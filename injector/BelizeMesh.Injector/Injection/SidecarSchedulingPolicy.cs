using System.Text.Json.Nodes;

namespace BelizeMesh.Injector.Injection;

/// <summary>
/// The pod's choice of the sidecar's Linux scheduling policy (docs/injector.md, "Scheduling policy"): the annotation
/// <c>belizemesh.io/scheduling-policy: batch | other</c> becomes <c>BELIZEMESH_SCHED_POLICY</c> in the sidecar's
/// environment. Without it nothing is set and the sidecar's default (<c>SCHED_BATCH</c>) applies. The sidecar's
/// environment is the injector's own (<see cref="WorkloadEnvironment"/>), so there is no value of anyone else's to keep;
/// a hand-written <c>belizemesh-proxy</c> is never injected, so its author's value stays.
/// </summary>
internal static class SidecarSchedulingPolicy
{
    /// <summary><c>batch</c> or <c>other</c> (case-insensitive) on the pod.</summary>
    public const string Annotation = "belizemesh.io/scheduling-policy";

    /// <summary>The sidecar's variable (proxy/BelizeMesh.Proxy/Hosting/SchedulingPolicy.cs).</summary>
    public const string Variable = "BELIZEMESH_SCHED_POLICY";

    /// <summary>The values the annotation accepts, spelled as the sidecar reads them.</summary>
    public static readonly string[] Values = ["batch", "other"];

    /// <summary>The value for the sidecar, lower-case; null when the pod does not ask or asks for something unusable,
    /// which sets <paramref name="warning"/>.</summary>
    public static string? Read(JsonObject? annotations, out string? warning)
    {
        warning = null;
        string? value = SidecarInjector.ReadString(annotations, Annotation);
        if (value is null)
        {
            return null;
        }

        foreach (string known in Values)
        {
            if (string.Equals(value, known, StringComparison.OrdinalIgnoreCase))
            {
                return known;
            }
        }

        warning = $"{Annotation} has the value '{value}', which is neither \"batch\" nor \"other\"; it was ignored";
        return null;
    }

    /// <summary>Appends the variable to the sidecar's <paramref name="env"/> when the pod chose a policy.</summary>
    public static void AddTo(JsonArray env, string? policy)
    {
        if (policy is not null)
        {
            env.Add((JsonNode)new JsonObject { ["name"] = Variable, ["value"] = policy });
        }
    }
}
