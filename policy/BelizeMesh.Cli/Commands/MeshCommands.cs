using System.CommandLine;

namespace BelizeMesh.Cli.Commands;

/// <summary><c>belizemesh emit</c> and <c>belizemesh analyze</c>.</summary>
internal static class MeshCommands
{
    public static IEnumerable<Command> Create(TextWriter stdout, TextWriter stderr)
    {
        // SKELETON: the mesh helper adds emit and analyze here.
        return [];
    }
}
