using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Configuration;

/// <summary>
/// The fields of one YAML mapping, indexed once with their positions: the step every configuration parser starts a
/// mapping with. Keys that are not strings, repeated keys and keys the schema does not know are reported through the
/// caller's callbacks (each parser words its own messages) — all of them, not only the first — with the closest known
/// name as a "did you mean" suggestion (<see cref="Spelling"/>).
/// </summary>
public sealed class YamlFields
{
    private readonly Dictionary<string, YamlField> _byKey = new(StringComparer.Ordinal);
    private readonly List<YamlField> _inOrder = [];

    private YamlFields(YamlMappingNode node) => Node = node;

    /// <summary>The mapping.</summary>
    public YamlMappingNode Node { get; }

    /// <summary>The fields in the order written (the first of repeated keys; unknown fields left out when the schema
    /// was given).</summary>
    public IReadOnlyList<YamlField> InOrder => _inOrder;

    /// <summary>
    /// Indexes <paramref name="node"/>. A key that is not a string goes to <paramref name="badKey"/>; with
    /// <paramref name="known"/>, a key it does not hold goes to <paramref name="unknown"/> (with a suggestion, or null)
    /// and is left out; a key written twice goes to <paramref name="duplicate"/> (the second one).
    /// </summary>
    public static YamlFields Index(
        YamlMappingNode node,
        IReadOnlyCollection<string>? known,
        Action<YamlNode> badKey,
        Action<YamlField> duplicate,
        Action<YamlField, string?>? unknown = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        var fields = new YamlFields(node);
        foreach (KeyValuePair<YamlNode, YamlNode> child in node.Children)
        {
            if (child.Key is not YamlScalarNode { Value: { } key } keyNode)
            {
                badKey(child.Key);
                continue;
            }

            var field = new YamlField(key, keyNode, child.Value);
            if (known is not null && !Contains(known, key))
            {
                unknown?.Invoke(field, Spelling.Suggest(key, known));
                continue;
            }

            if (!fields._byKey.TryAdd(key, field))
            {
                duplicate(field);
                continue;
            }

            fields._inOrder.Add(field);
        }

        return fields;
    }

    /// <summary>The value of <paramref name="key"/>, or null when the mapping does not have it.</summary>
    public YamlNode? Value(string key) => _byKey.TryGetValue(key, out YamlField field) ? field.Value : null;

    /// <summary>The field <paramref name="key"/>, when the mapping has it.</summary>
    public bool TryGet(string key, out YamlField field) => _byKey.TryGetValue(key, out field);

    /// <summary>Whether the mapping has <paramref name="key"/>.</summary>
    public bool Has(string key) => _byKey.ContainsKey(key);

    /// <summary>Reports, in the order written, every field whose key is not in <paramref name="asked"/> (what a schema
    /// read), with the closest of <paramref name="asked"/> as a suggestion (or null).</summary>
    public void ReportUnasked(IReadOnlyCollection<string> asked, Action<YamlField, string?> unknown)
    {
        foreach (YamlField field in _inOrder)
        {
            if (!Contains(asked, field.Key))
            {
                unknown(field, Spelling.Suggest(field.Key, asked));
            }
        }
    }

    private static bool Contains(IReadOnlyCollection<string> set, string key)
    {
        if (set is ICollection<string> collection)
        {
            return collection.Contains(key);
        }

        foreach (string candidate in set)
        {
            if (candidate == key)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>One field of a mapping: its key, the key's node (where an unknown or repeated key is reported) and its value.</summary>
public readonly record struct YamlField(string Key, YamlScalarNode KeyNode, YamlNode Value);
