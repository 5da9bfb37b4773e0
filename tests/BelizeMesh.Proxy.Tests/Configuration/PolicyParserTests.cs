using BelizeMesh.Configuration;
using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Proxy.Tests.Configuration;

public class PolicyParserTests
{
    // The example from DESIGN.md, verbatim.
    internal const string DesignExample = """
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        metadata: { name: pakit, namespace: belizechain }
        spec:
          identity: spiffe://cluster.local/ns/belizechain/sa/pakit
          admin: { listen: "127.0.0.1:16090" }
          inbound:
            listen: "0.0.0.0:16443"            # the PQ channel
            app: "http://127.0.0.1:8080"       # the local workload
            mode: STRICT                       # STRICT | PERMISSIVE (PQ or plaintext) | DISABLE
            authorization:                     # no rule matches -> 403
              rules:
                - from: { principals: ["*"] }
                  to: { methods: [GET, POST], paths: ["/api/v1/upload*"] }
                - from: { principals: ["cluster.local/ns/belizechain/sa/blockchain"] }
                  to: { paths: ["/api/v1/proofs/*"] }
            rateLimits:                        # token bucket; over the limit -> 429 + Retry-After
              - name: api
                match: { paths: ["/api/*"] }
                key: sourcePrincipal           # sourcePrincipal | header:<Name> | none
                requestsPerSecond: 100
                burst: 200
          outbound:
            listen: "127.0.0.1:16001"
            routes:
              - host: nawal.belizechain.svc.cluster.local
                endpoints: ["nawal.belizechain.svc.cluster.local:16443"]
                identity: spiffe://cluster.local/ns/belizechain/sa/nawal   # expected peer
                timeout: 300s
                retries: { attempts: 1 }
                loadBalancing: { policy: ConsistentHash, header: X-Participant-ID }
        """;

    private static readonly PolicyParserOptions s_withChannel = new() { PqChannelAvailable = true };

    private const string Minimal = """
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        spec:
          inbound:
            app: "http://127.0.0.1:8080"
            mode: DISABLE

        """;

    private static IReadOnlyList<PolicyError> Errors(string yaml, PolicyParserOptions? options = null)
    {
        PolicyParseResult result = PolicyParser.Parse(yaml, "policy.yaml", options ?? s_withChannel);
        Assert.False(result.Succeeded);
        return result.Errors;
    }

    private static void AssertSingleError(string yaml, int line, int column, string message)
    {
        PolicyError error = Assert.Single(Errors(yaml));
        Assert.Equal(message, error.Message);
        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.Equal("policy.yaml", error.File);
    }

    [Fact]
    public void Design_example_parses_into_the_documented_values()
    {
        PolicyParseResult result = PolicyParser.Parse(DesignExample, "policy.yaml", s_withChannel);

        Assert.Empty(result.Errors);
        SidecarPolicy policy = result.Policy!;
        Assert.Equal(("pakit", "belizechain"), (policy.Name, policy.Namespace));
        Assert.Equal("spiffe://cluster.local/ns/belizechain/sa/pakit", policy.Spec.Identity);
        Assert.Equal("127.0.0.1:16090", policy.Spec.Admin.Listen.ToString());
        Assert.Equal("0.0.0.0:16443", policy.Spec.Inbound.Listen.ToString());
        Assert.Equal(new Uri("http://127.0.0.1:8080"), policy.Spec.Inbound.App);
        Assert.Equal(ChannelMode.Strict, policy.Spec.Inbound.Mode);
        Assert.Equal(2, policy.Spec.Inbound.Authorization!.Rules.Count);
        Assert.Equal(["*"], policy.Spec.Inbound.Authorization.Rules[0].From!.Principals);
        Assert.Equal(["GET", "POST"], policy.Spec.Inbound.Authorization.Rules[0].To!.Methods!);
        Assert.Null(policy.Spec.Inbound.Authorization.Rules[1].To!.Methods);
        RateLimitSpec limit = Assert.Single(policy.Spec.Inbound.RateLimits);
        Assert.Equal(("api", RateLimitKeyKind.SourcePrincipal, 100.0, 200), (limit.Name, limit.Key.Kind, limit.RequestsPerSecond, limit.Burst));
        OutboundRouteSpec route = Assert.Single(policy.Spec.Outbound.Routes);
        Assert.Equal("nawal.belizechain.svc.cluster.local", route.Host);
        Assert.Equal("nawal.belizechain.svc.cluster.local:16443", Assert.Single(route.Endpoints).ToString());
        Assert.Equal(TimeSpan.FromSeconds(300), route.Timeout);
        Assert.Equal(1, route.RetryAttempts);
        Assert.Equal((LoadBalancingPolicy.ConsistentHash, "X-Participant-ID"), (route.LoadBalancing, route.HashHeader));
        Assert.True(policy.Spec.AccessLog);
        Assert.Equal(TimeSpan.FromSeconds(20), policy.Spec.DrainTimeout);
    }

    [Fact]
    public void Strict_mode_is_refused_when_the_pq_channel_is_not_in_the_build()
    {
        IReadOnlyList<PolicyError> errors = Errors(DesignExample, new PolicyParserOptions { PqChannelAvailable = false });

        PolicyError error = Assert.Single(errors);
        Assert.Equal((10, 11), (error.Line, error.Column));
        Assert.Equal("spec.inbound.mode: STRICT requires the PQ channel, not available in this build; use mode: DISABLE for plaintext", error.Message);
        Assert.Equal("policy.yaml:10:11: spec.inbound.mode: STRICT requires the PQ channel, not available in this build; use mode: DISABLE for plaintext", error.ToString());
    }

    [Fact]
    public void Minimal_disable_policy_gets_documented_defaults()
    {
        PolicyParseResult result = PolicyParser.Parse(Minimal, "policy.yaml");

        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        PolicySpec spec = result.Policy!.Spec;
        Assert.Equal("127.0.0.1:16090", spec.Admin.Listen.ToString());
        Assert.Equal("0.0.0.0:16443", spec.Inbound.Listen.ToString());
        Assert.Equal("127.0.0.1:16001", spec.Outbound.Listen.ToString());
        Assert.Equal(ChannelMode.Disable, spec.Outbound.Mode);
        Assert.Null(spec.Inbound.Authorization);
        Assert.Empty(spec.Outbound.Routes);
        Assert.Equal(TimeSpan.FromSeconds(60), spec.Inbound.Timeout);
    }

    [Fact]
    public void Unknown_field_is_reported_with_a_suggestion()
        => AssertSingleError(Minimal + "  outbound:\n    routes:\n      - host: a.b\n        endpoints: [\"a.b:1\"]\n        tiemout: 5s\n",
            11, 9, "spec.outbound.routes[0].tiemout: unknown field \"tiemout\"; did you mean \"timeout\"? (allowed here: appPort, connectionPool, dnsRefresh, endpoints, host, http, identity, loadBalancing, outlierDetection, pathPrefix, retries, timeout)");

    [Fact]
    public void Unknown_field_without_a_close_match_lists_the_known_fields()
        => AssertSingleError(Minimal + "  zebra: 1\n", 7, 3,
            "spec.zebra: unknown field \"zebra\" (allowed here: accessLog, admin, drainTimeout, identity, inbound, outbound)");

    [Fact]
    public void Wrong_type_is_reported_at_the_value()
        => AssertSingleError(Minimal + "  outbound:\n    routes: { host: a }\n", 8, 13,
            "spec.outbound.routes: expected a list of routes, got a mapping");

    [Fact]
    public void Bad_duration_is_reported_with_examples()
        => AssertSingleError(Minimal + "  drainTimeout: 5 minutes\n", 7, 17,
            "spec.drainTimeout: \"5 minutes\" is not a duration; expected a number with unit h, m, s or ms, e.g. 300s, 5m, 1h, 100ms (0 means none)");

    [Theory]
    [InlineData("300s", 300_000)]
    [InlineData("5m", 300_000)]
    [InlineData("100ms", 100)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("0", 0)]
    public void Durations_parse(string text, double milliseconds)
    {
        Assert.True(DurationSyntax.TryParse(text, out TimeSpan value));
        Assert.Equal(milliseconds, value.TotalMilliseconds);
    }

    [Theory]
    [InlineData("8761h")]       // more than a year: the mesh description accepts it, so the sidecar must
    [InlineData("87600h")]      // ten years, the mesh parser's bound
    public void Durations_up_to_the_mesh_descriptions_bound_parse(string text) => Assert.True(DurationSyntax.TryParse(text, out _));

    [Fact]
    public void Durations_beyond_ten_years_do_not_parse() => Assert.False(DurationSyntax.TryParse("87601h", out _));

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("-5s")]
    [InlineData("5 s")]
    [InlineData("5d")]
    [InlineData("s")]
    [InlineData("0.5ms")]       // finer than a millisecond, as the mesh description's parser (one shared grammar)
    public void Bad_durations_do_not_parse(string text) => Assert.False(DurationSyntax.TryParse(text, out _));

    [Theory]
    [InlineData("localhost:16001")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:99999")]
    [InlineData("::1:16001")]
    [InlineData("127.0.0.1:http")]
    public void Bad_listen_address_is_reported(string listen)
        => AssertSingleError(Minimal + $"  admin: {{ listen: \"{listen}\" }}\n", 7, 20,
            $"spec.admin.listen: \"{listen}\" is not \"ip:port\"; write an IP literal and a port 0-65535, e.g. \"127.0.0.1:16001\", \"0.0.0.0:16443\" or \"[::]:16443\"");

    [Fact]
    public void Ipv6_listen_address_in_brackets_is_accepted()
    {
        PolicyParseResult result = PolicyParser.Parse(Minimal + "  admin: { listen: \"[::1]:16090\" }\n", "policy.yaml");
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        Assert.Equal("[::1]:16090", result.Policy!.Spec.Admin.Listen.ToString());
    }

    [Fact]
    public void Bad_mode_is_reported()
        => AssertSingleError(Minimal.Replace("mode: DISABLE", "mode: STRICTLY", StringComparison.Ordinal), 6, 11,
            "spec.inbound.mode: expected one of STRICT, PERMISSIVE, DISABLE, got \"STRICTLY\"; did you mean \"STRICT\"?");

    [Fact]
    public void Bad_rate_limit_key_is_reported()
        => AssertSingleError(Minimal + "    rateLimits:\n      - { name: api, key: principal, requestsPerSecond: 10, burst: 5 }\n", 8, 27,
            "spec.inbound.rateLimits[0].key: \"principal\" is not a rate-limit key; expected sourcePrincipal, none or header:<Name> (e.g. header:X-Participant-ID)");

    [Fact]
    public void Burst_below_one_is_reported()
        => AssertSingleError(Minimal + "    rateLimits:\n      - { name: api, key: none, requestsPerSecond: 10, burst: 0 }\n", 8, 63,
            "spec.inbound.rateLimits[0].burst: 0 is less than 1; the bucket must hold at least one request");

    [Fact]
    public void Max_keys_is_read_and_defaults_to_ten_thousand()
    {
        PolicyParseResult written = PolicyParser.Parse(Minimal + "    rateLimits:\n      - { name: api, key: header:X-User, requestsPerSecond: 10, burst: 5, maxKeys: 500 }\n", "policy.yaml", s_withChannel);
        PolicyParseResult absent = PolicyParser.Parse(Minimal + "    rateLimits:\n      - { name: api, key: header:X-User, requestsPerSecond: 10, burst: 5 }\n", "policy.yaml", s_withChannel);

        Assert.True(written.Succeeded, string.Join("\n", written.Errors));
        Assert.True(absent.Succeeded, string.Join("\n", absent.Errors));
        Assert.Equal(500, Assert.Single(written.Policy!.Spec.Inbound.RateLimits).MaxKeys);
        Assert.Equal(10_000, Assert.Single(absent.Policy!.Spec.Inbound.RateLimits).MaxKeys);
    }

    [Fact]
    public void Max_keys_below_one_is_reported()
        => AssertSingleError(Minimal + "    rateLimits:\n      - { name: api, key: header:X-User, requestsPerSecond: 10, burst: 5, maxKeys: 0 }\n", 8, 84,
            "spec.inbound.rateLimits[0].maxKeys: 0 is out of range; expected the most keys holding a bucket at once from 1 to 1000000");

    [Fact]
    public void Max_keys_that_is_not_an_integer_is_reported()
        => AssertSingleError(Minimal + "    rateLimits:\n      - { name: api, key: header:X-User, requestsPerSecond: 10, burst: 5, maxKeys: lots }\n", 8, 84,
            "spec.inbound.rateLimits[0].maxKeys: expected the most keys holding a bucket at once from 1 to 1000000, got \"lots\"");

    [Fact]
    public void Max_keys_on_a_limit_without_keys_is_reported()
        => AssertSingleError(Minimal + "    rateLimits:\n      - { name: api, key: none, requestsPerSecond: 10, burst: 5, maxKeys: 100 }\n", 8, 75,
            "spec.inbound.rateLimits[0].maxKeys: has no effect with key: none (one bucket for every request); remove it, or key the limit by sourcePrincipal or header:<Name>");

    [Fact]
    public void Every_problem_is_reported_in_file_order()
    {
        const string yaml = """
            apiVersion: belizemesh.io/v1
            kind: SidecarPolicy
            spec:
              drainTimeout: soon
              inbound:
                app: "ftp://x"
                mode: DISABLE
                rateLimits:
                  - { name: API, key: none, requestsPerSecond: -1, burst: 1 }
              outbound:
                listen: "127.0.0.1"
                routes:
                  - host: "a.b"
                    endpoints: ["a.b"]
                    loadBalancing: { policy: ConsistentHash }
            """;

        IReadOnlyList<PolicyError> errors = Errors(yaml);

        Assert.Equal(
            [
                "1:13 apiVersion: unsupported apiVersion \"belizemesh.io/v1\"; expected belizemesh.io/v1alpha1",
                "4:17 spec.drainTimeout: \"soon\" is not a duration; expected a number with unit h, m, s or ms, e.g. 300s, 5m, 1h, 100ms (0 means none)",
                "6:10 spec.inbound.app: \"ftp://x\" is not a plain http URL of the local app; write e.g. \"http://127.0.0.1:8080\"",
                "9:17 spec.inbound.rateLimits[0].name: \"API\" must be 1-63 characters of a-z, 0-9, '-' or '_' (it becomes a metric label)",
                "9:52 spec.inbound.rateLimits[0].requestsPerSecond: expected a number greater than 0 and at most 1000000, got \"-1\"",
                "11:13 spec.outbound.listen: \"127.0.0.1\" is not \"ip:port\"; write an IP literal and a port 0-65535, e.g. \"127.0.0.1:16001\", \"0.0.0.0:16443\" or \"[::]:16443\"",
                "14:21 spec.outbound.routes[0].endpoints[0]: \"a.b\" is not \"host:port\" (port 1-65535), e.g. \"nawal.belizechain.svc.cluster.local:16443\"",
                "15:24 spec.outbound.routes[0].loadBalancing.header: required with policy ConsistentHash (the request header to hash, e.g. X-Participant-ID)",
            ],
            errors.Select(e => $"{e.Line}:{e.Column} {e.Message}"));
    }

    [Fact]
    public void Invalid_yaml_is_reported_with_its_position()
    {
        PolicyError error = Assert.Single(Errors("spec:\n  inbound: [\n"));
        Assert.StartsWith("not valid YAML: ", error.Message, StringComparison.Ordinal);
        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void Patterns_with_a_star_in_the_middle_are_refused()
        => AssertSingleError(Minimal + "    authorization:\n      rules:\n        - to: { paths: [\"/api/*/x\"] }\n", 9, 25,
            "spec.inbound.authorization.rules[0].to.paths[0]: \"/api/*/x\" is not a valid pattern; use an exact value, '*', a prefix 'x*' or a suffix '*x'");

    [Fact]
    public void Lower_case_methods_are_refused_with_the_fix()
        => AssertSingleError(Minimal + "    authorization:\n      rules:\n        - to: { methods: [get] }\n", 9, 27,
            "spec.inbound.authorization.rules[0].to.methods[0]: \"get\" is not an HTTP method; methods are case-sensitive, write e.g. GET");

    [Fact]
    public void Inputs_the_policy_always_took_still_load_quoted_numbers_and_booleans_and_empty_label_values()
    {
        const string yaml = """
            apiVersion: belizemesh.io/v1alpha1
            kind: SidecarPolicy
            metadata:
              name: p
              labels: { app: pakit, empty: "" }
              annotations: { note: }
            spec:
              accessLog: "false"
              inbound:
                app: "http://127.0.0.1:8080"
                mode: DISABLE
              outbound:
                routes:
                  - host: nawal.test
                    endpoints: ["10.0.0.7:16443"]
                    retries: { attempts: "3", budget: { percent: "25" } }
            """;

        PolicyParseResult result = PolicyParser.Parse(yaml, "policy.yaml");

        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        Assert.False(result.Policy!.Spec.AccessLog);
        OutboundRouteSpec route = Assert.Single(result.Policy.Spec.Outbound.Routes);
        Assert.Equal((3, 25.0), (route.RetryAttempts, route.RetryBudget.Percent));
    }
}
