using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Configuration;

/// <summary>Collects every binding error of one file (YARP route-validator style: report all, not the first), each a
/// <see cref="ConfigError"/> at the offending node's position.</summary>
public sealed class BindContext(string file)
{
    public string File { get; } = file;

    public List<ConfigError> Errors { get; } = [];

    /// <summary>Numbers may also be written quoted (<c>attempts: "3"</c>), as the sidecar's policy always read them;
    /// the mesh description and the injector's configuration take plain numbers only.</summary>
    public bool QuotedNumbers { get; init; }

    /// <summary>Booleans may also be written quoted (<c>accessLog: "false"</c>), as the sidecar's policy and the
    /// injector's configuration always read them; the mesh description takes plain booleans only.</summary>
    public bool QuotedBooleans { get; init; }

    /// <summary>Whether <paramref name="node"/>'s style may hold a number (plain, or quoted where allowed).</summary>
    internal bool NumberStyleAllowed(YamlScalarNode node) => node.Style == ScalarStyle.Plain || QuotedNumbers;

    public void Error(YamlNode node, string path, string message) => Errors.Add(new ConfigError(File, PositionOf(node), path, message));

    public void Error(SourcePosition position, string path, string message) => Errors.Add(new ConfigError(File, position, path, message));

    public static SourcePosition PositionOf(YamlNode node) => new((int)node.Start.Line, (int)node.Start.Column);

    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted } s => $"the string \"{s.Value}\"",
        YamlScalarNode s when IsNull(s) => "null",
        YamlScalarNode s => $"\"{s.Value}\"",
        _ => "an alias",
    };

    /// <summary>The errors in file order (line, then column; equal positions keep the order they were found in).</summary>
    public List<ConfigError> Sorted()
    {
        var sorted = new List<ConfigError>(Errors.Count);
        foreach (var e in Errors.OrderBy(static e => e.Position.Line).ThenBy(static e => e.Position.Column))
        {
            sorted.Add(e);
        }

        return sorted;
    }

    public static bool IsNull(YamlScalarNode s) =>
        s.Style == ScalarStyle.Plain && (s.Value is null or "" or "~" or "null" or "Null" or "NULL");
}

/// <summary>
/// A mapping being bound: typed getters that record what was read, report type errors at the value's position, and
/// <see cref="Finish"/> reports every key that was never asked for as an unknown field (with a "did you mean").
/// </summary>
/// <remarks>
/// The typed binder of the configuration core, on <see cref="YamlFields"/> (the mapping index) and
/// <see cref="YamlDocuments"/> (the load step). The mesh description is a schema over it (MeshParser); the sidecar's
/// policy and the injector's files word their own messages on the same index.
/// </remarks>
public sealed partial class YamlMap
{
    private readonly YamlFields _fields;
    private readonly List<string> _order = [];
    private readonly HashSet<string> _asked = new(StringComparer.Ordinal);
    private readonly BindContext _ctx;

    private YamlMap(YamlMappingNode node, string path, BindContext ctx)
    {
        Node = node;
        Path = path;
        _ctx = ctx;
        _fields = YamlFields.Index(
            node,
            known: null, // every key is kept; Finish reports those no getter asked for
            badKey: key => ctx.Error(key, path, $"keys must be plain strings, not {BindContext.Describe(key)}"),
            duplicate: field => ctx.Error(field.KeyNode, Join(path, field.Key), $"duplicate key \"{field.Key}\"; each field may appear once"));
        foreach (YamlField field in _fields.InOrder)
        {
            _order.Add(field.Key);
        }
    }

    public YamlMappingNode Node { get; }

    public string Path { get; }

    public SourcePosition Position => BindContext.PositionOf(Node);

    public BindContext Context => _ctx;

    /// <summary>Binds <paramref name="node"/> as a mapping, or reports that a mapping was expected and returns null.</summary>
    public static YamlMap? From(YamlNode node, string path, BindContext ctx, string what)
    {
        if (node is YamlMappingNode mapping)
        {
            return new YamlMap(mapping, path, ctx);
        }

        ctx.Error(node, path, $"expected {what} (a mapping), got {BindContext.Describe(node)}");
        return null;
    }

    public static string Join(string path, string key) => path.Length == 0 ? key : path + "." + key;

    public string PathOf(string key) => Join(Path, key);

    public bool Has(string key) => _fields.Has(key);

    /// <summary>The raw value of <paramref name="key"/> (null when absent or written as null).</summary>
    public YamlNode? Raw(string key)
    {
        _asked.Add(key);
        if (_fields.Value(key) is not { } value)
        {
            return null;
        }

        return value is YamlScalarNode s && BindContext.IsNull(s) ? null : value;
    }

    public SourcePosition PositionOf(string key) =>
        _fields.Value(key) is { } value ? BindContext.PositionOf(value) : Position;

    public void Missing(string key, string hint) =>
        _ctx.Error(Node, PathOf(key), $"missing required field \"{key}\" ({hint})");

    public YamlMap? Map(string key, string what)
    {
        var node = Raw(key);
        return node is null ? null : From(node, PathOf(key), _ctx, what);
    }

    public string? String(string key, bool required = false, string hint = "a string")
    {
        var node = Raw(key);
        if (node is null)
        {
            if (required)
            {
                Missing(key, hint);
            }

            return null;
        }

        return ScalarString(node, PathOf(key), hint);
    }

    public string? ScalarString(YamlNode node, string path, string hint)
    {
        if (node is YamlScalarNode { Value: { } value })
        {
            if (value.Length == 0)
            {
                _ctx.Error(node, path, $"must not be empty; expected {hint}");
                return null;
            }

            return value;
        }

        _ctx.Error(node, path, $"expected {hint}, got {BindContext.Describe(node)}");
        return null;
    }

    /// <summary>A DNS-1123 label (Kubernetes names of services, namespaces, subsets, ports).</summary>
    public string? Name(string key, bool required, string what)
    {
        var value = String(key, required, what);
        if (value is not null && !IsDnsLabel(value))
        {
            _ctx.Error(PositionOf(key), PathOf(key), $"\"{value}\" is not a valid {what}: use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters");
            return null;
        }

        return value;
    }

    public static bool IsDnsLabel(string value)
    {
        if (value.Length is 0 or > 63 || !char.IsAsciiLetterLower(value[0]) && !char.IsAsciiDigit(value[0]) || value[^1] == '-')
        {
            return false;
        }

        foreach (char c in value)
        {
            if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    public int? Int(string key, int min, int max, bool required = false, string hint = "an integer")
    {
        var node = Raw(key);
        if (node is null)
        {
            if (required)
            {
                Missing(key, $"{hint} from {min} to {max}");
            }

            return null;
        }

        return IntValue(node, PathOf(key), min, max, hint);
    }

    public double? Percentage(string key) => Read<double>(
        key,
        node => node is YamlScalarNode { Value: { } text } scalar && _ctx.NumberStyleAllowed(scalar)
            && double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value)
            && value is >= 0 and <= 100 ? value : null,
        static node => $"expected a percentage from 0 to 100 (e.g. 10 or 0.5), got {BindContext.Describe(node)}");

    public bool? Bool(string key) => Read<bool>(
        key,
        // YAML 1.2's core schema: true, True, TRUE, false, False, FALSE (written plain)
        node => node is YamlScalarNode { Value: "true" or "True" or "TRUE" or "false" or "False" or "FALSE" } s
            && (s.Style == ScalarStyle.Plain || _ctx.QuotedBooleans) ? s.Value![0] is 't' or 'T' : null,
        static node => $"expected true or false, got {BindContext.Describe(node)}");

    public TimeSpan? Duration(string key) => Read<TimeSpan>(
        key,
        static node => node is YamlScalarNode { Value: { } text } && DurationSyntax.TryParse(text, out var value) ? value : null,
        static node => $"{BindContext.Describe(node)} is not a duration; {DurationSyntax.Expected}");

    /// <summary>The value of <paramref name="key"/> as <paramref name="read"/> makes it (null when absent or written as
    /// null); a value it refuses is reported with <paramref name="problem"/>'s message at the value's position.</summary>
    private T? Read<T>(string key, Func<YamlNode, T?> read, Func<YamlNode, string> problem)
        where T : struct
    {
        var node = Raw(key);
        if (node is null)
        {
            return null;
        }

        if (read(node) is { } value)
        {
            return value;
        }

        _ctx.Error(node, PathOf(key), problem(node));
        return null;
    }

    /// <summary>One of a fixed set of words (case-sensitive, as Istio's enums are).</summary>
    public T? Enum<T>(string key, IReadOnlyList<(string Text, T Value)> values)
        where T : struct
    {
        var node = Raw(key);
        return node is null ? null : EnumValue(node, PathOf(key), values);
    }

    public T? EnumValue<T>(YamlNode node, string path, IReadOnlyList<(string Text, T Value)> values)
        where T : struct
    {
        if (node is YamlScalarNode { Value: { } text })
        {
            foreach (var (candidate, value) in values)
            {
                if (candidate == text)
                {
                    return value;
                }
            }
        }

        var names = new string[values.Count];
        for (int i = 0; i < values.Count; i++)
        {
            names[i] = values[i].Text;
        }

        string? suggestion = node is YamlScalarNode { Value: { Length: > 0 } written } ? Spelling.Suggest(written, names) : null;
        string didYouMean = suggestion is null ? "" : $"; did you mean \"{suggestion}\"?";
        _ctx.Error(node, path, $"expected one of {string.Join(", ", names)}, got {BindContext.Describe(node)}{didYouMean}");
        return null;
    }

    public IReadOnlyList<string> StringList(string key, string hint = "a string")
    {
        var result = new List<string>();
        ForEachItem(key, hint, (item, path) =>
        {
            if (ScalarString(item, path, hint) is { } value)
            {
                result.Add(value);
            }
        });
        return result;
    }

    public IReadOnlyList<int> IntList(string key, int min, int max, string hint)
    {
        var result = new List<int>();
        ForEachItem(key, hint, (item, path) =>
        {
            if (item is YamlScalarNode { Style: ScalarStyle.Plain, Value: { } text }
                && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max)
            {
                result.Add(value);
            }
            else
            {
                _ctx.Error(item, path, $"expected {hint} from {min} to {max}, got {BindContext.Describe(item)}");
            }
        });
        return result;
    }

    /// <summary>Calls <paramref name="each"/> with every item of the list <paramref name="key"/> and its path; reports a
    /// value that is not a list. False when the field is absent or not a list.</summary>
    public bool ForEachItem(string key, string hint, Action<YamlNode, string> each)
    {
        var node = Raw(key);
        if (node is null)
        {
            return false;
        }

        if (node is not YamlSequenceNode sequence)
        {
            _ctx.Error(node, PathOf(key), $"expected a list of {hint}s, got {BindContext.Describe(node)}");
            return false;
        }

        for (int i = 0; i < sequence.Children.Count; i++)
        {
            each(sequence.Children[i], $"{PathOf(key)}[{i}]");
        }

        return true;
    }

    /// <summary>A string-to-string mapping (labels), in the order written.</summary>
    public IReadOnlyList<KeyValuePair<string, string>>? StringMap(string key, string what)
    {
        var map = Map(key, what);
        if (map is null)
        {
            return null;
        }

        var result = new List<KeyValuePair<string, string>>();
        foreach (var name in map._order)
        {
            var value = map.String(name, hint: "a string value");
            if (value is not null)
            {
                result.Add(new(name, value));
            }
        }

        return result;
    }

    /// <summary>Each item of a list of mappings, with its path.</summary>
    public IEnumerable<YamlMap> MapList(string key, string what)
    {
        var node = Raw(key);
        if (node is null)
        {
            yield break;
        }

        if (node is not YamlSequenceNode sequence)
        {
            _ctx.Error(node, PathOf(key), $"expected a list of {what}s, got {BindContext.Describe(node)}");
            yield break;
        }

        for (int i = 0; i < sequence.Children.Count; i++)
        {
            if (From(sequence.Children[i], $"{PathOf(key)}[{i}]", _ctx, what) is { } item)
            {
                yield return item;
            }
        }
    }

    /// <summary>The keys of this mapping in the order written (for maps keyed by user names, e.g. headers, ports).</summary>
    public IReadOnlyList<string> Keys => _order;

    /// <summary>Reports every key that no getter asked for.</summary>
    public void Finish() => _fields.ReportUnasked(_asked, (field, suggestion) =>
    {
        var allowed = new List<string>(_asked);
        allowed.Sort(StringComparer.Ordinal);
        string didYouMean = suggestion is null ? "" : $"; did you mean \"{suggestion}\"?";
        _ctx.Error(field.KeyNode, PathOf(field.Key), $"unknown field \"{field.Key}\"{didYouMean} (allowed here: {string.Join(", ", allowed)})");
    });
}
