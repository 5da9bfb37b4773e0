using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace BelizeMesh.Configuration;

/// <summary>Where list items go relative to their key.</summary>
public enum YamlListLayout
{
    /// <summary>Indented under their key (<c>key:\n  - a</c>): what <c>belizemesh emit</c> writes.</summary>
    Indented,

    /// <summary>At their key's indent (<c>key:\n- a</c>), kubectl's layout: what the injector writes.</summary>
    Kubectl,
}

/// <summary>
/// Writes <see cref="JsonNode"/> trees as block-style YAML through YamlDotNet's <see cref="Emitter"/> (no reflection),
/// deterministically: keys in insertion order, two-space indentation, numbers as written, empty collections as
/// <c>{}</c>/<c>[]</c>. Every YAML BelizeMesh writes goes through it (<c>belizemesh emit</c>'s manifests and policies,
/// the injector's pods and webhook configuration), so there is one quoting rule (<see cref="StyleOf"/>):
/// </summary>
/// <remarks>
/// <list type="number">
/// <item>A string a YAML 1.1 or 1.2 reader would take for something else when written plain — a boolean or null word
/// (<c>yes</c>, <c>on</c>, <c>null</c>, <c>~</c>, <c>""</c>), a number or a timestamp (<c>16443</c>, <c>1e3</c>,
/// <c>0x1F</c>, <c>2024-01-01</c>), YAML 1.1's <c>=</c> and <c>&lt;&lt;</c> — and a string holding control characters,
/// tabs or Unicode line breaks is double-quoted.</item>
/// <item>A string of several lines is a literal block when one reads back exactly, otherwise double-quoted.</item>
/// <item>Anything else is left to the emitter, which writes it plain when YAML allows, else single-quoted (<c>'*'</c>,
/// <c>'{"a":1}'</c>, <c>'a: b'</c>) — kubectl's convention.</item>
/// </list>
/// An unpaired UTF-16 surrogate, which no YAML (or UTF-8) file can hold, is written as U+FFFD.
/// </remarks>
public static partial class YamlWriter
{
    private static readonly EmitterSettings s_indented = new EmitterSettings()
        .WithBestIndent(2)
        .WithBestWidth(int.MaxValue) // never fold long lines: a SidecarPolicy or a PEM reads back exactly
        .WithIndentedSequences()
        .WithNewLine("\n");

    private static readonly EmitterSettings s_kubectl = new EmitterSettings()
        .WithBestIndent(2)
        .WithBestWidth(int.MaxValue)
        .WithNewLine("\n");

    /// <summary>Writes several documents separated by <c>---</c>.</summary>
    public static void WriteDocuments(StringBuilder output, IEnumerable<JsonNode?> documents, YamlListLayout layout = YamlListLayout.Indented)
    {
        using var writer = new StringWriter(output, CultureInfo.InvariantCulture) { NewLine = "\n" };
        var emitter = new Emitter(writer, layout == YamlListLayout.Kubectl ? s_kubectl : s_indented);
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

    /// <summary>Several documents separated by <c>---</c>, as text.</summary>
    public static string ToYaml(IEnumerable<JsonNode?> documents, YamlListLayout layout)
    {
        var builder = new StringBuilder();
        WriteDocuments(builder, documents, layout);
        return builder.ToString();
    }

    /// <summary>One document; mappings and sequences at the top level, a scalar on its own line otherwise.</summary>
    public static void WriteDocument(StringBuilder output, JsonNode? node) => WriteDocuments(output, [node]);

    /// <summary>One document in the indented layout, as text.</summary>
    public static string ToYaml(JsonNode? node) => ToYaml([node], YamlListLayout.Indented);

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
                    EmitString(emitter, key, isKey: true);
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
                EmitString(emitter, s, isKey: false);
                break;
            case JsonValue v when v.TryGetValue(out bool b):
                Plain(emitter, b ? "true" : "false");
                break;
            case JsonValue v when v.TryGetValue(out JsonElement element):
                // read from JSON: a number is written as it was (1.0 stays 1.0), a JSON null as null
                Plain(emitter, element.ValueKind == JsonValueKind.Number ? element.GetRawText() : "null");
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
                Plain(emitter, "null");
                break;
        }
    }

    private static void Plain(IEmitter emitter, string text) =>
        emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, text, ScalarStyle.Plain, true, false));

    private static void EmitString(IEmitter emitter, string value, bool isKey)
    {
        value = WithoutLoneSurrogates(value);
        ScalarStyle style = StyleOf(value);
        if (isKey && style == ScalarStyle.Literal)
        {
            style = ScalarStyle.DoubleQuoted; // a key is one line
        }

        emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, value, style, true, true));
    }

    /// <summary>The style the one quoting rule gives <paramref name="value"/> (see the class remarks);
    /// <see cref="ScalarStyle.Any"/> leaves plain-or-single-quoted to the emitter.</summary>
    public static ScalarStyle StyleOf(string value)
    {
        if (ReadsAsAnotherType(value) || HasSpecialCharacters(value))
        {
            return ScalarStyle.DoubleQuoted;
        }

        if (value.Contains('\n', StringComparison.Ordinal))
        {
            return CanBeLiteralBlock(value) ? ScalarStyle.Literal : ScalarStyle.DoubleQuoted;
        }

        return ScalarStyle.Any;
    }

    /// <summary>True when a plain scalar with this text would not read back as this string under YAML 1.1 or 1.2:
    /// a boolean or null word, YAML 1.1's value and merge keys, a number or a timestamp.</summary>
    public static bool ReadsAsAnotherType(string value)
    {
        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL"
                or "y" or "Y" or "yes" or "Yes" or "YES" or "n" or "N" or "no" or "No" or "NO"
                or "true" or "True" or "TRUE" or "false" or "False" or "FALSE"
                or "on" or "On" or "ON" or "off" or "Off" or "OFF" or "=" or "<<":
                return true;
        }

        char first = value[0];
        return (char.IsAsciiDigit(first) || first is '-' or '+' or '.') && NumberLike().IsMatch(value);
    }

    /// <summary>
    /// Plain scalars YAML 1.1 or 1.2 resolves to a number or a timestamp: integers (decimal, octal, hex, binary, with
    /// '_' separators, sexagesimal <c>1:20</c>), floats (incl. exponents, <c>.inf</c>, <c>.nan</c>, sexagesimal
    /// <c>1:20.5</c>) and dates. A few matches are
    /// strings to some readers; quoting them is harmless, failing to would not be.
    /// </summary>
    [GeneratedRegex(@"^(?:[-+]?(?:0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?::[0-5]?[0-9])*)|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?)$")]
    private static partial Regex NumberLike();

    /// <summary>Control characters (other than newline, but tabs too: the emitter would write a leading or trailing tab
    /// plain, which no reader accepts back) and Unicode line breaks only survive double quotes.</summary>
    private static bool HasSpecialCharacters(string value)
    {
        foreach (char c in value)
        {
            if ((char.IsControl(c) && c != '\n') || c is '\u2028' or '\u2029' or '\uFEFF' or '\u0085')
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether <paramref name="value"/> (several lines) reads back exactly from a literal block: no leading
    /// space or line break (the block's indentation would be misread), no trailing spaces on a line, at most one final
    /// line break, something besides line breaks.</summary>
    public static bool CanBeLiteralBlock(string value)
    {
        if (!value.Contains('\n', StringComparison.Ordinal) || value.StartsWith(' ') || value.StartsWith('\n')
            || value.EndsWith("\n\n", StringComparison.Ordinal) || value.EndsWith(' ') || value.Contains(" \n", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (char c in value)
        {
            if ((char.IsControl(c) && c != '\n') || c is '\u2028' or '\u2029' or '\uFEFF' or '\u0085')
            {
                return false;
            }
        }

        return true;
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
}
