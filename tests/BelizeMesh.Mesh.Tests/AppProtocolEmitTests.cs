using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.TestSupport;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Mesh.Tests;

/// <summary>A service port's protocol (written or from its name, as Istio reads it) becomes the sidecar policy's
/// <c>inbound.appProtocol</c>: gRPC and HTTP/2 apps are reached with HTTP/2, others with HTTP/1.1.</summary>
public sealed class AppProtocolEmitTests
{
    private const string Header = "apiVersion: belizemesh.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: t\nspec:\n  namespace: shop\n  services:\n";

    private static (JsonNode Emitted, InboundSpec Parsed) Inbound(string ports, string extra = "")
    {
        var parsed = MeshParser.Parse(Header + $"    - name: cart\n      ports: {ports}\n{extra}", "mesh.yaml");
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors));
        var resources = MeshEmitter.Emit(parsed.Mesh!);
        string text = (string)Assert.Single(resources, r => r.Kind == ResourceKind.ConfigMap && r.Name == "belizemesh-policy-cart").Document["data"]!["policy.yaml"]!;
        PolicyParseResult sidecar = PolicyParser.Parse(text, "policy.yaml", new PolicyParserOptions { PqChannelAvailable = true });
        Assert.True(sidecar.Succeeded, string.Join("\n", sidecar.Errors));
        return (YamlJson.Load(text)!["spec"]!["inbound"]!, sidecar.Policy!.Spec.Inbound);
    }

    [Theory]
    [InlineData("[{ name: grpc, number: 50051 }]", AppProtocol.Grpc)]
    [InlineData("[{ name: api, number: 50051, protocol: GRPC }]", AppProtocol.Grpc)]
    [InlineData("[{ name: http2-api, number: 8080 }]", AppProtocol.Http2)]
    [InlineData("[{ name: grpc-web, number: 8080 }]", AppProtocol.Http)]
    [InlineData("[{ name: http, number: 8080 }]", AppProtocol.Http)]
    public void App_port_protocol_becomes_the_sidecars_app_protocol(string ports, AppProtocol expected)
        => Assert.Equal(expected, Inbound(ports).Parsed.AppProtocol);

    [Fact]
    public void Http_app_port_writes_no_app_protocol_as_before()
        => Assert.Null(Inbound("[{ name: http, number: 8080 }]").Emitted["appProtocol"]);

    [Fact]
    public void Other_app_ports_state_their_protocol_only_where_it_differs()
    {
        (JsonNode emitted, InboundSpec parsed) = Inbound("[{ name: grpc, number: 50051 }, { name: http-admin, number: 9090 }, { name: grpc-health, number: 50052 }]");

        Assert.Equal("grpc", (string?)emitted["appProtocol"]);
        Assert.Equal("http", (string?)emitted["apps"]![0]!["appProtocol"]);
        Assert.Null(emitted["apps"]![1]!["appProtocol"]);
        Assert.Equal([(9090, AppProtocol.Http), (50052, AppProtocol.Grpc)], parsed.Apps.Select(a => (a.Port, a.AppProtocol)));
    }

    [Fact]
    public void Translated_app_port_takes_the_protocol_of_the_first_http_family_port()
        => Assert.Equal(AppProtocol.Grpc, Inbound("[{ name: grpc, number: 80 }]", "      appPort: 50051\n").Parsed.AppProtocol);
}
