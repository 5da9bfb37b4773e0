using BelizeMesh.Configuration;
using System.Text.Json.Nodes;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Mesh.Tests;

/// <summary>The mesh's YAML writer on YamlDotNet's emitter: the layout the golden files hold, and the one input the
/// emitter cannot write as given.</summary>
public sealed class YamlWriterEmitterTests
{
    [Fact]
    public void Lists_are_indented_under_their_key_empty_collections_are_flow_and_multi_line_text_is_a_literal_block()
    {
        var document = new JsonObject
        {
            ["kind"] = "ConfigMap",
            ["list"] = new JsonArray(new JsonObject { ["a"] = 1, ["b"] = new JsonArray("x", "yes") }, "z"),
            ["empty"] = new JsonObject(),
            ["none"] = new JsonArray(),
            ["pem"] = "-----BEGIN X-----\nAAAA\n-----END X-----\n",
            ["port"] = "16443",
        };

        Assert.Equal(
            "kind: ConfigMap\n" +
            "list:\n" +
            "  - a: 1\n" +
            "    b:\n" +
            "      - x\n" +
            "      - \"yes\"\n" +
            "  - z\n" +
            "empty: {}\n" +
            "none: []\n" +
            "pem: |\n" +
            "  -----BEGIN X-----\n" +
            "  AAAA\n" +
            "  -----END X-----\n" +
            "port: \"16443\"\n",
            YamlWriter.ToYaml(document));
    }

    [Fact]
    public void Documents_are_separated_by_three_dashes()
    {
        var output = new System.Text.StringBuilder();
        YamlWriter.WriteDocuments(output, [new JsonObject { ["a"] = 1 }, new JsonObject { ["b"] = true }]);
        Assert.Equal("a: 1\n---\nb: true\n", output.ToString());
    }

    [Fact]
    public void Unpaired_surrogate_is_written_as_the_replacement_character_instead_of_failing()
    {
        string yaml = YamlWriter.ToYaml(new JsonObject { ["v"] = "a\ud800b", ["pair"] = "\U0001F600" });
        var back = YamlJson.Load(yaml)!.AsObject();
        Assert.Equal("a\uFFFDb", (string)back["v"]!);
        Assert.Equal("\U0001F600", (string)back["pair"]!);
    }
    [Fact]
    public void One_quoting_rule_for_both_layouts_only_the_list_indentation_differs()
    {
        var document = new JsonObject
        {
            ["plain"] = new JsonArray("0.0.0.0:16021", "--policy", "http://127.0.0.1:16001", "version-1.2"),
            ["single"] = new JsonArray("*", "{\"a\":1}", "a: b"),
            ["double"] = new JsonArray("16443", "yes", "Off", "~", "", "1e3", "0x1F", "2001-12-14 21:59:43.10 -5", "tab\there"),
            ["number"] = JsonNode.Parse("1.0"),
        };

        string indented = YamlWriter.ToYaml([document], YamlListLayout.Indented);
        string kubectl = YamlWriter.ToYaml([document], YamlListLayout.Kubectl);
        Assert.Equal(
            "plain:\n- 0.0.0.0:16021\n- --policy\n- http://127.0.0.1:16001\n- version-1.2\n" +
            "single:\n- '*'\n- '{\"a\":1}'\n- 'a: b'\n" +
            "double:\n- \"16443\"\n- \"yes\"\n- \"Off\"\n- \"~\"\n- \"\"\n- \"1e3\"\n- \"0x1F\"\n- \"2001-12-14 21:59:43.10 -5\"\n- \"tab\there\"\n" +
            "number: 1.0\n",
            kubectl);
        Assert.Equal(kubectl.Replace("\n- ", "\n  - ", StringComparison.Ordinal), indented);
        Assert.True(JsonNode.DeepEquals(document, YamlJson.Load(kubectl)));
        Assert.True(JsonNode.DeepEquals(document, YamlJson.Load(indented)));
    }

    /// <summary>Every form of the YAML 1.1 float and int types (yaml.org/type/float.html, int.html) that PyYAML or
    /// kubectl would read back as a number: sexagesimal floats, infinities and NaN, signed and bare fractions,
    /// binary, octal and hex integers, '_' separators.</summary>
    [Theory]
    [InlineData("1:20.5")]
    [InlineData("-1:20.5")]
    [InlineData("+1:20.5")]
    [InlineData("190:20:30.15")]
    [InlineData("1:20.")]
    [InlineData("1_0:20")]
    [InlineData("1_0:20.5_0")]
    [InlineData(".inf")]
    [InlineData("-.Inf")]
    [InlineData("+.INF")]
    [InlineData(".NaN")]
    [InlineData(".nan")]
    [InlineData("+.5")]
    [InlineData("-.5")]
    [InlineData(".5")]
    [InlineData("1.")]
    [InlineData("1_0.5")]
    [InlineData("6.8523015e+5")]
    [InlineData("0b1010")]
    [InlineData("-0b1_0")]
    [InlineData("0x1F")]
    [InlineData("-0x_1f")]
    [InlineData("1_000")]
    [InlineData("0777")]
    [InlineData("1:20")]
    [InlineData("1e3")]
    public void Scalar_a_yaml_1_1_reader_takes_for_a_number_is_quoted(string value)
    {
        string yaml = YamlWriter.ToYaml(new JsonObject { ["v"] = value });
        Assert.Equal($"v: \"{value}\"\n", yaml);
        Assert.Equal(value, (string)YamlJson.Load(yaml)!.AsObject()["v"]!);
    }

    /// <summary>Near misses YAML 1.1 reads as strings stay plain: a sexagesimal part over 59, a version, a unit.</summary>
    [Theory]
    [InlineData("1:60.5")]
    [InlineData("1.2.3")]
    [InlineData("1:20.5s")]
    [InlineData("v1:20.5")]
    public void Scalar_no_yaml_reader_takes_for_a_number_stays_plain(string value) =>
        Assert.Equal($"v: {value}\n", YamlWriter.ToYaml(new JsonObject { ["v"] = value }));
}
