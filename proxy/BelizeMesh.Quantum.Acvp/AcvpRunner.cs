using System.Text.Json.Nodes;

namespace BelizeMesh.Quantum.Acvp;

/// <summary>
/// Runs an ACVP vector document (the layout of NIST's ACVP-Server JSON: <c>testGroups</c> → <c>tests</c>) through
/// BelizeMesh's primitives and fills in every output field. Expected-output fields in the input are never read:
/// handlers read only the inputs the algorithm needs and overwrite the outputs.
/// </summary>
/// <remarks>
/// Shape after Go's <c>fips140test/acvp_test.go</c>: one table maps (algorithm, mode) to a handler. The CLI
/// (<c>belizemesh pqc acvp</c>) and the xunit suite both call <see cref="Run"/>.
/// </remarks>
public static partial class AcvpRunner
{
    /// <summary>Fills the outputs of one test case. <paramref name="group"/> carries the group parameters.</summary>
    internal delegate void CaseHandler(JsonObject group, JsonObject test);

    private static readonly Dictionary<(string Algorithm, string Mode), CaseHandler> s_handlers = CreateHandlers();

    private static Dictionary<(string, string), CaseHandler> CreateHandlers()
    {
        var handlers = new Dictionary<(string, string), CaseHandler>();
        RegisterMLKem(handlers);
        RegisterMLDsa(handlers);
        return handlers;
    }

    static partial void RegisterMLKem(Dictionary<(string, string), CaseHandler> handlers);

    static partial void RegisterMLDsa(Dictionary<(string, string), CaseHandler> handlers);

    /// <summary>The (algorithm, mode) pairs this runner computes, e.g. (<c>ML-KEM</c>, <c>encapDecap</c>).</summary>
    public static IEnumerable<(string Algorithm, string Mode)> Supported => s_handlers.Keys;

    /// <summary>
    /// Computes every output of <paramref name="document"/> in place and returns it. A case that cannot be computed
    /// (for example an unsupported pre-hash) gets <c>"unsupported": "&lt;reason&gt;"</c> instead of outputs.
    /// </summary>
    /// <exception cref="AcvpFormatException">The document is not an ACVP vector set this runner knows.</exception>
    public static JsonNode Run(JsonNode document)
    {
        if (document is not JsonObject root)
        {
            throw new AcvpFormatException("the document is not a JSON object");
        }

        string algorithm = RequireString(root, "algorithm", "the document");
        string mode = RequireString(root, "mode", "the document");
        if (!s_handlers.TryGetValue((algorithm, mode), out var handler))
        {
            string known = string.Join(", ", s_handlers.Keys.Select(k => $"{k.Item1}/{k.Item2}").Order());
            throw new AcvpFormatException($"unsupported algorithm/mode \"{algorithm}/{mode}\" (supported: {known})");
        }

        if (root["testGroups"] is not JsonArray groups)
        {
            throw new AcvpFormatException("\"testGroups\" is missing or not an array");
        }

        foreach (var groupNode in groups)
        {
            if (groupNode is not JsonObject group || group["tests"] is not JsonArray tests)
            {
                throw new AcvpFormatException("a test group is not an object with a \"tests\" array");
            }

            foreach (var testNode in tests)
            {
                if (testNode is not JsonObject test)
                {
                    throw new AcvpFormatException($"a test in group {group["tgId"]} is not an object");
                }

                try
                {
                    handler(group, test);
                }
                catch (AcvpUnsupportedException e)
                {
                    test["unsupported"] = e.Message;
                }
                catch (AcvpFormatException e)
                {
                    throw new AcvpFormatException($"group {group["tgId"]}, test {test["tcId"]}: {e.Message}");
                }
            }
        }

        return root;
    }

    internal static string RequireString(JsonObject node, string name, string where) =>
        node[name] is JsonValue v && v.TryGetValue(out string? s)
            ? s
            : throw new AcvpFormatException($"{where} has no string field \"{name}\"");

    internal static bool RequireBool(JsonObject node, string name, string where) =>
        node[name] is JsonValue v && v.TryGetValue(out bool b)
            ? b
            : throw new AcvpFormatException($"{where} has no boolean field \"{name}\"");

    /// <summary>Reads a hex byte-string field (ACVP writes uppercase hex; <c>""</c> is zero length).</summary>
    internal static byte[] RequireHex(JsonObject node, string name, string where)
    {
        string s = RequireString(node, name, where);
        try
        {
            return Convert.FromHexString(s);
        }
        catch (FormatException)
        {
            throw new AcvpFormatException($"{where}: field \"{name}\" is not a hex string");
        }
    }

    /// <summary>Writes a byte string as uppercase hex.</summary>
    internal static void SetHex(JsonObject node, string name, ReadOnlySpan<byte> value) => node[name] = Convert.ToHexString(value);
}

/// <summary>The vector document is malformed or of a kind the runner does not know.</summary>
public sealed class AcvpFormatException(string message) : Exception(message);

/// <summary>One case asks for something the implementation deliberately does not provide (reported per case).</summary>
public sealed class AcvpUnsupportedException(string message) : Exception(message);
