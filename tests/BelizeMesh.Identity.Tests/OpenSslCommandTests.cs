namespace BelizeMesh.Identity.Tests;

/// <summary>OpenSSL 3.0 (the machine's openssl) cannot decode ML-DSA/ML-KEM keys but must read every certificate we write.</summary>
public class OpenSslCommandTests(PkiFixture pki) : IClassFixture<PkiFixture>
{
    [OpenSslFact]
    public void Asn1parse_reads_the_root_and_the_service_certificate()
    {
        using var dir = new TempDirectory();
        foreach (var (name, certificate) in new[] { ("ca.crt", pki.Authority.Certificate), ("tls.crt", pki.Service.Certificate) })
        {
            File.WriteAllText(dir.File(name), certificate.ToPem());
            var (exit, output) = OpenSsl.Run("asn1parse", "-in", dir.File(name));
            Assert.True(exit == 0, output);
            Assert.Contains(":2.16.840.1.101.3.4.3.19", output, StringComparison.Ordinal);
        }
    }

    [OpenSslFact]
    public void X509_text_shows_the_extensions_of_the_root()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("ca.crt"), pki.Authority.Certificate.ToPem());

        var (exit, output) = OpenSsl.Run("x509", "-in", dir.File("ca.crt"), "-noout", "-text");

        Assert.True(exit == 0, output);
        Assert.Contains("Signature Algorithm: 2.16.840.1.101.3.4.3.19", output, StringComparison.Ordinal);
        Assert.Contains("Subject: O = BelizeMesh, CN = BelizeMesh Root CA", output, StringComparison.Ordinal);
        Assert.Contains("X509v3 Basic Constraints: critical\n                CA:TRUE", output, StringComparison.Ordinal);
        Assert.Contains("X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign", output, StringComparison.Ordinal);
    }

    [OpenSslFact]
    public void X509_text_shows_the_SPIFFE_ID_and_usages_of_the_service_certificate()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("tls.crt"), pki.Service.CertificatePem);

        var (exit, output) = OpenSsl.Run("x509", "-in", dir.File("tls.crt"), "-noout", "-text");

        Assert.True(exit == 0, output);
        Assert.Contains("Public Key Algorithm: 2.16.840.1.101.3.4.4.3", output, StringComparison.Ordinal);
        Assert.Contains("URI:spiffe://cluster.local/ns/belizechain/sa/pakit, DNS:pakit, DNS:pakit.belizechain, DNS:pakit.belizechain.svc, DNS:pakit.belizechain.svc.cluster.local", output, StringComparison.Ordinal);
        Assert.Contains("X509v3 Key Usage: critical\n                Key Encipherment", output, StringComparison.Ordinal);
        Assert.Contains("TLS Web Server Authentication, TLS Web Client Authentication", output, StringComparison.Ordinal);
        Assert.Contains("X509v3 Authority Key Identifier", output, StringComparison.Ordinal);
    }
}
