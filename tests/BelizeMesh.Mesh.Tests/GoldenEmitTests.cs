using BelizeMesh.Mesh.Analysis;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Mesh.Tests;

/// <summary>emit and analyze on the example meshes against golden files; and bad inputs against their error listings.</summary>
public sealed class GoldenEmitTests
{
    public static TheoryData<string> Examples() => new(Golden.Examples());

    public static TheoryData<string> InvalidCases() => new(Golden.Cases("invalid"));

    public static TheoryData<string> AnalyzeCases() => new(Golden.Cases("analyze"));

    [Theory]
    [MemberData(nameof(Examples))]
    public void Emit_of_example_matches_golden_file_for_both_api_versions(string example)
    {
        string mesh = RepoPaths.RepoFile("examples", example, "mesh.yaml");
        foreach (var (flag, suffix) in new[] { ("v1", "v1"), ("v1beta1", "v1beta1") })
        {
            var (code, stdout, stderr) = Cli.Run("emit", "--mesh", mesh, "--api-version", flag);
            Assert.True(code == 0, $"emit {example} --api-version {flag} exited {code}: {stderr}");
            Golden.AssertMatches(Golden.TestData("golden", $"{example}.{suffix}.yaml"), stdout);
        }
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void Analyze_of_example_matches_golden_file_and_finds_no_errors(string example)
    {
        string display = $"examples/{example}/mesh.yaml";
        var parsed = MeshParser.Parse(File.ReadAllText(RepoPaths.RepoFile("examples", example, "mesh.yaml")), display);
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        var findings = MeshAnalyzer.Analyze(parsed.Mesh!);
        Assert.Equal(0, MeshAnalyzer.CountErrors(findings));
        Golden.AssertMatches(Golden.TestData("golden", $"{example}.analyze.txt"), string.Concat(findings.Select(f => f + "\n")));
    }

    [Theory]
    [MemberData(nameof(InvalidCases))]
    public void Invalid_mesh_is_rejected_with_every_problem_listed(string name)
    {
        var parsed = MeshParser.Parse(File.ReadAllText(Golden.TestData("invalid", name + ".yaml")), name + ".yaml");
        Assert.False(parsed.Succeeded);
        Assert.NotEmpty(parsed.Errors);
        Golden.AssertMatches(Golden.TestData("invalid", name + ".errors.txt"), string.Concat(parsed.Errors.Select(e => e + "\n")));
    }

    [Theory]
    [MemberData(nameof(AnalyzeCases))]
    public void Analyzer_findings_match_golden_file(string name)
    {
        var parsed = MeshParser.Parse(File.ReadAllText(Golden.TestData("analyze", name + ".yaml")), name + ".yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        var findings = MeshAnalyzer.Analyze(parsed.Mesh!);
        Assert.NotEmpty(findings);
        Golden.AssertMatches(Golden.TestData("analyze", name + ".findings.txt"), string.Concat(findings.Select(f => f + "\n")));
    }

    [Fact]
    public void Every_finding_code_is_produced_by_some_analyze_case()
    {
        var produced = new HashSet<string>();
        foreach (var name in Golden.Cases("analyze"))
        {
            var parsed = MeshParser.Parse(File.ReadAllText(Golden.TestData("analyze", name + ".yaml")), name + ".yaml");
            foreach (var f in MeshAnalyzer.Analyze(parsed.Mesh!))
            {
                produced.Add(f.Code);
            }
        }

        var missing = FindingCodes.All.Select(c => c.Code).Where(c => !produced.Contains(c)).ToList();
        Assert.True(missing.Count == 0, "no analyze case produces " + string.Join(", ", missing));
    }

    [Fact]
    public void No_golden_file_is_left_without_its_input()
    {
        var examples = Golden.Examples().ToHashSet();
        var stale = new List<string>();
        foreach (var file in Directory.GetFiles(Golden.TestData("golden")))
        {
            string name = Path.GetFileName(file);
            string example = name[..name.IndexOf('.', StringComparison.Ordinal)];
            bool known = name == $"{example}.v1.yaml" || name == $"{example}.v1beta1.yaml" || name == $"{example}.analyze.txt";
            if (!known || !examples.Contains(example))
            {
                stale.Add(name);
            }
        }

        foreach (var folder in new[] { ("invalid", ".errors.txt"), ("analyze", ".findings.txt") })
        {
            foreach (var file in Directory.GetFiles(Golden.TestData(folder.Item1), "*" + folder.Item2))
            {
                string input = file[..^folder.Item2.Length] + ".yaml";
                if (!File.Exists(input))
                {
                    stale.Add(Path.GetFileName(file));
                }
            }
        }

        if (Golden.Refresh)
        {
            stale.ForEach(s => File.Delete(Directory.GetFiles(Golden.TestData(), s, SearchOption.AllDirectories)[0]));
            return;
        }

        Assert.True(stale.Count == 0, "golden files without an input (delete them, or run with REFRESH_GOLDEN=1): " + string.Join(", ", stale));
    }

    [Fact]
    public void Emitting_twice_gives_identical_output()
    {
        var parsed = MeshParser.ParseFile(RepoPaths.RepoFile("examples", "belizechain", "mesh.yaml"));
        string first = MeshEmitter.ToYaml(MeshEmitter.Emit(parsed.Mesh!));
        string second = MeshEmitter.ToYaml(MeshEmitter.Emit(MeshParser.ParseFile(RepoPaths.RepoFile("examples", "belizechain", "mesh.yaml")).Mesh!));
        Assert.Equal(first, second);
    }
}
