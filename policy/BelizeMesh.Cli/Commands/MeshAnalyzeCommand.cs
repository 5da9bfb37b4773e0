using BelizeMesh.Configuration;
using System.Text.Json;
using BelizeMesh.Mesh.Analysis;
using BelizeMesh.Mesh.Parsing;

namespace BelizeMesh.Cli.Commands;

/// <summary><c>belizemesh analyze</c>: findings as text (default) or JSON; exit 1 when any is an error, 2 on bad input.</summary>
internal static class MeshAnalyzeCommand
{
    public static int Run(FileInfo meshFile, bool json, TextWriter stdout, TextWriter stderr)
    {
        var parsed = MeshParser.ParseFile(meshFile.ToString());
        if (parsed.Mesh is not { } mesh)
        {
            MeshCliOutput.WriteParseErrors(stderr, "analyze", meshFile.ToString(), parsed.Errors);
            return Program.ExitBadInput;
        }

        var findings = MeshAnalyzer.Analyze(mesh);
        int errors = 0, warnings = 0, infos = 0;
        foreach (var f in findings)
        {
            switch (f.Severity)
            {
                case FindingSeverity.Error:
                    errors++;
                    break;
                case FindingSeverity.Warning:
                    warnings++;
                    break;
                default:
                    infos++;
                    break;
            }
        }

        if (json)
        {
            WriteJson(stdout, meshFile.ToString(), findings, errors, warnings, infos);
        }
        else
        {
            foreach (var f in findings)
            {
                stdout.WriteLine(f.ToString());
            }

            stdout.WriteLine(findings.Count == 0
                ? $"{meshFile}: no findings"
                : $"{meshFile}: {errors} error(s), {warnings} warning(s), {infos} info");
        }

        return errors > 0 ? 1 : 0;
    }

    private static void WriteJson(TextWriter stdout, string file, IReadOnlyList<MeshFinding> findings, int errors, int warnings, int infos)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions
        {
            Indented = true,

            // Terminal and script output, never embedded in HTML: keep quotes and apostrophes readable.
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }))
        {
            writer.WriteStartObject();
            writer.WriteString("file", file);
            writer.WriteStartArray("findings");
            foreach (var f in findings)
            {
                writer.WriteStartObject();
                writer.WriteString("code", f.Code);
                writer.WriteString("severity", f.SeverityText);
                writer.WriteString("file", f.File);
                writer.WriteNumber("line", f.Position.Line);
                writer.WriteNumber("column", f.Position.Column);
                writer.WriteString("message", f.Message);
                writer.WriteString("hint", f.Hint);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteStartObject("summary");
            writer.WriteNumber("errors", errors);
            writer.WriteNumber("warnings", warnings);
            writer.WriteNumber("info", infos);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        stdout.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }
}

/// <summary>Shared reporting of bad input for the mesh commands.</summary>
internal static class MeshCliOutput
{
    public static void WriteParseErrors(TextWriter stderr, string command, string file, IReadOnlyList<ConfigError> errors)
    {
        foreach (var e in errors)
        {
            stderr.WriteLine($"{e}");
        }

        stderr.WriteLine(command == "emit"
            ? $"belizemesh emit: {errors.Count} problem(s) in {file}; nothing written"
            : $"belizemesh {command}: {errors.Count} problem(s) in {file}; fix them and run again");
    }
}
