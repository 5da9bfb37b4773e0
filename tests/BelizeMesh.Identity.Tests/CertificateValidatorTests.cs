using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace BelizeMesh.Identity.Tests;

public class CertificateValidatorTests(PkiFixture pki) : IClassFixture<PkiFixture>
{
    private static readonly DateTimeOffset s_notAfter = PkiFixture.Now.AddDays(90);

    [Fact]
    public void Accepts_a_service_certificate_issued_by_the_root()
    {
        var result = pki.Validator().Validate(pki.Service.Certificate.RawData.Span);

        Assert.True(result.IsValid, result.ToString());
        Assert.Equal(CertificateRejection.None, result.Reason);
        Assert.Equal("", result.Detail);
        Assert.Equal("cluster.local/ns/belizechain/sa/pakit", result.Certificate!.SpiffeId!.Principal);
    }

    [Fact]
    public void Rejects_bytes_that_are_not_a_certificate_as_malformed()
    {
        var result = pki.Validator().Validate(Encoding.ASCII.GetBytes("hello"));

        Assert.Equal(CertificateRejection.Malformed, result.Reason);
        Assert.StartsWith("not a DER X.509 certificate: ", result.Detail, StringComparison.Ordinal);
        Assert.Null(result.Certificate);
    }

    [Fact]
    public void Rejects_a_truncated_certificate_as_malformed()
    {
        var result = pki.Validator().Validate(pki.Service.Certificate.RawData.Span[..^1]);
        Assert.Equal(CertificateRejection.Malformed, result.Reason);
    }

    [Fact]
    public void Rejects_an_unknown_critical_extension_as_malformed()
    {
        var leaf = Custom(extensions => extensions.Add(new X509Extension("1.3.6.1.4.1.99999.1", [0x05, 0x00], critical: true)));
        Assert.Equal("the certificate has a critical extension this validator does not understand (1.3.6.1.4.1.99999.1)", Rejected(leaf, CertificateRejection.Malformed));
    }

    [Fact]
    public void Rejects_an_outer_signature_algorithm_that_differs_from_the_TBS_as_malformed()
    {
        var reader = new AsnReader(pki.Service.Certificate.RawData, AsnEncodingRules.DER).ReadSequence();
        var tbs = reader.ReadEncodedValue();
        reader.ReadEncodedValue();
        byte[] signature = reader.ReadBitString(out _);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.PushSequence();
        writer.WriteEncodedValue(tbs.Span);
        writer.PushSequence();
        writer.WriteObjectIdentifier("2.16.840.1.101.3.4.3.18");
        writer.PopSequence();
        writer.WriteBitString(signature);
        writer.PopSequence();

        var result = pki.Validator().Validate(writer.Encode());

        Assert.Equal(CertificateRejection.Malformed, result.Reason);
        Assert.Equal("the TBS signature algorithm differs from the certificate's signatureAlgorithm (RFC 5280 section 4.1.1.2)", result.Detail);
    }

    [Fact]
    public void Rejects_a_certificate_from_an_unknown_CA()
    {
        using var other = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=Other CA", Time = new ManualTimeProvider(PkiFixture.Now) });
        using var issued = other.Issue(PkiFixture.Request());

        Assert.Equal("the issuer 'CN=Other CA' is not a root of the trust bundle (1 root(s))", Rejected(issued.Certificate, CertificateRejection.UnknownIssuer));
    }

    [Fact]
    public void Rejects_a_certificate_from_a_CA_with_the_same_name_but_another_key()
    {
        using var twin = CertificateAuthority.CreateRoot(new RootCertificateOptions { Time = new ManualTimeProvider(PkiFixture.Now) });
        using var issued = twin.Issue(PkiFixture.Request());

        string detail = Rejected(issued.Certificate, CertificateRejection.UnknownIssuer);
        Assert.StartsWith("no root named 'CN=BelizeMesh Root CA, O=BelizeMesh' has the authority key identifier ", detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_a_tampered_TBS_as_bad_signature()
    {
        byte[] der = pki.Service.Certificate.RawData.ToArray();
        int at = IndexOf(der, "pakit.belizechain.svc.cluster.local"u8);
        der[at] = (byte)'q';

        var result = pki.Validator().Validate(der);

        Assert.Equal(CertificateRejection.BadSignature, result.Reason);
        Assert.Equal($"the ML-DSA-87 signature does not verify with the key of root 'CN=BelizeMesh Root CA, O=BelizeMesh' (serial {pki.Authority.Certificate.SerialNumber})", result.Detail);
    }

    [Fact]
    public void Rejects_a_tampered_signature_as_bad_signature()
    {
        byte[] der = pki.Service.Certificate.RawData.ToArray();
        der[^10] ^= 0x01;
        Assert.Equal(CertificateRejection.BadSignature, pki.Validator().Validate(der).Reason);
    }

    [Fact]
    public void Rejects_an_expired_certificate_beyond_the_clock_skew()
    {
        var time = new ManualTimeProvider(s_notAfter.AddMinutes(5).AddSeconds(1));
        var result = pki.Validator(time).Validate(pki.Service.Certificate.RawData.Span);

        Assert.Equal(CertificateRejection.Expired, result.Reason);
        Assert.Equal("the certificate expired at 2026-08-30 12:00:00Z; it is now 2026-08-30 12:05:01Z (clock skew allowed: 00:05:00)", result.Detail);
        Assert.NotNull(result.Certificate);
    }

    [Fact]
    public void Accepts_a_certificate_that_expired_within_the_clock_skew()
    {
        var time = new ManualTimeProvider(s_notAfter.AddMinutes(5));
        Assert.True(pki.Validator(time).Validate(pki.Service.Certificate.RawData.Span).IsValid);
    }

    [Fact]
    public void Rejects_a_certificate_that_is_not_yet_valid_beyond_the_clock_skew()
    {
        var time = new ManualTimeProvider(PkiFixture.Now.AddMinutes(-6));
        var result = pki.Validator(time).Validate(pki.Service.Certificate.RawData.Span);

        Assert.Equal(CertificateRejection.NotYetValid, result.Reason);
        Assert.Equal("the certificate is valid from 2026-06-01 12:00:00Z; it is now 2026-06-01 11:54:00Z (clock skew allowed: 00:05:00)", result.Detail);
    }

    [Fact]
    public void Rejects_a_certificate_whose_root_expired()
    {
        var time = new ManualTimeProvider(PkiFixture.Now);
        using var shortRoot = CertificateAuthority.CreateRoot(new RootCertificateOptions { Validity = TimeSpan.FromDays(10), Time = time });
        using var issued = shortRoot.Issue(PkiFixture.Request() with { Validity = TimeSpan.FromDays(10) });
        var validator = new CertificateValidator(shortRoot.TrustBundle, new CertificateValidatorOptions { Time = time });
        var leaf = issued.Certificate;

        time.Set(PkiFixture.Now.AddDays(11));
        var result = validator.Validate(leaf.RawData.Span);

        Assert.Equal(CertificateRejection.Expired, result.Reason);
        Assert.StartsWith("the certificate expired", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_a_key_that_is_not_ML_KEM_1024()
    {
        var leaf = Custom(publicKey: pki.Authority.Certificate.GetPublicKeyInfo());
        Assert.Equal("the public key algorithm is ML-DSA-87, expected ML-KEM-1024 (2.16.840.1.101.3.4.4.3)", Rejected(leaf, CertificateRejection.WrongAlgorithm));
    }

    [Fact]
    public void Rejects_ML_KEM_key_algorithm_parameters()
    {
        var kem = PkiFixture.NewKemPublicKey();
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.PushSequence();
        writer.PushSequence();
        writer.WriteObjectIdentifier(MeshOids.MLKem1024);
        writer.WriteNull();
        writer.PopSequence();
        writer.WriteBitString(kem.EncodedKeyValue.RawData);
        writer.PopSequence();
        var withNull = PublicKey.CreateFromSubjectPublicKeyInfo(writer.Encode(), out _);

        var leaf = Custom(publicKey: withNull);
        Assert.Equal("the public key algorithm ML-KEM-1024 carries parameters; they must be absent", Rejected(leaf, CertificateRejection.WrongAlgorithm));
    }

    [Fact]
    public void Rejects_a_signature_algorithm_other_than_ML_DSA_87()
    {
        var leaf = Custom(generator: new RelabelingGenerator(pki, "2.16.840.1.101.3.4.3.18", withNull: false));
        Assert.Equal("the signature algorithm is ML-DSA-65, expected ML-DSA-87 (2.16.840.1.101.3.4.3.19)", Rejected(leaf, CertificateRejection.WrongAlgorithm));
    }

    [Fact]
    public void Rejects_signature_algorithm_parameters()
    {
        var leaf = Custom(generator: new RelabelingGenerator(pki, MeshOids.MLDsa87, withNull: true));
        Assert.Equal("the signature algorithm ML-DSA-87 carries parameters; they must be absent", Rejected(leaf, CertificateRejection.WrongAlgorithm));
    }

    [Fact]
    public void Rejects_an_encapsulation_key_that_fails_the_modulus_check()
    {
        byte[] ek = new byte[MLKemParameterSet.MLKem1024.EncapsulationKeySizeInBytes];
        ek.AsSpan(0, 1536).Fill(0xFF); // every 12-bit coefficient is 4095 >= q
        var leaf = Custom(publicKey: MLDsaSignatureGenerator.CreatePublicKey(MeshOids.MLKem1024, ek));

        Assert.StartsWith("the ML-KEM-1024 public key fails the FIPS 203 section 7.2 check", Rejected(leaf, CertificateRejection.Malformed), StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_an_issuer_that_is_not_a_CA()
    {
        // Same name and key as the real root, but no basicConstraints: a trust bundle holding a non-CA certificate.
        var fake = pki.Authority.IssueCustom(pki.Authority.SubjectName, pki.Authority.Certificate.GetPublicKeyInfo(),
            [new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, critical: true)], PkiFixture.Now, PkiFixture.Now.AddDays(365));
        var validator = new CertificateValidator(TrustBundle.FromCertificates(fake), new CertificateValidatorOptions { Time = new ManualTimeProvider(PkiFixture.Now) });

        var result = validator.Validate(pki.Service.Certificate.RawData.Span);

        Assert.Equal(CertificateRejection.NotACertificateAuthority, result.Reason);
        Assert.Equal($"the issuing root 'CN=BelizeMesh Root CA, O=BelizeMesh' (serial {fake.SerialNumber}) is not a CA (basicConstraints cA:TRUE is missing)", result.Detail);
    }

    [Fact]
    public void Rejects_an_issuer_with_a_classical_key()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(pki.Authority.SubjectName, ec, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ecRoot = request.CreateSelfSigned(PkiFixture.Now, PkiFixture.Now.AddDays(365));
        var root = MeshCertificate.Parse(ecRoot.RawData);
        var validator = new CertificateValidator(TrustBundle.FromCertificates(root), new CertificateValidatorOptions { Time = new ManualTimeProvider(PkiFixture.Now) });

        var result = validator.Validate(pki.Service.Certificate.RawData.Span);

        Assert.Equal(CertificateRejection.WrongAlgorithm, result.Reason);
        Assert.Equal($"the issuing root 'CN=BelizeMesh Root CA, O=BelizeMesh' (serial {root.SerialNumber}) cannot sign mesh certificates: the public key algorithm is EC, expected ML-DSA-87 (2.16.840.1.101.3.4.3.19)", result.Detail);
    }

    [Fact]
    public void Rejects_an_issuer_whose_ML_DSA_key_has_the_wrong_length()
    {
        var fake = pki.Authority.IssueCustom(pki.Authority.SubjectName, MLDsaSignatureGenerator.CreatePublicKey(MeshOids.MLDsa87, new byte[100]),
            [new X509BasicConstraintsExtension(true, false, 0, true), new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, critical: true)],
            PkiFixture.Now, PkiFixture.Now.AddDays(365));
        var validator = new CertificateValidator(TrustBundle.FromCertificates(fake), new CertificateValidatorOptions { Time = new ManualTimeProvider(PkiFixture.Now) });

        var result = validator.Validate(pki.Service.Certificate.RawData.Span);

        Assert.Equal(CertificateRejection.Malformed, result.Reason);
        Assert.Equal($"the issuing root 'CN=BelizeMesh Root CA, O=BelizeMesh' (serial {fake.SerialNumber}) has a 100-byte ML-DSA-87 public key, expected 2592 bytes", result.Detail);
    }

    [Fact]
    public void Rejects_an_issuer_without_keyCertSign()
    {
        var fake = pki.Authority.IssueCustom(pki.Authority.SubjectName, pki.Authority.Certificate.GetPublicKeyInfo(),
            [new X509BasicConstraintsExtension(true, false, 0, true), new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true)],
            PkiFixture.Now, PkiFixture.Now.AddDays(365));
        var validator = new CertificateValidator(TrustBundle.FromCertificates(fake), new CertificateValidatorOptions { Time = new ManualTimeProvider(PkiFixture.Now) });

        var result = validator.Validate(pki.Service.Certificate.RawData.Span);

        Assert.Equal(CertificateRejection.NotACertificateAuthority, result.Reason);
        Assert.EndsWith("may not sign certificates (keyUsage is DigitalSignature, keyCertSign is required)", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_a_leaf_that_claims_to_be_a_CA()
    {
        var leaf = Custom(extensions => Replace<X509BasicConstraintsExtension>(extensions, new X509BasicConstraintsExtension(true, false, 0, true)));
        Assert.Equal("the certificate is a CA (basicConstraints cA:TRUE); a service certificate must not be", Rejected(leaf, CertificateRejection.WrongKeyUsage));
    }

    [Fact]
    public void Rejects_a_leaf_without_keyEncipherment()
    {
        var leaf = Custom(extensions => Replace<X509KeyUsageExtension>(extensions, new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true)));
        Assert.Equal("keyUsage is DigitalSignature; a service certificate needs keyEncipherment (its key is an ML-KEM key)", Rejected(leaf, CertificateRejection.WrongKeyUsage));
    }

    [Fact]
    public void Rejects_a_leaf_without_keyUsage()
    {
        var leaf = Custom(extensions => extensions.RemoveAll(e => e is X509KeyUsageExtension));
        Assert.Equal("keyUsage is absent; a service certificate needs keyEncipherment (its key is an ML-KEM key)", Rejected(leaf, CertificateRejection.WrongKeyUsage));
    }

    [Fact]
    public void Rejects_a_leaf_that_may_sign_certificates()
    {
        var leaf = Custom(extensions => Replace<X509KeyUsageExtension>(extensions, new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.KeyCertSign, true)));
        Assert.Equal("keyUsage is KeyCertSign, KeyEncipherment; a service certificate must not have keyCertSign or cRLSign", Rejected(leaf, CertificateRejection.WrongKeyUsage));
    }

    [Fact]
    public void Rejects_a_leaf_without_clientAuth()
    {
        var leaf = Custom(extensions => Replace<X509EnhancedKeyUsageExtension>(extensions, new X509EnhancedKeyUsageExtension([new Oid(MeshOids.ServerAuth)], false)));
        Assert.Equal("extendedKeyUsage is [1.3.6.1.5.5.7.3.1]; a service certificate needs serverAuth and clientAuth", Rejected(leaf, CertificateRejection.WrongKeyUsage));
    }

    [Fact]
    public void Rejects_a_leaf_without_a_SPIFFE_ID()
    {
        var leaf = Custom(extensions => ReplaceSan(extensions, San(dns: "pakit")));
        Assert.Equal("the certificate has no spiffe:// URI in its subjectAltName", Rejected(leaf, CertificateRejection.MissingSpiffeId));
    }

    [Fact]
    public void Rejects_a_malformed_SPIFFE_ID()
    {
        var leaf = Custom(extensions => ReplaceSan(extensions, San(uris: ["spiffe://cluster.local/workload/pakit"])));
        Assert.Equal("the URI SAN 'spiffe://cluster.local/workload/pakit' is not a SPIFFE ID of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>", Rejected(leaf, CertificateRejection.MissingSpiffeId));
    }

    [Fact]
    public void Rejects_a_leaf_with_two_SPIFFE_IDs()
    {
        var leaf = Custom(extensions => ReplaceSan(extensions,
            San(uris: ["spiffe://cluster.local/ns/a/sa/a", "spiffe://cluster.local/ns/b/sa/b"])));
        Assert.Equal("the certificate has 2 spiffe:// URIs in its subjectAltName; exactly one is allowed", Rejected(leaf, CertificateRejection.MultipleSpiffeIds));
    }

    [Fact]
    public void Rejects_a_SPIFFE_ID_of_another_trust_domain()
    {
        var result = pki.Validator(trustDomain: "belize.example").Validate(pki.Service.Certificate.RawData.Span);

        Assert.Equal(CertificateRejection.WrongTrustDomain, result.Reason);
        Assert.Equal("the SPIFFE ID spiffe://cluster.local/ns/belizechain/sa/pakit is in trust domain 'cluster.local', expected 'belize.example'", result.Detail);
    }

    [Fact]
    public void Cached_validation_still_checks_the_clock()
    {
        var time = new ManualTimeProvider(PkiFixture.Now);
        var validator = pki.Validator(time);
        var first = validator.Validate(pki.Service.Certificate.RawData.Span);
        Assert.True(first.IsValid);
        Assert.Equal(1, validator.CachedCount);

        time.Set(s_notAfter.AddDays(1));
        var later = validator.Validate(pki.Service.Certificate.RawData.Span);

        Assert.Equal(CertificateRejection.Expired, later.Reason);
        Assert.Same(first.Certificate, later.Certificate);
    }

    [Fact]
    public void Cached_validation_returns_the_first_result()
    {
        var validator = pki.Validator();
        var first = validator.Validate(pki.Service.Certificate.RawData.Span);
        var second = validator.Validate(pki.Service.Certificate.RawData.ToArray());

        Assert.Same(first, second);
    }

    [Fact]
    public void Cache_never_admits_a_rejected_certificate()
    {
        byte[] der = pki.Service.Certificate.RawData.ToArray();
        der[^10] ^= 0x01;
        var validator = pki.Validator();

        validator.Validate(der);

        Assert.Equal(0, validator.CachedCount);
    }

    [Fact]
    public void Cache_stays_within_its_capacity()
    {
        var validator = pki.Validator(capacity: 2);
        for (int i = 0; i < 5; i++)
        {
            using var issued = pki.Authority.Issue(PkiFixture.Request($"svc{i}"));
            Assert.True(validator.Validate(issued.Certificate.RawData.Span).IsValid);
            Assert.InRange(validator.CachedCount, 1, 2);
        }
    }

    [Fact]
    public void Validation_is_thread_safe()
    {
        var validator = pki.Validator(capacity: 1);
        using var other = pki.Authority.Issue(PkiFixture.Request("other"));
        byte[][] certificates = [pki.Service.Certificate.RawData.ToArray(), other.Certificate.RawData.ToArray()];
        var results = new bool[64];

        Parallel.For(0, results.Length, i => results[i] = validator.Validate(certificates[i % 2]).IsValid);

        Assert.All(results, Assert.True);
    }

    [Fact]
    public void Trust_bundle_with_two_roots_accepts_both_generations()
    {
        var time = new ManualTimeProvider(PkiFixture.Now);
        using var next = CertificateAuthority.CreateRoot(new RootCertificateOptions { Time = time });
        using var issuedByNext = next.Issue(PkiFixture.Request());
        var bundle = TrustBundle.Parse(pki.Authority.Certificate.ToPem() + next.Certificate.ToPem());
        var validator = new CertificateValidator(bundle, new CertificateValidatorOptions { Time = time });

        Assert.Equal(2, bundle.Roots.Count);
        Assert.True(validator.Validate(pki.Service.Certificate.RawData.Span).IsValid);
        Assert.True(validator.Validate(issuedByNext.Certificate.RawData.Span).IsValid);
    }

    [Fact]
    public void Trust_bundle_reports_which_certificate_is_broken()
    {
        string pem = pki.Authority.Certificate.ToPem() + PemEncoding.WriteString("CERTIFICATE", new byte[] { 0x30, 0x00 });
        var e = Assert.Throws<CertificateFormatException>(() => TrustBundle.Parse(pem));
        Assert.StartsWith("certificate 2 of 2: not a DER X.509 certificate: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_with_a_bad_trust_domain_fail_at_construction()
    {
        var e = Assert.Throws<ArgumentException>(() => new CertificateValidator(pki.Authority.TrustBundle, new CertificateValidatorOptions { TrustDomain = "Cluster Local" }));
        Assert.StartsWith("'Cluster Local' is not a valid trust domain", e.Message, StringComparison.Ordinal);
    }

    private MeshCertificate Custom(Action<List<X509Extension>>? edit = null, PublicKey? publicKey = null, X509SignatureGenerator? generator = null)
    {
        publicKey ??= PkiFixture.NewKemPublicKey();
        var extensions = pki.Authority.ServiceExtensions(PkiFixture.Request(), publicKey);
        edit?.Invoke(extensions);
        return pki.Authority.IssueCustom(new X500DistinguishedName("CN=custom"), publicKey, extensions, PkiFixture.Now, PkiFixture.Now.AddDays(90), generator);
    }

    private string Rejected(MeshCertificate certificate, CertificateRejection expected)
    {
        var result = pki.Validator().Validate(certificate.RawData.Span);
        Assert.Equal(expected, result.Reason);
        Assert.False(result.IsValid);
        return result.Detail;
    }

    private static void Replace<T>(List<X509Extension> extensions, X509Extension replacement)
    {
        int index = extensions.FindIndex(e => e is T);
        extensions[index] = replacement;
    }

    private static void ReplaceSan(List<X509Extension> extensions, X509Extension replacement)
    {
        int index = extensions.FindIndex(e => e.Oid?.Value == "2.5.29.17");
        extensions[index] = replacement;
    }

    private static X509Extension San(string? dns = null, string[]? uris = null)
    {
        var builder = new SubjectAlternativeNameBuilder();
        if (dns is not null)
        {
            builder.AddDnsName(dns);
        }

        foreach (string uri in uris ?? [])
        {
            builder.AddUri(new Uri(uri));
        }

        return builder.Build();
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);

    /// <summary>Signs with the CA's ML-DSA-87 key but labels the signature with another AlgorithmIdentifier.</summary>
    private sealed class RelabelingGenerator(PkiFixture pki, string oid, bool withNull) : X509SignatureGenerator
    {
        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm)
        {
            var writer = new AsnWriter(AsnEncodingRules.DER);
            writer.PushSequence();
            writer.WriteObjectIdentifier(oid);
            if (withNull)
            {
                writer.WriteNull();
            }

            writer.PopSequence();
            return writer.Encode();
        }

        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) => pki.Authority.Sign(data);

        protected override PublicKey BuildPublicKey() => pki.Authority.Certificate.GetPublicKeyInfo();
    }
}
