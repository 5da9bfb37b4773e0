using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BelizeMesh.Mesh.Emit;

/// <summary>
/// Writes <see cref="JsonNode"/> trees as block-style YAML, deterministically: keys in insertion order, two-space
/// indentation, strings plain only when no YAML 1.1 or 1.2 reader could take them for anything but that string
/// (otherwise double-quoted), multi-line strings as literal blocks. Small and allocation-light; no reflection.
/// </summary>
public static class YamlWriter
{
    /// <summary>Writes several documents separated by <c>---</c>.</summary>
    public static void WriteDocuments(StringBuilder output, IEnumerable<JsonNode> documents)
    {
        bool first = true;
        foreach (var document in documents)
        {
            if (!first)
            {
                output.Append("---\n");
            }

            first = false;
            WriteDocument(output, document);
        }
    }

    /// <summary>One document; mappings and sequences at the top level, a scalar on its own line otherwise.</summary>
    public static void WriteDocument(StringBuilder output, JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o when o.Count > 0:
                WriteObject(output, o, 0);
                break;
            case JsonArray a when a.Count > 0:
                WriteArray(output, a, 0);
                break;
            default:
                WriteInline(output, node, 0);
                output.Append('\n');
                break;
        }
    }

    public static string ToYaml(JsonNode? node)
    {
        var builder = new StringBuilder();
        WriteDocument(builder, node);
        return builder.ToString();
    }

    private static void WriteObject(StringBuilder output, JsonObject obj, int indent)
    {
        bool first = true;
        foreach (var (key, value) in obj)
        {
            if (!first)
            {
                output.Append(' ', indent);
            }

            first = false;
            WriteKeyValue(output, key, value, indent);
        }
    }

    // Writes "key: value\n"; the caller has already written the indentation of this line.
    private static void WriteKeyValue(StringBuilder output, string key, JsonNode? value, int indent)
    {
        WriteString(output, key, indent, allowBlock: false);
        output.Append(':');
        switch (value)
        {
            case JsonObject o when o.Count > 0:
                output.Append('\n').Append(' ', indent + 2);
                WriteObject(output, o, indent + 2);
                break;
            case JsonArray a when a.Count > 0:
                output.Append('\n').Append(' ', indent + 2);
                WriteArray(output, a, indent + 2);
                break;
            default:
                output.Append(' ');
                WriteInline(output, value, indent);
                output.Append('\n');
                break;
        }
    }

    private static void WriteArray(StringBuilder output, JsonArray array, int indent)
    {
        bool first = true;
        foreach (var item in array)
        {
            if (!first)
            {
                output.Append(' ', indent);
            }

            first = false;
            output.Append("- ");
            switch (item)
            {
                case JsonObject o when o.Count > 0:
                    WriteObject(output, o, indent + 2);
                    break;
                case JsonArray a when a.Count > 0:
                    WriteArray(output, a, indent + 2);
                    break;
                default:
                    WriteInline(output, item, indent);
                    output.Append('\n');
                    break;
            }
        }
    }

    // Scalars and empty collections.
    private static void WriteInline(StringBuilder output, JsonNode? node, int indent)
    {
        switch (node)
        {
            case null:
                output.Append("null");
                break;
            case JsonObject:
                output.Append("{}");
                break;
            case JsonArray:
                output.Append("[]");
                break;
            case JsonValue v when v.TryGetValue(out string? s):
                WriteString(output, s, indent, allowBlock: true);
                break;
            case JsonValue v when v.TryGetValue(out bool b):
                output.Append(b ? "true" : "false");
                break;
            case JsonValue v when v.TryGetValue(out int i):
                output.Append(i.ToString(CultureInfo.InvariantCulture));
                break;
            case JsonValue v when v.TryGetValue(out long l):
                output.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case JsonValue v when v.TryGetValue(out double d):
                output.Append(d.ToString("R", CultureInfo.InvariantCulture));
                break;
            case JsonValue v when v.GetValueKind() is JsonValueKind.Number:
                output.Append(v.ToJsonString());
                break;
            default:
                throw new InvalidOperationException($"cannot write {node.GetValueKind()} as YAML");
        }
    }

    private static void WriteString(StringBuilder output, string value, int indent, bool allowBlock)
    {
        if (IsPlainSafe(value))
        {
            output.Append(value);
        }
        else if (allowBlock && CanBeLiteralBlock(value))
        {
            // Literal block: "|" keeps the single final newline, "|-" strips when there is none.
            output.Append(value.EndsWith('\n') ? "|" : "|-");
            var body = value.EndsWith('\n') ? value.AsSpan(0, value.Length - 1) : value.AsSpan();
            foreach (var line in body.EnumerateLines())
            {
                output.Append('\n');
                if (!line.IsEmpty)
                {
                    output.Append(' ', indent + 2).Append(line);
                }
            }
        }
        else
        {
            WriteDoubleQuoted(output, value);
        }
    }

    /// <summary>Whether <paramref name="value"/> can be written unquoted and read back as the same string.</summary>
    public static bool IsPlainSafe(string value)
    {
        if (value.Length == 0 || value[0] == ' ' || value[^1] == ' ' || value[^1] == ':')
        {
            return false;
        }

        // Indicators that may not start a plain scalar.
        if ("-?:,[]{}#&*!|>'\"%@`".Contains(value[0], StringComparison.Ordinal))
        {
            return false;
        }

        foreach (char c in value)
        {
            if (c < ' ' || c == 0x7f || c > 0x7e)
            {
                return false; // control characters and non-ASCII are quoted to stay unambiguous
            }
        }

        if (value.Contains(": ", StringComparison.Ordinal) || value.Contains(" #", StringComparison.Ordinal))
        {
            return false;
        }

        // Words YAML 1.1 or 1.2 reads as booleans or null, and YAML 1.1's value ("=") and merge ("<<") keys.
        switch (value.ToLowerInvariant())
        {
            case "true" or "false" or "yes" or "no" or "on" or "off" or "y" or "n" or "null" or "~" or "=" or "<<":
                return false;
        }

        // Anything that could be a number, a date or a sexagesimal value in either YAML version.
        if (char.IsAsciiDigit(value[0]) || value[0] is '.' or '+')
        {
            bool allNumeric = true;
            foreach (char c in value)
            {
                if (!(char.IsAsciiHexDigit(c) || c is '.' or ':' or '_' or '-' or '+' or 'x' or 'X' or 'o' or 'O' or 'T' or 't' or 'Z' or 'z'))
                {
                    allNumeric = false;
                    break;
                }
            }

            if (allNumeric)
            {
                return false;
            }

            if (value.StartsWith(".inf", StringComparison.OrdinalIgnoreCase) || value.StartsWith(".nan", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        return true;
    }

    private static bool CanBeLiteralBlock(string value)
    {
        if (!value.Contains('\n', StringComparison.Ordinal) || value.StartsWith(' ') || value.StartsWith('\n') || value.EndsWith("\n\n", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (char c in value)
        {
            if ((c < ' ' && c != '\n') || c == 0x7f || c > 0x7e)
            {
                return false;
            }
        }

        foreach (var line in value.AsSpan().EnumerateLines())
        {
            if (line.Length > 0 && line[^1] == ' ')
            {
                return false;
            }
        }

        return true;
    }

    private static void WriteDoubleQuoted(StringBuilder output, string value)
    {
        output.Append('"');
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                output.Append(c).Append(value[i + 1]); // a valid pair is written as the character itself
                i++;
                continue;
            }

            switch (c)
            {
                case '"':
                    output.Append("\\\"");
                    break;
                case '\\':
                    output.Append("\\\\");
                    break;
                case '\n':
                    output.Append("\\n");
                    break;
                case '\t':
                    output.Append("\\t");
                    break;
                case '\r':
                    output.Append("\\r");
                    break;
                default:
                    if (c < ' ' || c == 0x7f || (c >= 0x80 && c <= 0x9f) || char.IsSurrogate(c) || c is '\u2028' or '\u2029' or '\ufeff')
                    {
                        output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        output.Append(c);
                    }

                    break;
            }
        }

        output.Append('"');
    }
}
