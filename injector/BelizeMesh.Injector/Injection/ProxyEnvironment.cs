using System.Globalization;
using System.Text.Json.Nodes;
using BelizeMesh.Configuration;
using BelizeMesh.Injector.Kubernetes;

namespace BelizeMesh.Injector.Injection;

/// <summary>
/// Makes the sidecar's outbound listener the application containers' HTTP proxy: <c>HTTP_PROXY</c>/<c>http_proxy</c>
/// = <c>http://127.0.0.1:&lt;outbound&gt;</c>, so plain-HTTP calls to mesh services take the post-quantum path without the
/// application knowing the sidecar exists, and <c>NO_PROXY</c>/<c>no_proxy</c> for what must not go through it (see
/// docs/injector.md, "Transparent outbound"). Variables the pod's author set are never changed.
/// </summary>
internal static class ProxyEnvironment
{
    /// <summary><c>"false"</c> on the pod: leave its containers' environment alone; <c>"true"</c>: set it even when the
    /// configuration's <c>httpProxy</c> is false.</summary>
    public const string HttpProxyAnnotation = "belizemesh.io/http-proxy";

    /// <summary>Comma-separated extra <c>NO_PROXY</c> entries for this pod.</summary>
    public const string NoProxyAnnotation = "belizemesh.io/no-proxy";

    /// <summary>The pod's IP (downward API), referenced from <c>NO_PROXY</c>.</summary>
    public const string PodIpVariable = "BELIZEMESH_POD_IP";

    /// <summary>Entries always in <c>NO_PROXY</c>: loopback by name and address, and the pod itself (its name, from
    /// <see cref="MeshNames.WorkloadEnv.PodName"/> by downward API: a pod's host name is its name, and its IP).</summary>
    public static readonly string[] BaseNoProxy = ["localhost", "127.0.0.1", "::1", "$(" + MeshNames.WorkloadEnv.PodName + ")", "$(" + PodIpVariable + ")"];

    /// <summary>Containers that are never given the variables: Istio's Envoy and our own sidecar.</summary>
    private static readonly string[] s_skipped = ["istio-proxy", WellKnown.SidecarContainerName];

    /// <summary>Whether the pod wants the variables; <paramref name="warning"/> is set for an unusable annotation value.</summary>
    public static bool Wanted(JsonObject? annotations, bool configured, out string? warning)
    {
        warning = null;
        string? value = SidecarInjector.ReadString(annotations, HttpProxyAnnotation);
        if (value is null)
        {
            return configured;
        }

        if (string.Equals(value, "false", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (string.Equals(value, "true", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        warning = $"{HttpProxyAnnotation} has the value '{value}', which is neither \"true\" nor \"false\"; it was ignored";
        return configured;
    }

    /// <summary>Checks the pod's <c>belizemesh.io/no-proxy</c> entries; null when they are usable.</summary>
    public static string? ValidateNoProxyAnnotation(JsonObject? annotations)
    {
        if (SidecarInjector.ReadString(annotations, NoProxyAnnotation) is not { } value)
        {
            return null;
        }

        foreach (string entry in value.Split(','))
        {
            string trimmed = entry.Trim();
            if (trimmed.Length == 0 || trimmed.AsSpan().IndexOfAny(" \t\r\n\"'$") >= 0)
            {
                return $"{NoProxyAnnotation} entry '{entry}' is not a host name, domain suffix (.example.com), IP address or CIDR: write e.g. \"api.example.com,.monitoring.svc,10.0.0.0/8\"";
            }
        }

        return null;
    }

    /// <summary>The <c>NO_PROXY</c> value: the base entries, the configuration's <c>noProxy</c>, then the pod's annotation.</summary>
    public static string NoProxyValue(IReadOnlyList<string> configured, JsonObject? annotations)
    {
        var entries = new List<string>(BaseNoProxy.Length + configured.Count + 4);
        entries.AddRange(BaseNoProxy);
        foreach (string entry in configured)
        {
            AddUnique(entries, entry);
        }

        if (SidecarInjector.ReadString(annotations, NoProxyAnnotation) is { } extra)
        {
            foreach (string entry in extra.Split(','))
            {
                AddUnique(entries, entry.Trim());
            }
        }

        return string.Join(',', entries);
    }

    /// <summary>
    /// Adds the variables to every application container (<c>spec.containers</c> except Istio's and ours) that sets
    /// neither <c>HTTP_PROXY</c> nor <c>http_proxy</c> itself: a container whose author chose a proxy keeps it, and
    /// gets nothing from us. Returns how many containers were changed.
    /// </summary>
    public static int AddTo(List<PatchOperation> patch, JsonArray? containers, int outboundPort, string noProxy)
    {
        if (containers is null)
        {
            return 0;
        }

        string proxy = "http://127.0.0.1:" + outboundPort.ToString(CultureInfo.InvariantCulture);
        int changed = 0;
        for (int i = 0; i < containers.Count; i++)
        {
            if (containers[i] is not JsonObject container
                || SidecarInjector.ReadString(container, "name") is not { } name
                || Array.IndexOf(s_skipped, name) >= 0)
            {
                continue;
            }

            JsonNode? envNode = container["env"];
            if (envNode is not (null or JsonArray))
            {
                continue; // not a list: the API server rejects the pod anyway; do not guess
            }

            var env = (JsonArray?)envNode;
            if (Defines(env, "HTTP_PROXY") || Defines(env, "http_proxy"))
            {
                continue;
            }

            var ours = new List<JsonObject>(6);
            AddField(ours, env, MeshNames.WorkloadEnv.PodName, "metadata.name");
            AddField(ours, env, PodIpVariable, "status.podIP");
            ours.Add(Variable("HTTP_PROXY", proxy));
            ours.Add(Variable("http_proxy", proxy));

            // A NO_PROXY of the author's stays as written (they may have listed what they need); ours goes in only
            // when neither spelling is set.
            if (!Defines(env, "NO_PROXY") && !Defines(env, "no_proxy"))
            {
                ours.Add(Variable("NO_PROXY", noProxy));
                ours.Add(Variable("no_proxy", noProxy));
            }

            string path = "/spec/containers/" + i.ToString(CultureInfo.InvariantCulture) + "/env";
            if (env is null)
            {
                var list = new JsonArray();
                foreach (JsonObject v in ours)
                {
                    list.Add((JsonNode)v);
                }

                patch.Add(PatchOperation.Add(path, list));
            }
            else
            {
                foreach (JsonObject v in ours)
                {
                    patch.Add(PatchOperation.Add(path + "/-", v));
                }
            }

            changed++;
        }

        return changed;
    }

    private static void AddField(List<JsonObject> ours, JsonArray? env, string name, string fieldPath)
    {
        if (!Defines(env, name))
        {
            ours.Add(new JsonObject
            {
                ["name"] = name,
                ["valueFrom"] = new JsonObject { ["fieldRef"] = new JsonObject { ["fieldPath"] = fieldPath } },
            });
        }
    }

    private static JsonObject Variable(string name, string value) => new() { ["name"] = name, ["value"] = value };

    private static bool Defines(JsonArray? env, string name)
    {
        if (env is null)
        {
            return false;
        }

        foreach (JsonNode? item in env)
        {
            if (item is JsonObject variable && SidecarInjector.ReadString(variable, "name") == name)
            {
                return true;
            }
        }

        return false;
    }

    private static void AddUnique(List<string> entries, string entry)
    {
        if (entry.Length > 0 && !entries.Contains(entry))
        {
            entries.Add(entry);
        }
    }
}
