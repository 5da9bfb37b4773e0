using System.Text;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Policy.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace BelizeMesh.Proxy.Tests.Policy;

/// <summary>Where tokens are looked for (Envoy's defaults and fromHeaders/fromParams) and what happens to them.</summary>
public sealed class RequestAuthenticatorTests : IDisposable
{
    private readonly TestJwt _jwt = new();

    public void Dispose() => _jwt.Dispose();

    private RequestAuthenticator Create(params JwtRuleSpec[] rules)
    {
        JsonWebKeySet keys = JsonWebKeySet.TryParse(Encoding.UTF8.GetBytes(_jwt.Jwks()), out _)!;
        return RequestAuthenticator.Create(rules, _ => keys, TimeProvider.System);
    }

    private static JwtRuleSpec Rule(string issuer = TestJwt.Issuer, JwtHeaderSpec[]? headers = null, string[]? parameters = null, bool forward = false)
        => new(issuer, [], "{}", null, headers ?? [], parameters ?? [], forward);

    private static HttpRequest Request(string? authorization = null, string query = "", (string Name, string Value)? header = null)
    {
        var context = new DefaultHttpContext();
        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }

        if (header is { } h)
        {
            context.Request.Headers[h.Name] = h.Value;
        }

        context.Request.QueryString = new QueryString(query);
        return context.Request;
    }

    [Fact]
    public void Default_locations_are_the_bearer_header_and_the_access_token_parameter()
    {
        RequestAuthenticator authn = Create(Rule());

        HttpRequest bearer = Request("Bearer " + _jwt.Es256());
        JwtResult fromHeader = authn.Authenticate(bearer);
        Assert.Equal((JwtStatus.Ok, "https://auth.example.com/user-1"), (fromHeader.Status, fromHeader.RequestPrincipal));
        Assert.False(bearer.Headers.ContainsKey("Authorization")); // removed before the app sees it, as Envoy does

        Assert.Equal(JwtStatus.Ok, authn.Authenticate(Request("bearer " + _jwt.Es256())).Status); // the scheme is case-insensitive
        Assert.Equal(JwtStatus.Ok, authn.Authenticate(Request(query: "?a=1&access_token=" + _jwt.Rs256())).Status);
        Assert.Equal(JwtStatus.Missing, authn.Authenticate(Request("Basic dXNlcjpwYXNz")).Status);
        Assert.Equal(JwtStatus.Missing, authn.Authenticate(Request(query: "?token=" + _jwt.Es256())).Status);
        Assert.Equal(JwtStatus.BadFormat, authn.Authenticate(Request("Bearer garbage")).Status);
    }

    [Fact]
    public void Forward_original_token_keeps_the_header()
    {
        HttpRequest request = Request("Bearer " + _jwt.Es256());
        Assert.Equal(JwtStatus.Ok, Create(Rule(forward: true)).Authenticate(request).Status);
        Assert.True(request.Headers.ContainsKey("Authorization"));
    }

    [Fact]
    public void Custom_locations_replace_the_defaults()
    {
        RequestAuthenticator authn = Create(Rule(headers: [new JwtHeaderSpec("x-jwt", "")], parameters: ["token"]));
        Assert.Equal(JwtStatus.Ok, authn.Authenticate(Request(header: ("x-jwt", _jwt.Es256()))).Status);
        Assert.Equal(JwtStatus.Ok, authn.Authenticate(Request(query: "?token=" + _jwt.Es256())).Status);
        Assert.Equal(JwtStatus.Missing, authn.Authenticate(Request("Bearer " + _jwt.Es256())).Status);
    }

    [Fact]
    public void A_token_in_another_issuers_location_is_refused()
    {
        // The issuer of the token reads only x-jwt; the Authorization header belongs to another issuer.
        RequestAuthenticator authn = Create(Rule(headers: [new JwtHeaderSpec("x-jwt", "")]), Rule(issuer: "https://other.example.com"));
        Assert.Equal(JwtStatus.UnknownIssuer, authn.Authenticate(Request("Bearer " + _jwt.Es256())).Status);
    }

    [Fact]
    public void Every_token_found_must_be_valid()
    {
        RequestAuthenticator authn = Create(Rule());
        HttpRequest request = Request("Bearer " + _jwt.Es256(), query: "?access_token=" + _jwt.Es256(TestJwt.Claims(exp: TestJwt.Now - 3600)));
        Assert.Equal(JwtStatus.Expired, authn.Authenticate(request).Status);
    }

    [Fact]
    public void Every_value_of_a_repeated_token_header_must_be_valid()
    {
        // A second Authorization header must not reach the app unchecked behind a first one that is Basic or valid.
        RequestAuthenticator authn = Create(Rule(forward: true));
        HttpRequest behindBasic = Request();
        behindBasic.Headers.Authorization = new StringValues(["Basic dXNlcjpwYXNz", "Bearer garbage"]);
        Assert.Equal(JwtStatus.BadFormat, authn.Authenticate(behindBasic).Status);

        HttpRequest behindValid = Request();
        behindValid.Headers.Authorization = new StringValues(["Bearer " + _jwt.Es256(), "Bearer " + _jwt.Es256(TestJwt.Claims(exp: TestJwt.Now - 3600))]);
        Assert.Equal(JwtStatus.Expired, authn.Authenticate(behindValid).Status);

        HttpRequest bothValid = Request();
        bothValid.Headers.Authorization = new StringValues(["Basic dXNlcjpwYXNz", "Bearer " + _jwt.Es256()]);
        Assert.Equal((JwtStatus.Ok, "https://auth.example.com/user-1"), (authn.Authenticate(bothValid).Status, authn.Authenticate(bothValid).RequestPrincipal));
    }

    [Fact]
    public void Every_occurrence_of_a_token_parameter_must_be_valid_whatever_its_spelling()
    {
        // Frameworks that read the last value, or decode parameter names, must not see a token that was never checked.
        RequestAuthenticator authn = Create(Rule());
        Assert.Equal(JwtStatus.BadFormat, authn.Authenticate(Request(query: "?access_token=" + _jwt.Es256() + "&access_token=garbage")).Status);
        Assert.Equal(JwtStatus.BadFormat, authn.Authenticate(Request(query: "?access%5Ftoken=garbage")).Status);
        Assert.Equal(JwtStatus.BadFormat, authn.Authenticate(Request(query: "?%61ccess_token=garbage")).Status);
        Assert.Equal(JwtStatus.Ok, authn.Authenticate(Request(query: "?access%5ftoken=" + _jwt.Es256() + "&access_token=" + _jwt.Rs256())).Status);
        Assert.Equal(JwtStatus.Missing, authn.Authenticate(Request(query: "?access_tokens=garbage&xaccess_token=garbage&access%5F=x")).Status);
    }
}
