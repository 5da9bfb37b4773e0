using BelizeMesh.Configuration;
using BelizeMesh.Proxy.Configuration;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Tests.Configuration;

/// <summary>The shared configuration core as the sidecar uses it: the error record, the YAML load step and the address
/// syntax on the address types.</summary>
public sealed class ConfigurationCoreTests
{
    [Fact]
    public void Policy_error_is_a_config_error_with_the_field_path_its_message_starts_with()
    {
        var error = new PolicyError("p.yaml", 7, 9, "spec.outbound.routes[0].host: \"a b\" is not a host name");
        ConfigError shared = error;
        Assert.Equal("spec.outbound.routes[0].host", shared.Path);
        Assert.Equal(new SourcePosition(7, 9), shared.Position);
        Assert.Equal("p.yaml:7:9: spec.outbound.routes[0].host: \"a b\" is not a host name", error.ToString());
        // Printed through the shared record's Format the path is not written twice.
        Assert.Equal("q.yaml:7:9: spec.outbound.routes[0].host: \"a b\" is not a host name", shared.Format("q.yaml"));

        Assert.Equal("", new PolicyError("p.yaml", 1, 1, "not valid YAML: while scanning a quoted scalar").Path);
        Assert.Equal("", new PolicyError("p.yaml", 1, 1, "the file is empty; expected one SidecarPolicy document").Path);
    }

    [Fact]
    public void Config_error_prints_file_line_column_path_message_and_hint()
    {
        var error = new ConfigError("mesh.yaml", new SourcePosition(3, 5), "services[0].port", "70000 is out of range") { Hint = "use 1-65535" };
        Assert.Equal("mesh.yaml:3:5: services[0].port: 70000 is out of range; use 1-65535", error.ToString());
        Assert.Equal("other.yaml:3:5: services[0].port: 70000 is out of range; use 1-65535", error.Format("other.yaml"));
        Assert.Equal("mesh.yaml:1:1: the file is empty", new ConfigError("mesh.yaml", new SourcePosition(1, 1), "", "the file is empty").ToString());
    }

    [Fact]
    public void Yaml_load_step_tells_over_limit_from_malformed_input_with_positions()
    {
        Assert.Null(YamlDocuments.Load(HostileYamlTests.DeepFlowMappings(), out YamlLoadFailure deep));
        Assert.Equal(YamlLoadFailureKind.OverLimit, deep.Kind);
        Assert.Equal(1, deep.Line);

        Assert.Null(YamlDocuments.Load("a: 1\nb: [\n", out YamlLoadFailure malformed));
        Assert.Equal(YamlLoadFailureKind.Malformed, malformed.Kind);
        Assert.True(malformed.Line >= 2, $"line {malformed.Line}");

        Assert.NotNull(YamlDocuments.Load("a: 1\n", out _));
    }

    [Fact]
    public void Yaml_fields_report_every_unknown_and_non_string_key_with_a_suggestion_and_keep_the_rest_in_order()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader("imagee: a\n? [x]\n: 1\nport: 2\nimage: b\nzzzzzz: 3\n"));
        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        var badKeys = new List<int>();
        var unknown = new List<(string Key, int Line, string? Suggestion)>();
        YamlFields fields = YamlFields.Index(
            root,
            ["image", "ports"],
            badKey: key => badKeys.Add((int)key.Start.Line),
            duplicate: field => Assert.Fail($"no key is repeated, got {field.Key}"),
            unknown: (field, suggestion) => unknown.Add((field.Key, (int)field.KeyNode.Start.Line, suggestion)));

        Assert.Equal([2], badKeys);
        Assert.Equal([("imagee", 1, "image"), ("port", 4, "ports"), ("zzzzzz", 6, null)], unknown);
        Assert.Equal(["image"], fields.InOrder.Select(f => f.Key));
        Assert.Equal("b", ((YamlScalarNode)fields.Value("image")!).Value);
        Assert.Null(fields.Value("ports"));

        var unasked = new List<(string, string?)>();
        YamlFields all = YamlFields.Index(root, null, _ => { }, _ => { });
        all.ReportUnasked(["image"], (field, suggestion) => unasked.Add((field.Key, suggestion)));
        Assert.Equal([("imagee", "image"), ("port", null), ("zzzzzz", null)], unasked);
    }

    [Theory]
    [InlineData("127.0.0.1:16001", "127.0.0.1:16001")]
    [InlineData("0.0.0.0:0", "0.0.0.0:0")]
    [InlineData("[::]:16443", "[::]:16443")]
    public void Listen_address_parses_ip_literal_and_port(string text, string expected)
    {
        Assert.True(ListenAddress.TryParse(text, out ListenAddress? address));
        Assert.Equal(expected, address.ToString());
    }

    [Theory]
    [InlineData("localhost:16001")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:65536")]
    [InlineData("::1:80")]
    [InlineData("127.0.0.1:+80")]
    public void Listen_address_rejects_names_missing_or_bad_ports(string text) => Assert.False(ListenAddress.TryParse(text, out _));

    [Theory]
    [InlineData("Nawal-PQ.BelizeChain.svc.cluster.local:16443", "nawal-pq.belizechain.svc.cluster.local", 16443)]
    [InlineData("[fd00::1]:8080", "fd00::1", 8080)]
    [InlineData("10.0.0.7:1", "10.0.0.7", 1)]
    public void Endpoint_address_parses_dns_name_or_ip_and_lower_cases_the_host(string text, string host, int port)
    {
        Assert.True(EndpointAddress.TryParse(text, out EndpointAddress? address));
        Assert.Equal((host, port), (address.Host, address.Port));
    }

    [Theory]
    [InlineData("nawal:0")]
    [InlineData("nawal")]
    [InlineData("na wal:80")]
    [InlineData("[fd00::1:80")]
    public void Endpoint_address_rejects_port_zero_and_non_host_names(string text) => Assert.False(EndpointAddress.TryParse(text, out _));
}
