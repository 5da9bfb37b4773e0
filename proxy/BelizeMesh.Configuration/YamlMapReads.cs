using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Configuration;

// The reads every schema shares beyond the basic getters of YamlMap.cs: values of list items and of nodes a schema
// holds (ports in a list, a header's match), 64-bit integers, Kubernetes quantities, user-keyed mappings (header
// names), and reporting a schema's own rule at a field or at the mapping.
public sealed partial class YamlMap
{
    /// <summary>Reports <paramref name="message"/> at the value of <paramref name="key"/> (at the mapping when absent),
    /// under the field's path.</summary>
    public void Error(string key, string message) => _ctx.Error(PositionOf(key), PathOf(key), message);

    /// <summary>Reports <paramref name="message"/> at the mapping itself, under its path.</summary>
    public void Error(string message) => _ctx.Error(Node, Path, message);

    /// <summary>The value node of <paramref name="key"/> without reading it (null when absent).</summary>
    public YamlNode? Peek(string key) => _fields.Value(key);

    /// <summary>Marks <paramref name="keys"/> as fields of this mapping although the schema does not read them here
    /// (they are allowed, never reported as unknown, and listed in "allowed here").</summary>
    public void Allow(params ReadOnlySpan<string> keys)
    {
        foreach (string key in keys)
        {
            _asked.Add(key);
        }
    }

    /// <summary>An integer item of a list or a node the schema holds; <paramref name="quotedDigits"/> also takes a quoted
    /// string of digits (ports as Istio writes them: <c>"8080"</c>).</summary>
    public int? IntValue(YamlNode node, string path, int min, int max, string hint, bool quotedDigits = false)
    {
        if (node is YamlScalarNode { Value: { } text } scalar
            && (_ctx.NumberStyleAllowed(scalar) || quotedDigits)
            && int.TryParse(text, _ctx.NumberStyleAllowed(scalar) ? NumberStyles.AllowLeadingSign : NumberStyles.None, CultureInfo.InvariantCulture, out int value))
        {
            if (value < min || value > max)
            {
                _ctx.Error(node, path, $"{value} is out of range; expected {hint} from {min} to {max}");
                return null;
            }

            return value;
        }

        _ctx.Error(node, path, $"expected {hint} from {min} to {max}, got {BindContext.Describe(node)}");
        return null;
    }

    /// <summary>A 64-bit integer written as a plain number (null when absent or written as null).</summary>
    public long? Long(string key, string hint = "an integer") => Read<long>(
        key,
        node => node is YamlScalarNode { Value: { } text } scalar && _ctx.NumberStyleAllowed(scalar)
            && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value) ? value : null,
        node => $"expected {hint}, got {BindContext.Describe(node)}; write a plain number without quotes");

    /// <summary>A positive Kubernetes resource quantity (<c>100m</c>, <c>0.5</c>, <c>128Mi</c>), as written.</summary>
    public string? Quantity(string key)
    {
        var node = Raw(key);
        if (node is null)
        {
            return null;
        }

        if (node is YamlScalarNode { Value: { } text } && BelizeMesh.Configuration.Quantity.TryParse(text, out decimal amount) && amount > 0)
        {
            return text;
        }

        _ctx.Error(node, PathOf(key), $"{BindContext.Describe(node)} is not a positive Kubernetes quantity; expected e.g. 100m, 0.5, 128Mi, 1Gi");
        return null;
    }

    /// <summary>A string value of a node the schema holds (a list item): a scalar, possibly empty (null when it is not a
    /// scalar, reported).</summary>
    public string? ScalarText(YamlNode node, string path, string hint)
    {
        if (node is YamlScalarNode { Value: { } value })
        {
            return value;
        }

        _ctx.Error(node, path, $"expected {hint}, got {BindContext.Describe(node)}");
        return null;
    }

    /// <summary>Every field of a mapping keyed by user names (header names, label keys), in the order written; they are
    /// all taken as read.</summary>
    public IReadOnlyList<YamlField> Entries()
    {
        foreach (YamlField field in _fields.InOrder)
        {
            _asked.Add(field.Key);
        }

        return _fields.InOrder;
    }
}
