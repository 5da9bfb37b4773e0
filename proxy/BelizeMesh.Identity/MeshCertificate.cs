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
    private static readonly Asn1Tag s_keyIdentifierTag = new(TagClass.ContextSpecific, 0);
    private static readonly Asn1Tag s_authorityCertIssuerTag = new(TagClass.ContextSpecific, 1, isConstructed: true);
    private static readonly Asn1Tag s_authorityCertSerialTag = new(TagClass.ContextSpecific, 2);

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

    /// <summary>The subject distinguished name, e.g. <c>CN=BelizeMesh Root CA, O=BelizeMesh</c>; formatted on first use (its
    /// encoding was checked when the certificate was parsed). .NET's <see cref="X500DistinguishedName"/> looks the
    /// attribute OIDs up through OpenSSL: the names only appear in messages, so a sidecar's start does not format them
    /// (perf/README.md, "footprint, round 11").</summary>
    public string Subject => _subject ??= FormatName(SubjectName);

    /// <summary>The issuer distinguished name; formatted on first use, as <see cref="Subject"/>.</summary>
    public string Issuer => _issuer ??= FormatName(IssuerName);

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

    /// <summary>SHA-256 of <see cref="RawData"/>; computed on first use (the CLI and the injector read it, a sidecar's
    /// start and handshakes do not).</summary>
    public ReadOnlyMemory<byte> Sha256Fingerprint => _sha256Fingerprint ??= Sha256.HashData(RawData.Span);

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
    private string? _subject;
    private string? _issuer;
    private byte[]? _sha256Fingerprint;

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
        CheckName(issuer, "issuer");
        var validity = tbs.ReadSequence();
        DateTimeOffset notBefore = ReadTime(validity);
        DateTimeOffset notAfter = ReadTime(validity);
        validity.ThrowIfNotEmpty();
        ReadOnlyMemory<byte> subject = tbs.ReadEncodedValue();
        CheckName(subject, "subject");
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
            SubjectName = subject,
            IssuerName = issuer,
            NotBefore = notBefore,
            NotAfter = notAfter,
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
        try
        {
            return new X500DistinguishedName(name.Span).Name;
        }
        catch (CryptographicException)
        {
            // CheckName accepted it at parse time; should .NET's decoder still refuse it, show the bytes.
            return "#" + Convert.ToHexString(name.Span);
        }
    }

    /// <summary>RFC 5280 section 4.1.2.4: <c>Name ::= SEQUENCE OF RelativeDistinguishedName</c>, each a <c>SET SIZE (1..MAX) OF
    /// SEQUENCE { type OID, value ANY }</c>, with the directory string types decoded as .NET's name decoder would.</summary>
    private static void CheckName(ReadOnlyMemory<byte> name, string field)
    {
        var outer = new AsnReader(name, AsnEncodingRules.DER);
        var rdns = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        while (rdns.HasData)
        {
            var rdn = rdns.ReadSetOf();
            if (!rdn.HasData)
            {
                throw new CertificateFormatException($"not a DER X.509 certificate: the {field} name has an empty relative distinguished name");
            }

            while (rdn.HasData)
            {
                var attribute = rdn.ReadSequence();
                attribute.ReadObjectIdentifier();
                Asn1Tag tag = attribute.PeekTag();
                if (tag.TagClass == TagClass.Universal && (UniversalTagNumber)tag.TagValue is UniversalTagNumber.BMPString or
                    UniversalTagNumber.IA5String or UniversalTagNumber.NumericString or UniversalTagNumber.PrintableString or
                    UniversalTagNumber.UTF8String)
                {
                    attribute.ReadCharacterString((UniversalTagNumber)tag.TagValue);
                }
                else
                {
                    attribute.ReadEncodedValue();
                }

                attribute.ThrowIfNotEmpty();
            }
        }
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
                    result.IsCertificateAuthority = ReadBasicConstraints(value);
                    break;
                case MeshOids.KeyUsage:
                    result.KeyUsage = ReadKeyUsage(value);
                    break;
                case MeshOids.ExtendedKeyUsage:
                    result.ExtendedKeyUsages = ReadExtendedKeyUsage(value);
                    break;
                case MeshOids.SubjectKeyIdentifier:
                    result.SubjectKeyIdentifier = ReadSubjectKeyIdentifier(value);
                    break;
                case MeshOids.AuthorityKeyIdentifier:
                    result.AuthorityKeyIdentifier = ReadAuthorityKeyIdentifier(value);
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

    // The extensions below are read with AsnReader (DER, as the certificate around them) rather than .NET's
    // X509*Extension classes: those look their OIDs' friendly names up through OpenSSL, which loaded libcrypto on the
    // sidecar's start path before it was ready (perf/README.md, "footprint, round 11"). The same values, and nothing
    // accepted that the .NET classes reject; they read BER, these DER like the rest of the certificate, so a non-DER
    // encoding is refused here alone (MeshCertificateExtensionTests compares the two).

    /// <summary>RFC 5280 section 4.2.1.9: <c>SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }</c>.</summary>
    internal static bool ReadBasicConstraints(byte[] value)
    {
        var outer = new AsnReader(value, AsnEncodingRules.DER);
        var sequence = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        bool ca = false;
        if (sequence.HasData && sequence.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
        {
            ca = sequence.ReadBoolean();
        }

        if (sequence.HasData && !sequence.TryReadInt32(out _))
        {
            throw new CertificateFormatException("not a valid X.509 certificate: basicConstraints has a pathLenConstraint that is not a 32-bit integer (RFC 5280 section 4.2.1.9)");
        }

        sequence.ThrowIfNotEmpty();
        return ca;
    }

    /// <summary>RFC 5280 section 4.2.1.3: a BIT STRING of 9 named bits, as <see cref="X509KeyUsageFlags"/> numbers them (the first
    /// byte as it is, decipherOnly from the second).</summary>
    internal static X509KeyUsageFlags ReadKeyUsage(byte[] value)
    {
        var outer = new AsnReader(value, AsnEncodingRules.DER);
        byte[] bits = outer.ReadBitString(out _);
        outer.ThrowIfNotEmpty();
        if (bits.Length > 2)
        {
            throw new CertificateFormatException("not a valid X.509 certificate: keyUsage has more than the 9 bits RFC 5280 section 4.2.1.3 defines");
        }

        int flags = bits.Length > 0 ? bits[0] : 0;
        if (bits.Length > 1)
        {
            flags |= bits[1] << 8;
        }

        return (X509KeyUsageFlags)flags;
    }

    /// <summary>RFC 5280 section 4.2.1.12: <c>SEQUENCE SIZE (1..MAX) OF KeyPurposeId</c>, the OIDs in order.</summary>
    internal static List<string> ReadExtendedKeyUsage(byte[] value)
    {
        var outer = new AsnReader(value, AsnEncodingRules.DER);
        var sequence = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        var usages = new List<string>();
        while (sequence.HasData)
        {
            usages.Add(sequence.ReadObjectIdentifier());
        }

        return usages;
    }

    /// <summary>RFC 5280 section 4.2.1.2: <c>OCTET STRING</c>.</summary>
    internal static byte[] ReadSubjectKeyIdentifier(byte[] value)
    {
        var outer = new AsnReader(value, AsnEncodingRules.DER);
        byte[] identifier = outer.ReadOctetString();
        outer.ThrowIfNotEmpty();
        return identifier;
    }

    /// <summary>RFC 5280 section 4.2.1.1: <c>SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, authorityCertIssuer [1]
    /// GeneralNames OPTIONAL, authorityCertSerialNumber [2] INTEGER OPTIONAL }</c>; the key identifier, or empty.</summary>
    internal static ReadOnlyMemory<byte> ReadAuthorityKeyIdentifier(byte[] value)
    {
        var outer = new AsnReader(value, AsnEncodingRules.DER);
        var sequence = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        ReadOnlyMemory<byte> identifier = default;
        if (sequence.HasData && sequence.PeekTag().HasSameClassAndValue(s_keyIdentifierTag))
        {
            identifier = sequence.ReadOctetString(s_keyIdentifierTag);
        }

        if (sequence.HasData && sequence.PeekTag().HasSameClassAndValue(s_authorityCertIssuerTag))
        {
            sequence.ReadEncodedValue();
        }

        if (sequence.HasData && sequence.PeekTag().HasSameClassAndValue(s_authorityCertSerialTag))
        {
            sequence.ReadInteger(s_authorityCertSerialTag);
        }

        sequence.ThrowIfNotEmpty();
        return identifier;
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
