using System.Text.Json.Nodes;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Identity.Tests;

/// <summary>Our certificates and keys against OpenSSL 3.5 (Node 26's crypto) and @noble/post-quantum, both ways.</summary>
public class NodeInteropTests(PkiFixture pki) : IClassFixture<PkiFixture>
{
    [NodeFact]
    public void OpenSsl_and_noble_parse_our_certificates_and_verify_the_CA_signature()
    {
        var report = Inspect(pki.Authority.Certificate.ToPem(), [pki.Authority.Certificate.ToPem(), pki.Service.CertificatePem], []);

        Assert.Equal("ml-dsa-87", (string?)report["caKeyType"]);
        var root = report["certs"]![0]!;
        var leaf = report["certs"]![1]!;
        Assert.True((bool)root["parsed"]!, root.ToJsonString());
        Assert.True((bool)leaf["parsed"]!, leaf.ToJsonString());
        Assert.True((bool)root["ca"]!);
        Assert.False((bool)leaf["ca"]!);
        Assert.Equal("ml-kem-1024", (string?)leaf["keyType"]);
        Assert.Equal("URI:spiffe://cluster.local/ns/belizechain/sa/pakit, DNS:pakit, DNS:pakit.belizechain, DNS:pakit.belizechain.svc, DNS:pakit.belizechain.svc.cluster.local", (string?)leaf["subjectAltName"]);
        Assert.Equal(pki.Service.Certificate.SerialNumber, (string?)leaf["serialNumber"]);
        Assert.Equal(Convert.ToBase64String(pki.Service.Certificate.PublicKey.Span), (string?)leaf["publicKey"]);
        Assert.True((bool)root["openSslVerified"]!);
        Assert.True((bool)leaf["openSslVerified"]!);
        Assert.True((bool)root["nobleVerified"]!);
        Assert.True((bool)leaf["nobleVerified"]!);
    }

    [NodeFact]
    public void OpenSsl_imports_our_PKCS8_keys_and_derives_the_same_public_keys()
    {
        var report = Inspect(pki.Authority.Certificate.ToPem(), [], [pki.Authority.ExportPrivateKeyPem(), pki.Service.ExportPrivateKeyPem()]);

        var caKey = report["keys"]![0]!;
        var serviceKey = report["keys"]![1]!;
        Assert.True((bool)caKey["imported"]!, caKey.ToJsonString());
        Assert.True((bool)serviceKey["imported"]!, serviceKey.ToJsonString());
        Assert.Equal("ml-dsa-87", (string?)caKey["type"]);
        Assert.Equal("ml-kem-1024", (string?)serviceKey["type"]);
        Assert.Equal(Convert.ToBase64String(pki.Authority.Certificate.PublicKey.Span), (string?)caKey["publicKey"]);
        Assert.Equal(Convert.ToBase64String(pki.Service.Certificate.PublicKey.Span), (string?)serviceKey["publicKey"]);
    }

    [NodeFact]
    public void A_tampered_TBS_fails_in_OpenSsl_noble_and_our_validator()
    {
        byte[] der = pki.Service.Certificate.RawData.ToArray();
        int at = der.AsSpan().IndexOf("pakit.belizechain.svc.cluster.local"u8);
        der[at] = (byte)'q';
        string tampered = System.Security.Cryptography.PemEncoding.WriteString("CERTIFICATE", der);

        var leaf = Inspect(pki.Authority.Certificate.ToPem(), [tampered], [])["certs"]![0]!;

        Assert.True((bool)leaf["parsed"]!, leaf.ToJsonString());
        Assert.False((bool)leaf["openSslVerified"]!);
        Assert.False((bool)leaf["nobleVerified"]!);
        Assert.Equal(CertificateRejection.BadSignature, pki.Validator().Validate(der).Reason);
    }

    [NodeFact]
    public void A_PKI_built_by_OpenSsl_is_accepted_by_our_loader_validator_and_CA()
    {
        var input = new JsonObject
        {
            ["spiffe"] = "spiffe://cluster.local/ns/default/sa/interop",
            ["notBefore"] = PkiFixture.Now.AddDays(-1).ToString("O"),
            ["notAfter"] = PkiFixture.Now.AddDays(30).ToString("O"),
        };
        var made = JsonNode.Parse(NodeInterop.RunModule(Script("certs-make.mjs"), input.ToJsonString()))!;
        var time = new ManualTimeProvider(PkiFixture.Now);

        using var credentials = ServiceCredentials.FromPem((string)made["leafCert"]!, (string)made["leafKey"]!, (string)made["caCert"]!, new CertificateValidatorOptions { Time = time });
        using var authority = CertificateAuthority.FromPem((string)made["caCert"]!, (string)made["caKey"]!, time);
        using var issued = authority.Issue(PkiFixture.Request() with { Validity = TimeSpan.FromDays(7) });

        Assert.Equal("spiffe://cluster.local/ns/default/sa/interop", credentials.SpiffeId.ToString());
        Assert.Equal("CN=interop.default.svc, O=OpenSSL Interop", credentials.Certificate.Subject);
        Assert.True(credentials.Validator.Validate(issued.Certificate.RawData.Span).IsValid);
    }

    private static JsonNode Inspect(string caPem, string[] certificates, string[] keys)
    {
        var input = new JsonObject
        {
            ["ca"] = caPem,
            ["certs"] = new JsonArray([.. certificates.Select(c => (JsonNode?)JsonValue.Create(c))]),
            ["keys"] = new JsonArray([.. keys.Select(k => (JsonNode?)JsonValue.Create(k))]),
        };
        return JsonNode.Parse(NodeInterop.RunModule(Script("certs-inspect.mjs"), input.ToJsonString()))!;
    }

    private static string Script(string name) => File.ReadAllText(NodeInterop.InteropDir + "/" + name);
}
