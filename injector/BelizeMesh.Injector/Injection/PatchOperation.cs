using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BelizeMesh.Injector.Injection;

/// <summary>One RFC 6902 operation. The injector only ever emits <c>add</c> and <c>replace</c>.</summary>
internal sealed record PatchOperation(string Op, string Path, JsonNode? Value)
{
    public static PatchOperation Add(string path, JsonNode? value) => new("add", path, value);

    public static PatchOperation Replace(string path, JsonNode? value) => new("replace", path, value);
}

/// <summary>JSON Pointer (RFC 6901) building and the serialized form of a patch.</summary>
internal static class JsonPatch
{
    /// <summary>Escapes one reference token: <c>~</c> → <c>~0</c> first, then <c>/</c> → <c>~1</c> (RFC 6901 §3).</summary>
    public static string EscapeToken(string token)
    {
        if (token.AsSpan().IndexOfAny('~', '/') < 0)
        {
            return token;
        }

        return token.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
    }

    /// <summary>Reverses <see cref="EscapeToken"/>: <c>~1</c> → <c>/</c> first, then <c>~0</c> → <c>~</c>.</summary>
    public static string UnescapeToken(string token)
    {
        if (!token.Contains('~', StringComparison.Ordinal))
        {
            return token;
        }

        return token.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
    }

    /// <summary>Writes the patch as a JSON array into <paramref name="buffer"/>.</summary>
    public static void Write(IReadOnlyList<PatchOperation> patch, IBufferWriter<byte> buffer)
    {
        using var writer = new Utf8JsonWriter(buffer);
        writer.WriteStartArray();
        foreach (PatchOperation op in patch)
        {
            writer.WriteStartObject();
            writer.WriteString("op"u8, op.Op);
            writer.WriteString("path"u8, op.Path);
            writer.WritePropertyName("value"u8);
            if (op.Value is null)
            {
                writer.WriteNullValue();
            }
            else
            {
                op.Value.WriteTo(writer);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }

    /// <summary>The patch as UTF-8 JSON bytes.</summary>
    public static byte[] ToUtf8(IReadOnlyList<PatchOperation> patch)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        Write(patch, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The patch as a JSON string (tests, logs).</summary>
    public static string ToJson(IReadOnlyList<PatchOperation> patch) => Encoding.UTF8.GetString(ToUtf8(patch));

    /// <summary>
    /// Applies a patch made of <c>add</c> and <c>replace</c> operations to <paramref name="document"/> in place (the
    /// offline <c>inject</c> path, so it runs exactly the patch the webhook would send).
    /// </summary>
    public static void Apply(JsonNode document, IReadOnlyList<PatchOperation> patch)
    {
        foreach (PatchOperation op in patch)
        {
            if (op.Op is not ("add" or "replace"))
            {
                throw new InvalidOperationException($"unsupported patch operation '{op.Op}'");
            }

            int slash = op.Path.LastIndexOf('/');
            if (slash < 0)
            {
                throw new InvalidOperationException($"patch path '{op.Path}' is not a JSON Pointer");
            }

            JsonNode parent = Resolve(document, op.Path[..slash]);
            string last = UnescapeToken(op.Path[(slash + 1)..]);
            JsonNode? value = op.Value?.DeepClone();
            switch (parent)
            {
                case JsonObject obj:
                    if (op.Op == "replace" && !obj.ContainsKey(last))
                    {
                        throw new InvalidOperationException($"replace target '{op.Path}' does not exist");
                    }

                    obj[last] = value;
                    break;
                case JsonArray array:
                    if (last == "-" && op.Op == "add")
                    {
                        array.Add(value);
                    }
                    else if (int.TryParse(last, out int index) && index >= 0 && index <= array.Count)
                    {
                        if (op.Op == "add")
                        {
                            array.Insert(index, value);
                        }
                        else
                        {
                            array[index] = value;
                        }
                    }
                    else
                    {
                        throw new InvalidOperationException($"array index '{last}' out of range in '{op.Path}'");
                    }

                    break;
                default:
                    throw new InvalidOperationException($"patch path '{op.Path}' does not end in an object or array");
            }
        }
    }

    private static JsonNode Resolve(JsonNode document, string pointer)
    {
        JsonNode current = document;
        if (pointer.Length == 0)
        {
            return current;
        }

        foreach (string raw in pointer[1..].Split('/'))
        {
            string token = UnescapeToken(raw);
            JsonNode? next = current switch
            {
                JsonObject obj => obj[token],
                JsonArray array when int.TryParse(token, out int i) && i >= 0 && i < array.Count => array[i],
                _ => null,
            };
            current = next ?? throw new InvalidOperationException($"patch path '{pointer}' does not exist (at '{token}')");
        }

        return current;
    }
}
