using BelizeMesh.Mesh.Parsing;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Mesh.Tests;

/// <summary>Mutated and hostile mesh descriptions: the parser always answers (a mesh or located errors), never throws
/// or hangs, and hostile structure is refused before YamlDotNet loads it.</summary>
public sealed class MeshFuzzTests
{
    private static string[] Examples() =>
        [.. new[] { "belizechain", "payments", "fault-injection" }.Select(name => File.ReadAllText(Path.Combine(RepoPaths.Root, "examples", name, "mesh.yaml")))];

    [Fact]
    public void Mutated_mesh_descriptions_are_answered_with_a_mesh_or_located_errors()
    {
        string[] valid = Examples();
        Assert.All(valid, text => Assert.True(MeshParser.Parse(text, "example.yaml").Succeeded, string.Join('\n', MeshParser.Parse(text, "example.yaml").Errors)));

        YamlFuzz.Run(valid, seed: 15, count: 10_000, perCase: TimeSpan.FromSeconds(5), text =>
        {
            MeshParseResult result = MeshParser.Parse(text, "fuzz.yaml");
            Assert.True(result.Succeeded || result.Errors.Count > 0);
            Assert.All(result.Errors, e => Assert.True(e.Position.Line >= 1 && e.Position.Column >= 1, e.ToString()));
        });
    }

    [Fact]
    public void Deeply_nested_mesh_is_refused_with_a_located_error_instead_of_overflowing_the_stack()
    {
        string deep = new System.Text.StringBuilder().Insert(0, "[", 50_000).Append(']', 50_000).ToString();
        var error = Assert.Single(MeshParser.Parse(deep, "mesh.yaml").Errors);
        Assert.Equal("refused before parsing: nested more than 64 levels deep; a configuration file never needs that many", error.Message);
        Assert.Equal((1, 65), (error.Position.Line, error.Position.Column));
    }
}
