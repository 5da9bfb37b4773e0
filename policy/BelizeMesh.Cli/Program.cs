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
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0 && !WantsHelp(args))
        {
            // A usage error is bad input like any other (docs/mesh.md, exit codes): 2, not System.CommandLine's 1.
            foreach (System.CommandLine.Parsing.ParseError error in parsed.Errors)
            {
                stderr.WriteLine($"belizemesh: {error.Message}");
            }

            stderr.WriteLine($"Run '{CommandPath(parsed.CommandResult)} --help' for usage.");
            return ExitBadInput;
        }

        return parsed.Invoke(config);
    }

    private static bool WantsHelp(string[] args) => args.Any(a => a is "--help" or "-h" or "-?");

    /// <summary>"belizemesh certs issue" for the command a usage error belongs to.</summary>
    private static string CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>();
        for (System.CommandLine.Parsing.SymbolResult? at = result; at is not null; at = at.Parent)
        {
            if (at is System.CommandLine.Parsing.CommandResult command)
            {
                names.Add(command.Parent is null ? "belizemesh" : command.Command.Name);
            }
        }

        names.Reverse();
        return string.Join(' ', names);
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
