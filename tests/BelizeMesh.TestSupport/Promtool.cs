using System.Diagnostics;

namespace BelizeMesh.TestSupport;

/// <summary>Prometheus's own exposition-format checker (<c>promtool check metrics</c>, Debian package <c>prometheus</c>;
/// .ci/run installs it).</summary>
public static class Promtool
{
    /// <summary>The promtool on PATH, or null.</summary>
    public static string? Path { get; } = Find();

    /// <summary>
    /// promtool's lint finding for Istio's standard duration family, whose name (milliseconds, not seconds) Kiali and
    /// Istio's dashboards query and which is not ours to change; every other finding fails.
    /// </summary>
    public static readonly string[] IstioStandardNames = ["istio_request_duration_milliseconds use base unit \"seconds\" instead of \"milliseconds\""];

    /// <summary>Runs <c>promtool check metrics</c> on <paramref name="text"/>; fails the test with promtool's output
    /// on any finding but <see cref="IstioStandardNames"/>.</summary>
    public static Task CheckAsync(string text) => CheckAsync(text, IstioStandardNames);

    /// <summary>
    /// As <see cref="CheckAsync(string)"/>, except that the lint findings listed in <paramref name="accepted"/> (whole
    /// lines of promtool's output, e.g. Istio's mandated <c>istio_request_duration_milliseconds</c> name) do not fail
    /// the test; any other finding, and any parse error, does.
    /// </summary>
    public static async Task CheckAsync(string text, IReadOnlyCollection<string> accepted)
    {
        string promtool = Path ?? throw new InvalidOperationException("promtool is not installed: mark the test [PromtoolFact]");
        using Process process = Process.Start(new ProcessStartInfo(promtool, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        await process.StandardInput.WriteAsync(text);
        process.StandardInput.Close();
        string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0 && accepted.Count > 0)
        {
            string[] findings = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (findings.Length > 0 && findings.All(accepted.Contains))
            {
                return;
            }
        }

        Xunit.Assert.True(process.ExitCode == 0, "promtool check metrics failed:\n" + output + "\n" + text);
    }

    /// <summary>Runs <c>promtool check rules FILE</c>; fails the test with promtool's output.</summary>
    public static async Task CheckRulesAsync(string file)
    {
        string promtool = Path ?? throw new InvalidOperationException("promtool is not installed: mark the test [PromtoolFact]");
        using Process process = Process.Start(new ProcessStartInfo(promtool, ["check", "rules", file])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        string output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Xunit.Assert.True(process.ExitCode == 0, "promtool check rules failed:\n" + output);
    }

    private static string? Find()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = System.IO.Path.Combine(dir, "promtool");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

/// <summary>A fact that skips, saying why, where promtool is not installed.</summary>
public sealed class PromtoolFactAttribute : Xunit.FactAttribute
{
    public PromtoolFactAttribute()
    {
        if (Promtool.Path is null)
        {
            Skip = "promtool is not installed (apt-get install prometheus; .ci/run does it): the exposition format is still asserted line by line by the other metrics tests";
        }
    }
}
