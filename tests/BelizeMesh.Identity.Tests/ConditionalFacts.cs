using System.Diagnostics;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Identity.Tests;

/// <summary>A fact that skips (with the reason) when Node 26 / @noble/post-quantum are not installed.</summary>
public sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        if (NodeInterop.MissingReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A fact that skips when the <c>openssl</c> command is not on PATH.</summary>
public sealed class OpenSslFactAttribute : FactAttribute
{
    public OpenSslFactAttribute()
    {
        if (OpenSsl.Path is null)
        {
            Skip = "openssl not on PATH (apt-get install openssl; .ci/run does)";
        }
    }
}

internal static class OpenSsl
{
    public static string? Path { get; } = Find();

    public static (int ExitCode, string Output) Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Path!, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.GetAwaiter().GetResult() + stderr.GetAwaiter().GetResult());
    }

    private static string? Find()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator))
        {
            string candidate = System.IO.Path.Combine(dir, "openssl");
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

/// <summary>A temporary directory removed at the end of the test.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("belizemesh-certs-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
