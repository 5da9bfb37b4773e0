using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using BelizeMesh.Proxy.Tests.Policy;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// Equivalence with Istio, checked on the policy <c>emit</c> actually wrote: the sidecar runs
/// tests/BelizeMesh.Mesh.Tests/testdata/security/nawal.policy.yaml (a golden file of
/// <c>equivalence.mesh.yaml</c>; only the listen addresses, the app URL and the JWKS path are moved to the test's), and
/// each request gets the answer Istio documents for the AuthorizationPolicy / RequestAuthentication emitted from the
/// same file: a DENY match is 403 whatever ALLOW says; a requestPrincipals rule is 403 without a token; an invalid token
/// is 401 from jwt_authn before any rule.
/// </summary>
public sealed class EmittedPolicyEquivalenceTests : IAsyncLifetime
{
    private readonly TestJwt _jwt = new();
    private readonly string _jwksDirectory = Directory.CreateTempSubdirectory("belizemesh-jwks-").FullName;
    private TestApp _app = null!;
    private Sidecar _nawal = null!;
    private Sidecar _pakit = null!;

    public async Task InitializeAsync()
    {
        string jwksFile = Path.Combine(_jwksDirectory, "auth.json");
        await File.WriteAllTextAsync(jwksFile, _jwt.Jwks());
        _app = await TestApp.StartAsync("nawal-app");

        string emitted = await File.ReadAllTextAsync(RepoPaths.RepoFile("tests", "BelizeMesh.Mesh.Tests", "testdata", "security", "nawal.policy.yaml"));
        string policy = Replace(emitted,
            ("listen: 0.0.0.0:16090", "listen: \"127.0.0.1:0\""),
            ("listen: 0.0.0.0:16443", "listen: \"127.0.0.1:0\""),
            ("listen: 127.0.0.1:16001", "listen: \"127.0.0.1:0\""),
            ("app: http://127.0.0.1:8080", "app: " + _app.Url),
            ("jwksFile: /etc/belizemesh/jwks/auth.json", "jwksFile: " + jwksFile),
            ("  admin:", "  accessLog: false\n  admin:"));
        _nawal = await Sidecar.StartAsync(policy, certs: TestMesh.Instance.NawalCerts);
        _pakit = await Sidecar.StartAsync(TwoSidecarMesh.OutboundPolicy(TwoSidecarMesh.PqRoute("nawal.test", _nawal.InboundEndpoint)), certs: TestMesh.Instance.PakitCerts);
    }

    private static string Replace(string text, params (string Old, string New)[] edits)
    {
        foreach ((string old, string @new) in edits)
        {
            Assert.Contains(old, text, StringComparison.Ordinal); // the emitted policy still has the shape this test expects
            text = text.Replace(old, @new, StringComparison.Ordinal);
        }

        return text;
    }

    public async Task DisposeAsync()
    {
        await _pakit.DisposeAsync();
        await _nawal.DisposeAsync();
        await _app.DisposeAsync();
        _jwt.Dispose();
        Directory.Delete(_jwksDirectory, recursive: true);
    }

    private async Task<HttpStatusCode> GetAsync(string path, string? bearer = null)
    {
        using HttpClient http = _pakit.CreateOutboundClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://nawal.test" + path);
        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        using HttpResponseMessage response = await http.SendAsync(request);
        return response.StatusCode;
    }

    [Theory]
    [InlineData("/echo", HttpStatusCode.OK)]          // ALLOW (pakit), deny-outsiders does not match namespace belizechain
    [InlineData("/db/rows", HttpStatusCode.OK)]       // ALLOW
    [InlineData("/db/admin/x", HttpStatusCode.Forbidden)] // ALLOW matches too, but deny-db-admin matches: DENY wins
    [InlineData("/jwt/me", HttpStatusCode.Forbidden)] // requestPrincipals rule, no token
    [InlineData("/other", HttpStatusCode.Forbidden)]  // no ALLOW rule
    public async Task Answers_are_istios_for_the_emitted_rules(string path, HttpStatusCode expected)
        => Assert.Equal(expected, await GetAsync(path));

    [Fact]
    public async Task Requestprincipals_rule_admits_a_valid_jwt_and_a_bad_one_is_401()
    {
        Assert.Equal(HttpStatusCode.OK, await GetAsync("/jwt/me", _jwt.Es256()));
        Assert.Equal(HttpStatusCode.OK, await GetAsync("/jwt/me", _jwt.Rs256()));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync("/jwt/me", _jwt.Es256(TestJwt.Claims(iss: "https://evil.example.com"))));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync("/echo", _jwt.Es256(TestJwt.Claims(exp: TestJwt.Now - 3600))));
        Assert.Equal(HttpStatusCode.Forbidden, await GetAsync("/jwt/me", _jwt.Es256(TestJwt.Claims(aud: "elsewhere"))));
        Assert.Equal(HttpStatusCode.Forbidden, await GetAsync("/db/admin/x", _jwt.Es256())); // a valid JWT does not lift a DENY
    }
}
