using BelizeMesh.TestSupport;

namespace BelizeMesh.Mesh.Tests;

/// <summary>
/// Golden files (the istio injector's pattern): compare, fail with the first differing line, and rewrite only when
/// asked with <c>REFRESH_GOLDEN=1</c>. Inputs are discovered, never listed, and a golden file without an input fails.
/// </summary>
internal static class Golden
{
    public static bool Refresh => Environment.GetEnvironmentVariable("REFRESH_GOLDEN") == "1";

    public static string TestData(params string[] parts) =>
        RepoPaths.RepoFile(["tests", "BelizeMesh.Mesh.Tests", "testdata", .. parts]);

    public static void AssertMatches(string goldenPath, string actual)
    {
        actual = actual.Replace("\r\n", "\n", StringComparison.Ordinal);
        if (Refresh)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(goldenPath)!);
            File.WriteAllText(goldenPath, actual);
            return;
        }

        Assert.True(File.Exists(goldenPath), $"golden file {goldenPath} is missing; create it with REFRESH_GOLDEN=1 dotnet test tests/BelizeMesh.Mesh.Tests and review the diff");
        string expected = File.ReadAllText(goldenPath).Replace("\r\n", "\n", StringComparison.Ordinal);
        if (expected == actual)
        {
            return;
        }

        var e = expected.Split('\n');
        var a = actual.Split('\n');
        int line = 0;
        while (line < e.Length && line < a.Length && e[line] == a[line])
        {
            line++;
        }

        string want = line < e.Length ? e[line] : "<end of file>";
        string got = line < a.Length ? a[line] : "<end of file>";
        Assert.Fail($"{goldenPath} is stale at line {line + 1}:\n  expected: {want}\n  actual:   {got}\nIf the change is intended, run REFRESH_GOLDEN=1 dotnet test tests/BelizeMesh.Mesh.Tests and review the diff.");
    }

    /// <summary>The example meshes: every <c>examples/*/mesh.yaml</c>.</summary>
    public static IEnumerable<string> Examples()
    {
        foreach (var dir in Directory.GetDirectories(RepoPaths.RepoFile("examples")).Order(StringComparer.Ordinal))
        {
            if (File.Exists(Path.Combine(dir, "mesh.yaml")))
            {
                yield return Path.GetFileName(dir);
            }
        }
    }

    /// <summary>The cases of one testdata folder: every <c>*.yaml</c> input, by name without extension.</summary>
    public static IEnumerable<string> Cases(string folder)
    {
        foreach (var file in Directory.GetFiles(TestData(folder), "*.yaml").Order(StringComparer.Ordinal))
        {
            yield return Path.GetFileNameWithoutExtension(file);
        }
    }
}
