namespace BelizeMesh.Identity;

/// <summary>The outcome of <see cref="CertificateValidator.Validate(ReadOnlySpan{byte})"/>.</summary>
public sealed class CertificateValidationResult
{
    private CertificateValidationResult(CertificateRejection reason, string detail, MeshCertificate? certificate, MLKemKey? encapsulationKey = null)
    {
        Reason = reason;
        Detail = detail;
        Certificate = certificate;
        EncapsulationKey = encapsulationKey;
    }

    /// <summary>True when the certificate is acceptable.</summary>
    public bool IsValid => Reason == CertificateRejection.None;

    /// <summary>Why it was rejected, or <see cref="CertificateRejection.None"/>.</summary>
    public CertificateRejection Reason { get; }

    /// <summary>A one-line human explanation (empty when valid).</summary>
    public string Detail { get; }

    /// <summary>The parsed certificate, or null when it did not parse.</summary>
    public MeshCertificate? Certificate { get; }

    /// <summary>
    /// When valid: the leaf's ML-KEM-1024 encapsulation key, imported once by the validator (the FIPS 203 section 7.2
    /// check, Â expanded from ρ, H(ek)) and shared by every result the cache returns for that certificate, so a
    /// handshake encapsulates to a returning peer without importing its key again. A public key only; nobody disposes
    /// it (the cache drops it with the entry and the GC collects it), so a handshake holding it can never find it disposed.
    /// </summary>
    internal MLKemKey? EncapsulationKey { get; }

    internal static CertificateValidationResult Success(MeshCertificate certificate, MLKemKey? encapsulationKey = null) => new(CertificateRejection.None, "", certificate, encapsulationKey);

    internal static CertificateValidationResult Failure(CertificateRejection reason, string detail, MeshCertificate? certificate) => new(reason, detail, certificate);

    /// <inheritdoc />
    public override string ToString() => IsValid ? $"valid: {Certificate!.SpiffeId}" : $"{Reason}: {Detail}";
}
