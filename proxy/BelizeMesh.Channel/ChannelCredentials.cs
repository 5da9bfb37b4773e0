using System.Security.Cryptography;
using BelizeMesh.Quantum;
using MLKemAlgorithm = BelizeMesh.Quantum.MLKemAlgorithm;

namespace BelizeMesh.Channel;

/// <summary>
/// This side's certificate (DER, with an ML-KEM-1024 public key) and the matching ML-KEM-1024 private key.
/// <see cref="Create"/> checks that they belong together, so a mismatched Secret fails when it is loaded.
/// The private key stays owned by the caller.
/// </summary>
public sealed class ChannelCredentials
{
    private ChannelCredentials(ReadOnlyMemory<byte> certificateDer, MLKemKey privateKey, string identity)
    {
        CertificateDer = certificateDer;
        PrivateKey = privateKey;
        Identity = identity;
    }

    /// <summary>The leaf certificate, DER.</summary>
    public ReadOnlyMemory<byte> CertificateDer { get; }

    /// <summary>The ML-KEM-1024 private key of the certificate.</summary>
    public MLKemKey PrivateKey { get; }

    /// <summary>This side's SPIFFE ID, read from the certificate.</summary>
    public string Identity { get; }

    /// <summary>
    /// Checks the certificate with <paramref name="verifier"/> (this side must be trusted by the same bundle it
    /// trusts peers with) and that <paramref name="privateKey"/> is the private half of the certificate's key.
    /// </summary>
    /// <exception cref="PqChannelException">The certificate is rejected (its reason), or the key does not match
    /// (<see cref="ChannelFailure.KeyMismatch"/>).</exception>
    public static ChannelCredentials Create(ReadOnlyMemory<byte> certificateDer, MLKemKey privateKey, IPeerCertificateVerifier verifier)
    {
        ArgumentNullException.ThrowIfNull(privateKey);
        ArgumentNullException.ThrowIfNull(verifier);
        if (certificateDer.Length is 0 or > Protocol.ProtocolConstants.MaxCertificateLength)
        {
            throw new PqChannelException(ChannelFailure.BadCertificate,
                $"own certificate is {certificateDer.Length} bytes; it must be 1..{Protocol.ProtocolConstants.MaxCertificateLength}");
        }

        if (!privateKey.HasPrivateKey || privateKey.Algorithm != MLKemAlgorithm.MLKem1024)
        {
            throw new PqChannelException(ChannelFailure.KeyMismatch,
                $"own private key must be an ML-KEM-1024 private key, got {(privateKey.HasPrivateKey ? "" : "a public ")}{privateKey.Algorithm.Name} key");
        }

        PeerVerification own = verifier.Verify(certificateDer.Span);
        if (!own.IsValid)
        {
            throw new PqChannelException(own.Failure!.Value, $"own certificate rejected: {own.Detail}");
        }

        Span<byte> ek = stackalloc byte[Protocol.ProtocolConstants.KemEncapsulationKeyLength];
        privateKey.ExportEncapsulationKey(ek);
        if (!CryptographicOperations.FixedTimeEquals(ek, own.KemPublicKey.Span))
        {
            throw new PqChannelException(ChannelFailure.KeyMismatch,
                $"the private key does not belong to the certificate of {own.Identity}: its ML-KEM-1024 encapsulation key differs from the certificate's; check that tls.key and tls.crt come from the same issue");
        }

        return new ChannelCredentials(certificateDer, privateKey, own.Identity!);
    }

    /// <summary>Test seam: skips the consistency checks so tests can present a certificate with the wrong private key.</summary>
    internal static ChannelCredentials CreateUnchecked(ReadOnlyMemory<byte> certificateDer, MLKemKey privateKey, string identity) =>
        new(certificateDer, privateKey, identity);
}
