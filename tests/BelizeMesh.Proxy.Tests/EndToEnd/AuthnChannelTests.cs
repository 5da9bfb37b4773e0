using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using BelizeMesh.Proxy.Tests.Policy;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// DENY rules and JWT validation through two real sidecars on 127.0.0.1: client → pakit's outbound → PQ channel →
/// nawal's inbound (STRICT) → app. The policy is what <c>emit</c> writes for Istio's deny-postgres style DENY rule and a
/// RequestAuthentication + <c>requestPrincipals</c> rule; the answers are Envoy's (403 for DENY and for a missing token
/// where one is required, 401 with <c>www-authenticate</c> for an invalid one).
/// </summary>
public sealed class AuthnChannelTests : IAsyncLifetime
{
    private readonly TestJwt _jwt = new();
    private TwoSidecarMesh _mesh = null!;

    public async Task InitializeAsync()
    {
        TestApp app = await TestApp.StartAsync("nawal-app");
        _mesh = await TwoSidecarMesh.Create()
            .Inbound(extra: $$"""
                    authorization:
                      rules:
                        - from: { principals: ["*"] }
                          to: { paths: ["/db*", "/echo"] }
                        - from: { principals: ["cluster.local/ns/belizechain/sa/pakit"], requestPrincipals: ["{{TestJwt.Issuer}}/*"] }
                          to: { paths: ["/jwt*"] }
                      denyRules:
                        - from: { notNamespaces: [belizechain] }
                        - from: { notNamespaces: [payments] }
                          to: { paths: ["/db/admin*"] }
                    jwtRules:
                      - issuer: {{TestJwt.Issuer}}
                        audiences: [{{TestJwt.Audience}}]
                        jwks: '{{_jwt.Jwks()}}'
                        fromHeaders: [{ name: Authorization, prefix: "Bearer " }, { name: x-belizemesh-test-jwt }]
                """)
            .StartAsync(app.Url, app);
    }

    public async Task DisposeAsync()
    {
        await _mesh.DisposeAsync();
        _jwt.Dispose();
    }

    private async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> GetAsync(string path, string? bearer = null, string? header = null)
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://nawal.test" + path);
        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        if (header is not null)
        {
            request.Headers.Add("x-belizemesh-test-jwt", header);
        }

        HttpResponseMessage response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    [Fact]
    public async Task Deny_rule_beats_an_allow_rule_that_matches_the_same_pq_caller()
    {
        // ALLOW principals ["*"] admits pakit on /db*; the DENY rule (caller not in namespace payments) on /db/admin* wins.
        (HttpStatusCode allowed, _, _) = await GetAsync("/db/rows");
        (HttpStatusCode denied, string body, _) = await GetAsync("/db/admin/drop");

        Assert.Equal(HttpStatusCode.OK, allowed);
        Assert.Equal(HttpStatusCode.Forbidden, denied);
        Assert.Equal("belizemesh: RBAC: access denied: a DENY rule matches this request\n", body);
        string metrics = await _mesh.Nawal.CreateAdminClient().GetStringAsync("/metrics");
        Assert.Contains("belizemesh_proxy_authorization_denials_total{reason=\"deny_rule\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deny_postgres_style_rule_lets_a_caller_of_the_namespace_through()
    {
        // deny-postgres: { notNamespaces: [belizechain] }; pakit's verified certificate says namespace belizechain.
        (HttpStatusCode status, string body, _) = await GetAsync("/echo");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("identity: spiffe://cluster.local/ns/belizechain/sa/pakit\n", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_principals_rule_admits_a_valid_jwt_and_the_token_header_is_not_forwarded()
    {
        (HttpStatusCode es, _, _) = await GetAsync("/jwt/a", bearer: _jwt.Es256());
        (HttpStatusCode rs, _, _) = await GetAsync("/jwt/b", bearer: _jwt.Rs256());
        (HttpStatusCode custom, string body, _) = await GetAsync("/jwt/c", header: _jwt.Es256());

        Assert.Equal(HttpStatusCode.OK, es);
        Assert.Equal(HttpStatusCode.OK, rs);
        Assert.Equal(HttpStatusCode.OK, custom);
        Assert.Contains("sidecar-headers: x-belizemesh-peer-identity\n", body, StringComparison.Ordinal); // the token header was removed
    }

    [Fact]
    public async Task Request_principals_rule_gives_403_without_a_token()
    {
        (HttpStatusCode status, string body, HttpResponseMessage response) = await GetAsync("/jwt/a");

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("belizemesh: RBAC: access denied: no authorization rule allows this request\n", body);
        Assert.False(response.Headers.Contains("www-authenticate"));
    }

    [Fact]
    public async Task Invalid_token_gives_401_with_envoys_www_authenticate_even_where_no_rule_needs_one()
    {
        string token = _jwt.Es256();
        // Change one character in the middle of the signature: the last one also carries padding bits, and a
        // non-canonical last character is a malformed token (another answer), not a bad signature.
        string tampered = token[..^10] + (token[^10] == 'A' ? 'B' : 'A') + token[^9..];

        (HttpStatusCode status, string body, HttpResponseMessage response) = await GetAsync("/jwt/a", bearer: tampered);
        (HttpStatusCode open, _, _) = await GetAsync("/echo", bearer: tampered);
        (HttpStatusCode expired, string expiredBody, _) = await GetAsync("/jwt/a", bearer: _jwt.Es256(TestJwt.Claims(exp: TestJwt.Now - 3600)));
        (HttpStatusCode audience, string audienceBody, _) = await GetAsync("/jwt/a", bearer: _jwt.Es256(TestJwt.Claims(aud: "someone-else")));

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("belizemesh: Jwt verification fails\n", body);
        Assert.Equal("Bearer realm=\"http://nawal.test/jwt/a\", error=\"invalid_token\"", string.Join(",", response.Headers.GetValues("www-authenticate")));
        Assert.Equal(HttpStatusCode.Unauthorized, open);
        Assert.Equal(HttpStatusCode.Unauthorized, expired);
        Assert.Equal("belizemesh: Jwt is expired\n", expiredBody);
        Assert.Equal(HttpStatusCode.Forbidden, audience);
        Assert.Equal("belizemesh: Audiences in Jwt are not allowed\n", audienceBody);

        string metrics = await _mesh.Nawal.CreateAdminClient().GetStringAsync("/metrics");
        Assert.Contains("belizemesh_proxy_jwt_failures_total{reason=\"bad_signature\"} 2", metrics, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_jwt_failures_total{reason=\"expired\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_jwt_failures_total{reason=\"audience\"} 1", metrics, StringComparison.Ordinal);
    }
}
