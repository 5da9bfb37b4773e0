using System.Security.Cryptography;
using System.Text;

namespace BelizeMesh.Proxy.Tests.Policy;

/// <summary>Keys generated per test run, their JWKS, and signed tokens built by hand (no JWT library in the loop).</summary>
internal sealed class TestJwt : IDisposable
{
    public const string Issuer = "https://auth.example.com";
    public const string Audience = "api.example.com";

    public TestJwt()
    {
        Ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Rsa = RSA.Create(2048);
    }

    public ECDsa Ec { get; }

    public RSA Rsa { get; }

    public static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>{"keys":[EC kid "ec-1", RSA kid "rsa-1"]}</summary>
    public string Jwks()
    {
        ECParameters ec = Ec.ExportParameters(false);
        RSAParameters rsa = Rsa.ExportParameters(false);
        return $$"""{"keys":[{"kty":"EC","crv":"P-256","kid":"ec-1","use":"sig","x":"{{B64(ec.Q.X!)}}","y":"{{B64(ec.Q.Y!)}}"},{"kty":"RSA","kid":"rsa-1","alg":"RS256","n":"{{B64(rsa.Modulus!)}}","e":"{{B64(rsa.Exponent!)}}"}]}""";
    }

    public static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string B64(string text) => B64(Encoding.UTF8.GetBytes(text));

    public static string Claims(string iss = Issuer, string sub = "user-1", string aud = Audience, long? exp = null, long? nbf = null)
    {
        var parts = new List<string> { $"\"iss\":\"{iss}\"", $"\"sub\":\"{sub}\"", $"\"aud\":\"{aud}\"", $"\"exp\":{exp ?? Now + 600}" };
        if (nbf is not null)
        {
            parts.Add($"\"nbf\":{nbf}");
        }

        return "{" + string.Join(",", parts) + "}";
    }

    public string Es256(string? claims = null, string kid = "ec-1", string? header = null)
    {
        string signingInput = B64(header ?? $$"""{"alg":"ES256","typ":"JWT","kid":"{{kid}}"}""") + "." + B64(claims ?? Claims());
        return signingInput + "." + B64(Ec.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256));
    }

    public string Rs256(string? claims = null, string kid = "rsa-1", string? header = null)
    {
        string signingInput = B64(header ?? $$"""{"alg":"RS256","typ":"JWT","kid":"{{kid}}"}""") + "." + B64(claims ?? Claims());
        return signingInput + "." + B64(Rsa.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    public void Dispose()
    {
        Ec.Dispose();
        Rsa.Dispose();
    }
}
