using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Yaml;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Injector.Tests;

/// <summary>Mutated and hostile injector configuration and workload YAML: always a result or a located
/// <see cref="ConfigException"/> / <see cref="YamlInputException"/>, never another exception or a hang.</summary>
public sealed class YamlFuzzTests
{
    private const string Config = "image: belizemesh/proxy:1.0\nnativeSidecar: true\nports: { inbound: 16443, outbound: 16001, admin: 16090 }\nresources:\n  requests: { cpu: 50m, memory: 64Mi }\n  limits: { memory: 128Mi }\n";

    [Fact]
    public void Mutated_injector_configuration_is_answered_with_a_config_or_a_located_error()
    {
        InjectorConfigLoader.Parse(Config, "config.yaml");
        YamlFuzz.Run([Config], seed: 12, count: 10_000, perCase: TimeSpan.FromSeconds(5), text =>
        {
            try
            {
                InjectorConfigLoader.Parse(text, "fuzz.yaml");
            }
            catch (ConfigException e)
            {
                Assert.Contains("fuzz.yaml", e.Message, StringComparison.Ordinal);
            }
        });
    }

    [Fact]
    public void Mutated_workload_yaml_is_read_or_refused_with_a_located_error()
    {
        string corpus = Path.Combine(RepoPaths.Root, "tests", "BelizeMesh.Injector.Tests", "Corpus");
        string[] valid = [.. Directory.GetFiles(corpus, "*.yaml").Order(StringComparer.Ordinal).Select(File.ReadAllText)];
        YamlFuzz.Run(valid, seed: 13, count: 10_000, perCase: TimeSpan.FromSeconds(5), text =>
        {
            try
            {
                YamlJsonReader.ReadDocuments(text, "fuzz.yaml");
            }
            catch (YamlInputException e)
            {
                Assert.StartsWith("fuzz.yaml:", e.Message, StringComparison.Ordinal);
            }
        });
    }

    [Fact]
    public void Alias_bomb_in_injector_configuration_is_refused_before_loading()
    {
        var yaml = new System.Text.StringBuilder("a0: &a0 [x, x]\n");
        for (int i = 1; i <= 24; i++)
        {
            yaml.Append(FormattableString.Invariant($"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n"));
        }

        var e = Assert.Throws<ConfigException>(() => InjectorConfigLoader.Parse(yaml.ToString(), "config.yaml"));
        Assert.Contains("refused before parsing: aliases expand the document past 1,000,000 nodes", e.Message, StringComparison.Ordinal);
    }
}
