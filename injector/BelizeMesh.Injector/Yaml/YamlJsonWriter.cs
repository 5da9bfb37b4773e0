using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace BelizeMesh.Injector.Yaml;

/// <summary>
/// Writes <see cref="JsonNode"/> trees as block YAML in kubectl's layout (2-space indent, list items at the parent's
/// indent), through YamlDotNet's <see cref="Emitter"/> (no reflection).
/// </summary>
/// <remarks>
/// A string that a YAML 1.1 or 1.2 reader would take for something else when unquoted (<c>"true"</c>, <c>"yes"</c>,
/// <c>"16443"</c>, <c>"1e3"</c>, <c>"null"</c>, <c>""</c>, a date) is double-quoted, so kubectl reads back exactly the
/// JSON it came from. Multi-line strings use the literal block style when YAML allows it.
/// </remarks>
internal static partial class YamlJsonWriter
{
    /// <summary>Writes each node as one document, separated by <c>---</c>.</summary>
    public static string WriteDocuments(IReadOnlyList<JsonNode?> documents)
    {
        var writer = new StringWriter { NewLine = "\n" };
        var emitter = new Emitter(writer, new EmitterSettings(2, int.MaxValue, false, 1024, newLine: "\n"));
        emitter.Emit(new StreamStart());
        for (int i = 0; i < documents.Count; i++)
        {
            emitter.Emit(new DocumentStart(null, null, isImplicit: i == 0));
            Emit(emitter, documents[i]);
            emitter.Emit(new DocumentEnd(isImplicit: true));
        }

        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    /// <summary>Writes one document.</summary>
    public static string Write(JsonNode? document) => WriteDocuments([document]);

    private static void Emit(Emitter emitter, JsonNode? node)
    {
        switch (node)
        {
            case null:
                emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, "null", ScalarStyle.Plain, true, false));
                break;
            case JsonObject obj:
                if (obj.Count == 0)
                {
                    emitter.Emit(new MappingStart(AnchorName.Empty, TagName.Empty, true, MappingStyle.Flow));
                    emitter.Emit(new MappingEnd());
                    break;
                }

                emitter.Emit(new MappingStart(AnchorName.Empty, TagName.Empty, true, MappingStyle.Block));
                foreach (var (key, value) in obj)
                {
                    EmitString(emitter, key);
                    Emit(emitter, value);
                }

                emitter.Emit(new MappingEnd());
                break;
            case JsonArray array:
                if (array.Count == 0)
                {
                    emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, true, SequenceStyle.Flow));
                    emitter.Emit(new SequenceEnd());
                    break;
                }

                emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, true, SequenceStyle.Block));
                foreach (JsonNode? item in array)
                {
                    Emit(emitter, item);
                }

                emitter.Emit(new SequenceEnd());
                break;
            case JsonValue value:
                switch (value.GetValueKind())
                {
                    case JsonValueKind.String:
                        EmitString(emitter, value.GetValue<string>());
                        break;
                    case JsonValueKind.True:
                        emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, "true", ScalarStyle.Plain, true, false));
                        break;
                    case JsonValueKind.False:
                        emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, "false", ScalarStyle.Plain, true, false));
                        break;
                    case JsonValueKind.Number:
                        emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, value.ToJsonString(), ScalarStyle.Plain, true, false));
                        break;
                    default:
                        emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, "null", ScalarStyle.Plain, true, false));
                        break;
                }

                break;
        }
    }

    private static void EmitString(Emitter emitter, string text)
    {
        ScalarStyle style;
        if (NeedsQuotes(text) || HasSpecialCharacters(text))
        {
            style = ScalarStyle.DoubleQuoted;
        }
        else if (text.Contains('\n', StringComparison.Ordinal))
        {
            // Literal blocks read best; when one cannot hold the text exactly, double quotes (with escapes) always can.
            style = IsLiteralFriendly(text) ? ScalarStyle.Literal : ScalarStyle.DoubleQuoted;
        }
        else
        {
            style = ScalarStyle.Any;
        }

        emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, text, style, true, true));
    }

    /// <summary>True when a plain scalar with this text would not read back as this string under YAML 1.1 or 1.2.</summary>
    internal static bool NeedsQuotes(string text)
    {
        if (text.Length == 0 || YamlJsonReader.IsNullLiteral(text))
        {
            return true;
        }

        switch (text)
        {
            case "y" or "Y" or "yes" or "Yes" or "YES" or "n" or "N" or "no" or "No" or "NO"
                or "true" or "True" or "TRUE" or "false" or "False" or "FALSE"
                or "on" or "On" or "ON" or "off" or "Off" or "OFF" or "=" or "<<":
                return true;
        }

        char first = text[0];
        return (char.IsAsciiDigit(first) || first is '-' or '+' or '.') && NumberLike().IsMatch(text);
    }

    /// <summary>
    /// Plain scalars YAML 1.1 or 1.2 resolves to a number or a timestamp: integers (decimal, octal, hex, binary, with
    /// '_' separators, sexagesimal), floats (incl. exponents, <c>.inf</c>, <c>.nan</c>) and dates. A few matches are
    /// strings to some readers; quoting them is harmless, failing to would not be.
    /// </summary>
    [GeneratedRegex(@"^(?:[-+]?(?:0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?::[0-5]?[0-9])*)|[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?)$")]
    private static partial Regex NumberLike();

    /// <summary>Control characters (other than newline) and Unicode line breaks only survive double quotes.</summary>
    private static bool HasSpecialCharacters(string text)
    {
        foreach (char c in text)
        {
            // Tabs too: YamlDotNet would write a leading or trailing tab plain, which no reader accepts back.
            if ((char.IsControl(c) && c != '\n') || c is '\u2028' or '\u2029' or '\uFEFF')
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsLiteralFriendly(string text)
    {
        foreach (char c in text)
        {
            if (c is '\t' or '\r' || char.IsControl(c) && c != '\n')
            {
                return false;
            }
        }

        // Trailing spaces on a line cannot be represented in a literal block, and a block of nothing but line
        // breaks reads back empty.
        return !text.Contains(" \n", StringComparison.Ordinal) && !text.EndsWith(' ') && text.AsSpan().Trim('\n').Length > 0;
    }
}
