using System.Text.Json.Nodes;
using BelizeMesh.Configuration;
using YamlDotNet.Core;
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
    private static readonly string[] TopKeys = ["mesh", "exclude"];
    private static readonly string[] EntryKeys = ["namespace", "service", "matchLabels"];

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
            throw new ConfigException(path, [ConfigException.Problem(path, 1, 1, "(file)", error!)]);
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
            throw new ConfigException(source, [ConfigException.Problem(source, node.Start.Line, node.Start.Column, "(file)",
                "expected one mapping with mesh and exclude, as belizemesh emit writes it (injector-exclusions.yaml)")]);
        }

        var problems = new List<ConfigError>();
        string mesh = "(unnamed)";
        var result = new List<WorkloadExclusion>();
        YamlSequenceNode? entries = null;
        foreach (var (key, keyNode, value) in ConfigException.Fields(root, source, "", problems))
        {
            if (key == "mesh" && value is YamlScalarNode { Value: { Length: > 0 } name })
            {
                mesh = name;
            }
            else if (key == "exclude" && value is YamlSequenceNode list)
            {
                entries = list;
            }
            else if (Array.IndexOf(TopKeys, key) >= 0)
            {
                problems.Add(Problem(source, value, key, key == "mesh" ? "expected the mesh's name" : "expected a list of { namespace, service, matchLabels }"));
            }
            else
            {
                problems.Add(Problem(source, keyNode, key, $"unknown setting: known settings are {string.Join(", ", TopKeys)}"));
            }
        }

        for (int i = 0; entries is not null && i < entries.Children.Count; i++)
        {
            string at = $"exclude[{i}]";
            if (entries.Children[i] is not YamlMappingNode entry)
            {
                problems.Add(Problem(source, entries.Children[i], at, "expected a mapping { namespace, service, matchLabels }"));
                continue;
            }

            string? ns = null;
            string service = "(unnamed)";
            var labels = new List<KeyValuePair<string, string>>();
            foreach (var (key, keyNode, value) in ConfigException.Fields(entry, source, at, problems))
            {
                switch (key)
                {
                    case "namespace" when value is YamlScalarNode { Value: { Length: > 0 } n }:
                        ns = n;
                        break;
                    case "service" when value is YamlScalarNode { Value: { Length: > 0 } s }:
                        service = s;
                        break;
                    case "matchLabels" when value is YamlMappingNode map:
                        foreach (var (k, v) in map.Children)
                        {
                            if (k is YamlScalarNode { Value: { Length: > 0 } lk } && v is YamlScalarNode { Value: { } lv })
                            {
                                labels.Add(new(lk, lv));
                            }
                            else
                            {
                                problems.Add(Problem(source, k, $"{at}.matchLabels", "expected label: value pairs"));
                            }
                        }

                        break;
                    default:
                        problems.Add(Problem(source, keyNode, $"{at}.{key}", Array.IndexOf(EntryKeys, key) >= 0
                            ? "expected " + (key == "matchLabels" ? "a mapping of labels" : "a non-empty name")
                            : $"unknown setting: known settings are {string.Join(", ", EntryKeys)}"));
                        break;
                }
            }

            if (ns is null)
            {
                problems.Add(Problem(source, entry, at, "namespace is required"));
            }

            if (labels.Count == 0)
            {
                // An empty selector would exclude every pod of the namespace: never what a mesh file means.
                problems.Add(Problem(source, entry, at, "matchLabels is required and must not be empty"));
            }

            if (ns is not null && labels.Count > 0)
            {
                result.Add(new WorkloadExclusion(mesh, ns, service, labels));
            }
        }

        if (problems.Count > 0)
        {
            throw new ConfigException(source, problems);
        }

        // The mesh name appears after the list in some hand-written files; stamp it on every entry.
        for (int i = 0; i < result.Count; i++)
        {
            result[i] = result[i] with { Mesh = mesh };
        }

        return result;
    }

    private static ConfigError Problem(string source, YamlNode node, string key, string message) => ConfigException.Problem(source, node.Start.Line, node.Start.Column, key, message);
}
