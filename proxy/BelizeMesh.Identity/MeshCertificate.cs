using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BelizeMesh.Identity;

/// <summary>
/// A parsed X.509 v3 certificate (immutable). Parsing checks the DER structure only; whether the certificate is
/// acceptable to the mesh (algorithms, issuer, signature, validity, SPIFFE ID) is <see cref="CertificateValidator"/>'s job.
/// </summary>
/// <remarks>
/// Parsed with <see cref="AsnReader"/> rather than <see cref="X509Certificate2"/>: OpenSSL 3.0 cannot decode ML-DSA
/// and ML-KEM public keys, and the signature must be checked over the exact TBS bytes as received.
/// </remarks>
public sealed class MeshCertificate
{
    private static readonly Asn1Tag s_versionTag = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag s_issuerUniqueIdTag = new(TagClass.ContextSpecific, 1);
    private static readonly Asn1Tag s_subjectUniqueIdTag = new(TagClass.ContextSpecific, 2);
    private static readonly Asn1Tag s_extensionsTag = new(TagClass.ContextSpecific, 3, isConstructed: true);
    private static readonly Asn1Tag s_dnsNameTag = new(TagClass.ContextSpecific, 2);
    private static readonly Asn1Tag s_uriTag = new(TagClass.ContextSpecific, 6);

    private MeshCertificate()
    {
    }

    /// <summary>The whole certificate, DER.</summary>
    public ReadOnlyMemory<byte> RawData { get; private init; }

    /// <summary>The signed part (TBSCertificate), DER, exactly as received.</summary>
    public ReadOnlyMemory<byte> TbsCertificate { get; private init; }

    /// <summary>The X.509 version (3 for every certificate the mesh writes).</summary>
    public int Version { get; private init; }

    /// <summary>The serial number, upper-case hex, as it is encoded (big-endian two's complement).</summary>
    public string SerialNumber { get; private init; } = "";

    /// <summary>The subject distinguished name, e.g. <c>CN=BelizeMesh Root CA, O=BelizeMesh</c>.</summary>
    public string Subject { get; private init; } = "";

    /// <summary>The issuer distinguished name.</summary>
    public string Issuer { get; private init; } = "";

    /// <summary>The SPIFFE ID from the URI SAN when there is exactly one well-formed <c>spiffe://</c> URI, otherwise null.</summary>
    public SpiffeId? SpiffeId { get; private init; }

    /// <summary>Every URI in the subject alternative name, in order.</summary>
    public IReadOnlyList<string> UriNames { get; private init; } = [];

    /// <summary>Every DNS name in the subject alternative name, in order.</summary>
    public IReadOnlyList<string> DnsNames { get; private init; } = [];

    /// <summary>Start of the validity window.</summary>
    public DateTimeOffset NotBefore { get; private init; }

    /// <summary>End of the validity window (inclusive, RFC 5280 section 4.1.2.5).</summary>
    public DateTimeOffset NotAfter { get; private init; }

    /// <summary>SHA-256 of <see cref="RawData"/>.</summary>
    public ReadOnlyMemory<byte> Sha256Fingerprint { get; private init; }

    /// <summary>The subjectPublicKeyInfo algorithm OID (ML-KEM-1024 for a service, ML-DSA-87 for the CA).</summary>
    public string PublicKeyAlgorithmOid { get; private init; } = "";

    /// <summary>The raw public key: the BIT STRING contents of subjectPublicKeyInfo (ML-KEM ek or ML-DSA pk).</summary>
    public ReadOnlyMemory<byte> PublicKey { get; private init; }

    /// <summary>The signature algorithm OID (ML-DSA-87 for every certificate the mesh writes).</summary>
    public string SignatureAlgorithmOid { get; private init; } = "";

    /// <summary>The signature over <see cref="TbsCertificate"/>.</summary>
    public ReadOnlyMemory<byte> Signature { get; private init; }

    /// <summary>True when basicConstraints says cA:TRUE.</summary>
    public bool IsCertificateAuthority { get; private init; }

    /// <summary>The keyUsage bits, or null when the extension is absent.</summary>
    public X509KeyUsageFlags? KeyUsage { get; private init; }

    /// <summary>The extendedKeyUsage OIDs, or null when the extension is absent.</summary>
    public IReadOnlyList<string>? ExtendedKeyUsages { get; private init; }

    /// <summary>The subject key identifier, or empty when absent.</summary>
    public ReadOnlyMemory<byte> SubjectKeyIdentifier { get; private init; }

    /// <summary>The authority key identifier's keyIdentifier, or empty when absent.</summary>
    public ReadOnlyMemory<byte> AuthorityKeyIdentifier { get; private init; }

    /// <summary>Subject name, DER, for issuer matching.</summary>
    internal ReadOnlyMemory<byte> SubjectName { get; private init; }

    /// <summary>Issuer name, DER, for issuer matching.</summary>
    internal ReadOnlyMemory<byte> IssuerName { get; private init; }

    /// <summary>True when the signature AlgorithmIdentifier carries parameters (ML-DSA requires them absent).</summary>
    internal bool SignatureAlgorithmHasParameters { get; private init; }

    /// <summary>True when the subjectPublicKeyInfo AlgorithmIdentifier carries parameters (must be absent).</summary>
    internal bool PublicKeyAlgorithmHasParameters { get; private init; }

    /// <summary>True when the TBS signature field equals the outer signatureAlgorithm (RFC 5280 section 4.1.1.2).</summary>
    internal bool SignatureAlgorithmsMatch { get; private init; }

    /// <summary>The OID of the first critical extension this parser does not understand, or null.</summary>
    internal string? UnsupportedCriticalExtension { get; private init; }

    /// <summary>How many SAN URIs use the spiffe scheme.</summary>
    internal int SpiffeUriCount { get; private init; }

    /// <summary>The subject public key info as .NET's <see cref="System.Security.Cryptography.X509Certificates.PublicKey"/>.</summary>
    internal PublicKey GetPublicKeyInfo() => System.Security.Cryptography.X509Certificates.PublicKey.CreateFromSubjectPublicKeyInfo(_spki.Span, out _);

    private ReadOnlyMemory<byte> _spki;

    /// <summary>Parses a DER certificate. The bytes are copied.</summary>
    /// <exception cref="CertificateFormatException">The bytes are not a DER X.509 certificate; the message says which field is wrong.</exception>
    public static MeshCertificate Parse(ReadOnlyMemory<byte> der) => ParseOwned(der.ToArray());

    /// <summary>Parses a DER certificate the caller hands over (no copy).</summary>
    internal static MeshCertificate ParseOwned(byte[] der)
    {
        try
        {
            return ParseCore(der);
        }
        catch (AsnContentException e)
        {
            throw new CertificateFormatException($"not a DER X.509 certificate: {e.Message}", e);
        }
        catch (CryptographicException e)
        {
            throw new CertificateFormatException($"not a DER X.509 certificate: {e.Message}", e);
        }
    }

    /// <summary>Parses the first <c>CERTIFICATE</c> block of a PEM document.</summary>
    /// <exception cref="CertificateFormatException">No CERTIFICATE block, or it does not parse.</exception>
    public static MeshCertificate ParsePem(string pem)
    {
        var blocks = Pem.ReadAll(pem, Pem.CertificateLabel);
        return ParseOwned(blocks[0]);
    }

    /// <summary>The certificate as a PEM <c>CERTIFICATE</c> block, with a trailing newline.</summary>
    public string ToPem() => Pem.Write(Pem.CertificateLabel, RawData.Span);

    /// <inheritdoc />
    public override string ToString() => $"{Subject} (serial {SerialNumber}, {NotBefore:u} – {NotAfter:u})";

    private static MeshCertificate ParseCore(byte[] der)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER);
        var certificate = outer.ReadSequence();
        outer.ThrowIfNotEmpty();

        ReadOnlyMemory<byte> tbsBytes = certificate.PeekEncodedValue();
        var tbs = certificate.ReadSequence();
        ReadOnlyMemory<byte> outerAlgorithm = certificate.PeekEncodedValue();
        var (signatureOid, signatureHasParameters) = ReadAlgorithmIdentifier(certificate, "signatureAlgorithm");
        byte[] signature = certificate.ReadBitString(out int unusedBits);
        if (unusedBits != 0)
        {
            throw new CertificateFormatException("not a DER X.509 certificate: the signature BIT STRING has unused bits");
        }

        certificate.ThrowIfNotEmpty();

        int version = 1;
        if (tbs.PeekTag().HasSameClassAndValue(s_versionTag))
        {
            var versionReader = tbs.ReadSequence(s_versionTag);
            if (!versionReader.TryReadInt32(out int v) || v is < 0 or > 2)
            {
                throw new CertificateFormatException("not a DER X.509 certificate: the version is not v1, v2 or v3");
            }

            versionReader.ThrowIfNotEmpty();
            version = v + 1;
        }

        ReadOnlyMemory<byte> serial = tbs.ReadIntegerBytes();
        ReadOnlyMemory<byte> innerAlgorithm = tbs.PeekEncodedValue();
        ReadAlgorithmIdentifier(tbs, "signature");
        ReadOnlyMemory<byte> issuer = tbs.ReadEncodedValue();
        var validity = tbs.ReadSequence();
        DateTimeOffset notBefore = ReadTime(validity);
        DateTimeOffset notAfter = ReadTime(validity);
        validity.ThrowIfNotEmpty();
        ReadOnlyMemory<byte> subject = tbs.ReadEncodedValue();
        ReadOnlyMemory<byte> spki = tbs.PeekEncodedValue();
        var spkiReader = tbs.ReadSequence();
        var (keyOid, keyHasParameters) = ReadAlgorithmIdentifier(spkiReader, "subjectPublicKeyInfo algorithm");
        byte[] publicKey = spkiReader.ReadBitString(out unusedBits);
        if (unusedBits != 0)
        {
            throw new CertificateFormatException("not a DER X.509 certificate: the subjectPublicKey BIT STRING has unused bits");
        }

        spkiReader.ThrowIfNotEmpty();
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(s_issuerUniqueIdTag))
        {
            tbs.ReadEncodedValue();
        }

        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(s_subjectUniqueIdTag))
        {
            tbs.ReadEncodedValue();
        }

        var extensions = new Extensions();
        if (tbs.HasData)
        {
            var extensionsReader = tbs.ReadSequence(s_extensionsTag).ReadSequence();
            ReadExtensions(extensionsReader, extensions);
        }

        tbs.ThrowIfNotEmpty();

        int spiffeCount = 0;
        SpiffeId? spiffeId = null;
        foreach (string uri in extensions.Uris)
        {
            if (uri.StartsWith("spiffe:", StringComparison.OrdinalIgnoreCase))
            {
                spiffeCount++;
                spiffeId = Identity.SpiffeId.TryParse(uri, out var parsed) ? parsed : null;
            }
        }

        return new MeshCertificate
        {
            RawData = der,
            TbsCertificate = tbsBytes,
            Version = version,
            SerialNumber = Convert.ToHexString(serial.Span),
            Subject = FormatName(subject),
            Issuer = FormatName(issuer),
            SubjectName = subject,
            IssuerName = issuer,
            NotBefore = notBefore,
            NotAfter = notAfter,
            Sha256Fingerprint = SHA256.HashData(der),
            PublicKeyAlgorithmOid = keyOid,
            PublicKeyAlgorithmHasParameters = keyHasParameters,
            PublicKey = publicKey,
            SignatureAlgorithmOid = signatureOid,
            SignatureAlgorithmHasParameters = signatureHasParameters,
            SignatureAlgorithmsMatch = outerAlgorithm.Span.SequenceEqual(innerAlgorithm.Span),
            Signature = signature,
            IsCertificateAuthority = extensions.IsCertificateAuthority,
            KeyUsage = extensions.KeyUsage,
            ExtendedKeyUsages = extensions.ExtendedKeyUsages,
            SubjectKeyIdentifier = extensions.SubjectKeyIdentifier,
            AuthorityKeyIdentifier = extensions.AuthorityKeyIdentifier,
            UriNames = extensions.Uris,
            DnsNames = extensions.DnsNames,
            UnsupportedCriticalExtension = extensions.UnsupportedCritical,
            SpiffeUriCount = spiffeCount,
            SpiffeId = spiffeCount == 1 ? spiffeId : null,
            _spki = spki,
        };
    }

    private static (string Oid, bool HasParameters) ReadAlgorithmIdentifier(AsnReader reader, string field)
    {
        var sequence = reader.ReadSequence();
        string oid = sequence.ReadObjectIdentifier();
        bool hasParameters = sequence.HasData;
        if (hasParameters)
        {
            sequence.ReadEncodedValue();
        }

        if (sequence.HasData)
        {
            throw new CertificateFormatException($"not a DER X.509 certificate: the {field} AlgorithmIdentifier has trailing data");
        }

        return (oid, hasParameters);
    }

    private static DateTimeOffset ReadTime(AsnReader reader)
    {
        var tag = reader.PeekTag();
        if (tag.HasSameClassAndValue(Asn1Tag.UtcTime))
        {
            // RFC 5280 section 4.1.2.5.1: YY >= 50 is 19YY.
            return reader.ReadUtcTime(twoDigitYearMax: 2049);
        }

        return reader.ReadGeneralizedTime();
    }

    private static string FormatName(ReadOnlyMemory<byte> name)
    {
        // X500DistinguishedName decodes with the managed decoder and throws CryptographicException on bad DER.
        return new X500DistinguishedName(name.Span).Name;
    }

    private sealed class Extensions
    {
        public bool IsCertificateAuthority;
        public X509KeyUsageFlags? KeyUsage;
        public List<string>? ExtendedKeyUsages;
        public ReadOnlyMemory<byte> SubjectKeyIdentifier;
        public ReadOnlyMemory<byte> AuthorityKeyIdentifier;
        public List<string> Uris = [];
        public List<string> DnsNames = [];
        public string? UnsupportedCritical;
    }

    private static void ReadExtensions(AsnReader reader, Extensions result)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (reader.HasData)
        {
            var extension = reader.ReadSequence();
            string oid = extension.ReadObjectIdentifier();
            bool critical = false;
            if (extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
            {
                critical = extension.ReadBoolean();
            }

            byte[] value = extension.ReadOctetString();
            extension.ThrowIfNotEmpty();
            if (!seen.Add(oid))
            {
                throw new CertificateFormatException($"not a valid X.509 certificate: extension {oid} appears twice (RFC 5280 section 4.2)");
            }

            switch (oid)
            {
                case MeshOids.BasicConstraints:
                    result.IsCertificateAuthority = new X509BasicConstraintsExtension(new AsnEncodedData(oid, value), critical).CertificateAuthority;
                    break;
                case MeshOids.KeyUsage:
                    result.KeyUsage = new X509KeyUsageExtension(new AsnEncodedData(oid, value), critical).KeyUsages;
                    break;
                case MeshOids.ExtendedKeyUsage:
                    var usages = new List<string>();
                    foreach (var usage in new X509EnhancedKeyUsageExtension(new AsnEncodedData(oid, value), critical).EnhancedKeyUsages)
                    {
                        usages.Add(usage.Value!);
                    }

                    result.ExtendedKeyUsages = usages;
                    break;
                case MeshOids.SubjectKeyIdentifier:
                    result.SubjectKeyIdentifier = new X509SubjectKeyIdentifierExtension(new AsnEncodedData(oid, value), critical).SubjectKeyIdentifierBytes.ToArray();
                    break;
                case MeshOids.AuthorityKeyIdentifier:
                    result.AuthorityKeyIdentifier = new X509AuthorityKeyIdentifierExtension(value, critical).KeyIdentifier?.ToArray() ?? default;
                    break;
                case MeshOids.SubjectAltName:
                    ReadSubjectAltName(value, result);
                    break;
                default:
                    if (critical)
                    {
                        result.UnsupportedCritical ??= oid;
                    }

                    break;
            }
        }
    }

    private static void ReadSubjectAltName(byte[] value, Extensions result)
    {
        // X509SubjectAlternativeNameExtension enumerates DNS names and IP addresses but not URIs, so read GeneralNames here.
        var outer = new AsnReader(value, AsnEncodingRules.DER);
        var names = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        while (names.HasData)
        {
            var tag = names.PeekTag();
            if (tag.HasSameClassAndValue(s_uriTag))
            {
                result.Uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, s_uriTag));
            }
            else if (tag.HasSameClassAndValue(s_dnsNameTag))
            {
                result.DnsNames.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, s_dnsNameTag));
            }
            else
            {
                names.ReadEncodedValue();
            }
        }
    }
}
