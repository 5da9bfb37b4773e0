using System.Text;
using BelizeMesh.Mesh.Analysis;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Parsing;

namespace BelizeMesh.Cli.Commands;

/// <summary>
/// <c>belizemesh emit</c>: parse (bad input → exit 2), generate, analyze (an error finding → exit 1; warnings are
/// printed to stderr and do not stop it), then write stdout or the <c>--out</c> files. Everything is built in memory
/// first, so a failure writes nothing.
/// </summary>
internal static class MeshEmitCommand
{
    public static int Run(FileInfo meshFile, DirectoryInfo? outDir, IstioApiVersion version, TextWriter stdout, TextWriter stderr,
        string injectorNamespace = MeshEmitter.InjectorNamespace)
    {
        var parsed = MeshParser.ParseFile(meshFile.ToString());
        if (parsed.Mesh is not { } mesh)
        {
            MeshCliOutput.WriteParseErrors(stderr, "emit", meshFile.ToString(), parsed.Errors);
            return Program.ExitBadInput;
        }

        var resources = MeshEmitter.Emit(mesh, version);
        if (injectorNamespace != MeshEmitter.InjectorNamespace)
        {
            resources = MeshEmitter.MoveInjectorExclusions(resources, injectorNamespace);
        }
        var findings = MeshAnalyzer.Analyze(mesh, resources);
        foreach (var finding in findings)
        {
            if (finding.Severity != FindingSeverity.Info)
            {
                stderr.WriteLine(finding.ToString());
            }
        }

        int errors = MeshAnalyzer.CountErrors(findings);
        if (errors > 0)
        {
            stderr.WriteLine($"belizemesh emit: {errors} error(s) in {meshFile}; nothing written (belizemesh analyze --mesh {meshFile} lists every finding)");
            return 1;
        }

        if (outDir is null)
        {
            stdout.Write(MeshEmitter.ToYaml(resources));
            return 0;
        }

        return WriteFiles(outDir, resources, stderr);
    }

    private static int WriteFiles(DirectoryInfo outDir, IReadOnlyList<EmittedResource> resources, TextWriter stderr)
    {
        // Group by kind in memory first; then write each file through a temporary name and rename it into place.
        var byKind = new SortedDictionary<ResourceKind, List<EmittedResource>>();
        foreach (var r in resources)
        {
            if (!byKind.TryGetValue(r.Kind, out var list))
            {
                byKind[r.Kind] = list = [];
            }

            list.Add(r);
        }

        var files = new List<(string Path, string Content)>();
        foreach (var kind in Enum.GetValues<ResourceKind>())
        {
            string path = Path.Combine(outDir.FullName, ResourceKinds.FileName(kind));
            files.Add((path, byKind.TryGetValue(kind, out var list) ? MeshEmitter.ToYaml(list) : ""));
        }

        try
        {
            Directory.CreateDirectory(outDir.FullName);
            var written = new List<string>();
            foreach (var (path, content) in files)
            {
                if (content.Length == 0)
                {
                    continue;
                }

                string temp = path + ".tmp";
                File.WriteAllText(temp, content, new UTF8Encoding(false));
                written.Add(temp);
            }

            foreach (var (path, content) in files)
            {
                if (content.Length == 0)
                {
                    // A kind this mesh no longer produces: drop the stale file so `kubectl apply -f DIR` does not resurrect it.
                    File.Delete(path);
                    continue;
                }

                File.Move(path + ".tmp", path, overwrite: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            foreach (var (path, _) in files)
            {
                TryDelete(path + ".tmp");
            }

            stderr.WriteLine($"belizemesh emit: cannot write to {outDir.FullName}: {e.Message}");
            return Program.ExitBadInput;
        }

        return 0;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: the temporary file is left behind and reported by the caller's message.
        }
    }
}
