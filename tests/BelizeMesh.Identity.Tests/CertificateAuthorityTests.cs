using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BelizeMesh.Identity.Tests;

public class CertificateAuthorityTests(PkiFixture pki) : IClassFixture<PkiFixture>
{
    // AlgorithmIdentifier SEQUENCE { OID } with no parameters.
    private const string MLDsa87AlgorithmId = "300B0609608648016503040313";
    private const string MLKem1024AlgorithmId = "300B0609608648016503040403";

    [Fact]
    public void Root_is_a_self_signed_ML_DSA_87_CA_with_the_design_defaults()
    {
        var root = pki.Authority.Certificate;
        using var x509 = X509CertificateLoader.LoadCertificate(root.RawData.Span);

        Assert.Equal(3, x509.Version);
        Assert.Equal("CN=BelizeMesh Root CA, O=BelizeMesh", x509.Subject);
        Assert.Equal(x509.Subject, x509.Issuer);
        Assert.Equal(MeshOids.MLDsa87, x509.SignatureAlgorithm.Value);
        Assert.Equal(MeshOids.MLDsa87, root.PublicKeyAlgorithmOid);
        Assert.Equal(MLDsaParameterSet.MLDsa87.PublicKeySizeInBytes, root.PublicKey.Length);
        Assert.Equal(PkiFixture.Now, root.NotBefore);
        Assert.Equal(PkiFixture.Now.AddDays(3650), root.NotAfter);

        var constraints = Assert.Single(x509.Extensions.OfType<X509BasicConstraintsExtension>());
        Assert.True(constraints.Critical);
        Assert.True(constraints.CertificateAuthority);
        var usage = Assert.Single(x509.Extensions.OfType<X509KeyUsageExtension>());
        Assert.True(usage.Critical);
        Assert.Equal(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, usage.KeyUsages);
        Assert.Single(x509.Extensions.OfType<X509SubjectKeyIdentifierExtension>());

        using var key = MLDsaKey.ImportPublicKey(MLDsaParameterSet.MLDsa87, root.PublicKey.Span);
        Assert.True(key.VerifyData(root.TbsCertificate.Span, root.Signature.Span));
    }

    [Fact]
    public void Algorithm_identifiers_have_no_parameters()
    {
        string root = Convert.ToHexString(pki.Authority.Certificate.RawData.Span);
        string leaf = Convert.ToHexString(pki.Service.Certificate.RawData.Span);

        // TBS signature, outer signatureAlgorithm, and (root) the SPKI algorithm.
        Assert.Equal(3, Count(root, MLDsa87AlgorithmId));
        Assert.Equal(2, Count(leaf, MLDsa87AlgorithmId));
        Assert.Equal(1, Count(leaf, MLKem1024AlgorithmId));
        Assert.Contains(MLKem1024AlgorithmId + "0382062100", leaf, StringComparison.Ordinal); // BIT STRING: 0 unused bits + 1568 bytes
    }

    [Fact]
    public void Service_certificate_carries_the_ML_KEM_key_SPIFFE_ID_and_DNS_names()
    {
        var leaf = pki.Service.Certificate;
        using var x509 = X509CertificateLoader.LoadCertificate(leaf.RawData.Span);

        Assert.Equal(MeshOids.MLKem1024, leaf.PublicKeyAlgorithmOid);
        Assert.Equal(PkiFixture.KemPublicOf(pki.Service.PrivateKey), Convert.ToHexString(leaf.PublicKey.Span));
        Assert.Equal(new SpiffeId("cluster.local", "belizechain", "pakit"), leaf.SpiffeId);
        Assert.Equal(["spiffe://cluster.local/ns/belizechain/sa/pakit"], leaf.UriNames);
        Assert.Equal(["pakit", "pakit.belizechain", "pakit.belizechain.svc", "pakit.belizechain.svc.cluster.local"], leaf.DnsNames);
        Assert.Equal(pki.Authority.Certificate.Subject, x509.Issuer);
        Assert.Equal(PkiFixture.Now.AddDays(90), leaf.NotAfter);

        var usage = Assert.Single(x509.Extensions.OfType<X509KeyUsageExtension>());
        Assert.True(usage.Critical);
        Assert.Equal(X509KeyUsageFlags.KeyEncipherment, usage.KeyUsages);
        var eku = Assert.Single(x509.Extensions.OfType<X509EnhancedKeyUsageExtension>());
        Assert.Equal([MeshOids.ServerAuth, MeshOids.ClientAuth], eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
        var aki = Assert.Single(x509.Extensions.OfType<X509AuthorityKeyIdentifierExtension>());
        Assert.Equal(Convert.ToHexString(pki.Authority.Certificate.SubjectKeyIdentifier.Span), Convert.ToHexString(aki.KeyIdentifier!.Value.Span));
        Assert.False(leaf.SubjectKeyIdentifier.IsEmpty);
        Assert.False(Assert.Single(x509.Extensions.OfType<X509BasicConstraintsExtension>()).CertificateAuthority);
    }

    [Fact]
    public void Serial_numbers_are_16_random_positive_bytes()
    {
        using var a = pki.Authority.Issue(PkiFixture.Request());
        using var b = pki.Authority.Issue(PkiFixture.Request());

        Assert.Equal(32, a.Certificate.SerialNumber.Length);
        Assert.True(Convert.FromHexString(a.Certificate.SerialNumber)[0] is >= 0x40 and < 0x80);
        Assert.NotEqual(a.Certificate.SerialNumber, b.Certificate.SerialNumber);
    }

    [Fact]
    public void Service_account_trust_domain_validity_and_extra_names_come_from_the_request()
    {
        using var issued = pki.Authority.Issue(PkiFixture.Request() with
        {
            ServiceAccount = "pakit-sa",
            TrustDomain = "belize.example",
            Validity = TimeSpan.FromDays(7),
            ExtraDnsNames = ["pakit.example.com"],
        });

        Assert.Equal("spiffe://belize.example/ns/belizechain/sa/pakit-sa", issued.Certificate.SpiffeId!.ToString());
        Assert.Equal("pakit.example.com", issued.Certificate.DnsNames[^1]);
        Assert.Equal(PkiFixture.Now.AddDays(7), issued.Certificate.NotAfter);
    }

    [Fact]
    public void Issue_rejects_a_namespace_that_is_not_a_DNS_label()
    {
        var e = Assert.Throws<ArgumentException>(() => pki.Authority.Issue(PkiFixture.Request(ns: "Belize_Chain")));
        Assert.StartsWith("namespace 'Belize_Chain' is not a DNS label (RFC 1123): 1-63 characters", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Issue_refuses_a_certificate_that_would_outlive_its_CA()
    {
        var e = Assert.Throws<ArgumentException>(() => pki.Authority.Issue(PkiFixture.Request() with { Validity = TimeSpan.FromDays(4000) }));
        Assert.StartsWith("the certificate would expire at 2037-05-", e.Message, StringComparison.Ordinal);
        Assert.Contains("issue it for at most 3650 days or rotate the CA", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateRoot_rejects_a_subject_that_is_not_a_distinguished_name()
    {
        var e = Assert.Throws<ArgumentException>(() => CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "BelizeMesh Root" }));
        Assert.StartsWith("subject 'BelizeMesh Root' is not a distinguished name; write it like 'CN=BelizeMesh Root CA,O=BelizeMesh'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CA_exported_as_PEM_loads_back_and_issues_certificates_its_bundle_accepts()
    {
        var time = new ManualTimeProvider(PkiFixture.Now);
        using var loaded = CertificateAuthority.FromPem(pki.Authority.Certificate.ToPem(), pki.Authority.ExportPrivateKeyPem(), time);
        using var issued = loaded.Issue(PkiFixture.Request("nawal"));

        var result = pki.Validator(time).Validate(issued.Certificate.RawData.Span);

        Assert.True(result.IsValid, result.ToString());
        Assert.Equal("spiffe://cluster.local/ns/belizechain/sa/nawal", result.Certificate!.SpiffeId!.ToString());
    }

    [Fact]
    public void CA_key_of_another_CA_is_rejected()
    {
        using var other = CertificateAuthority.CreateRoot();
        var e = Assert.Throws<CredentialsException>(() => CertificateAuthority.FromPem(pki.Authority.Certificate.ToPem(), other.ExportPrivateKeyPem()));
        Assert.Equal($"the private key does not belong to the CA certificate 'CN=BelizeMesh Root CA, O=BelizeMesh' (serial {pki.Authority.Certificate.SerialNumber}): their public keys differ", e.Message);
    }

    [Fact]
    public void A_service_certificate_cannot_be_loaded_as_a_CA()
    {
        var e = Assert.Throws<CredentialsException>(() => CertificateAuthority.FromPem(pki.Service.CertificatePem, pki.Authority.ExportPrivateKeyPem()));
        Assert.Equal("the CA certificate has an ML-KEM-1024 key; a BelizeMesh CA has an ML-DSA-87 key (create one with 'belizemesh certs root')", e.Message);
    }

    [Fact]
    public void Parse_reports_garbage_as_a_format_error()
    {
        var e = Assert.Throws<CertificateFormatException>(() => MeshCertificate.Parse(new byte[] { 0x30, 0x03, 0x02, 0x01, 0x00 }));
        Assert.StartsWith("not a DER X.509 certificate: ", e.Message, StringComparison.Ordinal);
    }

    private static int Count(string haystack, string needle)
    {
        int count = 0;
        for (int i = haystack.IndexOf(needle, StringComparison.Ordinal); i >= 0; i = haystack.IndexOf(needle, i + 2, StringComparison.Ordinal))
        {
            if (i % 2 == 0)
            {
                count++;
            }
        }

        return count;
    }
}
