using BelizeMesh.Proxy.Configuration;
using BelizeMesh.TestSupport;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Tests.Configuration;

/// <summary>
/// The contract between <c>belizemesh emit</c> and the sidecar: every policy ConfigMap in the emitter's golden files
/// (tests/BelizeMesh.Mesh.Tests/testdata/golden) must parse without a single error.
/// </summary>
public class EmitContractTests
{
    public static TheoryData<string> GoldenFiles()
    {
        var data = new TheoryData<string>();
        string dir = RepoPaths.RepoFile("tests", "BelizeMesh.Mesh.Tests", "testdata", "golden");
        if (Directory.Exists(dir))
        {
            foreach (string file in Directory.GetFiles(dir, "*.yaml").Order(StringComparer.Ordinal))
            {
                data.Add(Path.GetFileName(file));
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(GoldenFiles))]
    public void Every_emitted_sidecar_policy_parses(string goldenFile)
    {
        string path = RepoPaths.RepoFile("tests", "BelizeMesh.Mesh.Tests", "testdata", "golden", goldenFile);
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(path)));
        int policies = 0;
        var problems = new List<string>();
        foreach (YamlDocument document in stream.Documents)
        {
            if (document.RootNode is not YamlMappingNode root
                || !root.Children.TryGetValue(new YamlScalarNode("kind"), out YamlNode? kind) || kind.ToString() != "ConfigMap"
                || !root.Children.TryGetValue(new YamlScalarNode("data"), out YamlNode? data)
                || !((YamlMappingNode)data).Children.TryGetValue(new YamlScalarNode("policy.yaml"), out YamlNode? policy))
            {
                continue;
            }

            policies++;
            string name = ((YamlMappingNode)root.Children[new YamlScalarNode("metadata")]).Children[new YamlScalarNode("name")].ToString();
            PolicyParseResult result = PolicyParser.Parse(((YamlScalarNode)policy).Value!, name, new PolicyParserOptions { PqChannelAvailable = true, PermissiveAvailable = true });
            problems.AddRange(result.Errors.Select(e => e.ToString()));
        }

        Assert.True(policies > 0, $"{goldenFile} holds no belizemesh policy ConfigMap");
        Assert.Empty(problems);
    }
}
