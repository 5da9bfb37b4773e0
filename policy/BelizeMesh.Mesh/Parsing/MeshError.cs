using BelizeMesh.Mesh.Model;

namespace BelizeMesh.Mesh.Parsing;

/// <summary>One problem in a mesh description: where, which field, what is wrong and what was expected.</summary>
public sealed record MeshError(string File, SourcePosition Position, string Path, string Message)
{
    /// <summary><c>file:line:column: path: message</c>.</summary>
    public override string ToString() =>
        Path.Length == 0 ? $"{Position.Format(File)}: {Message}" : $"{Position.Format(File)}: {Path}: {Message}";
}

/// <summary>The outcome of parsing: the bound description, or every problem found (never both).</summary>
public sealed record MeshParseResult(MeshDescription? Mesh, IReadOnlyList<MeshError> Errors)
{
    public bool Succeeded => Mesh is not null;
}
