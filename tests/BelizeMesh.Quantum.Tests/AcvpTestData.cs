using System.Text.Json.Nodes;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Quantum.Tests;

/// <summary>
/// Loads the ACVP vector files of <c>shared/vectors</c> and cuts them into single-case documents with the expected
/// outputs removed, so each case runs through <see cref="Acvp.AcvpRunner.Run"/> exactly as the CLI runs a file.
/// </summary>
internal static class AcvpTestData
{
    private static readonly Dictionary<string, JsonObject> s_files = [];

    /// <summary>A fresh copy of a vector file (parsed once per test run).</summary>
    public static JsonObject Load(string file)
    {
        lock (s_files)
        {
            return (JsonObject)Cached(file).DeepClone();
        }
    }

    /// <summary>
    /// One case cut out of a vector file: a document with only that case, the fields in <paramref name="strip"/>
    /// removed (see <see cref="SingleCase"/>), and a copy of the original test with its expected values.
    /// </summary>
    public static (JsonObject Document, JsonObject Expected) PrepareCase(string file, int tgId, int tcId, Func<JsonObject, IEnumerable<string>> strip)
    {
        lock (s_files)
        {
            var document = Cached(file);
            var (group, test) = Find(document, tgId, tcId);
            return (SingleCase(document, group, test, strip(group)), (JsonObject)test.DeepClone());
        }
    }

    private static JsonObject Cached(string file)
    {
        if (!s_files.TryGetValue(file, out var parsed))
        {
            string path = RepoPaths.SharedFile("vectors", file);
            parsed = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
            s_files[file] = parsed;
        }

        return parsed;
    }

    /// <summary>Every (group, test) pair of a document.</summary>
    public static IEnumerable<(JsonObject Group, JsonObject Test)> Cases(JsonObject document)
    {
        foreach (var group in document["testGroups"]!.AsArray())
        {
            foreach (var test in group!["tests"]!.AsArray())
            {
                yield return ((JsonObject)group, (JsonObject)test!);
            }
        }
    }

    /// <summary>Finds one case by its group and test ids.</summary>
    public static (JsonObject Group, JsonObject Test) Find(JsonObject document, int tgId, int tcId)
    {
        foreach (var (group, test) in Cases(document))
        {
            if ((int)group["tgId"]! == tgId && (int)test["tcId"]! == tcId)
            {
                return (group, test);
            }
        }

        throw new InvalidOperationException($"no case tg{tgId}/tc{tcId}");
    }

    /// <summary>
    /// A document holding only the given case, with the named fields removed from the test: the same top-level
    /// and group fields as the source file.
    /// </summary>
    public static JsonObject SingleCase(JsonObject document, JsonObject group, JsonObject test, IEnumerable<string> strip)
    {
        var copy = new JsonObject();
        foreach (var (name, value) in document)
        {
            if (name != "testGroups")
            {
                copy[name] = value?.DeepClone();
            }
        }

        var groupCopy = new JsonObject();
        foreach (var (name, value) in group)
        {
            if (name != "tests")
            {
                groupCopy[name] = value?.DeepClone();
            }
        }

        var testCopy = (JsonObject)test.DeepClone();
        foreach (string name in strip)
        {
            testCopy.Remove(name);
        }

        groupCopy["tests"] = new JsonArray(testCopy);
        copy["testGroups"] = new JsonArray(groupCopy);
        return copy;
    }
}
