using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using BelizeMesh.Quantum.Acvp;

namespace BelizeMesh.Cli.Commands;

/// <summary><c>belizemesh pqc …</c>: the PQC primitives exposed for interop checks.</summary>
internal static class PqcCommands
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var pqc = new Command("pqc", "Post-quantum primitives: run ACVP vector files through BelizeMesh's ML-KEM and ML-DSA.");

        var file = new Argument<FileInfo>("FILE.json") { Description = "An ACVP vector file (ML-KEM keyGen/encapDecap, ML-DSA keyGen/sigGen/sigVer)." };
        var acvp = new Command("acvp", "Compute every output field of an ACVP vector file and write the document to stdout. Expected outputs in the file are never read.")
        {
            file,
        };
        acvp.SetAction(parse => RunAcvp(parse.GetValue(file)!, stdout, stderr));
        pqc.Subcommands.Add(acvp);
        return pqc;
    }

    internal static int RunAcvp(FileInfo file, TextWriter stdout, TextWriter stderr)
    {
        JsonNode? document;
        try
        {
            using var stream = file.OpenRead();
            document = JsonNode.Parse(stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"belizemesh pqc acvp: cannot read {file.FullName}: {e.Message}");
            return Program.ExitBadInput;
        }
        catch (JsonException e)
        {
            stderr.WriteLine($"belizemesh pqc acvp: {file.FullName} is not JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {e.Message}");
            return Program.ExitBadInput;
        }

        if (document is null)
        {
            stderr.WriteLine($"belizemesh pqc acvp: {file.FullName} holds JSON null, not an ACVP vector set");
            return Program.ExitBadInput;
        }

        try
        {
            var result = AcvpRunner.Run(document);
            stdout.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        catch (AcvpFormatException e)
        {
            stderr.WriteLine($"belizemesh pqc acvp: {file.FullName}: {e.Message}");
            return Program.ExitBadInput;
        }
    }
}
