using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Proxy.Tests.Configuration;

/// <summary>The parser's errors for DENY rules, the <c>not</c> clauses and <c>jwtRules</c>: FILE:LINE:COL, what and how to fix.</summary>
public class PolicyParserAuthnTests
{
    private const string Minimal = """
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        spec:
          inbound:
            app: "http://127.0.0.1:8080"
            mode: DISABLE

        """;

    private const string Jwks = """{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"7c4-G2g5NVhKis4yjzMw3-k3TnWHCBvIRcfSuNbqLnU","y":"VCH_z1d9sa2uIgPmUasIraQ2xBk-i-57oex97F82O8g"}]}""";

    private static void AssertSingleError(string inbound, int line, int column, string message)
    {
        PolicyParseResult result = PolicyParser.Parse(Minimal + inbound, "policy.yaml");
        PolicyError error = Assert.Single(result.Errors);
        Assert.Equal(message, error.Message);
        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.Equal("policy.yaml", error.File);
    }

    private static SidecarPolicy Parse(string inbound)
    {
        PolicyParseResult result = PolicyParser.Parse(Minimal + inbound, "policy.yaml");
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Policy!;
    }

    [Fact]
    public void Deny_rules_and_every_clause_parse()
    {
        SidecarPolicy policy = Parse($$"""
                authorization:
                  denyRules:
                    - from: { notNamespaces: [belizechain], notPrincipals: ["*"], notRequestPrincipals: ["*"] }
                      to: { notMethods: [GET], notPaths: ["/health*"] }
                    - from: { namespaces: [guests], requestPrincipals: ["https://auth.example.com/*"] }
                jwtRules:
                  - issuer: https://auth.example.com
                    audiences: [api.example.com]
                    jwks: '{{Jwks}}'
                  - issuer: https://other.example.com
                    jwksFile: /etc/belizemesh/jwks/other.json
                    fromHeaders: [{ name: x-jwt }, { name: Authorization, prefix: "Token " }]
                    fromParams: [token]
                    forwardOriginalToken: true

            """);

        AuthorizationSpec authz = policy.Spec.Inbound.Authorization!;
        Assert.False(authz.HasAllowPolicy);
        Assert.Equal(2, authz.DenyRules.Count);
        Assert.Equal(["belizechain"], authz.DenyRules[0].From!.NotNamespaces!);
        Assert.Equal(["*"], authz.DenyRules[0].From!.NotPrincipals!);
        Assert.Equal(["*"], authz.DenyRules[0].From!.NotRequestPrincipals!);
        Assert.Equal(["GET"], authz.DenyRules[0].To!.NotMethods!);
        Assert.Equal(["/health*"], authz.DenyRules[0].To!.NotPaths!);
        Assert.Equal(["guests"], authz.DenyRules[1].From!.Namespaces!);
        Assert.Equal(["https://auth.example.com/*"], authz.DenyRules[1].From!.RequestPrincipals!);

        IReadOnlyList<JwtRuleSpec> jwt = policy.Spec.Inbound.JwtRules;
        Assert.Equal(2, jwt.Count);
        Assert.Equal(("https://auth.example.com", Jwks), (jwt[0].Issuer, jwt[0].Jwks));
        Assert.Equal(["api.example.com"], jwt[0].Audiences);
        Assert.Empty(jwt[0].FromHeaders);
        Assert.False(jwt[0].ForwardOriginalToken);
        Assert.Equal("/etc/belizemesh/jwks/other.json", jwt[1].JwksFile);
        Assert.Equal([new JwtHeaderSpec("x-jwt", ""), new JwtHeaderSpec("Authorization", "Token ")], jwt[1].FromHeaders);
        Assert.Equal(["token"], jwt[1].FromParams);
        Assert.True(jwt[1].ForwardOriginalToken);
    }

    [Fact]
    public void Rules_alone_keep_an_allow_policy_and_an_empty_authorization_is_an_error()
    {
        Assert.True(Parse("    authorization: { rules: [] }\n").Spec.Inbound.Authorization!.HasAllowPolicy);
        AssertSingleError("    authorization: {}\n", 7, 20,
            "spec.inbound.authorization.rules: missing required field \"rules\" (ALLOW rules; an empty list denies every request; give denyRules alone to refuse only what they match; remove authorization to allow all)");
    }

    [Fact]
    public void Deny_rules_report_errors_at_their_position()
        => AssertSingleError("    authorization:\n      denyRules:\n        - to: { methods: [get] }\n", 9, 27,
            "spec.inbound.authorization.denyRules[0].to.methods[0]: \"get\" is not an HTTP method; methods are case-sensitive, write e.g. GET");

    [Fact]
    public void Not_principals_take_istio_principals()
        => AssertSingleError("    authorization:\n      denyRules:\n        - from: { notPrincipals: [\"spiffe://cluster.local/ns/a/sa/b\"] }\n", 9, 35,
            "spec.inbound.authorization.denyRules[0].from.notPrincipals[0]: write principals the way Istio does, without the scheme: \"cluster.local/ns/a/sa/b\"");

    [Fact]
    public void Request_principals_are_patterns()
        => AssertSingleError("    authorization:\n      rules:\n        - from: { requestPrincipals: [\"https://a/*/b\"] }\n", 9, 39,
            "spec.inbound.authorization.rules[0].from.requestPrincipals[0]: \"https://a/*/b\" is not a valid pattern; use an exact value, '*', a prefix 'x*' or a suffix '*x'");

    [Fact]
    public void Not_request_principals_must_be_a_list()
        => AssertSingleError("    authorization:\n      denyRules:\n        - from: { notRequestPrincipals: \"*\" }\n", 9, 41,
            "spec.inbound.authorization.denyRules[0].from.notRequestPrincipals: expected a list of patterns, got the string \"*\"");

    [Fact]
    public void Namespaces_are_names_not_principals()
        => AssertSingleError("    authorization:\n      rules:\n        - from: { namespaces: [\"cluster.local/ns/a\"] }\n", 9, 32,
            "spec.inbound.authorization.rules[0].from.namespaces[0]: \"cluster.local/ns/a\" is not a namespace name (no '/'); write e.g. belizechain, or a pattern such as 'team-*'");

    [Fact]
    public void Not_namespaces_are_names_too()
        => AssertSingleError("    authorization:\n      denyRules:\n        - from: { notNamespaces: [\"a/b\"] }\n", 9, 35,
            "spec.inbound.authorization.denyRules[0].from.notNamespaces[0]: \"a/b\" is not a namespace name (no '/'); write e.g. belizechain, or a pattern such as 'team-*'");

    [Fact]
    public void Empty_from_is_an_error()
        => AssertSingleError("    authorization:\n      rules:\n        - from: {}\n", 9, 17,
            "spec.inbound.authorization.rules[0].from: empty; name at least one of principals, notPrincipals, requestPrincipals, notRequestPrincipals, namespaces, notNamespaces (leave 'from' out to match any caller)");

    [Theory]
    [InlineData("denyRules", "to: { paths: [] }", 24, "to.paths")]
    [InlineData("denyRules", "to: { methods: [] }", 26, "to.methods")]
    [InlineData("denyRules", "to: { ports: [] }", 24, "to.ports")]
    [InlineData("denyRules", "from: { namespaces: [] }", 31, "from.namespaces")]
    [InlineData("rules", "to: { notPaths: [] }", 27, "to.notPaths")]
    [InlineData("rules", "from: { notPrincipals: [] }", 34, "from.notPrincipals")]
    public void Empty_match_list_is_an_error_not_a_rule_that_never_matches(string list, string rule, int column, string field)
        => AssertSingleError($"    authorization:\n      {list}:\n        - {rule}\n", 9, column,
            $"spec.inbound.authorization.{list}[0].{field}: the list is empty; Istio reads an empty list as an absent field (it matches anything) — leave the field out, or list at least one value");

    [Fact]
    public void Empty_rate_limit_match_list_is_an_error()
        => AssertSingleError("    rateLimits:\n      - { name: a, key: none, requestsPerSecond: 1, burst: 1, match: { paths: [] } }\n", 8, 79,
            "spec.inbound.rateLimits[0].match.paths: the list is empty; Istio reads an empty list as an absent field (it matches anything) — leave the field out, or list at least one value");

    [Fact]
    public void Not_methods_are_case_sensitive_methods()
        => AssertSingleError("    authorization:\n      denyRules:\n        - to: { notMethods: [delete] }\n", 9, 30,
            "spec.inbound.authorization.denyRules[0].to.notMethods[0]: \"delete\" is not an HTTP method; methods are case-sensitive, write e.g. DELETE");

    [Fact]
    public void Not_paths_start_with_a_slash()
        => AssertSingleError("    authorization:\n      denyRules:\n        - to: { notPaths: [\"admin\"] }\n", 9, 28,
            "spec.inbound.authorization.denyRules[0].to.notPaths[0]: \"admin\" must start with '/' (or '*' for a suffix match)");

    [Fact]
    public void Unknown_from_field_suggests_the_right_one()
        => AssertSingleError("    authorization:\n      rules:\n        - from: { requestPrincipal: [\"*\"] }\n", 9, 19,
            "spec.inbound.authorization.rules[0].from.requestPrincipal: unknown field \"requestPrincipal\"; did you mean \"requestPrincipals\"? (allowed here: namespaces, notNamespaces, notPrincipals, notRequestPrincipals, principals, requestPrincipals)");

    [Fact]
    public void Jwt_rule_needs_an_issuer()
        => AssertSingleError($"    jwtRules:\n      - jwks: '{Jwks}'\n", 8, 9,
            "spec.inbound.jwtRules[0].issuer: missing required field \"issuer\" (the token issuer exactly as its 'iss' claim, e.g. https://auth.example.com)");

    [Fact]
    public void Jwt_issuer_appears_once()
        => AssertSingleError($"    jwtRules:\n      - {{ issuer: a, jwks: '{Jwks}' }}\n      - {{ issuer: a, jwks: '{Jwks}' }}\n", 9, 19,
            "spec.inbound.jwtRules[1].issuer: \"a\" already has a rule; one rule per issuer (list all its audiences in it)");

    [Fact]
    public void Jwt_audiences_are_non_empty_strings()
        => AssertSingleError($"    jwtRules:\n      - {{ issuer: a, audiences: [\"\"], jwks: '{Jwks}' }}\n", 8, 34,
            "spec.inbound.jwtRules[0].audiences[0]: empty; remove it or write a value");

    [Fact]
    public void Inline_jwks_is_checked_with_the_reason()
        => AssertSingleError("    jwtRules:\n      - { issuer: a, jwks: '{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}]}' }\n", 8, 28,
            "spec.inbound.jwtRules[0].jwks: keys[0]: EC curve \"P-521\" is not supported; use P-256 (ES256) or P-384 (ES384)");

    [Fact]
    public void Inline_jwks_that_is_not_json_is_reported()
        => AssertSingleError("    jwtRules:\n      - { issuer: a, jwks: 'not json' }\n", 8, 28,
            "spec.inbound.jwtRules[0].jwks: the JWKS is not valid JSON (line 1, byte 2); write a JSON object {\"keys\": [...]}");

    private const string OneKeySource = "spec.inbound.jwtRules[0]: give exactly one of jwks (the JWKS JSON inline), jwksFile (an absolute path to a mounted JWKS file) or jwksUri (an http(s) URL the sidecar fetches the JWKS from)";

    [Fact]
    public void Jwt_rule_needs_exactly_one_key_source()
    {
        AssertSingleError("    jwtRules:\n      - { issuer: a }\n", 8, 9, OneKeySource);
        AssertSingleError($"    jwtRules:\n      - {{ issuer: a, jwks: '{Jwks}', jwksFile: /k.json }}\n", 8, 189, OneKeySource);
        AssertSingleError("    jwtRules:\n      - { issuer: a, jwksFile: /k.json, jwksUri: \"https://a/jwks.json\" }\n", 8, 50, OneKeySource);
    }

    [Fact]
    public void Jwks_uri_is_read_as_an_absolute_url()
    {
        SidecarPolicy policy = Parse("""
                jwtRules:
                  - issuer: https://auth.example.com
                    jwksUri: https://auth.example.com/.well-known/jwks.json
                  - issuer: https://dev.example.com
                    jwksUri: "http://keys.dev.svc:8080/jwks"

            """);
        IReadOnlyList<JwtRuleSpec> rules = policy.Spec.Inbound.JwtRules;
        Assert.Equal(new Uri("https://auth.example.com/.well-known/jwks.json"), rules[0].JwksUri);
        Assert.Null(rules[0].Jwks);
        Assert.Null(rules[0].JwksFile);
        Assert.Equal(new Uri("http://keys.dev.svc:8080/jwks"), rules[1].JwksUri);
    }

    [Theory]
    [InlineData("ftp://a/jwks.json", "\"ftp://a/jwks.json\" is not an http(s) URL; write the issuer's key set URL, e.g. https://auth.example.com/.well-known/jwks.json")]
    [InlineData("/jwks.json", "\"/jwks.json\" is not an http(s) URL; write the issuer's key set URL, e.g. https://auth.example.com/.well-known/jwks.json")]
    [InlineData("https://user:pw@a/jwks.json", "\"https://user:pw@a/jwks.json\" has credentials (user:password@), which a key set URL does not take; remove it")]
    [InlineData("https://a/jwks.json#k", "\"https://a/jwks.json#k\" has a fragment (#...), which a key set URL does not take; remove it")]
    public void Jwks_uri_must_be_an_http_url(string uri, string message)
        => AssertSingleError($"    jwtRules:\n      - {{ issuer: a, jwksUri: \"{uri}\" }}\n", 8, 31, "spec.inbound.jwtRules[0].jwksUri: " + message);

    [Fact]
    public void Authorization_ports_and_not_ports_parse()
    {
        SidecarPolicy policy = Parse("""
                authorization:
                  rules:
                    - to: { ports: [9933, "9944"] }
                  denyRules:
                    - to: { notPorts: [8080] }

            """);
        Assert.Equal([9933, 9944], policy.Spec.Inbound.Authorization!.Rules[0].To!.Ports!);
        Assert.Null(policy.Spec.Inbound.Authorization.Rules[0].To!.NotPorts);
        Assert.Equal([8080], policy.Spec.Inbound.Authorization.DenyRules[0].To!.NotPorts!);
    }

    [Theory]
    [InlineData("ports: [0]", 25, "spec.inbound.authorization.rules[0].to.ports[0]: 0 is out of range; expected a port number (the app port: the port of inbound.app or of an inbound.apps entry's app) from 1 to 65535")]
    [InlineData("notPorts: [70000]", 28, "spec.inbound.authorization.rules[0].to.notPorts[0]: 70000 is out of range; expected a port number (the app port: the port of inbound.app or of an inbound.apps entry's app) from 1 to 65535")]
    [InlineData("ports: [http]", 25, "spec.inbound.authorization.rules[0].to.ports[0]: expected a port number (the app port: the port of inbound.app or of an inbound.apps entry's app) from 1 to 65535, got \"http\"")]
    public void Authorization_ports_must_be_port_numbers(string clause, int column, string message)
        => AssertSingleError($"    authorization:\n      rules:\n        - to: {{ {clause} }}\n", 9, column, message);

    [Fact]
    public void Jwks_file_must_be_absolute()
        => AssertSingleError("    jwtRules:\n      - { issuer: a, jwksFile: jwks.json }\n", 8, 32,
            "spec.inbound.jwtRules[0].jwksFile: \"jwks.json\" is not an absolute path; write where the JWKS is mounted, e.g. /etc/belizemesh/jwks/auth.json");

    [Fact]
    public void From_headers_need_a_valid_name()
        => AssertSingleError("    jwtRules:\n      - { issuer: a, jwksFile: /k.json, fromHeaders: [{ name: \"x jwt\" }] }\n", 8, 63,
            "spec.inbound.jwtRules[0].fromHeaders[0].name: \"x jwt\" is not a valid header name");

    [Fact]
    public void From_params_are_non_empty()
        => AssertSingleError("    jwtRules:\n      - { issuer: a, jwksFile: /k.json, fromParams: [\"\"] }\n", 8, 54,
            "spec.inbound.jwtRules[0].fromParams[0]: empty; remove it or write a value");

    [Fact]
    public void Forward_original_token_is_a_boolean()
        => AssertSingleError("    jwtRules:\n      - { issuer: a, jwksFile: /k.json, forwardOriginalToken: yes }\n", 8, 63,
            "spec.inbound.jwtRules[0].forwardOriginalToken: expected true or false, got \"yes\"");

    [Fact]
    public void Unknown_jwt_rule_field_suggests_the_right_one()
        => AssertSingleError("    jwtRules:\n      - { issuer: a, jwksFile: /k.json, audience: [x] }\n", 8, 41,
            "spec.inbound.jwtRules[0].audience: unknown field \"audience\"; did you mean \"audiences\"? (allowed here: audiences, forwardOriginalToken, fromHeaders, fromParams, issuer, jwks, jwksFile, jwksUri)");
}
