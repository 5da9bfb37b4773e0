namespace BelizeMesh.Channel;

/// <summary>
/// Checks a peer's leaf certificate (chain to the trust bundle, validity period, algorithm) and extracts what the
/// channel needs from it. Implementations must be thread-safe and should cache by certificate fingerprint: the
/// channel calls this once per handshake.
/// </summary>
public interface IPeerCertificateVerifier
{
    /// <summary>Verifies <paramref name="certificateDer"/> and returns the peer's SPIFFE ID and ML-KEM-1024 key, or why not.</summary>
    PeerVerification Verify(ReadOnlySpan<byte> certificateDer);
}

/// <summary>The outcome of <see cref="IPeerCertificateVerifier.Verify"/>: an identity and key, or a typed failure.</summary>
public sealed class PeerVerification
{
    private PeerVerification(string? identity, ReadOnlyMemory<byte> kemPublicKey, ChannelFailure? failure, string? detail, BelizeMesh.Quantum.MLKemKey? kemKey = null)
    {
        KemKey = kemKey;
        Identity = identity;
        KemPublicKey = kemPublicKey;
        Failure = failure;
        Detail = detail;
    }

    /// <summary>True when the certificate is valid.</summary>
    public bool IsValid => Failure is null;

    /// <summary>The SPIFFE ID (<c>spiffe://td/ns/x/sa/y</c>) when valid.</summary>
    public string? Identity { get; }

    /// <summary>The raw ML-KEM-1024 encapsulation key from the certificate when valid.</summary>
    public ReadOnlyMemory<byte> KemPublicKey { get; }

    /// <summary>Why the certificate was rejected, or null when valid.</summary>
    public ChannelFailure? Failure { get; }

    /// <summary>A human-readable explanation of the rejection.</summary>
    public string? Detail { get; }

    /// <summary>A valid certificate.</summary>
    public static PeerVerification Success(string identity, ReadOnlyMemory<byte> kemPublicKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(identity);
        return new PeerVerification(identity, kemPublicKey, null, null);
    }

    /// <summary>The peer's key already imported from <see cref="KemPublicKey"/> by a caching verifier (shared, never
    /// disposed by the handshake); null when the handshake must import it.</summary>
    internal BelizeMesh.Quantum.MLKemKey? KemKey { get; }

    /// <summary>A valid certificate whose key the verifier has imported (and may hand to many handshakes).</summary>
    internal static PeerVerification Success(string identity, ReadOnlyMemory<byte> kemPublicKey, BelizeMesh.Quantum.MLKemKey? kemKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(identity);
        return new PeerVerification(identity, kemPublicKey, null, null, kemKey);
    }

    /// <summary>A rejected certificate.</summary>
    public static PeerVerification Rejected(ChannelFailure failure, string detail) => new(null, default, failure, detail);
}
