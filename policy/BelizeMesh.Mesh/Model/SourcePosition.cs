namespace BelizeMesh.Mesh.Model;

/// <summary>Where a model element was written: 1-based line and column in the mesh description file.</summary>
public readonly record struct SourcePosition(int Line, int Column)
{
    /// <summary>Formats the position as <c>file:line:column</c>.</summary>
    public string Format(string file) => $"{file}:{Line}:{Column}";
}
