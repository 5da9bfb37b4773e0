using System.Text.Json.Nodes;
using BelizeMesh.Configuration;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Injector.Configuration;

/// <summary>One workload the injector leaves alone: pods in <see cref="Namespace"/> whose labels include every
/// entry of <see cref="MatchLabels"/> (a <c>quantum: false</c> service of the mesh file).</summary>
internal sealed record WorkloadExclusion(string Mesh, string Namespace, string Service, IReadOnlyList<KeyValuePair<string, string>> MatchLabels);

/// <summary>
/// The exclusion list <c>belizemesh emit</c> writes into ConfigMap <c>belizemesh-injector-exclusions</c>
/// (<c>exclusions.yaml</c>), read by <c>serve</c>/<c>inject --exclusions FILE</c>:
/// <code>
/// mesh: belizechain
/// exclude:
///   - { namespace: belizechain, service: postgres, matchLabels: { app: postgres } }
/// </code>
/// </summary>
internal static class WorkloadExclusions
{
    /// <summary>The first exclusion the pod matches, or null. A pod whose namespace is unknown matches none.</summary>
    public static WorkloadExclusion? Find(IReadOnlyList<WorkloadExclusion> exclusions, string? ns, JsonObject? labels)
    {
        if (ns is null || labels is null)
        {
            return null;
        }

        foreach (WorkloadExclusion exclusion in exclusions)
        {
            if (exclusion.Namespace != ns)
            {
                continue;
            }

            bool all = true;
            foreach (var (key, value) in exclusion.MatchLabels)
            {
                if (labels[key] is not JsonValue v || !v.TryGetValue(out string? actual) || actual != value)
                {
                    all = false;
                    break;
                }
            }

            if (all)
            {
                return exclusion;
            }
        }

        return null;
    }

    /// <summary>Reads the file; a missing file is an empty list (the ConfigMap is mounted optional and may not exist yet).</summary>
    public static IReadOnlyList<WorkloadExclusion> LoadFile(string path)
    {
        if (!File.Exists(path))
        {
            return [];
        }

        if (!BelizeMesh.Configuration.YamlInputGuard.TryReadFile(path, "exclusions file", out string text, out string? error))
        {
            throw new ConfigException(path, [ConfigException.Problem(path, 1, 1, "", error!)]);
        }

        return Parse(text, path);
    }

    /// <summary>Parses and validates the list; throws <see cref="ConfigException"/> listing every problem.</summary>
    public static IReadOnlyList<WorkloadExclusion> Parse(string text, string source)
    {
        YamlStream stream = ConfigException.Load(text, source);

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return [];
        }

        if (stream.Documents.Count > 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            YamlNode node = stream.Documents[^1].RootNode;
            throw new ConfigException(source, [ConfigException.Problem(source, node.Start.Line, node.Start.Column, "",
                "expected one mapping with mesh and exclude, as belizemesh emit writes it (injector-exclusions.yaml)")]);
        }

        var ctx = new BindContext(source);
        var doc = YamlMap.From(root, "", ctx, "the exclusion list")!;
        string mesh = doc.String("mesh", hint: "the mesh's name") ?? "(unnamed)";
        var result = new List<WorkloadExclusion>();
        foreach (YamlMap entry in doc.MapList("exclude", "exclusion"))
        {
            string? ns = entry.String("namespace", required: true, hint: "the workload's namespace");
            string service = entry.String("service", hint: "the service's name") ?? "(unnamed)";
            IReadOnlyList<KeyValuePair<string, string>>? labels = entry.StringMap("matchLabels", "pod labels");
            if (entry.Raw("matchLabels") is null)
            {
                entry.Missing("matchLabels", "the pod labels of the workload, e.g. { app: postgres }");
            }
            else if (labels is { Count: 0 } && entry.Peek("matchLabels") is YamlMappingNode { Children.Count: 0 })
            {
                // An empty selector would exclude every pod of the namespace: never what a mesh file means.
                entry.Error("matchLabels", "must not be empty: an empty selector would exclude every pod of the namespace");
            }

            entry.Finish();
            if (ns is not null && labels is { Count: > 0 })
            {
                result.Add(new WorkloadExclusion(mesh, ns, service, labels));
            }
        }

        doc.Finish();
        ConfigException.ThrowIfAny(ctx);

        // The mesh name appears after the list in some hand-written files; stamp it on every entry.
        for (int i = 0; i < result.Count; i++)
        {
            result[i] = result[i] with { Mesh = mesh };
        }

        return result;
    }
}
