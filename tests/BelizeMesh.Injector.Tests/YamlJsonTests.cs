using BelizeMesh.Configuration;
using System.Text.Json;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Yaml;

namespace BelizeMesh.Injector.Tests;

public sealed class YamlJsonTests
{
    [Theory]
    [InlineData("\"true\"", "\"true\"")]
    [InlineData("'16443'", "\"16443\"")]
    [InlineData("\"0.5\"", "\"0.5\"")]
    [InlineData("yes", "\"yes\"")]
    [InlineData("on", "\"on\"")]
    [InlineData("100m", "\"100m\"")]
    [InlineData("true", "true")]
    [InlineData("False", "false")]
    [InlineData("16443", "16443")]
    [InlineData("-3", "-3")]
    [InlineData("0x1F", "31")]
    [InlineData("0o17", "15")]
    [InlineData("0.5", "0.5")]
    [InlineData("1e3", "1000")]
    [InlineData("~", "null")]
    [InlineData("null", "null")]
    [InlineData("!!str 42", "\"42\"")]
    [InlineData("!!int \"42\"", "42")]
    [InlineData("2024-01-02", "\"2024-01-02\"")]
    [InlineData(".inf", "\".inf\"")]
    public void Scalar_keeps_yaml_core_schema_type(string yaml, string json)
    {
        JsonNode? value = YamlJsonReader.ReadDocuments("v: " + yaml + "\n", "t.yaml")[0].Root!["v"];
        Assert.Equal(json, value?.ToJsonString() ?? "null");
    }

    [Fact]
    public void Strings_that_look_like_other_types_are_quoted_on_output_and_read_back_identically()
    {
        var doc = new JsonObject();
        string[] tricky = ["true", "False", "yes", "NO", "on", "y", "null", "~", "", "16443", "0.5", "1e3", "0x1F", "0o7", "1_000", "1:20", ".inf", "-.5", "2024-01-02",
            "=", "<<", "- item", "a: b", "#comment", "@at", "`tick", "'single'", "\"double\"", "trailing ", " leading", "line1\nline2", "tab\there", "100m", "9000,16443", "-", "--policy",
            "*", "&a", "!x", "%x", "[a]", "{a}", "a #b", "a:b", "?", "|", ">", ",", "ümlaut ✓", "a\"b", "back\\slash", "\r\n", " ", "0", "-0", "+1", "1.", "00", "0777", "infinity", "NaN"];
        for (int i = 0; i < tricky.Length; i++)
        {
            doc["k" + i] = tricky[i];
        }

        doc["int"] = 16443;
        doc["bool"] = true;
        doc["float"] = 0.25;
        doc["null"] = null;
        doc["empty-list"] = new JsonArray();
        doc["empty-map"] = new JsonObject();
        string yaml = YamlWriter.ToYaml([doc], YamlListLayout.Kubectl);
        JsonNode back = YamlJsonReader.ReadDocuments(yaml, "round-trip")[0].Root!;
        Assert.True(JsonNode.DeepEquals(doc, back), yaml);
        Assert.Contains("k0: \"true\"\n", yaml, StringComparison.Ordinal);
        Assert.Contains("k9: \"16443\"\n", yaml, StringComparison.Ordinal);
        Assert.Contains("k32: 100m\n", yaml, StringComparison.Ordinal);
        Assert.Contains("int: 16443\n", yaml, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\n5")]
    [InlineData("\n\n")]
    [InlineData("a\n")]
    [InlineData("a\n\n")]
    [InlineData(" \na")]
    [InlineData("\n a")]
    [InlineData("a\n b")]
    [InlineData("#\na")]
    [InlineData("- \na")]
    [InlineData("\u00a0\n")]
    [InlineData("\u0085")]
    [InlineData("a\r\nb")]
    public void Multi_line_strings_round_trip_as_values_and_keys(string text)
    {
        var doc = new JsonObject { ["v"] = text, [text] = "k" };
        string yaml = YamlWriter.ToYaml([doc], YamlListLayout.Kubectl);
        JsonNode back = YamlJsonReader.ReadDocuments(yaml, "ml")[0].Root!;
        Assert.True(JsonNode.DeepEquals(doc, back), yaml);
    }

    [Fact]
    public void Multiple_documents_round_trip_and_empty_ones_are_skipped()
    {
        var docs = YamlJsonReader.ReadDocuments("a: 1\n---\n---\nb: [x, 'y']\n...\n", "multi.yaml");
        Assert.Equal(2, docs.Count);
        Assert.Equal(4, docs[1].Line);
        Assert.Equal("a: 1\n---\nb:\n- x\n- \"y\"\n", YamlWriter.ToYaml(docs.Select(d => d.Root).ToList(), YamlListLayout.Kubectl));
    }

    [Fact]
    public void Merge_keys_and_aliases_are_expanded()
    {
        JsonNode doc = YamlJsonReader.ReadDocuments("base: &b {cpu: 100m, memory: 1Gi}\nr:\n  <<: *b\n  memory: 2Gi\n", "m.yaml")[0].Root!;
        Assert.Equal("""{"base":{"cpu":"100m","memory":"1Gi"},"r":{"memory":"2Gi","cpu":"100m"}}""", doc.ToJsonString());
    }

    [Fact]
    public void Duplicate_key_is_an_error_with_position()
    {
        var e = Assert.Throws<YamlInputException>(() => YamlJsonReader.ReadDocuments("metadata:\n  name: a\n  name: b\n", "dup.yaml"));
        Assert.StartsWith("dup.yaml:3:3: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("name", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Syntax_error_names_file_line_and_column()
    {
        var e = Assert.Throws<YamlInputException>(() => YamlJsonReader.ReadDocuments("kind: Pod\nspec:\n  containers: [a, b\n", "broken.yaml"));
        Assert.StartsWith("broken.yaml:4:1: not valid YAML: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Non_scalar_key_is_an_error()
    {
        var e = Assert.Throws<YamlInputException>(() => YamlJsonReader.ReadDocuments("? [a, b]\n: c\n", "key.yaml"));
        Assert.Equal("key.yaml:1:3: refused before parsing: a mapping or sequence used as a mapping key; keys must be plain scalars", e.Message);
    }

    [Fact]
    public void Json_input_is_read_as_yaml()
    {
        JsonNode doc = YamlJsonReader.ReadDocuments("""{"kind": "Pod", "spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}]}}""", "pod.json")[0].Root!;
        Assert.Equal(JsonValueKind.Number, doc["spec"]!["containers"]![0]!["ports"]![0]!["containerPort"]!.GetValueKind());
    }
}
