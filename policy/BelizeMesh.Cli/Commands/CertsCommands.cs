using System.CommandLine;

namespace BelizeMesh.Cli.Commands;

/// <summary><c>belizemesh certs …</c>: the mesh CA and the service certificates.</summary>
internal static class CertsCommands
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        // SKELETON: the certificates helper adds root, issue, secret, check here.
        var certs = new Command("certs", "Issue, inspect and package the mesh's post-quantum certificates.");
        return certs;
    }
}
