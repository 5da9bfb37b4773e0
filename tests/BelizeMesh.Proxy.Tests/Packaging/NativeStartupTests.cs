using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using BelizeMesh.Proxy.Tests.EndToEnd;

namespace BelizeMesh.Proxy.Tests.Packaging;

/// <summary>
/// The native AOT executable's start-up (perf/README.md, "footprint, round 11"), checked on the binary itself. Runs when
/// <c>BELIZEMESH_PROXY_NATIVE</c> names a published <c>belizemesh-proxy</c> (CI sets it after its AOT publish).
/// <list type="bullet">
/// <item>The prefault (<c>proxy/BelizeMesh.Proxy/Native/startup_prefault.c</c>): before the runtime rebuilds its type data,
/// the executable's zero-filled tail is filled in one call and its 2 MiB-aligned part asked for a transparent huge page;
/// <c>BELIZEMESH_PREFAULT=0</c> turns it off and <c>nohuge</c> keeps 4 KiB pages.</item>
/// <item>OpenSSL: nothing before <c>/healthz/ready</c> loads libcrypto; <c>CryptoWarmUp</c> loads it a little after.</item>
/// <item>The garbage collector's young-generation budget baked into the binary: no collection before ready.</item>
/// <item>The young generation's first region prepared before start-up allocates (<c>YoungGenerationPrefault</c>): a huge page.</item>
/// </list>
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class NativeStartupTests : IDisposable
{
    private const string ThpSetting = "/sys/kernel/mm/transparent_hugepage/enabled";

    private readonly string _dir = Directory.CreateTempSubdirectory("bm-native-start-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string? Binary => Environment.GetEnvironmentVariable("BELIZEMESH_PROXY_NATIVE") is { Length: > 0 } path && File.Exists(path) ? path : null;

    private sealed class NativeFactAttribute : FactAttribute
    {
        public NativeFactAttribute()
        {
            if (Binary is null || !OperatingSystem.IsLinux())
            {
                Skip = "set BELIZEMESH_PROXY_NATIVE to a published native belizemesh-proxy (Linux) to run the AOT binary's start-up checks";
            }
        }
    }

    private sealed class NativeHugePageFactAttribute : FactAttribute
    {
        public NativeHugePageFactAttribute()
        {
            if (Binary is null)
            {
                Skip = "set BELIZEMESH_PROXY_NATIVE to a published native belizemesh-proxy to run the AOT binary's start-up checks";
            }
            else if (ThpMode() is not ("madvise" or "always"))
            {
                Skip = $"transparent huge pages are off on this machine ({ThpSetting}): nothing to observe";
            }
        }
    }

    [NativeFact]
    public async Task OpenSsl_is_not_loaded_when_the_sidecar_answers_ready_and_is_loaded_right_after()
    {
        string certs = WriteCertificates();

        // The warm-up waits 3 s here (BELIZEMESH_CRYPTO_WARMUP_MS), not the 300 ms it ships with: the first CI run of this
        // test (the first of its process there, ~0.9 s in all against ~0.5 s here) saw libcrypto at ready, and a 300 ms
        // window cannot tell a slow test machine from a load before ready. Maps read within 3 s of exec were read
        // before the warm-up could have run, whenever the sidecar became ready. Output goes to a file the messages show.
        for (int attempt = 0; ; attempt++)
        {
            await using ReadySidecar sidecar = await StartReadySidecarAsync(certs, WarmUpVariable, WarmUpMilliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
            bool loadedAtReady = MapsLibcrypto(sidecar.Process.Id);
            TimeSpan readAfter = sidecar.SinceExec.Elapsed;
            if (readAfter >= TimeSpan.FromMilliseconds(WarmUpMilliseconds))
            {
                // Read too late to prove anything either way (a very slow machine): start again, three times at most.
                Assert.True(attempt < 3, $"the test read the sidecar's maps {readAfter.TotalMilliseconds:0} ms after exec, past the {WarmUpMilliseconds} ms warm-up, in 4 starts: this machine is too slow for the check");
                continue;
            }

            Assert.False(loadedAtReady, $"libcrypto was mapped when the sidecar answered ready ({sidecar.ReadyAfter.TotalMilliseconds:0} ms after exec, maps read at {readAfter.TotalMilliseconds:0} ms; the warm-up waits {WarmUpMilliseconds} ms after ready): something on the start path loads OpenSSL (find it with gdb: perf/results/20261205-session16/gdbssl)\n{sidecar.Log()}");
            while (!MapsLibcrypto(sidecar.Process.Id))
            {
                Assert.True(sidecar.SinceExec.Elapsed < TimeSpan.FromMilliseconds(WarmUpMilliseconds) + TimeSpan.FromSeconds(15), $"libcrypto was still not loaded 15 s after the warm-up was due: it did not run\n{sidecar.Log()}");
                await Task.Delay(20);
            }

            Assert.True(sidecar.SinceExec.Elapsed >= TimeSpan.FromMilliseconds(WarmUpMilliseconds), $"libcrypto was loaded {sidecar.SinceExec.Elapsed.TotalMilliseconds:0} ms after exec, before the {WarmUpMilliseconds} ms warm-up was due");
            return;
        }
    }

    /// <summary>
    /// The binary carries <c>GCgen0size=0x800000</c> (the csproj's <c>--runtimeopt</c>): start-up allocates ~3.4 MB, so
    /// the first collection comes after <c>/healthz/ready</c> (the one before the watchers start, 300 ms later), not in
    /// the middle of start-up as with the runtime's own budget on a VM that hides its cache size (one compacting
    /// collection of everything start-up had built, ~15% of the start's CPU).
    /// </summary>
    [NativeFact]
    public async Task The_sidecar_answers_ready_before_its_first_garbage_collection()
    {
        string certs = WriteCertificates();
        for (int attempt = 0; ; attempt++)
        {
            await using ReadySidecar sidecar = await StartReadySidecarAsync(certs);
            string metrics = await GetAsync(sidecar.Admin, "/metrics");
            TimeSpan late = await sidecar.SinceListeningAsync(DateTimeOffset.UtcNow);
            if (late >= BeforeWatchersCollection)
            {
                // Read after the watchers' collection may have run (300 ms after the sidecar was ready): start again, three times at most.
                Assert.True(attempt < 3, $"the test read /metrics {late.TotalMilliseconds:0} ms after the sidecar was listening, in 4 starts: this machine is too slow for the check");
                continue;
            }

            Match collections = Gen0Collections().Match(metrics);
            Match allocated = AllocatedBytes().Match(metrics);
            Assert.True(collections.Success && allocated.Success, $"no GC counters in /metrics:\n{metrics}");
            Assert.True(collections.Groups[1].Value == "0",
                $"{collections.Groups[1].Value} garbage collection(s) before the first ready answer ({sidecar.ReadyAfter.TotalMilliseconds:0} ms after exec), {allocated.Groups[1].Value} bytes allocated: "
                + "start-up outgrew the young generation's budget (GCgen0size in proxy/BelizeMesh.Proxy/BelizeMesh.Proxy.csproj) or something on the start path collects");
            return;
        }
    }

    /// <summary>A <c>run</c> sidecar (the STRICT policy of <see cref="WritePolicy"/>) that has answered ready once;
    /// disposing it kills it.</summary>
    private sealed class ReadySidecar(Process process, int admin, string log, Stopwatch sinceExec, TimeSpan readyAfter) : IAsyncDisposable
    {
        public Process Process { get; } = process;

        public int Admin { get; } = admin;

        /// <summary>Running since the process was started.</summary>
        public Stopwatch SinceExec { get; } = sinceExec;

        /// <summary>When the first ready answer arrived, counted from the start.</summary>
        public TimeSpan ReadyAfter { get; } = readyAfter;

        public string Log() => ReadLog(log);

        /// <summary>
        /// How long after the sidecar's own "listening" log line (the end of its start, timestamped by its clock)
        /// <paramref name="at"/> is; waits up to 10 s for the line. The test's first ready answer can come much later
        /// than that (the first test of a process took ~1 s to see it in CI), so a window counted from it would let
        /// checks run after the collection that precedes the watchers (300 ms after ready) and see its effects.
        /// </summary>
        public async Task<TimeSpan> SinceListeningAsync(DateTimeOffset at)
        {
            for (var waited = Stopwatch.StartNew(); ; await Task.Delay(10))
            {
                if (ListeningLine().Match(ReadLog(log)) is { Success: true } line)
                {
                    return at - DateTimeOffset.Parse(line.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                }

                Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), $"no 'listening' line in the sidecar's output:\n{Log()}");
            }
        }

        public async ValueTask DisposeAsync()
        {
            Process.Kill(entireProcessTree: true);
            await Process.WaitForExitAsync();
            Process.Dispose();
        }
    }

    /// <summary>Starts <c>belizemesh-proxy run</c> with a fresh policy and waits for its first ready answer; its output
    /// goes to a file the messages show. <paramref name="variable"/> is set to <paramref name="value"/> in its
    /// environment (removed when the value is null).</summary>
    private async Task<ReadySidecar> StartReadySidecarAsync(string certs, string? variable = null, string? value = null)
    {
        (string policy, int admin) = WritePolicy();
        string log = Path.Combine(_dir, "sidecar.log");
        var start = new ProcessStartInfo("/bin/sh")
        {
            // exec: the shell becomes the sidecar, so process.Id is the sidecar's.
            ArgumentList = { "-c", "exec \"$0\" run --policy \"$1\" --certs \"$2\" >\"$3\" 2>&1", Binary!, policy, certs, log },
        };
        if (variable is not null && value is not null)
        {
            start.Environment[variable] = value;
        }
        else if (variable is not null)
        {
            start.Environment.Remove(variable);
        }

        var sinceExec = Stopwatch.StartNew();
        Process process = Process.Start(start)!;
        try
        {
            while (!await IsReadyAsync(admin))
            {
                Assert.False(process.HasExited || sinceExec.Elapsed > TimeSpan.FromSeconds(30), $"the sidecar did not become ready:\n{ReadLog(log)}");
                await Task.Delay(2);
            }
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
            throw;
        }

        return new ReadySidecar(process, admin, log, sinceExec, sinceExec.Elapsed);
    }

    private string WriteCertificates()
    {
        IssuedPem issued = RotationPki.Instance.Issue(RotationPki.Instance.RootA, "native");
        string certs = Directory.CreateDirectory(Path.Combine(_dir, "certs")).FullName;
        File.WriteAllText(Path.Combine(certs, "tls.crt"), issued.Certificate);
        File.WriteAllText(Path.Combine(certs, "tls.key"), issued.Key);
        File.SetUnixFileMode(Path.Combine(certs, "tls.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(Path.Combine(certs, "ca.crt"), RotationPki.Bundle(RotationPki.Instance.RootA));
        return certs;
    }

    /// <summary>A STRICT sidecar's policy on free loopback ports; returns its path and the admin port.</summary>
    private (string Path, int Admin) WritePolicy()
    {
        int admin = FreePort();
        string policy = Path.Combine(_dir, "policy.yaml");
        File.WriteAllText(policy, $$"""
            apiVersion: belizemesh.io/v1alpha1
            kind: SidecarPolicy
            metadata: { name: native, namespace: belizechain }
            spec:
              identity: spiffe://cluster.local/ns/belizechain/sa/native
              admin: { listen: "127.0.0.1:{{admin}}" }
              inbound: { listen: "127.0.0.1:{{FreePort()}}", app: "http://127.0.0.1:9", mode: STRICT }
              outbound: { listen: "127.0.0.1:{{FreePort()}}", routes: [] }
            """);
        return (policy, admin);
    }

    private static async Task<string> GetAsync(int port, string path)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        NetworkStream stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    /// <summary>Checks that must see the sidecar as it was at ready run within this of its "listening" line.</summary>
    private static readonly TimeSpan BeforeWatchersCollection = TimeSpan.FromMilliseconds(250);

    [GeneratedRegex(@"^\{""Timestamp"":""([^""]+)"",""EventId"":1,""LogLevel"":""Information"",""Category"":""BelizeMesh\.Proxy\.Hosting""", RegexOptions.Multiline)]
    private static partial Regex ListeningLine();

    [GeneratedRegex(@"^dotnet_gc_collections_total\{gc_heap_generation=""gen0""\} (\d+)", RegexOptions.Multiline)]
    private static partial Regex Gen0Collections();

    [GeneratedRegex(@"^dotnet_gc_heap_total_allocated_bytes_total (\d+)", RegexOptions.Multiline)]
    private static partial Regex AllocatedBytes();

    private const string WarmUpVariable = "BELIZEMESH_CRYPTO_WARMUP_MS";

    private const int WarmUpMilliseconds = 3000;

    private static string ReadLog(string path) => File.Exists(path) ? File.ReadAllText(path) : "(no output)";

    [NativeHugePageFact]
    public async Task The_type_data_lands_on_a_huge_page_unless_the_prefault_is_turned_off()
    {
        long prefaulted = await HugePagesOfRunningSidecarAsync(setting: null);
        Assert.True(prefaulted >= 2048, $"AnonHugePages of the sidecar with the prefault on: {prefaulted} kB (expected ≥ 2048: the 2 MiB-aligned part of the type data)");

        if (ThpMode() == "madvise")
        {
            // With THP in "madvise" mode nothing else in the process asks for huge pages, so each switch shows alone.
            Assert.Equal(0, await HugePagesOfRunningSidecarAsync(setting: "0"));
            Assert.Equal(0, await HugePagesOfRunningSidecarAsync(setting: "nohuge"));
        }
    }

    /// <summary>
    /// <see cref="BelizeMesh.Proxy.Hosting.YoungGenerationPrefault"/>: the young generation's first region is asked for
    /// transparent huge pages before start-up allocates, so at ready the GC heap holds one (2 MiB) beside the type
    /// data's; <c>nohuge</c> and <c>0</c> leave both on 4 KiB pages.
    /// </summary>
    [NativeHugePageFact]
    public async Task The_young_generation_starts_on_a_huge_page_unless_the_prefault_is_turned_off()
    {
        string certs = WriteCertificates();
        long on = await HugePagesAtReadyAsync(certs, setting: null);
        Assert.True(on >= 4096, $"AnonHugePages of a ready sidecar: {on} kB (expected ≥ 4096: the type data's 2 MiB and the young generation's second 2 MiB)");

        if (ThpMode() == "madvise")
        {
            Assert.Equal(0, await HugePagesAtReadyAsync(certs, setting: "nohuge"));
            Assert.Equal(0, await HugePagesAtReadyAsync(certs, setting: "0"));
        }
    }

    /// <summary>AnonHugePages (kB) of a <c>run</c> sidecar read right after its first ready answer, before the
    /// collection that precedes its watchers (300 ms later) can give any of the young generation back.</summary>
    private async Task<long> HugePagesAtReadyAsync(string certs, string? setting)
    {
        for (int attempt = 0; ; attempt++)
        {
            await using ReadySidecar sidecar = await StartReadySidecarAsync(certs, "BELIZEMESH_PREFAULT", setting);
            string rollup = await File.ReadAllTextAsync($"/proc/{sidecar.Process.Id}/smaps_rollup");
            TimeSpan late = await sidecar.SinceListeningAsync(DateTimeOffset.UtcNow);
            if (late >= BeforeWatchersCollection)
            {
                Assert.True(attempt < 3, $"the test read the sidecar's memory {late.TotalMilliseconds:0} ms after the sidecar was listening, in 4 starts: this machine is too slow for the check");
                continue;
            }

            Match huge = AnonHugePages().Match(rollup);
            Assert.True(huge.Success, $"no AnonHugePages line in smaps_rollup:\n{rollup}");
            return long.Parse(huge.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    private static bool MapsLibcrypto(int pid) => File.ReadAllText($"/proc/{pid}/maps").Contains("libcrypto", StringComparison.Ordinal);

    private static async Task<bool> IsReadyAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            NetworkStream stream = client.GetStream();
            await stream.WriteAsync("GET /healthz/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8.ToArray());
            byte[] buffer = new byte[64];
            int read = await stream.ReadAtLeastAsync(buffer, 12, throwOnEndOfStream: false);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("HTTP/1.1 200", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? ThpMode() =>
        File.Exists(ThpSetting) && BracketedMode().Match(File.ReadAllText(ThpSetting)) is { Success: true } m ? m.Groups[1].Value : null;

    /// <summary>Starts <c>belizemesh-proxy demo</c> (two sidecars in one process), waits for its first lines, and reads the
    /// process's AnonHugePages from /proc/PID/smaps_rollup.</summary>
    private static async Task<long> HugePagesOfRunningSidecarAsync(string? setting)
    {
        var start = new ProcessStartInfo(Binary!)
        {
            ArgumentList = { "demo", "--outbound-port", "0" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (setting is null)
        {
            start.Environment.Remove("BELIZEMESH_PREFAULT");
        }
        else
        {
            start.Environment["BELIZEMESH_PREFAULT"] = setting;
        }

        using Process process = Process.Start(start)!;
        var errors = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (errors) { errors.AppendLine(e.Data); } };
        process.BeginErrorReadLine();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            string? first = await process.StandardOutput.ReadLineAsync(timeout.Token);
            lock (errors)
            {
                Assert.True(first is not null, $"the demo printed nothing; its standard error:\n{errors}");
            }

            string rollup = await File.ReadAllTextAsync($"/proc/{process.Id}/smaps_rollup", timeout.Token);
            Match huge = AnonHugePages().Match(rollup);
            Assert.True(huge.Success, $"no AnonHugePages line in smaps_rollup:\n{rollup}");
            return long.Parse(huge.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [GeneratedRegex(@"\[(\w+)\]")]
    private static partial Regex BracketedMode();

    [GeneratedRegex(@"AnonHugePages:\s+(\d+) kB")]
    private static partial Regex AnonHugePages();
}
