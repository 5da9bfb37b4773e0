using System.Security.Cryptography;
using System.Text;
using BelizeMesh.Proxy.Policy.Authentication;

namespace BelizeMesh.Proxy.Tests.Policy;

public sealed class JwtValidatorTests : IDisposable
{
    private readonly TestJwt _jwt = new();
    private readonly JwtProvider[] _providers;

    public JwtValidatorTests()
    {
        JsonWebKeySet keys = JsonWebKeySet.TryParse(Encoding.UTF8.GetBytes(_jwt.Jwks()), out string? error) ?? throw new InvalidOperationException(error);
        _providers = [new JwtProvider("https://other.example.com", [], keys, false), new JwtProvider(TestJwt.Issuer, [TestJwt.Audience], keys, false)];
    }

    public void Dispose() => _jwt.Dispose();

    private JwtStatus Validate(string token, out string? principal, long? now = null)
        => JwtValidator.Validate(token, _providers, now ?? TestJwt.Now, out _, out principal);

    private JwtStatus Validate(string token) => Validate(token, out _);

    [Fact]
    public void Valid_ES256_token_gives_the_request_principal_iss_slash_sub()
    {
        Assert.Equal(JwtStatus.Ok, Validate(_jwt.Es256(), out string? principal));
        Assert.Equal("https://auth.example.com/user-1", principal);
    }

    [Fact]
    public void Valid_token_without_sub_gives_no_request_principal()
    {
        // As Istio: the request principal is iss/sub only when both are there, so a sub-less token matches neither
        // requestPrincipals ["*"] nor "iss/*" (and does not escape a DENY rule's notRequestPrincipals).
        string claims = $$"""{"iss":"{{TestJwt.Issuer}}","aud":"{{TestJwt.Audience}}","exp":{{TestJwt.Now + 600}}}""";
        Assert.Equal(JwtStatus.Ok, Validate(_jwt.Es256(claims), out string? principal));
        Assert.Null(principal);
    }

    [Fact]
    public void Valid_RS256_token_is_accepted()
    {
        Assert.Equal(JwtStatus.Ok, Validate(_jwt.Rs256(), out string? principal));
        Assert.Equal("https://auth.example.com/user-1", principal);
    }

    [Fact]
    public void Token_without_kid_is_checked_against_every_key_that_fits()
    {
        Assert.Equal(JwtStatus.Ok, Validate(_jwt.Es256(header: """{"alg":"ES256"}""")));
        Assert.Equal(JwtStatus.Ok, Validate(_jwt.Rs256(header: """{"alg":"RS256"}""")));
    }

    [Fact]
    public void Audience_array_and_scheme_or_trailing_slash_variants_match_as_envoy_normalizes_them()
    {
        string claims = $$"""{"iss":"{{TestJwt.Issuer}}","sub":"s","aud":["x","https://api.example.com/"],"exp":{{TestJwt.Now + 60}}}""";
        Assert.Equal(JwtStatus.Ok, Validate(_jwt.Es256(claims)));
    }

    [Fact]
    public void Wrong_issuer_is_unknown_issuer()
        => Assert.Equal(JwtStatus.UnknownIssuer, Validate(_jwt.Es256(TestJwt.Claims(iss: "https://evil.example.com"))));

    [Fact]
    public void Wrong_audience_is_audience_not_allowed_which_envoy_answers_403()
    {
        Assert.Equal(JwtStatus.AudienceNotAllowed, Validate(_jwt.Es256(TestJwt.Claims(aud: "other.example.com"))));
        Assert.Equal(403, JwtStatus.AudienceNotAllowed.HttpStatus());
        Assert.Equal(401, JwtStatus.Expired.HttpStatus());
    }

    [Fact]
    public void Missing_audience_fails_when_the_rule_names_audiences()
    {
        string claims = $$"""{"iss":"{{TestJwt.Issuer}}","sub":"s","exp":{{TestJwt.Now + 60}}}""";
        Assert.Equal(JwtStatus.AudienceNotAllowed, Validate(_jwt.Es256(claims)));
    }

    [Fact]
    public void Expired_token_fails_after_the_60_second_clock_skew()
    {
        long now = TestJwt.Now;
        string token = _jwt.Es256(TestJwt.Claims(exp: now - 30));
        Assert.Equal(JwtStatus.Ok, Validate(token, out _, now));
        Assert.Equal(JwtStatus.Expired, Validate(token, out _, now + 31));
    }

    [Fact]
    public void Token_whose_nbf_is_in_the_future_is_not_yet_valid()
    {
        long now = TestJwt.Now;
        string token = _jwt.Es256(TestJwt.Claims(nbf: now + 300));
        Assert.Equal(JwtStatus.NotYetValid, Validate(token, out _, now));
        Assert.Equal(JwtStatus.Ok, Validate(token, out _, now + 250));
    }

    [Fact]
    public void Bad_signature_fails_verification()
    {
        string token = _jwt.Es256();
        int dot = token.LastIndexOf('.');
        char[] chars = token.ToCharArray();
        chars[dot + 5] = chars[dot + 5] == 'A' ? 'B' : 'A';
        Assert.Equal(JwtStatus.BadSignature, Validate(new string(chars)));

        using var stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        string input = token[..dot];
        string forged = input + "." + TestJwt.B64(stranger.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256));
        Assert.Equal(JwtStatus.BadSignature, Validate(forged));
    }

    [Fact]
    public void Tampered_payload_or_header_breaks_the_signature()
    {
        string token = _jwt.Es256();
        string[] parts = token.Split('.');
        string otherPayload = TestJwt.B64(TestJwt.Claims(sub: "admin"));
        Assert.Equal(JwtStatus.BadSignature, Validate($"{parts[0]}.{otherPayload}.{parts[2]}"));

        string otherHeader = TestJwt.B64("""{"alg":"ES256","kid":"ec-1","typ":"at+jwt"}""");
        Assert.Equal(JwtStatus.BadSignature, Validate($"{otherHeader}.{parts[1]}.{parts[2]}"));
    }

    [Fact]
    public void Alg_none_and_hmac_are_refused_even_without_a_signature_check()
    {
        string claims = TestJwt.B64(TestJwt.Claims());
        Assert.Equal(JwtStatus.BadFormat, Validate($"{TestJwt.B64("""{"alg":"none"}""")}.{claims}."));
        Assert.Equal(JwtStatus.UnsupportedAlgorithm, Validate($"{TestJwt.B64("""{"alg":"none"}""")}.{claims}.AAAA"));
        Assert.Equal(JwtStatus.UnsupportedAlgorithm, Validate($"{TestJwt.B64("""{"alg":"HS256"}""")}.{claims}.AAAA"));
        Assert.Equal(JwtStatus.UnsupportedAlgorithm, Validate($"{TestJwt.B64("""{"typ":"JWT"}""")}.{claims}.AAAA"));
    }

    [Fact]
    public void Alg_and_key_type_mismatch_finds_no_key()
    {
        // An RS256 token naming the EC key's kid, and an ES256 token naming the RSA key's kid.
        Assert.Equal(JwtStatus.NoMatchingKey, Validate(_jwt.Rs256(kid: "ec-1")));
        Assert.Equal(JwtStatus.NoMatchingKey, Validate(_jwt.Es256(kid: "rsa-1")));
    }

    [Fact]
    public void Unknown_kid_finds_no_key()
        => Assert.Equal(JwtStatus.NoMatchingKey, Validate(_jwt.Es256(kid: "rotated-away")));

    [Fact]
    public void Critical_header_extension_is_refused()
        => Assert.Equal(JwtStatus.BadHeader, Validate(_jwt.Es256(header: """{"alg":"ES256","kid":"ec-1","crit":["exp"]}""")));

    [Fact]
    public void Es256_signature_in_der_form_is_refused()
    {
        // JWS (RFC 7518 3.4) signs with the fixed-width R || S; the DER form of the same signature is not accepted.
        string signingInput = TestJwt.B64($$"""{"alg":"ES256","kid":"ec-1"}""") + "." + TestJwt.B64(TestJwt.Claims());
        byte[] der = _jwt.Ec.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        Assert.Equal(JwtStatus.BadSignature, Validate(signingInput + "." + TestJwt.B64(der)));
    }

    [Theory]
    [InlineData("\"exp\":\"9999999999\"")]
    [InlineData("\"nbf\":\"0\"")]
    [InlineData("\"exp\":null")]
    [InlineData("\"sub\":[\"a\"]")]
    public void Claims_of_the_wrong_type_are_refused(string claim)
    {
        string claims = $$"""{"iss":"{{TestJwt.Issuer}}","aud":"{{TestJwt.Audience}}",{{claim}}}""";
        Assert.Equal(JwtStatus.BadPayload, Validate(_jwt.Es256(claims)));
    }

    [Theory]
    [InlineData("\"exp\":1e999")]
    [InlineData("\"nbf\":-1e999")]
    public void Exp_or_nbf_out_of_range_is_refused_not_read_as_never_expiring(string claim)
    {
        // 1e999 reads as +infinity: such a token would never expire. Envoy refuses it as a payload that does not parse.
        string claims = $$"""{"iss":"{{TestJwt.Issuer}}","sub":"s","aud":"{{TestJwt.Audience}}",{{claim}}}""";
        Assert.Equal(JwtStatus.BadPayload, Validate(_jwt.Es256(claims)));
    }

    [Fact]
    public void Issuer_as_an_array_is_refused()
        => Assert.Equal(JwtStatus.BadPayload, Validate(_jwt.Es256($$"""{"iss":["{{TestJwt.Issuer}}"],"sub":"s","aud":"{{TestJwt.Audience}}"}""")));

    [Fact]
    public void Duplicate_claims_are_refused()
    {
        string claims = $$"""{"iss":"https://other.example.com","iss":"{{TestJwt.Issuer}}","sub":"s","aud":"{{TestJwt.Audience}}"}""";
        Assert.Equal(JwtStatus.BadPayload, Validate(_jwt.Es256(claims)));
    }

    [Fact]
    public void Payload_that_is_not_valid_utf8_or_has_a_lone_surrogate_is_refused_not_thrown()
    {
        string header = TestJwt.B64("""{"alg":"ES256","kid":"ec-1"}""");
        byte[] invalidUtf8 = Encoding.UTF8.GetBytes($$"""{"iss":"{{TestJwt.Issuer}}","sub":"x"}""");
        invalidUtf8[^3] = 0xA2;
        Assert.Equal(JwtStatus.BadPayload, Validate($"{header}.{TestJwt.B64(invalidUtf8)}.AAAA"));

        string loneSurrogate = $$"""{"iss":"{{TestJwt.Issuer}}","sub":"\ud800","aud":"{{TestJwt.Audience}}"}""";
        Assert.Equal(JwtStatus.BadPayload, Validate(_jwt.Es256(loneSurrogate)));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("a.b")]
    [InlineData("a.b.c.d")]
    [InlineData(".b.c")]
    public void Token_not_of_three_parts_is_malformed(string token) => Assert.Equal(JwtStatus.BadFormat, Validate(token));

    [Fact]
    public void Malformed_base64url_is_refused_strictly()
    {
        string[] parts = _jwt.Es256().Split('.');
        Assert.Equal(JwtStatus.BadHeader, Validate($"{parts[0]}=.{parts[1]}.{parts[2]}"));                    // padding
        Assert.Equal(JwtStatus.BadPayload, Validate($"{parts[0]}.{parts[1].Replace('-', '+')}+.{parts[2]}")); // '+' is base64, not base64url
        Assert.Equal(JwtStatus.BadSignatureEncoding, Validate($"{parts[0]}.{parts[1]}.{parts[2]}AAA"));       // length 4n+1
        Assert.Equal(JwtStatus.BadSignatureEncoding, Validate($"{parts[0]}.{parts[1]}.{parts[2][..^1]}*"));   // not in the alphabet
        Assert.Equal(JwtStatus.BadPayload, Validate($"{parts[0]}.{TestJwt.B64("not json")}.{parts[2]}"));
    }

    [Theory]
    [InlineData("QQ", true)]   // "A"
    [InlineData("QR", false)]  // same byte, non-zero unused bits: not canonical
    [InlineData("QUI", true)]  // "AB"
    [InlineData("QUJ", false)]
    [InlineData("QUJD", true)] // "ABC"
    [InlineData("Q", false)]
    [InlineData("QU=", false)]
    [InlineData("Q U", false)]
    public void Base64url_decoding_is_canonical(string text, bool valid)
    {
        byte[] buffer = new byte[8];
        Assert.Equal(valid, Base64Url.TryDecode(text, buffer, out _));
    }

    [Fact]
    public void Jwks_errors_say_what_is_wrong()
    {
        Assert.Null(JsonWebKeySet.TryParse("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}"u8, out string? error));
        Assert.Contains("32 bytes", error, StringComparison.Ordinal);
        Assert.Null(JsonWebKeySet.TryParse("{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}"u8, out error));
        Assert.Contains("no usable signing key", error, StringComparison.Ordinal);
        Assert.Null(JsonWebKeySet.TryParse("{\"keys\":"u8, out error));
        Assert.Contains("not valid JSON", error, StringComparison.Ordinal);
        using var small = RSA.Create(1024);
        RSAParameters p = small.ExportParameters(false);
        Assert.Null(JsonWebKeySet.TryParse(Encoding.UTF8.GetBytes($$"""{"keys":[{"kty":"RSA","n":"{{TestJwt.B64(p.Modulus!)}}","e":"{{TestJwt.B64(p.Exponent!)}}"}]}"""), out error));
        Assert.Contains("at least 2048", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("AQ")]      // e = 1: every "signature" is its own plaintext, so anyone can sign
    [InlineData("AAE")]     // 1 again, with a leading zero byte
    [InlineData("Ag")]      // even: not an RSA public exponent
    [InlineData("AA")]      // 0
    public void Rsa_key_with_a_degenerate_exponent_is_refused(string e)
    {
        // Pinned: the platform's RSA import (OpenSSL) refuses these, reported as an invalid key.
        using var rsa = RSA.Create(2048);
        string n = TestJwt.B64(rsa.ExportParameters(false).Modulus!);
        Assert.Null(JsonWebKeySet.TryParse(Encoding.UTF8.GetBytes($$"""{"keys":[{"kty":"RSA","n":"{{n}}","e":"{{e}}"}]}"""), out string? error));
        Assert.Contains("not a valid public key", error, StringComparison.Ordinal);
        Assert.NotNull(JsonWebKeySet.TryParse(Encoding.UTF8.GetBytes($$"""{"keys":[{"kty":"RSA","n":"{{n}}","e":"AQAB"}]}"""), out _));
    }
}

/// <summary>Hostile tokens: seeded random mutations of valid ones never throw and are never accepted.</summary>
public sealed class JwtValidatorFuzzTests
{
    [Fact]
    public void Mutated_tokens_end_in_a_refusal_never_an_exception()
    {
        using var jwt = new TestJwt();
        JsonWebKeySet keys = JsonWebKeySet.TryParse(Encoding.UTF8.GetBytes(jwt.Jwks()), out _)!;
        JwtProvider[] providers = [new JwtProvider(TestJwt.Issuer, [TestJwt.Audience], keys, false)];
        string[] seeds = [jwt.Es256(), jwt.Rs256()];
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u00e9\u0000";
        var random = new Random(1313);
        for (int i = 0; i < 5_000; i++)
        {
            char[] token = seeds[i % 2].ToCharArray();
            int edits = 1 + random.Next(4);
            for (int e = 0; e < edits; e++)
            {
                int at = random.Next(token.Length);
                switch (random.Next(3))
                {
                    case 0: token[at] = alphabet[random.Next(alphabet.Length)]; break;
                    case 1: token = token[..at]; break;
                    default: token = [.. token[..at], alphabet[random.Next(alphabet.Length)], .. token[at..]]; break;
                }

                if (token.Length == 0)
                {
                    token = ['.'];
                }
            }

            string mutated = new(token);
            JwtStatus status = JwtValidator.Validate(mutated, providers, TestJwt.Now, out _, out _);

            // Base64url is strict (one spelling per byte string), so only a mutation that gave back the token passes.
            Assert.True(status != JwtStatus.Ok || Array.IndexOf(seeds, mutated) >= 0, $"accepted a mutated token: {status}");
        }
    }
}
