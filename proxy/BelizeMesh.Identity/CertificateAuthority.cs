using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BelizeMesh.Quantum;

namespace BelizeMesh.Identity;

/// <summary>Settings of a new mesh root CA.</summary>
public sealed record RootCertificateOptions
{
    /// <summary>The default subject.</summary>
    public const string DefaultSubject = "CN=BelizeMesh Root CA,O=BelizeMesh";

    /// <summary>The subject distinguished name (RFC 4514 form, most specific first).</summary>
    public string Subject { get; init; } = DefaultSubject;

    /// <summary>How long the root is valid (10 years by default).</summary>
    public TimeSpan Validity { get; init; } = TimeSpan.FromDays(3650);

    /// <summary>The clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// The mesh CA: an ML-DSA-87 key with its self-signed root certificate. Issues service certificates that carry an
/// ML-KEM-1024 key and the service's SPIFFE ID. Used by <c>belizemesh certs</c>, the demo and tests.
/// </summary>
public sealed class CertificateAuthority : IDisposable
{
    /// <summary>File name of the root certificate in a CA directory.</summary>
    public const string CertificateFileName = MeshNames.TrustBundleFile;

    /// <summary>File name of the root's private key in a CA directory.</summary>
    public const string KeyFileName = "ca.key";

    private readonly MLDsaKey _key;
    private readonly TimeProvider _time;

    private CertificateAuthority(MeshCertificate certificate, MLDsaKey key, TimeProvider time)
    {
        Certificate = certificate;
        _key = key;
        _time = time;
        TrustBundle = TrustBundle.FromCertificates(certificate);
    }

    /// <summary>The root certificate.</summary>
    public MeshCertificate Certificate { get; }

    /// <summary>A bundle holding only this root.</summary>
    public TrustBundle TrustBundle { get; }

    /// <summary>Creates a new root: a fresh ML-DSA-87 key and its self-signed certificate.</summary>
    /// <exception cref="ArgumentException">The subject is not a distinguished name, or the validity is not positive.</exception>
    public static CertificateAuthority CreateRoot(RootCertificateOptions? options = null)
    {
        options ??= new RootCertificateOptions();
        X500DistinguishedName subject = ParseSubject(options.Subject);
        if (options.Validity <= TimeSpan.Zero)
        {
            throw new ArgumentException($"the root's validity must be positive, not {options.Validity}", nameof(options));
        }

        var key = MLDsaKey.Generate(MLDsaParameterSet.MLDsa87);
        try
        {
            var generator = new MLDsaSignatureGenerator(key);
            PublicKey publicKey = generator.PublicKey;
            var request = new CertificateRequest(subject, publicKey, HashAlgorithmName.SHA512);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(publicKey, X509SubjectKeyIdentifierHashAlgorithm.Sha1, critical: false));
            DateTimeOffset notBefore = Truncate(options.Time.GetUtcNow());
            var certificate = Create(request, subject, generator, notBefore, notBefore + options.Validity);
            return new CertificateAuthority(certificate, key, options.Time);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>Loads a CA from its certificate and PKCS#8 key.</summary>
    /// <exception cref="CertificateFormatException">A PEM is malformed or of the wrong type.</exception>
    /// <exception cref="CredentialsException">The certificate is not an ML-DSA-87 CA, or the key does not match it.</exception>
    public static CertificateAuthority FromPem(string certificatePem, string privateKeyPem, TimeProvider? time = null)
    {
        var certificate = MeshCertificate.ParsePem(certificatePem);
        if (certificate.PublicKeyAlgorithmOid != MeshOids.MLDsa87)
        {
            throw new CredentialsException($"the CA certificate has an {MeshOids.FriendlyName(certificate.PublicKeyAlgorithmOid)} key; a BelizeMesh CA has an ML-DSA-87 key (create one with 'belizemesh certs root')", CertificateRejection.WrongAlgorithm);
        }

        if (!certificate.IsCertificateAuthority || certificate.KeyUsage is not { } usage || (usage & X509KeyUsageFlags.KeyCertSign) == 0)
        {
            throw new CredentialsException($"the certificate '{certificate.Subject}' is not a CA (it needs basicConstraints cA:TRUE and keyUsage keyCertSign)", CertificateRejection.NotACertificateAuthority);
        }

        var key = MeshPrivateKey.ImportMLDsa87Pem(privateKeyPem);
        byte[] publicKey = new byte[key.Algorithm.PublicKeySizeInBytes];
        key.ExportPublicKey(publicKey);
        if (!publicKey.AsSpan().SequenceEqual(certificate.PublicKey.Span))
        {
            key.Dispose();
            throw new CredentialsException($"the private key does not belong to the CA certificate '{certificate.Subject}' (serial {certificate.SerialNumber}): their public keys differ");
        }

        return new CertificateAuthority(certificate, key, time ?? TimeProvider.System);
    }

    /// <summary>Loads <c>ca.crt</c> and <c>ca.key</c> from a directory written by <c>belizemesh certs root</c>.</summary>
    /// <exception cref="CredentialsException">A file is missing, unreadable, malformed, or the two do not match; the message names the file.</exception>
    public static CertificateAuthority Load(string directory, TimeProvider? time = null)
    {
        string certificatePath = Path.Combine(directory, CertificateFileName);
        string keyPath = Path.Combine(directory, KeyFileName);
        string certificatePem = CredentialFiles.Read(certificatePath);
        string keyPem = CredentialFiles.Read(keyPath);
        try
        {
            MeshCertificate.ParsePem(certificatePem);
        }
        catch (CertificateFormatException e)
        {
            throw new CredentialsException($"{certificatePath}: {e.Message}", CertificateRejection.Malformed, e);
        }

        try
        {
            return FromPem(certificatePem, keyPem, time);
        }
        catch (CertificateFormatException e)
        {
            throw new CredentialsException($"{keyPath}: {e.Message}", CertificateRejection.None, e);
        }
        catch (CredentialsException e)
        {
            throw new CredentialsException($"{directory}: {e.Message}", e.Reason, e);
        }
    }

    /// <summary>The CA's private key as PKCS#8 PEM (seed form).</summary>
    public string ExportPrivateKeyPem() => MeshPrivateKey.ExportPem(_key);

    /// <summary>Issues a service certificate for a freshly generated ML-KEM-1024 key.</summary>
    /// <exception cref="ArgumentException">The request is invalid (the message lists every problem), or the certificate would outlive the CA.</exception>
    public IssuedCertificate Issue(ServiceCertificateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckRequest(request);
        var key = MLKemKey.Generate(MLKemParameterSet.MLKem1024);
        try
        {
            return new IssuedCertificate(IssueCore(request, key), key);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>Issues a service certificate for an existing ML-KEM-1024 key (only its public part is used).</summary>
    public MeshCertificate Issue(ServiceCertificateRequest request, MLKemKey key)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(key);
        if (key.Algorithm != MLKemParameterSet.MLKem1024)
        {
            throw new ArgumentException($"the service key must be ML-KEM-1024, not {key.Algorithm}", nameof(key));
        }

        CheckRequest(request);
        return IssueCore(request, key);
    }

    /// <summary>The standard extensions of a service certificate.</summary>
    internal List<X509Extension> ServiceExtensions(ServiceCertificateRequest request, PublicKey publicKey)
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(request.SpiffeId.ToString()));
        foreach (string name in request.DnsNames)
        {
            san.AddDnsName(name);
        }

        return
        [
            new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true),
            new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment, critical: true),
            new X509EnhancedKeyUsageExtension([new Oid(MeshOids.ServerAuth), new Oid(MeshOids.ClientAuth)], critical: false),
            new X509SubjectKeyIdentifierExtension(publicKey, X509SubjectKeyIdentifierHashAlgorithm.Sha1, critical: false),
            AuthorityKeyIdentifier(),
            san.Build(critical: false),
        ];
    }

    /// <summary>Signs a certificate with arbitrary content. Test and tooling seam: nothing is checked.</summary>
    internal MeshCertificate IssueCustom(X500DistinguishedName subject, PublicKey publicKey, IEnumerable<X509Extension> extensions, DateTimeOffset notBefore, DateTimeOffset notAfter, X509SignatureGenerator? generator = null)
    {
        var request = new CertificateRequest(subject, publicKey, HashAlgorithmName.SHA512);
        foreach (var extension in extensions)
        {
            request.CertificateExtensions.Add(extension);
        }

        var ownGenerator = new MLDsaSignatureGenerator(_key);
        return Create(request, new X500DistinguishedName(Certificate.SubjectName.Span), generator ?? ownGenerator, notBefore, notAfter);
    }

    /// <summary>The issuer name a certificate of this CA carries.</summary>
    internal X500DistinguishedName SubjectName => new(Certificate.SubjectName.Span);

    /// <summary>Signs arbitrary bytes with the CA key (for tests that build certificates by hand).</summary>
    internal byte[] Sign(ReadOnlySpan<byte> data)
    {
        byte[] signature = new byte[_key.Algorithm.SignatureSizeInBytes];
        _key.SignData(data, signature);
        return signature;
    }

    /// <inheritdoc />
    public void Dispose() => _key.Dispose();

    private MeshCertificate IssueCore(ServiceCertificateRequest request, MLKemKey key)
    {
        DateTimeOffset notBefore = Truncate(_time.GetUtcNow());
        DateTimeOffset notAfter = notBefore + request.Validity;
        if (notBefore > Certificate.NotAfter)
        {
            throw new ArgumentException($"the CA '{Certificate.Subject}' expired at {Certificate.NotAfter:u}; create a new root with 'belizemesh certs root'", nameof(request));
        }

        if (notAfter > Certificate.NotAfter)
        {
            int maxDays = (int)(Certificate.NotAfter - notBefore).TotalDays;
            throw new ArgumentException($"the certificate would expire at {notAfter:u}, after its CA ({Certificate.NotAfter:u}); issue it for at most {maxDays} days or rotate the CA", nameof(request));
        }

        byte[] ek = new byte[key.Algorithm.EncapsulationKeySizeInBytes];
        key.ExportEncapsulationKey(ek);
        PublicKey publicKey = MLDsaSignatureGenerator.CreatePublicKey(MeshOids.MLKem1024, ek);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName($"{request.Service}.{request.Namespace}.svc");
        subject.AddOrganizationalUnitName(request.Namespace);
        subject.AddOrganizationName("BelizeMesh");
        return IssueCustom(subject.Build(), publicKey, ServiceExtensions(request, publicKey), notBefore, notAfter);
    }

    private X509AuthorityKeyIdentifierExtension AuthorityKeyIdentifier()
    {
        if (!Certificate.SubjectKeyIdentifier.IsEmpty)
        {
            return X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(Certificate.SubjectKeyIdentifier.Span);
        }

        var ski = new X509SubjectKeyIdentifierExtension(Certificate.GetPublicKeyInfo(), X509SubjectKeyIdentifierHashAlgorithm.Sha1, critical: false);
        return X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(ski);
    }

    private static void CheckRequest(ServiceCertificateRequest request)
    {
        var problems = request.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems), nameof(request));
        }
    }

    private static MeshCertificate Create(CertificateRequest request, X500DistinguishedName issuer, X509SignatureGenerator generator, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        // RFC 5280 section 4.1.2.2: positive, at most 20 octets. 16 random bytes with the top bits 01 are always
        // positive and minimal in DER (126 bits of randomness).
        Span<byte> serial = stackalloc byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] = (byte)((serial[0] & 0x3F) | 0x40);

        // CertificateRequest encodes the TBSCertificate and hands it to the generator. We take the TBS and the
        // signature there and assemble Certificate ::= SEQUENCE { tbs, signatureAlgorithm, signature } ourselves:
        // letting Create finish would load the result into an X509Certificate2, which on OpenSSL 3.0 costs ~0.4 ms
        // per certificate (OpenSSL tries every key decoder on the unknown ML-KEM/ML-DSA key) and gains nothing.
        var capture = new CapturingGenerator(generator);
        try
        {
            using X509Certificate2 unused = request.Create(issuer, capture, notBefore, notAfter, serial);
            throw new CryptographicException("CertificateRequest.Create did not call the signature generator");
        }
        catch (TbsCapturedException)
        {
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.PushSequence();
        writer.WriteEncodedValue(capture.Tbs);
        writer.WriteEncodedValue(capture.AlgorithmIdentifier);
        writer.WriteBitString(capture.Signature);
        writer.PopSequence();
        return MeshCertificate.Parse(writer.Encode());
    }

    /// <summary>Passes through to the real generator and stops <see cref="CertificateRequest.Create(X500DistinguishedName, X509SignatureGenerator, DateTimeOffset, DateTimeOffset, ReadOnlySpan{byte})"/> once it has signed.</summary>
    private sealed class CapturingGenerator(X509SignatureGenerator inner) : X509SignatureGenerator
    {
        public byte[] Tbs { get; private set; } = [];

        public byte[] Signature { get; private set; } = [];

        public byte[] AlgorithmIdentifier { get; private set; } = [];

        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm) =>
            AlgorithmIdentifier = inner.GetSignatureAlgorithmIdentifier(hashAlgorithm);

        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm)
        {
            Tbs = data;
            Signature = inner.SignData(data, hashAlgorithm);
            if (AlgorithmIdentifier.Length == 0)
            {
                AlgorithmIdentifier = inner.GetSignatureAlgorithmIdentifier(hashAlgorithm);
            }

            throw new TbsCapturedException();
        }

        protected override PublicKey BuildPublicKey() => inner.PublicKey;
    }

    private sealed class TbsCapturedException : Exception;

    private static X500DistinguishedName ParseSubject(string subject)
    {
        try
        {
            var name = new X500DistinguishedName(subject);
            if (name.RawData.Length <= 2)
            {
                throw new CryptographicException("empty name");
            }

            return name;
        }
        catch (CryptographicException)
        {
            throw new ArgumentException($"subject '{subject}' is not a distinguished name; write it like 'CN=BelizeMesh Root CA,O=BelizeMesh'", nameof(subject));
        }
    }

    private static DateTimeOffset Truncate(DateTimeOffset time) => new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
}
