using System.CommandLine;
using BelizeMesh.Cli.Commands;

namespace BelizeMesh.Cli;

/// <summary>Entry point of the <c>belizemesh</c> operator CLI.</summary>
public static class Program
{
    /// <summary>Exit code for bad input (a missing file, a malformed document), as sysexits' EX_USAGE/EX_DATAERR family.</summary>
    public const int ExitBadInput = 2;

    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the CLI with the given writers; tests call this in-process.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = BuildRootCommand(stdout, stderr);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr };
        return root.Parse(args).Invoke(config);
    }

    internal static RootCommand BuildRootCommand(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("belizemesh: turn one mesh description into Istio resources and sidecar policies, manage the post-quantum certificates, and check the PQC primitives.");
        root.Subcommands.Add(PqcCommands.Create(stdout, stderr));
        root.Subcommands.Add(CertsCommands.Create(stdout, stderr));
        foreach (var command in MeshCommands.Create(stdout, stderr))
        {
            root.Subcommands.Add(command);
        }

        return root;
    }
}
