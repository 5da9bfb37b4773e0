using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Admission;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Injection;
using BelizeMesh.Injector.Offline;
using BelizeMesh.Injector.Tests.Support;
using BelizeMesh.Injector.Yaml;
using BelizeMesh.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace BelizeMesh.Injector.Tests;

/// <summary>
/// The pod corpus (<c>Corpus/*.yaml</c>, auto-discovered; an optional <c>NAME.config.yaml</c> beside an input is its
/// injector configuration). For every input: the offline output must equal <c>Corpus/golden/NAME.yaml</c> (regenerate
/// with <c>REFRESH_GOLDEN=1</c>), and every pod or pod template in it goes through the webhook path, whose patch is
/// applied by Python's jsonpatch (an independent RFC 6902 implementation), must give exactly the offline result,
/// must validate against the Kubernetes Pod schema (two validators), and must not change on a second injection.
/// </summary>
public sealed class CorpusTests
{
    private static readonly string CorpusDir = RepoPaths.RepoFile("tests", "BelizeMesh.Injector.Tests", "Corpus");
    private static readonly string GoldenDir = Path.Combine(CorpusDir, "golden");
    private static readonly Lazy<Dictionary<string, JsonObject>> s_python = new(RunPythonOverCorpus);

    public static TheoryData<string> Inputs()
    {
        var data = new TheoryData<string>();
        foreach (string name in InputNames())
        {
            data.Add(name);
        }

        return data;
    }

    [Fact]
    public void Corpus_has_the_required_variety()
    {
        string[] names = InputNames();
        Assert.True(names.Length >= 12, $"only {names.Length} corpus inputs");
        string all = string.Concat(names.Select(n => File.ReadAllText(Path.Combine(CorpusDir, n + ".yaml"))));
        foreach (string needle in new[] { "kind: Deployment", "kind: CronJob", "hostNetwork: true", "istio-proxy", "istio-init", "belizemesh.io/status", "initContainers:", "volumes:", "belizemesh.io/scheduling-policy" })
        {
            Assert.Contains(needle, all, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Offline_output_matches_golden_file(string name)
    {
        string actual = RenderOffline(name);
        string golden = Path.Combine(GoldenDir, name + ".yaml");
        if (Environment.GetEnvironmentVariable("REFRESH_GOLDEN") == "1")
        {
            Directory.CreateDirectory(GoldenDir);
            File.WriteAllText(golden, actual);
            return;
        }

        Assert.True(File.Exists(golden), $"missing golden file {golden}: run `REFRESH_GOLDEN=1 dotnet test tests/BelizeMesh.Injector.Tests` and review the diff");
        string expected = File.ReadAllText(golden);
        Assert.True(expected == actual,
            $"stale golden file {golden}: the offline output changed. If the change is intended, run `REFRESH_GOLDEN=1 dotnet test tests/BelizeMesh.Injector.Tests` and review the diff.\n--- actual ---\n{actual}");
    }

    [Fact]
    public void Every_golden_file_has_an_input()
    {
        if (!Directory.Exists(GoldenDir))
        {
            return;
        }

        string[] inputs = InputNames();
        foreach (string golden in Directory.GetFiles(GoldenDir, "*.yaml"))
        {
            string name = Path.GetFileNameWithoutExtension(golden);
            Assert.True(inputs.Contains(name), $"golden file {golden} has no input Corpus/{name}.yaml: delete it");
        }
    }

    [PythonTheory]
    [MemberData(nameof(Inputs))]
    public void Webhook_patch_applies_independently_validates_and_is_idempotent(string name)
    {
        SidecarTemplate template = TemplateFor(name);
        List<PodCase> cases = CasesFor(name, ReadInput(name));
        List<PodCase> offline = OfflineCasesFor(name);
        Assert.Equal(cases.Count, offline.Count);
        Assert.NotEmpty(cases);

        for (int i = 0; i < cases.Count; i++)
        {
            PodCase c = cases[i];
            JsonObject result = s_python.Value[c.Id];
            Assert.True(result["error"] is null, $"{c.Id}: jsonpatch failed: {result["error"]}\npatch: {c.Patch.ToJsonString()}");
            JsonNode patched = result["patched"]!;

            // Both paths give the same pod.
            Assert.True(JsonNode.DeepEquals(patched, offline[i].Target),
                $"{c.Id}: webhook patch applied by jsonpatch differs from the offline output\nwebhook: {patched.ToJsonString()}\noffline: {offline[i].Target.ToJsonString()}");

            // The result is a valid Pod for Python's Draft4Validator and the project's validator.
            Assert.Equal("[]", result["schemaErrors"]!.ToJsonString());
            IReadOnlyList<string> errors = KubeSchemas.ValidatePod(AsPod(patched));
            Assert.True(errors.Count == 0, $"{c.Id}: {string.Join("; ", errors)}");

            // A second injection adds nothing.
            InjectionResult second = SidecarInjector.Inject((JsonObject)patched.DeepClone(), c.Namespace, template);
            Assert.Empty(second.Patch);
            if (c.Patch.Count > 0)
            {
                Assert.Equal(InjectionReason.AlreadyInjected, second.Reason);
                AssertSidecarOnce(patched, template.Config.NativeSidecar);
            }
        }
    }

    private static void AssertSidecarOnce(JsonNode pod, bool native)
    {
        JsonArray list = pod["spec"]![native ? "initContainers" : "containers"]!.AsArray();
        Assert.Single(list, c => c!["name"]!.GetValue<string>() == "belizemesh-proxy");
        JsonArray volumes = pod["spec"]!["volumes"]!.AsArray();
        Assert.Single(volumes, v => v!["name"]!.GetValue<string>() == "belizemesh-certs");
        Assert.Single(volumes, v => v!["name"]!.GetValue<string>() == "belizemesh-policy");
        var annotations = pod["metadata"]!["annotations"]!.AsObject();
        foreach (string key in new[] { "traffic.sidecar.istio.io/excludeInboundPorts", "traffic.sidecar.istio.io/excludeOutboundPorts" })
        {
            string[] ports = annotations[key]!.GetValue<string>().Split(',').Select(p => p.Trim()).ToArray();
            Assert.Equal(ports.Distinct().Count(), ports.Length);
            Assert.Contains("16443", ports);
        }
    }

    private static string[] InputNames() =>
        Directory.GetFiles(CorpusDir, "*.yaml")
            .Select(Path.GetFileName)
            .Where(f => !f!.EndsWith(".config.yaml", StringComparison.Ordinal))
            .Select(f => f![..^".yaml".Length])
            .Order(StringComparer.Ordinal)
            .ToArray();

    private static string ReadInput(string name) => File.ReadAllText(Path.Combine(CorpusDir, name + ".yaml"));

    internal static SidecarTemplate TemplateFor(string name)
    {
        string config = Path.Combine(CorpusDir, name + ".config.yaml");
        return new SidecarTemplate(File.Exists(config) ? InjectorConfigLoader.LoadFile(config) : InjectorConfig.Default);
    }

    /// <summary>The golden text: stderr warnings as comments, then stdout.</summary>
    private static string RenderOffline(string name)
    {
        OfflineResult result = OfflineInjector.Run(ReadInput(name), $"Corpus/{name}.yaml", TemplateFor(name));
        var text = new StringBuilder();
        foreach (string warning in result.Warnings)
        {
            text.Append("# warning: ").Append(warning.Replace('\n', ' ')).Append('\n');
        }

        return text.Append(result.Yaml).ToString();
    }

    private sealed record PodCase(string Id, string Kind, string? Namespace, JsonObject Target, JsonArray Patch);

    /// <summary>Every pod or pod template of the input with the patch the webhook path produces for it.</summary>
    private static List<PodCase> CasesFor(string name, string yaml)
    {
        SidecarTemplate template = TemplateFor(name);
        var handler = new AdmissionHandler(() => template, NullLogger.Instance);
        var cases = new List<PodCase>();
        foreach ((string kind, string? ns, JsonObject target) in Targets(YamlJsonReader.ReadDocuments(yaml, name)))
        {
            JsonArray patch;
            if (kind == "Pod")
            {
                // The full admission path: review in, base64 patch out.
                JsonObject review = Reviews.Review(target.DeepClone(), ns: ns ?? "default");
                AdmissionOutcome outcome = handler.Handle(Reviews.Bytes(review));
                Assert.Equal(200, outcome.StatusCode);
                JsonNode response = JsonNode.Parse(outcome.Body)!["response"]!;
                Assert.True(response["allowed"]!.GetValue<bool>(), $"{name}: denied: {response.ToJsonString()}");
                patch = response["patch"] is { } b64
                    ? JsonNode.Parse(Convert.FromBase64String(b64.GetValue<string>()))!.AsArray()
                    : [];
            }
            else
            {
                patch = JsonNode.Parse(JsonPatch.ToJson(SidecarInjector.Inject(target, ns, template).Patch))!.AsArray();
            }

            cases.Add(new PodCase($"{name}#{cases.Count}", kind, ns, target, patch));
        }

        return cases;
    }

    private static List<PodCase> OfflineCasesFor(string name)
    {
        OfflineResult result = OfflineInjector.Run(ReadInput(name), name, TemplateFor(name));
        return Targets(YamlJsonReader.ReadDocuments(result.Yaml, name))
            .Select((t, i) => new PodCase($"{name}#{i}", t.Kind, t.Namespace, t.Target, []))
            .ToList();
    }

    private static IEnumerable<(string Kind, string? Namespace, JsonObject Target)> Targets(IEnumerable<YamlJsonDocument> documents)
    {
        foreach (YamlJsonDocument document in documents)
        {
            if (document.Root is JsonObject obj)
            {
                foreach (var target in Targets(obj))
                {
                    yield return target;
                }
            }
        }
    }

    private static IEnumerable<(string Kind, string? Namespace, JsonObject Target)> Targets(JsonObject obj)
    {
        string? kind = obj["kind"]?.GetValue<string>();
        string? ns = obj["metadata"]?["namespace"]?.GetValue<string>();
        switch (kind)
        {
            case "List":
                foreach (JsonNode? item in obj["items"]!.AsArray())
                {
                    foreach (var target in Targets(item!.AsObject()))
                    {
                        yield return target;
                    }
                }

                break;
            case "Pod":
                yield return (kind, ns, obj);
                break;
            case "CronJob":
                yield return (kind, ns, obj["spec"]!["jobTemplate"]!["spec"]!["template"]!.AsObject());
                break;
            case "Deployment" or "StatefulSet" or "DaemonSet" or "ReplicaSet" or "Job":
                yield return (kind, ns, obj["spec"]!["template"]!.AsObject());
                break;
        }
    }

    private static JsonNode AsPod(JsonNode target) =>
        target["kind"] is not null
            ? target
            : new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "Pod",
                ["metadata"] = target["metadata"]?.DeepClone() ?? new JsonObject(),
                ["spec"] = target["spec"]!.DeepClone(),
            };

    private const string PythonScript = """
        import json, sys, jsonpatch, jsonschema
        request = json.load(sys.stdin)
        validator = jsonschema.Draft4Validator(json.load(open(request["schema"])))
        out = {}
        for case in request["cases"]:
            try:
                patched = jsonpatch.apply_patch(case["doc"], case["patch"])
            except Exception as e:
                out[case["id"]] = {"error": type(e).__name__ + ": " + str(e)}
                continue
            pod = patched if case["kind"] == "Pod" else {"apiVersion": "v1", "kind": "Pod", "metadata": patched.get("metadata") or {}, "spec": patched["spec"]}
            errors = ["/".join(map(str, e.absolute_path)) + ": " + e.message for e in validator.iter_errors(pod)]
            out[case["id"]] = {"patched": patched, "schemaErrors": errors}
        json.dump(out, sys.stdout)
        """;

    /// <summary>One python3 run for the whole corpus (start-up and schema loading dominate).</summary>
    private static Dictionary<string, JsonObject> RunPythonOverCorpus()
    {
        var all = new JsonArray();
        foreach (string name in InputNames())
        {
            foreach (PodCase c in CasesFor(name, ReadInput(name)))
            {
                all.Add(new JsonObject
                {
                    ["id"] = c.Id,
                    ["kind"] = c.Kind,
                    ["doc"] = c.Target.DeepClone(),
                    ["patch"] = c.Patch.DeepClone(),
                });
            }
        }

        var request = new JsonObject { ["schema"] = KubeSchemas.PodPath, ["cases"] = all };
        string output = Python.Run(PythonScript, request.ToJsonString());
        var results = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var (id, value) in JsonNode.Parse(output)!.AsObject())
        {
            results[id] = value!.AsObject();
        }

        return results;
    }
}
