using BelizeMesh.Configuration;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Tests.Configuration;

/// <summary>The reads the configuration core's binder gives every schema (sidecar policy, mesh description, injector).</summary>
public sealed class YamlMapReadsTests
{
    private static (YamlMap Map, BindContext Ctx) Bind(string yaml)
    {
        var stream = YamlDocuments.Load(yaml, out _)!;
        var ctx = new BindContext("t.yaml");
        return (YamlMap.From(stream.Documents[0].RootNode, "", ctx, "a test document")!, ctx);
    }

    [Fact]
    public void Enum_suggests_the_value_that_differs_only_in_case()
    {
        var (map, ctx) = Bind("mode: strict\n");
        Assert.Null(map.Enum("mode", [("STRICT", 1), ("DISABLE", 2)]));
        Assert.Equal("t.yaml:1:7: mode: expected one of STRICT, DISABLE, got \"strict\"; did you mean \"STRICT\"?", Assert.Single(ctx.Errors).ToString());
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("True", true)]
    [InlineData("FALSE", false)]
    public void Bool_reads_the_yaml_core_schema_words(string text, bool expected)
    {
        var (map, ctx) = Bind($"on: {text}\n");
        Assert.Equal(expected, map.Bool("on"));
        Assert.Empty(ctx.Errors);
    }

    [Fact]
    public void Quoted_digits_are_a_port_only_where_the_schema_allows_them()
    {
        var (map, ctx) = Bind("ports: [\"8080\", 70000]\nport: \"8080\"\n");
        var ports = new List<int>();
        Assert.True(map.ForEachItem("ports", "port", (item, at) =>
        {
            if (map.IntValue(item, at, 1, 65535, "a port number", quotedDigits: true) is { } port)
            {
                ports.Add(port);
            }
        }));
        Assert.Equal([8080], ports);
        Assert.Null(map.Int("port", 1, 65535, hint: "a port number"));
        Assert.Equal(
            [
                "t.yaml:1:17: ports[1]: 70000 is out of range; expected a port number from 1 to 65535",
                "t.yaml:2:7: port: expected a port number from 1 to 65535, got the string \"8080\"",
            ],
            ctx.Sorted().Select(e => e.ToString()));
    }

    [Fact]
    public void Unknown_fields_list_what_the_schema_read_and_what_it_allowed()
    {
        var (map, ctx) = Bind("name: a\nlegacy: 1\nnmae: b\n");
        map.String("name");
        map.Allow("legacy");
        map.Finish();
        Assert.Equal("t.yaml:3:1: nmae: unknown field \"nmae\"; did you mean \"name\"? (allowed here: legacy, name)", Assert.Single(ctx.Errors).ToString());
    }

    [Fact]
    public void Quantities_and_longs_are_checked_at_their_value()
    {
        var (map, ctx) = Bind("cpu: 100m\nmemory: lots\nbytes: \"12\"\n");
        Assert.Equal("100m", map.Quantity("cpu"));
        Assert.Null(map.Quantity("memory"));
        Assert.Null(map.Long("bytes", "a number of bytes"));
        Assert.Equal(
            [
                "t.yaml:2:9: memory: \"lots\" is not a positive Kubernetes quantity; expected e.g. 100m, 0.5, 128Mi, 1Gi",
                "t.yaml:3:8: bytes: expected a number of bytes, got the string \"12\"; write a plain number without quotes",
            ],
            ctx.Sorted().Select(e => e.ToString()));
    }

    [Fact]
    public void Sorted_keeps_the_order_found_for_one_position()
    {
        var ctx = new BindContext("t.yaml");
        ctx.Error(new SourcePosition(2, 1), "b", "second line");
        ctx.Error(new SourcePosition(1, 1), "a", "first found");
        ctx.Error(new SourcePosition(1, 1), "a", "then this");
        Assert.Equal(["first found", "then this", "second line"], ctx.Sorted().Select(e => e.Message));
    }

    [Fact]
    public void A_repeated_key_is_named_in_the_shared_wording()
    {
        const string text = "a: 1\nb: 2\na: 3\n";
        Assert.Null(YamlDocuments.Load(text, out YamlLoadFailure failure));
        Assert.Equal("t.yaml:3:1: duplicate key \"a\" in one mapping; each field may appear once", YamlDocuments.Describe(failure, "t.yaml", text).ToString());
    }

    [Fact]
    public void Quoted_numbers_and_booleans_are_read_only_where_the_format_always_took_them()
    {
        const string yaml = "n: \"3\"\nb: \"true\"\np: \"10\"\n";
        var strict = Bind(yaml);
        Assert.Null(strict.Map.Int("n", 0, 10));
        Assert.Null(strict.Map.Bool("b"));
        Assert.Null(strict.Map.Percentage("p"));
        Assert.Equal(3, strict.Ctx.Errors.Count);

        var stream = YamlDocuments.Load(yaml, out _)!;
        var ctx = new BindContext("t.yaml") { QuotedNumbers = true, QuotedBooleans = true };
        var lenient = YamlMap.From(stream.Documents[0].RootNode, "", ctx, "a test document")!;
        Assert.Equal(3, lenient.Int("n", 0, 10));
        Assert.True(lenient.Bool("b"));
        Assert.Equal(10, lenient.Percentage("p"));
        Assert.Empty(ctx.Errors);
    }
}
