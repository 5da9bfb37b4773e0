using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Proxy.Tests.Configuration;

/// <summary><c>spec.inbound.appProtocol</c> and <c>spec.inbound.apps[].appProtocol</c>: how the inbound speaks to the app.</summary>
public sealed class AppProtocolParserTests
{
    private static readonly PolicyParserOptions s_options = new() { PqChannelAvailable = true };

    // Line 7 is inboundExtra's first line.
    private static string Policy(string inboundExtra) => $"""
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        spec:
          inbound:
            app: "http://127.0.0.1:8080"
            mode: DISABLE
        {inboundExtra}
          outbound:
            mode: DISABLE
            routes: []
        """;

    private static InboundSpec Inbound(string inboundExtra)
    {
        PolicyParseResult result = PolicyParser.Parse(Policy(inboundExtra), "policy.yaml", s_options);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Policy!.Spec.Inbound;
    }

    private static PolicyError SingleError(string inboundExtra)
    {
        PolicyParseResult result = PolicyParser.Parse(Policy(inboundExtra), "policy.yaml", s_options);
        Assert.False(result.Succeeded);
        return Assert.Single(result.Errors);
    }

    [Fact]
    public void Without_the_field_the_app_and_its_ports_are_spoken_to_over_http1()
    {
        InboundSpec inbound = Inbound("    apps: [{ port: 9944 }]");
        Assert.Equal(AppProtocol.Http, inbound.AppProtocol);
        Assert.Equal(AppProtocol.Http, Assert.Single(inbound.Apps).AppProtocol);
        Assert.False(inbound.AppProtocol.IsHttp2());
    }

    [Theory]
    [InlineData("http", AppProtocol.Http, false)]
    [InlineData("http2", AppProtocol.Http2, true)]
    [InlineData("grpc", AppProtocol.Grpc, true)]
    [InlineData("h2c", AppProtocol.H2c, true)]
    public void Each_value_is_read_and_http2_ones_use_http2(string text, AppProtocol expected, bool http2)
    {
        InboundSpec inbound = Inbound($"    appProtocol: {text}");
        Assert.Equal(expected, inbound.AppProtocol);
        Assert.Equal(http2, inbound.AppProtocol.IsHttp2());
    }

    [Fact]
    public void App_entries_inherit_the_top_level_value_unless_they_set_their_own()
    {
        InboundSpec inbound = Inbound("    appProtocol: grpc\n    apps:\n      - port: 9944\n      - port: 9933\n        appProtocol: http");
        Assert.Equal(AppProtocol.Grpc, inbound.AppProtocol);
        Assert.Equal(AppProtocol.Grpc, inbound.Apps[0].AppProtocol);
        Assert.Equal(AppProtocol.Http, inbound.Apps[1].AppProtocol);
    }

    [Fact]
    public void App_entry_may_be_http2_under_an_http1_default()
        => Assert.Equal(AppProtocol.H2c, Assert.Single(Inbound("    apps: [{ port: 50051, appProtocol: h2c }]").Apps).AppProtocol);

    [Fact]
    public void Misspelt_value_is_reported_where_it_is_with_a_suggestion()
    {
        PolicyError error = SingleError("    appProtocol: grcp");
        Assert.Equal(("policy.yaml", 7, 18), (error.File, error.Line, error.Column));
        Assert.Equal("spec.inbound.appProtocol: expected one of http, http2, grpc, h2c, got \"grcp\"; did you mean \"grpc\"?", error.Message);
    }

    [Fact]
    public void Misspelt_entry_value_names_the_entry()
    {
        PolicyError error = SingleError("    apps:\n      - port: 9944\n        appProtocol: HTTP2");
        Assert.Equal(("policy.yaml", 9, 22), (error.File, error.Line, error.Column));
        Assert.StartsWith("spec.inbound.apps[0].appProtocol: expected one of http, http2, grpc, h2c, got \"HTTP2\"", error.Message, StringComparison.Ordinal);
    }
}
