using System.Formats.Asn1;
using System.Security.Cryptography;
using BelizeMesh.Quantum;

namespace BelizeMesh.Identity;

/// <summary>
/// PKCS#8 (RFC 5208/5958) <c>PRIVATE KEY</c> PEM for the mesh's keys, in the forms of the IETF LAMPS documents:
/// ML-DSA (RFC 9881) and ML-KEM (draft-ietf-lamps-kyber-certificates). Both define the privateKey OCTET STRING as
/// <code>
/// PrivateKey ::= CHOICE {
///   seed        [0] IMPLICIT OCTET STRING (SIZE (32 | 64)),   -- ML-DSA ξ | ML-KEM d‖z
///   expandedKey OCTET STRING,                                  -- ML-DSA sk (4896) | ML-KEM dk (3168)
///   both        SEQUENCE { seed OCTET STRING, expandedKey OCTET STRING } }
/// </code>
/// with the AlgorithmIdentifier parameters absent. We write the seed choice (what OpenSSL 3.5 writes by default)
/// and read all three; <c>both</c> must agree with its seed.
/// </summary>
public static class MeshPrivateKey
{
    private static readonly Asn1Tag s_seedTag = new(TagClass.ContextSpecific, 0);

    /// <summary>Writes an ML-DSA-87 private key as PKCS#8 PEM (seed form).</summary>
    /// <exception cref="ArgumentException">The key has no private part, or no seed (imported from an expanded sk).</exception>
    public static string ExportPem(MLDsaKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!key.HasPrivateKey)
        {
            throw new ArgumentException("the ML-DSA key has no private part", nameof(key));
        }

        Span<byte> seed = stackalloc byte[MLDsaParameterSet.PrivateSeedSizeInBytes];
        try
        {
            key.ExportPrivateSeed(seed);
            return Encode(MeshOids.MLDsa87, seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>Writes an ML-KEM-1024 private key as PKCS#8 PEM (seed form d‖z).</summary>
    /// <exception cref="ArgumentException">The key has no private part, or no seed (imported from an expanded dk).</exception>
    public static string ExportPem(MLKemKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!key.HasPrivateKey)
        {
            throw new ArgumentException("the ML-KEM key has no private part", nameof(key));
        }

        Span<byte> seed = stackalloc byte[MLKemParameterSet.PrivateSeedSizeInBytes];
        try
        {
            key.ExportPrivateSeed(seed);
            return Encode(MeshOids.MLKem1024, seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>Reads an ML-DSA-87 private key from PKCS#8 PEM (seed, expandedKey or both).</summary>
    /// <exception cref="CertificateFormatException">Not a PRIVATE KEY PEM, another algorithm, or a malformed key.</exception>
    public static MLDsaKey ImportMLDsa87Pem(string pem)
    {
        byte[] der = Pem.ReadSingle(pem, Pem.PrivateKeyLabel);
        try
        {
            return ImportMLDsa87Pkcs8(der);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(der);
        }
    }

    /// <summary>Reads an ML-KEM-1024 private key from PKCS#8 PEM (seed, expandedKey or both).</summary>
    /// <exception cref="CertificateFormatException">Not a PRIVATE KEY PEM, another algorithm, or a malformed key.</exception>
    public static MLKemKey ImportMLKem1024Pem(string pem) => ImportMLKem1024Pem(pem.AsSpan());

    /// <summary>Reads an ML-KEM-1024 private key from PKCS#8 PEM text held in a buffer the caller zeroes afterwards
    /// (nothing of it is copied into a string).</summary>
    /// <exception cref="CertificateFormatException">Not a PRIVATE KEY PEM, another algorithm, or a malformed key.</exception>
    public static MLKemKey ImportMLKem1024Pem(ReadOnlySpan<char> pem)
    {
        byte[] der = Pem.ReadSingle(pem, Pem.PrivateKeyLabel);
        try
        {
            return ImportMLKem1024Pkcs8(der);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(der);
        }
    }

    /// <summary>Reads an ML-DSA-87 private key from PKCS#8 DER.</summary>
    public static MLDsaKey ImportMLDsa87Pkcs8(ReadOnlySpan<byte> der)
    {
        var algorithm = MLDsaParameterSet.MLDsa87;
        var (seed, expanded) = Decode(der, MeshOids.MLDsa87, MLDsaParameterSet.PrivateSeedSizeInBytes, algorithm.PrivateKeySizeInBytes);
        try
        {
            if (seed is null)
            {
                return MLDsaKey.ImportPrivateKey(algorithm, expanded);
            }

            var key = MLDsaKey.ImportPrivateSeed(algorithm, seed);
            if (expanded is not null)
            {
                byte[] derived = new byte[algorithm.PrivateKeySizeInBytes];
                key.ExportPrivateKey(derived);
                bool same = CryptographicOperations.FixedTimeEquals(derived, expanded);
                CryptographicOperations.ZeroMemory(derived);
                if (!same)
                {
                    key.Dispose();
                    throw new CertificateFormatException("PKCS#8 ML-DSA-87 key: the 'both' form holds an expandedKey that does not match its seed");
                }
            }

            return key;
        }
        catch (CryptographicException e)
        {
            throw new CertificateFormatException($"PKCS#8 ML-DSA-87 key: {e.Message}", e);
        }
        finally
        {
            Clear(seed, expanded);
        }
    }

    /// <summary>Reads an ML-KEM-1024 private key from PKCS#8 DER.</summary>
    public static MLKemKey ImportMLKem1024Pkcs8(ReadOnlySpan<byte> der)
    {
        var algorithm = MLKemParameterSet.MLKem1024;
        var (seed, expanded) = Decode(der, MeshOids.MLKem1024, MLKemParameterSet.PrivateSeedSizeInBytes, algorithm.DecapsulationKeySizeInBytes);
        try
        {
            if (seed is null)
            {
                return MLKemKey.ImportDecapsulationKey(algorithm, expanded);
            }

            var key = MLKemKey.ImportPrivateSeed(algorithm, seed);
            if (expanded is not null)
            {
                byte[] derived = new byte[algorithm.DecapsulationKeySizeInBytes];
                key.ExportDecapsulationKey(derived);
                bool same = CryptographicOperations.FixedTimeEquals(derived, expanded);
                CryptographicOperations.ZeroMemory(derived);
                if (!same)
                {
                    key.Dispose();
                    throw new CertificateFormatException("PKCS#8 ML-KEM-1024 key: the 'both' form holds an expandedKey that does not match its seed");
                }
            }

            return key;
        }
        catch (CryptographicException e)
        {
            throw new CertificateFormatException($"PKCS#8 ML-KEM-1024 key: {e.Message}", e);
        }
        finally
        {
            Clear(seed, expanded);
        }
    }

    /// <summary>The algorithm OID of a PKCS#8 PEM key, without importing it.</summary>
    public static string PeekAlgorithm(string pem)
    {
        byte[] der = Pem.ReadSingle(pem, Pem.PrivateKeyLabel);
        try
        {
            var reader = new AsnReader(der, AsnEncodingRules.DER);
            var info = reader.ReadSequence();
            info.ReadIntegerBytes();
            return info.ReadSequence().ReadObjectIdentifier();
        }
        catch (AsnContentException e)
        {
            throw new CertificateFormatException($"not a PKCS#8 PrivateKeyInfo: {e.Message}", e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(der);
        }
    }

    internal static string Encode(string oid, ReadOnlySpan<byte> seed)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.PushSequence();
        writer.WriteInteger(0);
        writer.PushSequence();
        writer.WriteObjectIdentifier(oid);
        writer.PopSequence();
        using (writer.PushOctetString())
        {
            writer.WriteOctetString(seed, s_seedTag);
        }

        writer.PopSequence();
        byte[] der = writer.Encode();
        try
        {
            return Pem.Write(Pem.PrivateKeyLabel, der);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(der);
            writer.Reset();
        }
    }

    /// <summary>Returns the seed and/or the expanded key (at least one is non-null), length-checked.</summary>
    private static (byte[]? Seed, byte[]? Expanded) Decode(ReadOnlySpan<byte> der, string expectedOid, int seedLength, int expandedLength)
    {
        string name = MeshOids.FriendlyName(expectedOid);
        byte[] copy = der.ToArray();
        try
        {
            var reader = new AsnReader(copy, AsnEncodingRules.DER);
            var info = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            if (!info.TryReadInt32(out int version) || version is not (0 or 1))
            {
                throw new CertificateFormatException("not a PKCS#8 PrivateKeyInfo: the version is not 0 or 1");
            }

            var algorithm = info.ReadSequence();
            string oid = algorithm.ReadObjectIdentifier();
            if (oid != expectedOid)
            {
                throw new CertificateFormatException($"the private key is {MeshOids.FriendlyName(oid)}, expected {name}");
            }

            if (algorithm.HasData)
            {
                throw new CertificateFormatException($"PKCS#8 {name} key: the AlgorithmIdentifier has parameters; they must be absent");
            }

            byte[] privateKey = info.ReadOctetString();
            try
            {
                // attributes [0] and publicKey [1] may follow; the public key is derived from the private key anyway.
                var inner = new AsnReader(privateKey, AsnEncodingRules.DER);
                var tag = inner.PeekTag();
                byte[]? seed = null;
                byte[]? expanded = null;
                if (tag.HasSameClassAndValue(s_seedTag))
                {
                    seed = inner.ReadOctetString(s_seedTag);
                }
                else if (tag.HasSameClassAndValue(Asn1Tag.PrimitiveOctetString))
                {
                    expanded = inner.ReadOctetString();
                }
                else if (tag.HasSameClassAndValue(Asn1Tag.Sequence))
                {
                    var both = inner.ReadSequence();
                    seed = both.ReadOctetString();
                    expanded = both.ReadOctetString();
                    both.ThrowIfNotEmpty();
                }
                else
                {
                    throw new CertificateFormatException($"PKCS#8 {name} key: the privateKey is none of seed [0], expandedKey or both");
                }

                inner.ThrowIfNotEmpty();
                if (seed is not null && seed.Length != seedLength)
                {
                    throw new CertificateFormatException($"PKCS#8 {name} key: the seed is {seed.Length} bytes, expected {seedLength}");
                }

                if (expanded is not null && expanded.Length != expandedLength)
                {
                    throw new CertificateFormatException($"PKCS#8 {name} key: the expandedKey is {expanded.Length} bytes, expected {expandedLength}");
                }

                return (seed, expanded);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(privateKey);
            }
        }
        catch (AsnContentException e)
        {
            throw new CertificateFormatException($"not a PKCS#8 PrivateKeyInfo: {e.Message}", e);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(copy);
        }
    }

    private static void Clear(byte[]? seed, byte[]? expanded)
    {
        if (seed is not null)
        {
            CryptographicOperations.ZeroMemory(seed);
        }

        if (expanded is not null)
        {
            CryptographicOperations.ZeroMemory(expanded);
        }
    }
}
