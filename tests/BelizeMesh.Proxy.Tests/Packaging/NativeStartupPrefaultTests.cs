using System.Diagnostics;
using System.Text.RegularExpressions;

namespace BelizeMesh.Proxy.Tests.Packaging;

/// <summary>
/// The native AOT executable's start-up prefault (<c>proxy/BelizeMesh.Proxy/Native/startup_prefault.c</c>): before the
/// runtime rebuilds its type data, the executable's zero-filled tail is filled in one call and its 2 MiB-aligned part
/// asked for a transparent huge page; <c>BELIZEMESH_PREFAULT=0</c> turns it off and <c>nohuge</c> keeps 4 KiB pages.
/// Runs when <c>BELIZEMESH_PROXY_NATIVE</c> names a published <c>belizemesh-proxy</c> (CI sets it after its AOT publish).
/// </summary>
public sealed partial class NativeStartupPrefaultTests
{
    private const string ThpSetting = "/sys/kernel/mm/transparent_hugepage/enabled";

    private sealed class NativeFactAttribute : FactAttribute
    {
        public NativeFactAttribute()
        {
            if (Environment.GetEnvironmentVariable("BELIZEMESH_PROXY_NATIVE") is not { Length: > 0 } path || !File.Exists(path))
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

    private static string? ThpMode() =>
        File.Exists(ThpSetting) && BracketedMode().Match(File.ReadAllText(ThpSetting)) is { Success: true } m ? m.Groups[1].Value : null;

    /// <summary>Starts <c>belizemesh-proxy demo</c> (two sidecars in one process), waits for its first lines, and reads the
    /// process's AnonHugePages from /proc/PID/smaps_rollup.</summary>
    private static async Task<long> HugePagesOfRunningSidecarAsync(string? setting)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("BELIZEMESH_PROXY_NATIVE")!)
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
