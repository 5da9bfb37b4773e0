namespace BelizeMesh.Identity.Tests;

public class ServiceCredentialsTests(PkiFixture pki) : IClassFixture<PkiFixture>
{
    private static CertificateValidatorOptions Options => new() { Time = new ManualTimeProvider(PkiFixture.Now) };

    [Fact]
    public void Load_reads_a_mounted_secret_and_the_key_decapsulates_what_peers_encapsulate_to_the_certificate()
    {
        using var dir = WriteSecret(pki.Service.CertificatePem, pki.Service.ExportPrivateKeyPem(), pki.Authority.Certificate.ToPem());

        using var credentials = ServiceCredentials.Load(dir.Path, Options);

        Assert.Equal("spiffe://cluster.local/ns/belizechain/sa/pakit", credentials.SpiffeId.ToString());
        Assert.Single(credentials.TrustBundle.Roots);
        using var peerView = MLKemKey.ImportEncapsulationKey(MLKemParameterSet.MLKem1024, credentials.Certificate.PublicKey.Span);
        byte[] ciphertext = new byte[MLKemParameterSet.MLKem1024.CiphertextSizeInBytes];
        byte[] sent = new byte[32];
        byte[] received = new byte[32];
        peerView.Encapsulate(ciphertext, sent);
        credentials.PrivateKey.Decapsulate(ciphertext, received);
        Assert.Equal(sent, received);
        Assert.True(credentials.Validator.Validate(pki.Service.Certificate.RawData.Span).IsValid);
    }

    [Fact]
    public void Load_rejects_a_key_that_does_not_match_the_certificate()
    {
        using var other = pki.Authority.Issue(PkiFixture.Request("other"));
        using var dir = WriteSecret(pki.Service.CertificatePem, other.ExportPrivateKeyPem(), pki.Authority.Certificate.ToPem());

        var e = Assert.Throws<CredentialsException>(() => ServiceCredentials.Load(dir.Path, Options));

        Assert.Equal($"{dir.File("tls.key")}: the private key does not match the certificate in {dir.File("tls.crt")} (their ML-KEM-1024 public keys differ); reissue both with 'belizemesh certs issue'", e.Message);
    }

    [Fact]
    public void Load_names_the_missing_file()
    {
        using var dir = WriteSecret(pki.Service.CertificatePem, null, pki.Authority.Certificate.ToPem());

        var e = Assert.Throws<CredentialsException>(() => ServiceCredentials.Load(dir.Path, Options));

        Assert.Equal($"{dir.File("tls.key")}: file not found", e.Message);
    }

    [Fact]
    public void Load_rejects_a_certificate_the_bundle_does_not_accept()
    {
        using var other = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=Other", Time = new ManualTimeProvider(PkiFixture.Now) });
        using var dir = WriteSecret(pki.Service.CertificatePem, pki.Service.ExportPrivateKeyPem(), other.Certificate.ToPem());

        var e = Assert.Throws<CredentialsException>(() => ServiceCredentials.Load(dir.Path, Options));

        Assert.Equal(CertificateRejection.UnknownIssuer, e.Reason);
        Assert.Equal($"{dir.File("tls.crt")}: rejected (UnknownIssuer): the issuer 'CN=BelizeMesh Root CA, O=BelizeMesh' is not a root of the trust bundle (1 root(s))", e.Message);
    }

    [Fact]
    public void Load_rejects_an_expired_certificate()
    {
        using var dir = WriteSecret(pki.Service.CertificatePem, pki.Service.ExportPrivateKeyPem(), pki.Authority.Certificate.ToPem());

        var e = Assert.Throws<CredentialsException>(() => ServiceCredentials.Load(dir.Path, Options with { Time = new ManualTimeProvider(PkiFixture.Now.AddDays(100)) }));

        Assert.Equal(CertificateRejection.Expired, e.Reason);
    }

    [Fact]
    public void FromPem_rejects_a_key_PEM_in_the_certificate_slot()
    {
        var e = Assert.Throws<CredentialsException>(() => ServiceCredentials.FromPem(pki.Service.ExportPrivateKeyPem(), pki.Service.ExportPrivateKeyPem(), pki.Authority.Certificate.ToPem(), Options));
        Assert.Equal("tls.crt: found a 'PRIVATE KEY' PEM block; expected 'CERTIFICATE'", e.Message);
    }

    private static TempDirectory WriteSecret(string? certificate, string? key, string? bundle)
    {
        var dir = new TempDirectory();
        if (certificate is not null)
        {
            File.WriteAllText(dir.File("tls.crt"), certificate);
        }

        if (key is not null)
        {
            File.WriteAllText(dir.File("tls.key"), key);
        }

        if (bundle is not null)
        {
            File.WriteAllText(dir.File("ca.crt"), bundle);
        }

        return dir;
    }
}
