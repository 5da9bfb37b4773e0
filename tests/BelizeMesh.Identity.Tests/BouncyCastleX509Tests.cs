using BelizeMesh.Identity;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace BelizeMesh.Identity.Tests;

/// <summary>
/// Our certificates and keys read by BouncyCastle 2.7.0's X.509 and PKCS#8 classes, an implementation independent of
/// ours and of OpenSSL's: the structure parses, ML-DSA-87 signatures verify (and a tampered one does not), and the keys
/// inside are the ones we hold.
/// </summary>
public sealed class BouncyCastleX509Tests
{
    private static readonly Lazy<CertificateAuthority> s_root = new(() => CertificateAuthority.CreateRoot(new RootCertificateOptions()));

    private static X509Certificate Read(MeshCertificate certificate) => new X509CertificateParser().ReadCertificate(certificate.RawData.ToArray());

    [Fact]
    public void Root_certificate_is_self_signed_with_ML_DSA_87_as_BouncyCastle_sees_it()
    {
        X509Certificate root = Read(s_root.Value.Certificate);
        Assert.Equal("2.16.840.1.101.3.4.3.19", root.SigAlgOid);
        Assert.IsType<MLDsaPublicKeyParameters>(root.GetPublicKey());
        root.Verify(root.GetPublicKey()); // throws when the signature does not verify
        Assert.Equal(3, root.Version);
        Assert.True(root.GetBasicConstraints() >= 0, "a CA certificate");
    }

    [Fact]
    public void Service_certificate_verifies_under_the_root_and_carries_our_ML_KEM_1024_key_and_SPIFFE_ID()
    {
        using IssuedCertificate issued = s_root.Value.Issue(new ServiceCertificateRequest { Service = "pakit", Namespace = "belizechain" });
        X509Certificate root = Read(s_root.Value.Certificate);
        X509Certificate leaf = Read(issued.Certificate);

        leaf.Verify(root.GetPublicKey());
        Assert.Equal("2.16.840.1.101.3.4.3.19", leaf.SigAlgOid);
        var key = Assert.IsType<MLKemPublicKeyParameters>(leaf.GetPublicKey());
        Assert.Equal("ML-KEM-1024", key.Parameters.Name);
        Assert.True(key.GetEncoded().AsSpan().SequenceEqual(issued.Certificate.PublicKey.Span));
        Assert.Contains(leaf.GetSubjectAlternativeNames(), san => san[1] is string uri && uri == "spiffe://cluster.local/ns/belizechain/sa/pakit");
        Assert.Equal(-1, leaf.GetBasicConstraints());

        // One flipped bit in the signature: BouncyCastle refuses it too.
        byte[] tampered = issued.Certificate.RawData.ToArray();
        tampered[^5] ^= 0x01;
        X509Certificate bad = new X509CertificateParser().ReadCertificate(tampered);
        Assert.ThrowsAny<Exception>(() => bad.Verify(root.GetPublicKey()));

        // A certificate from another root does not verify under this one.
        X509Certificate other = Read(CertificateAuthority.CreateRoot(new RootCertificateOptions()).Certificate);
        Assert.ThrowsAny<Exception>(() => leaf.Verify(other.GetPublicKey()));
    }

    [Fact]
    public void Private_keys_in_seed_form_PKCS8_are_read_by_BouncyCastle_as_the_same_keys()
    {
        using IssuedCertificate issued = s_root.Value.Issue(new ServiceCertificateRequest { Service = "nawal", Namespace = "belizechain" });
        var kem = Assert.IsType<MLKemPrivateKeyParameters>(PrivateKeyFactory.CreateKey(Pkcs8(issued.ExportPrivateKeyPem())));
        Assert.True(kem.GetPublicKeyEncoded().AsSpan().SequenceEqual(issued.Certificate.PublicKey.Span));
        Assert.NotNull(kem.GetSeed());
        Assert.Equal(64, kem.GetSeed().Length);

        var dsa = Assert.IsType<MLDsaPrivateKeyParameters>(PrivateKeyFactory.CreateKey(Pkcs8(s_root.Value.ExportPrivateKeyPem())));
        Assert.True(dsa.GetPublicKeyEncoded().AsSpan().SequenceEqual(s_root.Value.Certificate.PublicKey.Span));
        Assert.Equal(32, dsa.GetSeed().Length);
    }

    private static byte[] Pkcs8(string pem)
    {
        const string Begin = "-----BEGIN PRIVATE KEY-----", End = "-----END PRIVATE KEY-----";
        int start = pem.IndexOf(Begin, StringComparison.Ordinal) + Begin.Length;
        return Convert.FromBase64String(pem[start..pem.IndexOf(End, StringComparison.Ordinal)].Replace("\n", "", StringComparison.Ordinal));
    }
}
