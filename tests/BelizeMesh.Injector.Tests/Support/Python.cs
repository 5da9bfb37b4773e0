using System.Diagnostics;

namespace BelizeMesh.Injector.Tests.Support;

/// <summary>
/// Python 3 with <c>jsonpatch</c> and <c>jsonschema</c>: an independent JSON Patch implementation and a second JSON
/// Schema opinion. Tests that need them are skipped cleanly when they are missing.
/// </summary>
internal static class Python
{
    private static readonly Lazy<string?> s_missing = new(Probe);

    /// <summary>Why Python tests cannot run here, or null when they can.</summary>
    public static string? MissingReason => s_missing.Value;

    /// <summary>Runs a Python script with <paramref name="stdin"/>; returns stdout, throws with stderr on failure.</summary>
    public static string Run(string script, string stdin, int timeoutMs = 60_000)
    {
        var psi = new ProcessStartInfo("python3", ["-c", script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using Process process = Process.Start(psi)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(stdin);
        process.StandardInput.Close();
        if (!process.WaitForExit(timeoutMs))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"python3 did not finish in {timeoutMs} ms");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"python3 exited {process.ExitCode}: {stderr.GetAwaiter().GetResult()}");
        }

        return stdout.GetAwaiter().GetResult();
    }

    private static string? Probe()
    {
        try
        {
            Run("import jsonpatch, jsonschema", "", 30_000);
            return null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or TimeoutException)
        {
            return "python3 with the jsonpatch and jsonschema modules is not installed (pip install jsonpatch jsonschema)";
        }
    }
}

/// <summary>A fact that is skipped (with the reason) when Python, jsonpatch or jsonschema is missing.</summary>
internal sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (Python.MissingReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A theory that is skipped (with the reason) when Python, jsonpatch or jsonschema is missing.</summary>
internal sealed class PythonTheoryAttribute : TheoryAttribute
{
    public PythonTheoryAttribute()
    {
        if (Python.MissingReason is { } reason)
        {
            Skip = reason;
        }
    }
}
