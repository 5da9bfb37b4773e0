using BelizeMesh.Configuration;
using BelizeMesh.Mesh.Model;

namespace BelizeMesh.Mesh.Parsing;

/// <summary>The outcome of parsing: the bound description, or every problem found (never both). A problem prints as
/// <c>file:line:column: path: message</c> (<see cref="ConfigError"/>, shared with the sidecar and injector parsers).</summary>
public sealed record MeshParseResult(MeshDescription? Mesh, IReadOnlyList<ConfigError> Errors)
{
    public bool Succeeded => Mesh is not null;
}
