namespace BelizeMesh.TestSupport;

/// <summary>Locates the repository and the shared material (<c>../shared/</c>) from a test's working directory.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> s_root = new(FindRoot);

    /// <summary>The repository root (the folder holding <c>BelizeMesh.sln</c>).</summary>
    public static string Root => s_root.Value;

    /// <summary>The shared folder beside the repository (DESIGN.md, vectors/, istio-crds/, k8s-schemas/), or the
    /// copy under <c>tests/data/shared</c> when one exists. Override with <c>BELIZEMESH_SHARED</c>.</summary>
    public static string Shared
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("BELIZEMESH_SHARED");
            if (!string.IsNullOrEmpty(env))
            {
                return env;
            }

            string sibling = Path.GetFullPath(Path.Combine(Root, "..", "shared"));
            if (Directory.Exists(sibling))
            {
                return sibling;
            }

            return Path.Combine(Root, "tests", "data", "shared");
        }
    }

    /// <summary>A path inside the shared folder.</summary>
    public static string SharedFile(params string[] parts) => Path.Combine([Shared, .. parts]);

    /// <summary>A path inside the repository.</summary>
    public static string RepoFile(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BelizeMesh.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"BelizeMesh.sln not found above {AppContext.BaseDirectory}");
    }
}
