using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Injector.Yaml;

/// <summary>One YAML document turned into JSON, with where it started for error messages.</summary>
internal sealed record YamlJsonDocument(JsonNode? Root, int Line, int Column);

/// <summary>Bad YAML input: what, where (source, line, column), and the message says how to fix it.</summary>
internal sealed class YamlInputException(string source, long line, long column, string message)
    : Exception($"{source}:{line}:{column}: {message}")
{
    public string SourceName { get; } = source;

    public long Line { get; } = line;

    public long Column { get; } = column;
}

/// <summary>
/// Reads (multi-document) YAML into <see cref="JsonNode"/> trees with YamlDotNet's representation model (no reflection).
/// </summary>
/// <remarks>
/// Scalars follow the YAML 1.2 core schema, as Kubernetes manifests expect: quoted scalars are always strings
/// (<c>"true"</c>, <c>"16443"</c> stay strings); plain <c>true</c>/<c>false</c>, <c>null</c>/<c>~</c>/empty, integers and
/// floats become JSON booleans, null and numbers. YAML 1.1 spellings such as <c>yes</c>/<c>on</c> stay strings.
/// Merge keys (<c>&lt;&lt;</c>) are honoured, aliases are expanded, and duplicate keys are an error (as kubectl's
/// strict decoding does).
/// </remarks>
internal static class YamlJsonReader
{
    private const string TagStr = "tag:yaml.org,2002:str";
    private const string TagInt = "tag:yaml.org,2002:int";
    private const string TagFloat = "tag:yaml.org,2002:float";
    private const string TagBool = "tag:yaml.org,2002:bool";
    private const string TagNull = "tag:yaml.org,2002:null";

    /// <summary>Parses every document in <paramref name="text"/>; empty documents are skipped.</summary>
    public static List<YamlJsonDocument> ReadDocuments(string text, string source)
    {
        // The configuration core's load step and wording, shared with the three configuration parsers.
        if (BelizeMesh.Configuration.YamlDocuments.Load(text, out var failure) is not { } stream)
        {
            var problem = BelizeMesh.Configuration.YamlDocuments.Describe(failure, source, text);
            throw new YamlInputException(source, problem.Line, problem.Column, problem.Message);
        }

        var documents = new List<YamlJsonDocument>(stream.Documents.Count);
        foreach (YamlDocument document in stream.Documents)
        {
            YamlNode root = document.RootNode;
            if (root is YamlScalarNode { Style: ScalarStyle.Plain } scalar && IsNullLiteral(scalar.Value ?? ""))
            {
                continue; // an empty document ("---" followed by nothing)
            }

            documents.Add(new YamlJsonDocument(ToJson(root, source, 0), (int)root.Start.Line, (int)root.Start.Column));
        }

        return documents;
    }

    /// <summary>Converts one representation-model node.</summary>
    public static JsonNode? ToJson(YamlNode node, string source, int depth)
    {
        if (depth > 128)
        {
            throw new YamlInputException(source, node.Start.Line, node.Start.Column, "YAML nested deeper than 128 levels");
        }

        switch (node)
        {
            case YamlScalarNode scalar:
                return ScalarToJson(scalar, source);
            case YamlSequenceNode sequence:
                var array = new JsonArray();
                foreach (YamlNode child in sequence.Children)
                {
                    array.Add(ToJson(child, source, depth + 1));
                }

                return array;
            case YamlMappingNode mapping:
                var obj = new JsonObject();
                List<YamlNode>? merges = null;
                foreach (var (keyNode, valueNode) in mapping.Children)
                {
                    if (keyNode is not YamlScalarNode keyScalar)
                    {
                        throw new YamlInputException(source, keyNode.Start.Line, keyNode.Start.Column,
                            "mapping keys must be scalars (Kubernetes objects have string keys)");
                    }

                    string key = keyScalar.Value ?? "";
                    if (key == "<<" && keyScalar.Style == ScalarStyle.Plain)
                    {
                        (merges ??= []).Add(valueNode);
                        continue;
                    }

                    if (obj.ContainsKey(key))
                    {
                        throw new YamlInputException(source, keyNode.Start.Line, keyNode.Start.Column,
                            $"duplicate key '{key}': remove one of them");
                    }

                    obj[key] = ToJson(valueNode, source, depth + 1);
                }

                if (merges is not null)
                {
                    foreach (YamlNode merge in merges)
                    {
                        ApplyMerge(obj, merge, source, depth);
                    }
                }

                return obj;
            default:
                throw new YamlInputException(source, node.Start.Line, node.Start.Column, $"unsupported YAML node {node.NodeType}");
        }
    }

    private static void ApplyMerge(JsonObject target, YamlNode merge, string source, int depth)
    {
        IEnumerable<YamlNode> sources = merge is YamlSequenceNode seq ? seq.Children : [merge];
        foreach (YamlNode item in sources)
        {
            if (ToJson(item, source, depth + 1) is not JsonObject from)
            {
                throw new YamlInputException(source, item.Start.Line, item.Start.Column, "a merge key (<<) needs a mapping or a list of mappings");
            }

            foreach (var (key, value) in from.ToArray())
            {
                if (!target.ContainsKey(key))
                {
                    from.Remove(key);
                    target[key] = value;
                }
            }
        }
    }

    private static JsonNode? ScalarToJson(YamlScalarNode scalar, string source)
    {
        string value = scalar.Value ?? "";
        string tag = scalar.Tag.IsEmpty ? "" : scalar.Tag.Value;
        switch (tag)
        {
            case TagStr:
                return JsonValue.Create(value);
            case TagNull:
                return null;
            case TagBool:
            case TagInt:
            case TagFloat:
                JsonNode? typed = ResolvePlain(value);
                if (typed is null || typed.GetValueKind() == System.Text.Json.JsonValueKind.String)
                {
                    throw new YamlInputException(source, scalar.Start.Line, scalar.Start.Column,
                        $"'{value}' is not a valid {tag[(tag.LastIndexOf(':') + 1)..]}");
                }

                return typed;
            case "":
            case "!":
                break;
            default:
                return JsonValue.Create(value); // custom tags: keep the text
        }

        if (scalar.Style != ScalarStyle.Plain || tag == "!")
        {
            return JsonValue.Create(value);
        }

        return ResolvePlain(value);
    }

    /// <summary>Resolves a plain scalar by the YAML 1.2 core schema.</summary>
    internal static JsonNode? ResolvePlain(string value)
    {
        if (IsNullLiteral(value))
        {
            return null;
        }

        switch (value)
        {
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }

        if (value.Length == 0)
        {
            return JsonValue.Create(value);
        }

        char first = value[0];
        if (!(char.IsAsciiDigit(first) || first is '-' or '+' or '.'))
        {
            return JsonValue.Create(value);
        }

        if (IsDecimalInteger(value))
        {
            if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l))
            {
                return JsonValue.Create(l);
            }

            if (decimal.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out decimal big))
            {
                return JsonValue.Create(big);
            }
        }

        if (value.StartsWith("0x", StringComparison.Ordinal) && value.Length > 2
            && long.TryParse(value.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long hex))
        {
            return JsonValue.Create(hex);
        }

        if (value.StartsWith("0o", StringComparison.Ordinal) && value.Length > 2 && IsOctal(value.AsSpan(2)))
        {
            return JsonValue.Create(Convert.ToInt64(value[2..], 8));
        }

        if (IsFloat(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d))
        {
            return JsonValue.Create(d);
        }

        return JsonValue.Create(value);
    }

    internal static bool IsNullLiteral(string value) => value is "" or "~" or "null" or "Null" or "NULL";

    private static bool IsDecimalInteger(string value)
    {
        int i = value[0] is '-' or '+' ? 1 : 0;
        if (i == value.Length)
        {
            return false;
        }

        for (; i < value.Length; i++)
        {
            if (!char.IsAsciiDigit(value[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsOctal(ReadOnlySpan<char> digits)
    {
        foreach (char c in digits)
        {
            if (c is < '0' or > '7')
            {
                return false;
            }
        }

        return digits.Length is > 0 and <= 21;
    }

    /// <summary>YAML 1.2 core float: <c>[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?</c>.</summary>
    private static bool IsFloat(string value)
    {
        int i = 0;
        if (value[i] is '-' or '+')
        {
            i++;
        }

        int intDigits = 0;
        while (i < value.Length && char.IsAsciiDigit(value[i]))
        {
            i++;
            intDigits++;
        }

        int fracDigits = 0;
        if (i < value.Length && value[i] == '.')
        {
            i++;
            while (i < value.Length && char.IsAsciiDigit(value[i]))
            {
                i++;
                fracDigits++;
            }
        }

        if (intDigits == 0 && fracDigits == 0)
        {
            return false;
        }

        if (i < value.Length && value[i] is 'e' or 'E')
        {
            i++;
            if (i < value.Length && value[i] is '-' or '+')
            {
                i++;
            }

            int expDigits = 0;
            while (i < value.Length && char.IsAsciiDigit(value[i]))
            {
                i++;
                expDigits++;
            }

            if (expDigits == 0)
            {
                return false;
            }
        }

        return i == value.Length;
    }
}
