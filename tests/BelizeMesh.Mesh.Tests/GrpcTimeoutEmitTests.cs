using System.Text.Json.Nodes;
using BelizeMesh.Mesh.Emit;
using BelizeMesh.Mesh.Model;
using BelizeMesh.Mesh.Parsing;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.TestSupport;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Mesh.Tests;

/// <summary>GRPC ports get no idle timeout, as Istio sets none: the service's gRPC app entries carry <c>timeout: 0s</c>,
/// and so do its callers' routes unless the VirtualService sets a timeout; the sidecar reads them back as written.</summary>
public sealed class GrpcTimeoutEmitTests
{
    private const string Header = "apiVersion: belizemesh.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: t\nspec:\n  namespace: shop\n  services:\n";

    private static readonly PolicyParserOptions s_options = new() { PqChannelAvailable = true };

    private static MeshDescription Parse(string services)
    {
        var result = MeshParser.Parse(Header + services, "mesh.yaml");
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Mesh!;
    }

    /// <summary>The emitted policy of <paramref name="service"/>, as YAML-read JSON and as the sidecar parses it.</summary>
    private static (JsonNode Emitted, SidecarPolicy Parsed) Policy(MeshDescription mesh, string service)
    {
        var configMap = Assert.Single(MeshEmitter.Emit(mesh), r => r.Kind == ResourceKind.ConfigMap && r.Name == "belizemesh-policy-" + service).Document;
        string text = (string)configMap["data"]!["policy.yaml"]!;
        PolicyParseResult parsed = PolicyParser.Parse(text, "policy.yaml", s_options);
        Assert.True(parsed.Succeeded, string.Join("\n", parsed.Errors) + "\n" + text);
        return (YamlJson.Load(text)!, parsed.Policy!);
    }

    private static JsonNode RouteTo(JsonNode policy, string host)
        => policy["spec"]!["outbound"]!["routes"]!.AsArray().Single(r => (string?)r!["host"] == host)!;

    [Fact]
    public void A_grpc_app_port_and_its_grpc_entries_have_no_timeout_and_its_http_entries_keep_60_seconds()
    {
        var mesh = Parse("""
                - name: cart
                  ports: [{ name: grpc, number: 50051 }, { name: http-admin, number: 9090 }, { name: grpc-health, number: 50052 }]
            """);
        (JsonNode emitted, SidecarPolicy parsed) = Policy(mesh, "cart");
        JsonNode inbound = emitted["spec"]!["inbound"]!;

        Assert.Equal("0s", (string?)inbound["timeout"]);
        Assert.Equal("60s", (string?)inbound["apps"]![0]!["timeout"]); // http-admin would inherit 0s
        Assert.Null(inbound["apps"]![1]!["timeout"]); // grpc-health inherits 0s
        Assert.Equal(TimeSpan.Zero, parsed.Spec.Inbound.Timeout);
        Assert.Equal([(9090, TimeSpan.FromSeconds(60)), (50052, TimeSpan.Zero)], parsed.Spec.Inbound.Apps.Select(a => (a.Port, a.Timeout)));
    }

    [Fact]
    public void A_grpc_entry_next_to_an_http_app_port_writes_its_own_zero_timeout()
    {
        var mesh = Parse("""
                - name: cart
                  ports: [{ name: http, number: 8080 }, { name: grpc, number: 50051 }]
            """);
        (JsonNode emitted, SidecarPolicy parsed) = Policy(mesh, "cart");
        JsonNode inbound = emitted["spec"]!["inbound"]!;

        Assert.Null(inbound["timeout"]);
        Assert.Equal("0s", (string?)inbound["apps"]![0]!["timeout"]);
        Assert.Equal(TimeSpan.FromSeconds(60), parsed.Spec.Inbound.Timeout);
        Assert.Equal(TimeSpan.Zero, Assert.Single(parsed.Spec.Inbound.Apps).Timeout);
    }

    [Fact]
    public void An_http_service_writes_no_timeouts_as_before()
    {
        var mesh = Parse("""
                - name: cart
                  ports: [{ name: http, number: 8080 }, { name: http-admin, number: 9090 }]
                - name: web
                  ports: [{ name: http, number: 8080 }]
            """);
        JsonNode cart = Policy(mesh, "cart").Emitted;
        Assert.Null(cart["spec"]!["inbound"]!["timeout"]);
        Assert.Null(cart["spec"]!["inbound"]!["apps"]![0]!["timeout"]);
        Assert.Null(RouteTo(Policy(mesh, "web").Emitted, "cart.shop.svc.cluster.local")["timeout"]);
    }

    [Fact]
    public void Callers_of_a_service_with_a_grpc_port_have_no_route_timeout_unless_the_virtual_service_sets_one()
    {
        var mesh = Parse("""
                - name: cart
                  ports: [{ name: http, number: 8080 }, { name: grpc, number: 50051 }]
                - name: stock
                  ports: [{ name: grpc, number: 50051 }]
                  timeout: 15s
                - name: web
                  ports: [{ name: http, number: 8080 }]
            """);
        (JsonNode emitted, SidecarPolicy parsed) = Policy(mesh, "web");

        Assert.Equal("0s", (string?)RouteTo(emitted, "cart.shop.svc.cluster.local")["timeout"]);
        Assert.Equal("15s", (string?)RouteTo(emitted, "stock.shop.svc.cluster.local")["timeout"]);
        Assert.Equal(TimeSpan.Zero, parsed.Spec.Outbound.Routes.Single(r => r.Host == "cart.shop.svc.cluster.local").Timeout);
        Assert.Equal(TimeSpan.FromSeconds(15), parsed.Spec.Outbound.Routes.Single(r => r.Host == "stock.shop.svc.cluster.local").Timeout);
    }

    [Fact]
    public void A_rule_of_a_grpc_service_keeps_its_own_timeout_and_otherwise_inherits_no_timeout()
    {
        var mesh = Parse("""
                - name: stock
                  ports: [{ name: grpc, number: 50051 }]
                  routes:
                    - name: slow
                      match: { paths: ["/stock.Admin/*"] }
                      timeout: 5s
                    - name: rest
                - name: web
                  ports: [{ name: http, number: 8080 }]
            """);
        OutboundRouteSpec route = Policy(mesh, "web").Parsed.Spec.Outbound.Routes.Single(r => r.Host == "stock.shop.svc.cluster.local");

        Assert.Equal(TimeSpan.Zero, route.Timeout);
        Assert.Equal(TimeSpan.FromSeconds(5), route.Http.Single(r => r.Name == "slow").Timeout);
        Assert.Null(route.Http.Single(r => r.Name == "rest").Timeout); // the route's: none
    }
}
