using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BelizeMesh.Quantum;

namespace BelizeMesh.Identity;

/// <summary>
/// Lets <see cref="CertificateRequest"/> sign with ML-DSA-87: pure ML-DSA over the TBS bytes with an empty context
/// (RFC 9881 section 3), AlgorithmIdentifier <c>id-ml-dsa-87</c> with parameters absent. The hash algorithm
/// <see cref="CertificateRequest"/> passes in is ignored: pure ML-DSA hashes internally.
/// </summary>
internal sealed class MLDsaSignatureGenerator : X509SignatureGenerator
{
    private readonly MLDsaKey _key;

    public MLDsaSignatureGenerator(MLDsaKey key)
    {
        if (key.Algorithm != MLDsaParameterSet.MLDsa87 || !key.HasPrivateKey)
        {
            throw new ArgumentException("the signing key must be an ML-DSA-87 private key", nameof(key));
        }

        _key = key;
    }

    /// <summary>The DER AlgorithmIdentifier for ML-DSA-87 (no parameters).</summary>
    public static byte[] AlgorithmIdentifier { get; } = EncodeAlgorithmIdentifier(MeshOids.MLDsa87);

    public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm) => AlgorithmIdentifier.ToArray();

    public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm)
    {
        byte[] signature = new byte[_key.Algorithm.SignatureSizeInBytes];
        _key.SignData(data, signature);
        return signature;
    }

    protected override PublicKey BuildPublicKey()
    {
        byte[] pk = new byte[_key.Algorithm.PublicKeySizeInBytes];
        _key.ExportPublicKey(pk);
        return CreatePublicKey(MeshOids.MLDsa87, pk);
    }

    /// <summary>A <see cref="PublicKey"/> for a raw key with an AlgorithmIdentifier without parameters.</summary>
    /// <remarks>The <see cref="PublicKey"/> constructor cannot express "parameters absent" (an empty
    /// <see cref="AsnEncodedData"/> fails to encode), so build the SubjectPublicKeyInfo and let .NET parse it.</remarks>
    public static PublicKey CreatePublicKey(string oid, ReadOnlySpan<byte> key)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.PushSequence();
        writer.PushSequence();
        writer.WriteObjectIdentifier(oid);
        writer.PopSequence();
        writer.WriteBitString(key);
        writer.PopSequence();
        return PublicKey.CreateFromSubjectPublicKeyInfo(writer.Encode(), out _);
    }

    private static byte[] EncodeAlgorithmIdentifier(string oid)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.PushSequence();
        writer.WriteObjectIdentifier(oid);
        writer.PopSequence();
        return writer.Encode();
    }
}
