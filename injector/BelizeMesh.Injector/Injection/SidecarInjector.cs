using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Kubernetes;

namespace BelizeMesh.Injector.Injection;

/// <summary>
/// The pure core shared by <c>serve</c> and the offline <c>inject</c>: a pod (or pod template) in, a decision and an
/// RFC 6902 patch out. It never mutates its input and does no I/O.
/// </summary>
/// <remarks>
/// Steps, in order:
/// <list type="number">
/// <item>Skip when the pod was injected before (<c>belizemesh.io/status</c>), opted out, lives in an ignored namespace,
/// uses the host network, or already carries a hand-written <c>belizemesh-proxy</c> container.</item>
/// <item>Fail when the pod already uses the sidecar's ports, port names or volume names, or is not a usable pod.</item>
/// <item>Build the patch: the container (or native-sidecar init container), the two volumes named from the service
/// account, the merged Istio exclusion annotations and the status annotation. Every operation works when the parent
/// field is missing (no annotations, no volumes, no init containers, not even metadata).</item>
/// </list>
/// </remarks>
internal static class SidecarInjector
{
    /// <summary>Decides and builds the patch for <paramref name="pod"/> (paths are relative to the pod object).</summary>
    /// <param name="pod">The Pod, or the <c>template</c> of a workload (same <c>metadata</c> + <c>spec</c> shape).</param>
    /// <param name="requestNamespace">The namespace from the admission request or the workload; may be null.</param>
    /// <param name="template">The configuration-derived sidecar.</param>
    public static InjectionResult Inject(JsonObject pod, string? requestNamespace, SidecarTemplate template)
    {
        JsonNode? metadataNode = pod["metadata"];
        if (metadataNode is not (null or JsonObject))
        {
            return InjectionResult.Skip(InjectionReason.InvalidPod, "metadata is not an object");
        }

        var metadata = (JsonObject?)metadataNode;
        JsonObject? annotations = metadata?["annotations"] as JsonObject;
        JsonObject? labels = metadata?["labels"] as JsonObject;

        // 1. Idempotency: the status annotation says we have been here (also the webhook's reinvocation by Istio).
        if (annotations is not null && annotations.ContainsKey(WellKnown.StatusAnnotation))
        {
            return InjectionResult.Skip(InjectionReason.AlreadyInjected, "already injected (belizemesh.io/status is set)");
        }

        // 2. Opt-out: the label wins over the annotation (only labels are visible to the webhook's objectSelector).
        string? optIn = ReadString(labels, WellKnown.InjectAnnotation) ?? ReadString(annotations, WellKnown.InjectAnnotation);
        string? invalidOptIn = null;
        if (optIn is not null)
        {
            if (string.Equals(optIn, "false", StringComparison.OrdinalIgnoreCase))
            {
                return InjectionResult.Skip(InjectionReason.OptedOut, "opted out (belizemesh.io/inject: \"false\")");
            }

            if (!string.Equals(optIn, "true", StringComparison.OrdinalIgnoreCase))
            {
                invalidOptIn = $"belizemesh.io/inject has the value '{optIn}', which is neither \"true\" nor \"false\"; it was ignored";
            }
        }

        if (pod["spec"] is not JsonObject spec)
        {
            return InjectionResult.Skip(InjectionReason.InvalidPod, "the pod has no spec object");
        }

        string? ns = !string.IsNullOrEmpty(requestNamespace) ? requestNamespace : ReadString(metadata, "namespace");
        if (ns is not null && Contains(template.Config.IgnoredNamespaces, ns))
        {
            return InjectionResult.Skip(InjectionReason.IgnoredNamespace,
                $"BelizeMesh does not inject pods in namespace {ns}: system namespaces are never meshed");
        }

        if (Configuration.WorkloadExclusions.Find(template.Config.Exclusions, ns, labels) is { } exclusion)
        {
            return InjectionResult.Skip(InjectionReason.Excluded,
                $"service {exclusion.Service} of mesh {exclusion.Mesh} runs without the sidecar (quantum: false); the pod matches its labels in namespace {exclusion.Namespace}");
        }

        if (spec["hostNetwork"] is JsonValue hostNetwork && hostNetwork.GetValueKind() == JsonValueKind.True)
        {
            return InjectionResult.Skip(InjectionReason.HostNetwork,
                "BelizeMesh does not inject host-network pods: the sidecar's ports would be the node's ports");
        }

        if (IsWindows(spec))
        {
            return InjectionResult.Skip(InjectionReason.WindowsPod,
                "BelizeMesh does not inject Windows pods: the sidecar image and its security settings are Linux-only");
        }

        if (!TryGetArray(spec, "containers", out JsonArray? containers, out string? shapeError)
            || !TryGetArray(spec, "initContainers", out JsonArray? initContainers, out shapeError)
            || !TryGetArray(spec, "volumes", out JsonArray? volumes, out shapeError))
        {
            return InjectionResult.Skip(InjectionReason.InvalidPod, shapeError);
        }

        if (HasNamed(containers, WellKnown.SidecarContainerName) || HasNamed(initContainers, WellKnown.SidecarContainerName))
        {
            return InjectionResult.Skip(InjectionReason.SidecarPresent,
                "the pod already has a container named belizemesh-proxy without belizemesh.io/status; it was left as written");
        }

        // 3. Conflicts: ports and names the sidecar needs.
        string? conflict = FindPortConflict(containers, template) ?? FindPortConflict(initContainers, template);
        if (conflict is null && (HasNamed(volumes, WellKnown.CertsVolumeName) || HasNamed(volumes, WellKnown.PolicyVolumeName)))
        {
            conflict = $"the pod already has a volume named {WellKnown.CertsVolumeName} or {WellKnown.PolicyVolumeName}; rename it";
        }

        string serviceAccount = ReadString(spec, "serviceAccountName") is { Length: > 0 } sa ? sa
            : ReadString(spec, "serviceAccount") is { Length: > 0 } legacy ? legacy
            : WellKnown.DefaultServiceAccount;
        if (conflict is null && WellKnown.PolicyConfigMapPrefix.Length + serviceAccount.Length > 253)
        {
            conflict = $"service account name '{serviceAccount}' is too long to name the sidecar's ConfigMap and Secret (253 characters at most)";
        }

        if (conflict is not null)
        {
            return InjectionResult.Skip(InjectionReason.Conflict, conflict);
        }

        bool httpProxy = ProxyEnvironment.Wanted(annotations, template.Config.HttpProxy, out string? proxyWarning);
        if (httpProxy && ProxyEnvironment.ValidateNoProxyAnnotation(annotations) is { } noProxyProblem)
        {
            return InjectionResult.Skip(InjectionReason.InvalidPod, noProxyProblem);
        }

        string? schedulingPolicy = SidecarSchedulingPolicy.Read(annotations, out string? schedulingWarning);

        // 4. The patch. The environment goes last: it addresses the app containers by index, which appending ours
        // (at "-") leaves unchanged.
        var patch = new List<PatchOperation>(16);
        AddContainer(patch, template, metadata, containers, initContainers, schedulingPolicy);
        AddVolumes(patch, volumes, serviceAccount);
        AddAnnotations(patch, metadata, annotations, template);
        if (httpProxy)
        {
            ProxyEnvironment.AddTo(patch, containers, template.Config.Ports.Outbound, ProxyEnvironment.NoProxyValue(template.Config.NoProxy, annotations));
        }

        string? warning = JoinWarnings(JoinWarnings(invalidOptIn, proxyWarning), schedulingWarning);
        return new InjectionResult(InjectionReason.Injected, patch, warning);
    }

    /// <summary>The annotation warnings of one pod, in one message separated by "; ".</summary>
    private static string? JoinWarnings(string? first, string? second) =>
        first is null ? second : second is null ? first : first + "; " + second;

    private static void AddContainer(List<PatchOperation> patch, SidecarTemplate template, JsonObject? metadata, JsonArray? containers, JsonArray? initContainers,
        string? schedulingPolicy)
    {
        JsonObject container = (JsonObject)template.Container.DeepClone();
        JsonArray env = WorkloadEnvironment.Build(metadata, template.Config.ClusterName); // the Istio metrics' workload labels
        SidecarSchedulingPolicy.AddTo(env, schedulingPolicy);
        container["env"] = env;
        if (!template.Config.NativeSidecar)
        {
            patch.Add(containers is null
                ? PatchOperation.Add("/spec/containers", new JsonArray(container))
                : PatchOperation.Add("/spec/containers/-", container));
            return;
        }

        if (initContainers is null)
        {
            patch.Add(PatchOperation.Add("/spec/initContainers", new JsonArray(container)));
            return;
        }

        // Start after Istio's own init containers (istio-init sets up iptables, istio-validation checks them, and a native
        // istio-proxy should be up first) but before the application's, so those can already use the mesh.
        int index = 0;
        while (index < initContainers.Count && ReadString(initContainers[index] as JsonObject, "name") is { } name
               && name.StartsWith("istio-", StringComparison.Ordinal))
        {
            index++;
        }

        string position = index == initContainers.Count ? "-" : index.ToString(CultureInfo.InvariantCulture);
        patch.Add(PatchOperation.Add("/spec/initContainers/" + position, container));
    }

    private static void AddVolumes(List<PatchOperation> patch, JsonArray? volumes, string serviceAccount)
    {
        JsonArray built = SidecarTemplate.BuildVolumes(serviceAccount);
        if (volumes is null)
        {
            patch.Add(PatchOperation.Add("/spec/volumes", built));
            return;
        }

        while (built.Count > 0)
        {
            JsonNode? volume = built[0];
            built.RemoveAt(0);
            patch.Add(PatchOperation.Add("/spec/volumes/-", volume));
        }
    }

    private static void AddAnnotations(List<PatchOperation> patch, JsonObject? metadata, JsonObject? annotations, SidecarTemplate template)
    {
        string inbound = MergePortList(ReadString(annotations, WellKnown.IstioExcludeInboundPorts), template.InboundExclusions);
        string outbound = MergePortList(ReadString(annotations, WellKnown.IstioExcludeOutboundPorts), template.OutboundExclusions);

        if (annotations is null)
        {
            var all = new JsonObject
            {
                [WellKnown.IstioExcludeInboundPorts] = inbound,
                [WellKnown.IstioExcludeOutboundPorts] = outbound,
                [WellKnown.StatusAnnotation] = template.StatusJson,
            };
            patch.Add(metadata is null
                ? PatchOperation.Add("/metadata", new JsonObject { ["annotations"] = all })
                : PatchOperation.Add("/metadata/annotations", all));
            return;
        }

        SetAnnotation(patch, annotations, WellKnown.IstioExcludeInboundPorts, inbound);
        SetAnnotation(patch, annotations, WellKnown.IstioExcludeOutboundPorts, outbound);
        SetAnnotation(patch, annotations, WellKnown.StatusAnnotation, template.StatusJson);
    }

    private static void SetAnnotation(List<PatchOperation> patch, JsonObject annotations, string key, string value)
    {
        string path = "/metadata/annotations/" + JsonPatch.EscapeToken(key);
        if (!annotations.TryGetPropertyValue(key, out JsonNode? existing))
        {
            patch.Add(PatchOperation.Add(path, value));
        }
        else if (existing is not JsonValue v || v.GetValueKind() != JsonValueKind.String || v.GetValue<string>() != value)
        {
            patch.Add(PatchOperation.Replace(path, value));
        }
    }

    /// <summary>
    /// Merges a comma-separated port list (Istio's annotation format) with ours: existing entries keep their order and
    /// spelling, ours are appended unless already present, nothing is duplicated. Unchanged input comes back as is.
    /// </summary>
    internal static string MergePortList(string? existing, string[] ours)
    {
        if (string.IsNullOrWhiteSpace(existing))
        {
            return string.Join(',', ours);
        }

        var entries = new List<string>();
        foreach (string part in existing.Split(','))
        {
            string trimmed = part.Trim();
            if (trimmed.Length > 0 && !entries.Contains(trimmed))
            {
                entries.Add(trimmed);
            }
        }

        bool added = false;
        foreach (string port in ours)
        {
            if (!entries.Contains(port))
            {
                entries.Add(port);
                added = true;
            }
        }

        return added ? string.Join(',', entries) : existing;
    }

    private static string? FindPortConflict(JsonArray? containers, SidecarTemplate template)
    {
        if (containers is null)
        {
            return null;
        }

        var ports = template.Config.Ports;
        foreach (JsonNode? c in containers)
        {
            if (c is not JsonObject container || container["ports"] is not JsonArray declared)
            {
                continue;
            }

            string name = ReadString(container, "name") ?? "(unnamed)";
            foreach (JsonNode? p in declared)
            {
                if (p is not JsonObject port)
                {
                    continue;
                }

                if (ReadInteger(port["containerPort"]) is long value && (value == ports.Inbound || value == ports.Outbound || value == ports.Admin || value == WellKnown.StatusPort))
                {
                    return $"container {name} already uses port {value}, which the BelizeMesh sidecar needs; move it to another port";
                }

                if (ReadString(port, "name") is WellKnown.InboundPortName or WellKnown.AdminPortName or WellKnown.OutboundPortName or WellKnown.StatusPortName)
                {
                    return $"container {name} already has a port named {ReadString(port, "name")}, which the BelizeMesh sidecar needs; rename it";
                }
            }
        }

        return null;
    }

    /// <summary><c>spec.os.name: windows</c>, or a node selector for Windows nodes.</summary>
    private static bool IsWindows(JsonObject spec) =>
        ReadString(spec["os"] as JsonObject, "name") == "windows"
        || ReadString(spec["nodeSelector"] as JsonObject, "kubernetes.io/os") == "windows";

    private static bool TryGetArray(JsonObject spec, string field, out JsonArray? array, out string? error)
    {
        error = null;
        array = null;
        if (!spec.TryGetPropertyValue(field, out JsonNode? node) || node is null)
        {
            return true;
        }

        if (node is JsonArray a)
        {
            array = a;
            return true;
        }

        error = $"spec.{field} is not a list";
        return false;
    }

    private static bool HasNamed(JsonArray? items, string name)
    {
        if (items is null)
        {
            return false;
        }

        foreach (JsonNode? item in items)
        {
            if (ReadString(item as JsonObject, "name") == name)
            {
                return true;
            }
        }

        return false;
    }

    private static bool Contains(IReadOnlyList<string> list, string value)
    {
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] == value)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>An integral number whatever its CLR backing (parsed JSON, or a long/double from YAML), else null.</summary>
    internal static long? ReadInteger(JsonNode? node)
    {
        if (node is not JsonValue value || value.GetValueKind() != JsonValueKind.Number)
        {
            return null;
        }

        if (value.TryGetValue(out long l))
        {
            return l;
        }

        if (value.TryGetValue(out int i))
        {
            return i;
        }

        if (value.TryGetValue(out JsonElement element) && element.TryGetInt64(out long e))
        {
            return e;
        }

        return value.TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) < 1e15 ? (long)d : null;
    }

    /// <summary>A string field, or null when absent or not a string.</summary>
    internal static string? ReadString(JsonObject? obj, string key) =>
        obj is not null && obj.TryGetPropertyValue(key, out JsonNode? node) && node is JsonValue value
        && value.GetValueKind() == JsonValueKind.String
            ? value.GetValue<string>()
            : null;
}
