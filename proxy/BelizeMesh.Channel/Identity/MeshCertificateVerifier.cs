using BelizeMesh.Identity;

namespace BelizeMesh.Channel.Identity;

/// <summary>
/// The production <see cref="IPeerCertificateVerifier"/>: the mesh's <see cref="CertificateValidator"/> (ML-DSA-87
/// chain to the trust bundle, validity, key usage, one SPIFFE ID in the trust domain; cached by content), with its
/// <see cref="CertificateRejection"/> mapped once onto <see cref="ChannelFailure"/>.
/// </summary>
public sealed class MeshCertificateVerifier : IPeerCertificateVerifier
{
    private readonly CertificateValidator _validator;

    /// <summary>Wraps <paramref name="validator"/>.</summary>
    public MeshCertificateVerifier(CertificateValidator validator)
    {
        ArgumentNullException.ThrowIfNull(validator);
        _validator = validator;
    }

    /// <summary>The wrapped validator.</summary>
    public CertificateValidator Validator => _validator;

    /// <inheritdoc />
    public PeerVerification Verify(ReadOnlySpan<byte> certificateDer)
    {
        CertificateValidationResult result = _validator.Validate(certificateDer);
        if (result.IsValid)
        {
            MeshCertificate certificate = result.Certificate!;
            return PeerVerification.Success(certificate.SpiffeId!.ToString(), certificate.PublicKey, result.EncapsulationKey);
        }

        return PeerVerification.Rejected(Map(result.Reason), $"{result.Reason}: {result.Detail}");
    }

    /// <summary>The one mapping from certificate rejections to channel failures.</summary>
    public static ChannelFailure Map(CertificateRejection rejection) => rejection switch
    {
        CertificateRejection.UnknownIssuer => ChannelFailure.UnknownCa,
        CertificateRejection.WrongTrustDomain => ChannelFailure.UnknownCa,
        CertificateRejection.Expired => ChannelFailure.CertificateExpired,
        CertificateRejection.NotYetValid => ChannelFailure.CertificateNotYetValid,
        _ => ChannelFailure.BadCertificate,
    };
}

/// <summary>Builds channel options from the Identity types a sidecar loads from its mounted Secret.</summary>
public static class ServiceCredentialsChannelExtensions
{
    /// <summary>
    /// Channel options for <paramref name="credentials"/>: its certificate and key (checked to match) and its validator
    /// as the peer verifier.
    /// </summary>
    public static PqChannelOptions ToChannelOptions(this ServiceCredentials credentials, ChannelMetrics? metrics = null, TimeSpan? handshakeTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        var verifier = new MeshCertificateVerifier(credentials.Validator);
        var options = new PqChannelOptions
        {
            Credentials = ChannelCredentials.Create(credentials.Certificate.RawData, credentials.PrivateKey, verifier),
            Verifier = verifier,
            Metrics = metrics,
        };
        if (handshakeTimeout is { } timeout)
        {
            options.HandshakeTimeout = timeout;
        }

        return options;
    }
}
