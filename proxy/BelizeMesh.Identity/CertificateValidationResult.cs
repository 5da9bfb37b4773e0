namespace BelizeMesh.Identity;

/// <summary>The outcome of <see cref="CertificateValidator.Validate(ReadOnlySpan{byte})"/>.</summary>
public sealed class CertificateValidationResult
{
    private CertificateValidationResult(CertificateRejection reason, string detail, MeshCertificate? certificate)
    {
        Reason = reason;
        Detail = detail;
        Certificate = certificate;
    }

    /// <summary>True when the certificate is acceptable.</summary>
    public bool IsValid => Reason == CertificateRejection.None;

    /// <summary>Why it was rejected, or <see cref="CertificateRejection.None"/>.</summary>
    public CertificateRejection Reason { get; }

    /// <summary>A one-line human explanation (empty when valid).</summary>
    public string Detail { get; }

    /// <summary>The parsed certificate, or null when it did not parse.</summary>
    public MeshCertificate? Certificate { get; }

    internal static CertificateValidationResult Success(MeshCertificate certificate) => new(CertificateRejection.None, "", certificate);

    internal static CertificateValidationResult Failure(CertificateRejection reason, string detail, MeshCertificate? certificate) => new(reason, detail, certificate);

    /// <inheritdoc />
    public override string ToString() => IsValid ? $"valid: {Certificate!.SpiffeId}" : $"{Reason}: {Detail}";
}
