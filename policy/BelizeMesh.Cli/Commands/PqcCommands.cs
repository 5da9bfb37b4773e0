using System.CommandLine;

namespace BelizeMesh.Cli.Commands;

/// <summary><c>belizemesh pqc …</c>: the PQC primitives exposed for interop checks.</summary>
internal static class PqcCommands
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        // SKELETON: the ML-KEM/ML-DSA helper adds `pqc acvp FILE.json` here.
        var pqc = new Command("pqc", "Post-quantum primitives: run ACVP vector files through BelizeMesh's ML-KEM and ML-DSA.");
        return pqc;
    }
}
