using BelizeMesh.Configuration;
using System.Diagnostics;
using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Analysis;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Model;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.Perf.Mesh;
using BelizeMesh.TestSupport;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Mesh.Tests;

/// <summary>Every emitted Istio document validates against Istio's own CRD schema, and the YAML text reads back to the same tree.</summary>
public sealed class SchemaTests
{
    public static TheoryData<string, string> ExamplesAndVersions()
    {
        var data = new TheoryData<string, string>();
        foreach (var example in Golden.Examples())
        {
            data.Add(example, "v1");
            data.Add(example, "v1beta1");
        }

        return data;
    }

    private static MeshDescription Load(string example)
    {
        var parsed = MeshParser.ParseFile(RepoPaths.RepoFile("examples", example, "mesh.yaml"));
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        return parsed.Mesh!;
    }

    private static IstioApiVersion Version(string v) => v == "v1" ? IstioApiVersion.V1 : IstioApiVersion.V1Beta1;

    [Theory]
    [MemberData(nameof(ExamplesAndVersions))]
    public void Every_istio_document_of_example_validates_against_the_crd_schema(string example, string version)
    {
        var resources = MeshEmitter.Emit(Load(example), Version(version));
        AssertValid(resources, version);
    }

    public static TheoryData<string> AnalyzeCases() => new(Golden.Cases("analyze"));

    /// <summary>The analyze cases exercise what the examples do not (cookie and source-IP hashing, port-level mTLS on odd ports, …).</summary>
    [Theory]
    [MemberData(nameof(AnalyzeCases))]
    public void Every_istio_document_of_analyze_case_validates_against_the_crd_schema(string name)
    {
        var parsed = MeshParser.Parse(File.ReadAllText(Golden.TestData("analyze", name + ".yaml")), name + ".yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        AssertValid(MeshEmitter.Emit(parsed.Mesh!, IstioApiVersion.V1), "v1");
        AssertValid(MeshEmitter.Emit(parsed.Mesh!, IstioApiVersion.V1Beta1), "v1beta1");
    }

    [Fact]
    public void Every_istio_document_of_the_500_service_benchmark_mesh_validates()
    {
        var parsed = MeshParser.Parse(SyntheticMesh.Generate(500), "synthetic.yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors.Take(5)));
        Assert.Equal(0, MeshAnalyzer.CountErrors(MeshAnalyzer.Analyze(parsed.Mesh!)));
        var resources = MeshEmitter.Emit(parsed.Mesh!);
        Assert.Equal(500, resources.Count(r => r.Kind == ResourceKind.ConfigMap));
        AssertValid(resources, "v1");
    }

    private static void AssertValid(IReadOnlyList<EmittedResource> resources, string version)
    {
        var problems = new List<string>();
        int checkedCount = 0;
        foreach (var r in resources)
        {
            if (r.Kind is ResourceKind.ConfigMap or ResourceKind.Service or ResourceKind.InjectorExclusions)
            {
                // Kubernetes core kinds: the 1.32 schemas, unknown fields rejected.
                foreach (var error in KubernetesSchemaSet.Validate(r.Document))
                {
                    problems.Add($"{r.Kind} {r.Namespace}/{r.Name}: {error}");
                }

                continue;
            }

            Assert.EndsWith("/" + version, r.ApiVersion, StringComparison.Ordinal);
            foreach (var error in IstioCrdSchemas.ValidateResource(r.Document))
            {
                problems.Add($"{r.Kind} {r.Namespace}/{r.Name}: {error}");
            }

            checkedCount++;
        }

        Assert.True(checkedCount > 0);
        Assert.True(problems.Count == 0, string.Join("\n", problems.Take(20)));
    }

    [Theory]
    [MemberData(nameof(ExamplesAndVersions))]
    public void Emitted_yaml_reads_back_to_the_same_documents(string example, string version)
    {
        var resources = MeshEmitter.Emit(Load(example), Version(version));
        var documents = YamlJson.LoadAll(MeshEmitter.ToYaml(resources));
        Assert.Equal(resources.Count, documents.Count);
        for (int i = 0; i < resources.Count; i++)
        {
            Assert.True(JsonNode.DeepEquals(resources[i].Document, documents[i]),
                $"document {i} ({resources[i].Kind} {resources[i].Name}) reads back as\n{documents[i]}");
            if (resources[i].Kind == ResourceKind.ConfigMap)
            {
                var policy = YamlJson.Load((string)resources[i].Document["data"]!["policy.yaml"]!);
                Assert.Equal("SidecarPolicy", (string?)policy!["kind"]);
            }
        }
    }

    /// <summary>Strings a careless YAML writer leaves plain and a YAML 1.1 or 1.2 reader then takes for something else.</summary>
    internal static readonly string[] TrickyStrings =
    [
        "yes", "No", "on", "OFF", "y", "n", "true", "False", "null", "~", "", " ", " lead", "trail ", "1:30", "0x1F", "0o17", "017",
        "1e3", "1_000", ".5", "+1", "-1", ".inf", "-.Inf", ".NaN", "2001-12-14", "300s", "*", "*.example.com", "&anchor", "!tag",
        "|", ">", "'q'", "\"dq\"", "%x", "@x", "`x", "a: b", "a #b", "a:", "- item", "? key", "[x]", "{x}", "x,y", "#c",
        "multi\nline\n", "no final newline\nhere", "tab\there", "back\\slash", "caf\u00e9", "emoji \U0001F600", "\u0001ctl",
        "http://127.0.0.1:8080", "/api/v1/upload*", "5xx,reset", "cluster.local/ns/a/sa/*", "=", "<<", "-", "---", "...",
    ];

    /// <summary>kubectl reads YAML the 1.1 way (yes/no/on/off are booleans, 1:30 is a number): PyYAML does too. One run covers every example and the tricky strings.</summary>
    [Fact]
    public void Emitted_yaml_reads_back_identically_with_a_yaml_1_1_reader()
    {
        var expected = new JsonArray();
        var text = new System.Text.StringBuilder();
        foreach (var example in Golden.Examples())
        {
            var resources = MeshEmitter.Emit(Load(example));
            foreach (var r in resources)
            {
                var copy = r.Document.DeepClone();
                if (r.Kind == ResourceKind.ConfigMap)
                {
                    // Also read the embedded policy the way the proxy's YAML reader will.
                    copy["data"]!["policy.yaml"] = YamlJson.Load((string)r.Document["data"]!["policy.yaml"]!);
                }

                expected.Add(copy);
            }

            text.Append(MeshEmitter.ToYaml(resources)).Append("---\n");
        }

        var tricky = new JsonObject { ["kind"] = "Tricky", ["values"] = new JsonArray([.. TrickyStrings.Select(v => (JsonNode)v)]) };
        foreach (var v in TrickyStrings)
        {
            tricky["key " + v] = v;
        }

        expected.Add(tricky.DeepClone());
        text.Append(YamlWriter.ToYaml(tricky));

        const string script = """
            import sys, json, yaml
            docs = list(yaml.safe_load_all(sys.stdin.read()))
            for d in docs:
                if d.get("kind") == "ConfigMap" and "policy.yaml" in d["data"]:
                    d["data"]["policy.yaml"] = yaml.safe_load(d["data"]["policy.yaml"])
            print(json.dumps(docs))
            """;
        string? output = RunPython(script, text.ToString());
        Assert.True(output is not null, "this test needs python3 with PyYAML (apt-get install python3-yaml)");
        var actual = JsonNode.Parse(output!)!.AsArray();
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(JsonNode.DeepEquals(expected[i], actual[i]), $"PyYAML reads document {i} differently:\nexpected {expected[i]}\nactual   {actual[i]}");
        }
    }

    [Fact]
    public void Tricky_strings_read_back_as_the_same_strings_with_yamldotnet()
    {
        var document = new JsonObject { ["values"] = new JsonArray([.. TrickyStrings.Select(v => (JsonNode)v)]) };
        Assert.True(JsonNode.DeepEquals(document, YamlJson.Load(YamlWriter.ToYaml(document))));
    }

    [Fact]
    public void Schema_check_catches_a_wrong_document()
    {
        // Guards the schema tests above against passing vacuously.
        var resources = MeshEmitter.Emit(Load("belizechain"));
        var rule = resources.First(r => r.Kind == ResourceKind.DestinationRule).Document.DeepClone();
        rule["spec"]!["trafficPolicy"]!["loadBalancer"] = new JsonObject { ["simple"] = "FASTEST" };
        Assert.NotEmpty(IstioCrdSchemas.ValidateResource(rule));
    }

    internal static string? RunPython(string script, string stdin)
    {
        var start = new ProcessStartInfo("python3", ["-c", script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        try
        {
            using var process = Process.Start(start)!;
            var stdoutTask = process.StandardOutput.ReadToEndAsync();
            var stderrTask = process.StandardError.ReadToEndAsync();
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
            process.WaitForExit();
            string stderr = stderrTask.GetAwaiter().GetResult();
            if (process.ExitCode != 0)
            {
                return stderr.Contains("No module named 'yaml'", StringComparison.Ordinal) ? null : throw new InvalidOperationException(stderr);
            }

            return stdoutTask.GetAwaiter().GetResult();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
