using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace BelizeMesh.TestSupport.Schemas;

/// <summary>
/// A JSON Schema validator for the two dialects the project's test data uses: Kubernetes' OpenAPI v3 structural
/// schemas in CRDs (Istio's) and the draft-04 JSON Schemas generated from the Kubernetes OpenAPI spec.
/// </summary>
/// <remarks>
/// Written because JsonSchema.Net cannot be restored here. Keywords: type (string or array), properties, required,
/// additionalProperties (bool or schema), items, enum, const, oneOf, anyOf, allOf, not, minimum, maximum,
/// exclusiveMinimum/Maximum (draft-04 booleans), minLength, maxLength, pattern, minItems, maxItems, uniqueItems,
/// minProperties, maxProperties, format (int32, int64, byte, date-time), nullable,
/// x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields. Not evaluated: x-kubernetes-validations (CEL
/// rules), x-kubernetes-list-type/map-keys uniqueness, $ref (the schemas here are standalone).
/// An object schema with <c>properties</c> and no <c>additionalProperties</c> rejects unknown fields unless it
/// preserves unknown fields: the API server would prune them silently, which for generated output is a bug.
/// </remarks>
public static class JsonSchemaValidator
{
    private static readonly Dictionary<string, Regex> s_patterns = new(StringComparer.Ordinal);

    /// <summary>Validates <paramref name="instance"/>; returns every error as "path: message", empty when valid.</summary>
    public static IReadOnlyList<string> Validate(JsonNode schema, JsonNode? instance)
    {
        var errors = new List<string>();
        Check(schema, instance, "$", errors);
        return errors;
    }

    private static void Check(JsonNode? schemaNode, JsonNode? value, string path, List<string> errors)
    {
        if (schemaNode is null)
        {
            return;
        }

        if (schemaNode is JsonValue boolSchema && boolSchema.TryGetValue(out bool allow))
        {
            if (!allow)
            {
                errors.Add($"{path}: no value is allowed here");
            }

            return;
        }

        if (schemaNode is not JsonObject schema)
        {
            throw new ArgumentException($"schema at {path} is not an object");
        }

        if (value is null)
        {
            if (Bool(schema, "nullable") || TypeAllows(schema, "null") || schema["type"] is null)
            {
                return;
            }

            errors.Add($"{path}: null is not allowed (expected {Describe(schema["type"])})");
            return;
        }

        bool intOrString = Bool(schema, "x-kubernetes-int-or-string");
        if (intOrString)
        {
            if (!(IsKind(value, JsonValueKind.String) || IsInteger(value)))
            {
                errors.Add($"{path}: expected an integer or a string, got {KindName(value)}");
                return;
            }
        }
        else if (schema["type"] is JsonNode typeNode && !MatchesType(typeNode, value))
        {
            errors.Add($"{path}: expected {Describe(typeNode)}, got {KindName(value)}");
            return;
        }

        CheckEnum(schema, value, path, errors);
        CheckCombinators(schema, value, path, errors);

        switch (value)
        {
            case JsonObject obj:
                CheckObject(schema, obj, path, errors);
                break;
            case JsonArray array:
                CheckArray(schema, array, path, errors);
                break;
            case JsonValue scalar:
                CheckScalar(schema, scalar, path, errors);
                break;
        }
    }

    private static void CheckEnum(JsonObject schema, JsonNode value, string path, List<string> errors)
    {
        if (schema["enum"] is JsonArray options)
        {
            foreach (var option in options)
            {
                if (JsonNode.DeepEquals(option, value))
                {
                    return;
                }
            }

            errors.Add($"{path}: {value.ToJsonString()} is not one of {options.ToJsonString()}");
        }

        if (schema.TryGetPropertyValue("const", out var constant) && !JsonNode.DeepEquals(constant, value))
        {
            errors.Add($"{path}: expected {constant?.ToJsonString() ?? "null"}");
        }
    }

    private static void CheckCombinators(JsonObject schema, JsonNode value, string path, List<string> errors)
    {
        if (schema["allOf"] is JsonArray allOf)
        {
            foreach (var sub in allOf)
            {
                Check(sub, value, path, errors);
            }
        }

        if (schema["anyOf"] is JsonArray anyOf)
        {
            bool any = false;
            foreach (var sub in anyOf)
            {
                if (Validate(sub!, value).Count == 0)
                {
                    any = true;
                    break;
                }
            }

            if (!any)
            {
                errors.Add($"{path}: matches none of the anyOf alternatives");
            }
        }

        if (schema["oneOf"] is JsonArray oneOf)
        {
            int matches = 0;
            List<string>? firstErrors = null;
            foreach (var sub in oneOf)
            {
                var subErrors = Validate(sub!, value);
                if (subErrors.Count == 0)
                {
                    matches++;
                }
                else
                {
                    firstErrors ??= [.. subErrors];
                }
            }

            if (matches != 1)
            {
                string detail = matches == 0 && firstErrors is { Count: > 0 } ? $" (first alternative: {firstErrors[0]})" : "";
                errors.Add($"{path}: must match exactly one oneOf alternative, matches {matches}{detail}");
            }
        }

        if (schema["not"] is JsonNode not && Validate(not, value).Count == 0)
        {
            errors.Add($"{path}: matches a schema it must not match ({not.ToJsonString()})");
        }
    }

    private static void CheckObject(JsonObject schema, JsonObject obj, string path, List<string> errors)
    {
        if (schema["required"] is JsonArray required)
        {
            foreach (var name in required)
            {
                string key = name!.GetValue<string>();
                if (!obj.ContainsKey(key))
                {
                    errors.Add($"{path}: required field \"{key}\" is missing");
                }
            }
        }

        if (schema["minProperties"] is JsonNode minP && obj.Count < (int)Number(minP))
        {
            errors.Add($"{path}: has {obj.Count} fields, at least {minP} required");
        }

        if (schema["maxProperties"] is JsonNode maxP && obj.Count > (int)Number(maxP))
        {
            errors.Add($"{path}: has {obj.Count} fields, at most {maxP} allowed");
        }

        var properties = schema["properties"] as JsonObject;
        bool preserveUnknown = Bool(schema, "x-kubernetes-preserve-unknown-fields");
        schema.TryGetPropertyValue("additionalProperties", out var additional);

        foreach (var (key, child) in obj)
        {
            string childPath = $"{path}.{key}";
            if (properties is not null && properties.TryGetPropertyValue(key, out var propertySchema))
            {
                Check(propertySchema, child, childPath, errors);
            }
            else if (additional is JsonObject additionalSchema)
            {
                Check(additionalSchema, child, childPath, errors);
            }
            else if (additional is JsonValue additionalBool && additionalBool.TryGetValue(out bool allowed))
            {
                if (!allowed)
                {
                    errors.Add($"{childPath}: unknown field \"{key}\"");
                }
            }
            else if (properties is not null && !preserveUnknown)
            {
                errors.Add($"{childPath}: unknown field \"{key}\"");
            }
        }
    }

    private static void CheckArray(JsonObject schema, JsonArray array, string path, List<string> errors)
    {
        if (schema["minItems"] is JsonNode min && array.Count < (int)Number(min))
        {
            errors.Add($"{path}: has {array.Count} items, at least {min} required");
        }

        if (schema["maxItems"] is JsonNode max && array.Count > (int)Number(max))
        {
            errors.Add($"{path}: has {array.Count} items, at most {max} allowed");
        }

        if (Bool(schema, "uniqueItems"))
        {
            for (int i = 0; i < array.Count; i++)
            {
                for (int j = i + 1; j < array.Count; j++)
                {
                    if (JsonNode.DeepEquals(array[i], array[j]))
                    {
                        errors.Add($"{path}: items {i} and {j} are equal but must be unique");
                    }
                }
            }
        }

        if (schema["items"] is JsonNode items)
        {
            for (int i = 0; i < array.Count; i++)
            {
                Check(items, array[i], $"{path}[{i}]", errors);
            }
        }
    }

    private static void CheckScalar(JsonObject schema, JsonValue scalar, string path, List<string> errors)
    {
        if (scalar.TryGetValue(out string? text))
        {
            int length = new StringInfoLength(text).Length;
            if (schema["minLength"] is JsonNode minL && length < (int)Number(minL))
            {
                errors.Add($"{path}: \"{text}\" is shorter than {minL}");
            }

            if (schema["maxLength"] is JsonNode maxL && length > (int)Number(maxL))
            {
                errors.Add($"{path}: string of length {length} is longer than {maxL}");
            }

            if (schema["pattern"] is JsonNode pattern && !Pattern(pattern.GetValue<string>()).IsMatch(text))
            {
                errors.Add($"{path}: \"{text}\" does not match pattern {pattern}");
            }

            if (schema["format"] is JsonNode format)
            {
                CheckStringFormat(format.GetValue<string>(), text, path, errors);
            }

            return;
        }

        if (scalar.GetValueKind() == JsonValueKind.Number)
        {
            double number = Number(scalar);
            if (schema["minimum"] is JsonNode minimum)
            {
                double m = Number(minimum);
                bool exclusive = Bool(schema, "exclusiveMinimum");
                if (number < m || (exclusive && number == m))
                {
                    errors.Add($"{path}: {number.ToString(CultureInfo.InvariantCulture)} is below the minimum {m.ToString(CultureInfo.InvariantCulture)}");
                }
            }

            if (schema["maximum"] is JsonNode maximum)
            {
                double m = Number(maximum);
                bool exclusive = Bool(schema, "exclusiveMaximum");
                if (number > m || (exclusive && number == m))
                {
                    errors.Add($"{path}: {number.ToString(CultureInfo.InvariantCulture)} is above the maximum {m.ToString(CultureInfo.InvariantCulture)}");
                }
            }

            if (schema["format"] is JsonNode format)
            {
                string f = format.GetValue<string>();
                if (f == "int32" && (number < int.MinValue || number > int.MaxValue))
                {
                    errors.Add($"{path}: {number} does not fit int32");
                }
            }
        }
    }

    private static void CheckStringFormat(string format, string text, string path, List<string> errors)
    {
        switch (format)
        {
            case "byte":
                try
                {
                    _ = Convert.FromBase64String(text);
                }
                catch (FormatException)
                {
                    errors.Add($"{path}: not base64 (format byte)");
                }

                break;
            case "date-time":
                if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _))
                {
                    errors.Add($"{path}: \"{text}\" is not an RFC 3339 date-time");
                }

                break;
        }
    }

    private static Regex Pattern(string pattern)
    {
        lock (s_patterns)
        {
            if (!s_patterns.TryGetValue(pattern, out var regex))
            {
                regex = new Regex(pattern, RegexOptions.ECMAScript | RegexOptions.CultureInvariant);
                s_patterns[pattern] = regex;
            }

            return regex;
        }
    }

    private static bool MatchesType(JsonNode typeNode, JsonNode value)
    {
        if (typeNode is JsonArray types)
        {
            foreach (var t in types)
            {
                if (MatchesSingleType(t!.GetValue<string>(), value))
                {
                    return true;
                }
            }

            return false;
        }

        return MatchesSingleType(typeNode.GetValue<string>(), value);
    }

    private static bool MatchesSingleType(string type, JsonNode value) => type switch
    {
        "object" => value is JsonObject,
        "array" => value is JsonArray,
        "string" => IsKind(value, JsonValueKind.String),
        "boolean" => IsKind(value, JsonValueKind.True) || IsKind(value, JsonValueKind.False),
        "integer" => IsInteger(value),
        "number" => IsKind(value, JsonValueKind.Number),
        "null" => false,
        _ => throw new ArgumentException($"unknown schema type \"{type}\""),
    };

    private static bool TypeAllows(JsonObject schema, string type) => schema["type"] switch
    {
        JsonArray types => types.Any(t => t!.GetValue<string>() == type),
        JsonValue v => v.GetValue<string>() == type,
        _ => false,
    };

    private static bool IsKind(JsonNode value, JsonValueKind kind) => value is JsonValue v && v.GetValueKind() == kind;

    private static bool IsInteger(JsonNode value) =>
        value is JsonValue v && v.GetValueKind() == JsonValueKind.Number && Math.Floor(Number(v)) == Number(v);

    /// <summary>A JSON number as double, whatever CLR type the node was built from (long from YAML, double from JSON).</summary>
    private static double Number(JsonNode node) => double.Parse(node.ToJsonString(), CultureInfo.InvariantCulture);

    private static bool Bool(JsonObject schema, string name) => schema[name] is JsonValue v && v.TryGetValue(out bool b) && b;

    private static string KindName(JsonNode value) => value switch
    {
        JsonObject => "an object",
        JsonArray => "an array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => $"the string \"{v}\"",
            JsonValueKind.Number => $"the number {v.ToJsonString()}",
            JsonValueKind.True or JsonValueKind.False => $"the boolean {v.ToJsonString()}",
            _ => v.ToJsonString(),
        },
        _ => "null",
    };

    private static string Describe(JsonNode? typeNode) => typeNode switch
    {
        JsonArray types => string.Join(" or ", types.Select(t => t!.GetValue<string>())),
        JsonValue v => v.GetValue<string>(),
        _ => "a value",
    };

    /// <summary>String length in Unicode code points, as JSON Schema counts it.</summary>
    private readonly struct StringInfoLength(string text)
    {
        public int Length { get; } = CountCodePoints(text);

        private static int CountCodePoints(string s)
        {
            int n = 0;
            for (int i = 0; i < s.Length; i++)
            {
                if (!char.IsLowSurrogate(s[i]))
                {
                    n++;
                }
            }

            return n;
        }
    }
}
