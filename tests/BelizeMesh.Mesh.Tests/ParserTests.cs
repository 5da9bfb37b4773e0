using BelizeMesh.Mesh.Model;
using BelizeMesh.Mesh.Parsing;

namespace BelizeMesh.Mesh.Tests;

public sealed class ParserTests
{
    private const string Header = "apiVersion: belizemesh.io/v1alpha1\nkind: Mesh\nmetadata:\n  name: t\nspec:\n  namespace: shop\n  services:\n";

    private static IReadOnlyList<string> Errors(string services)
    {
        var result = MeshParser.Parse(Header + services, "mesh.yaml");
        Assert.False(result.Succeeded);
        return result.Errors.Select(e => e.ToString()).ToList();
    }

    private static MeshDescription Parse(string services)
    {
        var result = MeshParser.Parse(Header + services, "mesh.yaml");
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Mesh!;
    }

    [Fact]
    public void Unknown_field_is_reported_with_position_and_suggestion()
    {
        var errors = Errors("    - name: cart\n      ports: [{ name: http, number: 80 }]\n      timout: 30s\n");
        Assert.Equal(
            ["mesh.yaml:10:7: spec.services[0].timout: unknown field \"timout\"; did you mean \"timeout\"? (allowed here: appPort, authorization, connectionPool, jwt, labels, loadBalancing, mtls, name, namespace, outlierDetection, ports, quantum, rateLimits, retries, routes, serviceAccount, subsets, timeout, tlsMode)"],
            errors);
    }

    [Fact]
    public void Wrong_type_names_what_was_expected()
    {
        var errors = Errors("    - name: cart\n      ports: [{ name: http, number: eighty }]\n");
        Assert.Equal(["mesh.yaml:9:37: spec.services[0].ports[0].number: expected a port number from 1 to 65535, got \"eighty\""], errors);
    }

    [Fact]
    public void Quoted_number_is_a_string_not_an_integer()
    {
        var errors = Errors("    - name: cart\n      ports: [{ name: http, number: \"80\" }]\n");
        Assert.Equal(["mesh.yaml:9:37: spec.services[0].ports[0].number: expected a port number from 1 to 65535, got the string \"80\""], errors);
    }

    [Fact]
    public void Invalid_duration_explains_the_format()
    {
        var errors = Errors("    - name: cart\n      ports: [{ name: http, number: 80 }]\n      timeout: 5 minutes\n");
        Assert.Equal(["mesh.yaml:10:16: spec.services[0].timeout: \"5 minutes\" is not a duration; expected a number with unit h, m, s or ms, e.g. 300s, 5m, 1h, 100ms (0 means none)"], errors);
    }

    [Fact]
    public void Reference_to_unknown_service_names_the_service_and_namespace()
    {
        var errors = Errors("    - name: cart\n      ports: [{ name: http, number: 80 }]\n      routes:\n        - name: r\n          destinations: [{ service: billing }]\n");
        Assert.Equal(["mesh.yaml:12:37: spec.services[0].routes[0].destinations[0].service: unknown service \"billing\" in namespace \"shop\"; declare it under spec.services or fix the name (write \"name.namespace\" for another namespace)"], errors);
    }

    [Fact]
    public void Every_problem_is_reported_not_just_the_first()
    {
        var errors = Errors("    - name: cart\n      ports: [{ name: http, number: 0 }]\n      timeout: soon\n      quantum: maybe\n");
        Assert.Equal(3, errors.Count); // number, timeout, quantum (no cascade from the dropped port)
        Assert.Contains(errors, e => e.StartsWith("mesh.yaml:9:37: spec.services[0].ports[0].number: 0 is out of range", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("mesh.yaml:10:16: spec.services[0].timeout:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("mesh.yaml:11:16: spec.services[0].quantum: expected true or false", StringComparison.Ordinal));
    }

    [Fact]
    public void Duplicate_keys_are_rejected()
    {
        var errors = Errors("    - name: cart\n      name: cart2\n      ports: [{ name: http, number: 80 }]\n");
        Assert.Equal(["mesh.yaml:9:7: duplicate key \"name\" in one mapping; each field may appear once"], errors);
    }

    [Fact]
    public void Defaults_fill_service_account_labels_and_quantum()
    {
        var mesh = Parse("    - name: cart\n      ports: [{ name: http-web, number: 8080 }]\n");
        var cart = Assert.Single(mesh.Services);
        Assert.Equal("cart", cart.ServiceAccount);
        Assert.Equal([new KeyValuePair<string, string>("app", "cart")], cart.Labels);
        Assert.True(cart.Quantum);
        Assert.Equal(8080, cart.EffectiveAppPort);
        Assert.Equal("cluster.local", mesh.TrustDomain);
        Assert.Equal("spiffe://cluster.local/ns/shop/sa/cart", mesh.SpiffeIdOf(cart));
    }

    [Theory]
    [InlineData("300s", 300_000)]
    [InlineData("5m", 300_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("100ms", 100)]
    [InlineData("1.5s", 1500)]
    [InlineData("0", 0)]
    [InlineData("0s", 0)]
    public void Durations_parse_like_istio(string text, long milliseconds)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(milliseconds, (long)value.TotalMilliseconds);
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("-1s")]
    [InlineData("5 m")]
    [InlineData("1d")]
    [InlineData("1.0005s")]
    [InlineData("s")]
    [InlineData("1..5s")]
    public void Durations_reject_what_istio_rejects(string text) => Assert.False(Durations.TryParse(text, out _));

    [Theory]
    [InlineData(300_000, "300s")]
    [InlineData(100, "0.1s")]
    [InlineData(1500, "1.5s")]
    [InlineData(0, "0s")]
    public void Durations_are_written_in_seconds(long milliseconds, string expected) =>
        Assert.Equal(expected, Durations.Format(TimeSpan.FromMilliseconds(milliseconds)));
}
