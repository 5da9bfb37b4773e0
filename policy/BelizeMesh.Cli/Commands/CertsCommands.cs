using System.CommandLine;
using BelizeMesh.Identity;

namespace BelizeMesh.Cli.Commands;

/// <summary><c>belizemesh certs …</c>: the mesh CA and the service certificates.</summary>
/// <remarks>
/// Exit codes: 0 success; 1 the certificate was checked and rejected (expired, not yet valid, wrongly signed…);
/// <see cref="Program.ExitBadInput"/> (2) bad input — a missing or malformed file, a bad option value, a file that
/// exists without <c>--force</c>. Every error is one line on stderr: <c>belizemesh certs VERB: what: how to fix</c>.
/// </remarks>
internal static class CertsCommands
{
    /// <summary>Exit code when <c>certs check</c> rejects a certificate.</summary>
    public const int ExitRejected = 1;

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var certs = new Command("certs", "Issue, inspect and package the mesh's post-quantum certificates (ML-DSA-87 CA, ML-KEM-1024 service keys).");
        certs.Subcommands.Add(CertsRootCommand.Create(stdout, stderr));
        certs.Subcommands.Add(CertsIssueCommand.Create(stdout, stderr));
        certs.Subcommands.Add(CertsSecretCommand.Create(stdout, stderr));
        certs.Subcommands.Add(CertsCheckCommand.Create(stdout, stderr));
        return certs;
    }

    /// <summary>Runs a command body and turns the expected failures into one stderr line and exit code 2.</summary>
    internal static int Guard(string verb, TextWriter stderr, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (CertsUsageException e)
        {
            stderr.WriteLine($"belizemesh certs {verb}: {e.Message}");
            return Program.ExitBadInput;
        }
        catch (CredentialsException e)
        {
            stderr.WriteLine($"belizemesh certs {verb}: {e.Message}");
            return Program.ExitBadInput;
        }
        catch (CertificateFormatException e)
        {
            stderr.WriteLine($"belizemesh certs {verb}: {e.Message}");
            return Program.ExitBadInput;
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"belizemesh certs {verb}: {StripParameterName(e)}");
            return Program.ExitBadInput;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"belizemesh certs {verb}: {e.Message}");
            return Program.ExitBadInput;
        }
    }

    /// <summary>Creates <paramref name="directory"/> when missing.</summary>
    internal static void EnsureDirectory(string directory)
    {
        if (File.Exists(directory))
        {
            throw new CertsUsageException($"{directory} is a file; --out needs a directory");
        }

        Directory.CreateDirectory(directory);
    }

    /// <summary>Fails before any work when an output file exists and --force was not given.</summary>
    internal static void CheckNotExisting(bool force, params string[] paths)
    {
        if (force)
        {
            return;
        }

        foreach (string path in paths)
        {
            if (File.Exists(path))
            {
                throw new CertsUsageException($"{path} already exists; pass --force to overwrite it");
            }
        }
    }

    internal static void RequireDnsLabel(string option, string value)
    {
        if (!KubernetesNames.IsDnsLabel(value))
        {
            throw new CertsUsageException($"{option} '{value}' is not {KubernetesNames.LabelRule}");
        }
    }

    internal static void RequirePositive(string option, int value)
    {
        if (value <= 0)
        {
            throw new CertsUsageException($"{option} must be a positive number of days, not {value}");
        }
    }

    private static string StripParameterName(ArgumentException e) =>
        e.ParamName is { } name && e.Message.EndsWith($" (Parameter '{name}')", StringComparison.Ordinal)
            ? e.Message[..^$" (Parameter '{name}')".Length]
            : e.Message;
}

/// <summary>Bad command-line input, reported as one line and exit code 2.</summary>
internal sealed class CertsUsageException(string message) : Exception(message);
