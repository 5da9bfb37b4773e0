using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace BelizeMesh.Mesh.Emit;

/// <summary>
/// Writes <see cref="JsonNode"/> trees as block-style YAML through YamlDotNet's <see cref="Emitter"/> (no reflection),
/// deterministically: keys in insertion order, two-space indentation with list items indented under their key, strings
/// plain only when no YAML 1.1 or 1.2 reader could take them for anything but that string (otherwise double-quoted),
/// multi-line strings as literal blocks. The quoting rule is this class's alone (<see cref="IsPlainSafe"/>,
/// <see cref="CanBeLiteralBlock"/>): every scalar is emitted with the style it chose, the emitter only lays it out.
/// </summary>
public static class YamlWriter
{
    private static readonly EmitterSettings s_settings = new EmitterSettings()
        .WithBestIndent(2)
        .WithBestWidth(int.MaxValue) // never fold long lines: a SidecarPolicy or a PEM reads back exactly
        .WithIndentedSequences()
        .WithNewLine("\n");

    /// <summary>Writes several documents separated by <c>---</c>.</summary>
    public static void WriteDocuments(StringBuilder output, IEnumerable<JsonNode> documents)
    {
        using var writer = new StringWriter(output, CultureInfo.InvariantCulture) { NewLine = "\n" };
        var emitter = new Emitter(writer, s_settings);
        emitter.Emit(new StreamStart());
        bool first = true;
        foreach (var document in documents)
        {
            emitter.Emit(new DocumentStart(null, null, isImplicit: first));
            first = false;
            Emit(emitter, document);
            emitter.Emit(new DocumentEnd(isImplicit: true));
        }

        emitter.Emit(new StreamEnd());
    }

    /// <summary>One document; mappings and sequences at the top level, a scalar on its own line otherwise.</summary>
    public static void WriteDocument(StringBuilder output, JsonNode? node) => WriteDocuments(output, [node!]);

    public static string ToYaml(JsonNode? node)
    {
        var builder = new StringBuilder();
        WriteDocument(builder, node);
        return builder.ToString();
    }

    private static void Emit(IEmitter emitter, JsonNode? node)
    {
        switch (node)
        {
            case null:
                Plain(emitter, "null");
                break;
            case JsonObject obj when obj.Count == 0:
                emitter.Emit(new MappingStart(AnchorName.Empty, TagName.Empty, true, MappingStyle.Flow));
                emitter.Emit(new MappingEnd());
                break;
            case JsonObject obj:
                emitter.Emit(new MappingStart(AnchorName.Empty, TagName.Empty, true, MappingStyle.Block));
                foreach (var (key, value) in obj)
                {
                    EmitString(emitter, key, allowBlock: false);
                    Emit(emitter, value);
                }

                emitter.Emit(new MappingEnd());
                break;
            case JsonArray array when array.Count == 0:
                emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, true, SequenceStyle.Flow));
                emitter.Emit(new SequenceEnd());
                break;
            case JsonArray array:
                emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, true, SequenceStyle.Block));
                foreach (var item in array)
                {
                    Emit(emitter, item);
                }

                emitter.Emit(new SequenceEnd());
                break;
            case JsonValue v when v.TryGetValue(out string? s):
                EmitString(emitter, s, allowBlock: true);
                break;
            case JsonValue v when v.TryGetValue(out bool b):
                Plain(emitter, b ? "true" : "false");
                break;
            case JsonValue v when v.TryGetValue(out int i):
                Plain(emitter, i.ToString(CultureInfo.InvariantCulture));
                break;
            case JsonValue v when v.TryGetValue(out long l):
                Plain(emitter, l.ToString(CultureInfo.InvariantCulture));
                break;
            case JsonValue v when v.TryGetValue(out double d):
                Plain(emitter, d.ToString("R", CultureInfo.InvariantCulture));
                break;
            case JsonValue v when v.GetValueKind() is JsonValueKind.Number:
                Plain(emitter, v.ToJsonString());
                break;
            default:
                throw new InvalidOperationException($"cannot write {node.GetValueKind()} as YAML");
        }
    }

    private static void Plain(IEmitter emitter, string text) =>
        emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, text, ScalarStyle.Plain, true, false));

    private static void EmitString(IEmitter emitter, string value, bool allowBlock)
    {
        value = WithoutLoneSurrogates(value);
        ScalarStyle style = IsPlainSafe(value) ? ScalarStyle.Plain
            : allowBlock && CanBeLiteralBlock(value) ? ScalarStyle.Literal
            : ScalarStyle.DoubleQuoted;
        emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, value, style, true, true));
    }

    /// <summary>An unpaired UTF-16 surrogate is no Unicode character: YAML cannot carry it (the emitter refuses it) and
    /// a UTF-8 file could not hold it, so it becomes U+FFFD, as a UTF-8 writer would make it.</summary>
    private static string WithoutLoneSurrogates(string value)
    {
        int i = 0;
        while (i < value.Length && !char.IsSurrogate(value[i]))
        {
            i++;
        }

        if (i == value.Length)
        {
            return value;
        }

        var builder = new StringBuilder(value.Length);
        for (i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                builder.Append(c).Append(value[++i]);
            }
            else
            {
                builder.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
            }
        }

        return builder.ToString();
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

    /// <summary>Whether <paramref name="value"/> (several lines) reads back exactly from a literal block.</summary>
    public static bool CanBeLiteralBlock(string value)
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
}
