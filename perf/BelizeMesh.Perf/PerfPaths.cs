namespace BelizeMesh.Perf;

/// <summary>Where the harness finds the repository it belongs to.</summary>
internal static class PerfPaths
{
    /// <summary>The folder holding <c>BelizeMesh.sln</c>, above the working directory or the harness binary; null
    /// when run from elsewhere (a copied binary).</summary>
    public static string? RepositoryRoot()
    {
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (DirectoryInfo? directory = new(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "BelizeMesh.sln")))
                {
                    return directory.FullName;
                }
            }
        }

        return null;
    }
}
