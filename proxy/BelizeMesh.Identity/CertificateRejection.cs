namespace BelizeMesh.Identity;

/// <summary>Why <see cref="CertificateValidator"/> rejected a certificate. Each value names the first check that failed.</summary>
public enum CertificateRejection
{
    /// <summary>Not rejected.</summary>
    None = 0,

    /// <summary>Not a DER X.509 v3 certificate, a malformed field or key, or an unsupported critical extension.</summary>
    Malformed,

    /// <summary>No root in the trust bundle has the certificate's issuer name (and authority key identifier).</summary>
    UnknownIssuer,

    /// <summary>The issuer's ML-DSA-87 signature over the TBS bytes does not verify.</summary>
    BadSignature,

    /// <summary>The certificate (or its issuer) expired, beyond the allowed clock skew.</summary>
    Expired,

    /// <summary>The certificate (or its issuer) is not valid yet, beyond the allowed clock skew.</summary>
    NotYetValid,

    /// <summary>A signature or key algorithm other than ML-DSA-87 / ML-KEM-1024, or AlgorithmIdentifier parameters present.</summary>
    WrongAlgorithm,

    /// <summary>The issuing root is not a CA (basicConstraints cA:TRUE with keyUsage keyCertSign).</summary>
    NotACertificateAuthority,

    /// <summary>The leaf's keyUsage/extendedKeyUsage/basicConstraints do not fit a service certificate.</summary>
    WrongKeyUsage,

    /// <summary>No <c>spiffe://</c> URI SAN, or one that is not <c>spiffe://td/ns/x/sa/y</c>.</summary>
    MissingSpiffeId,

    /// <summary>More than one <c>spiffe://</c> URI SAN.</summary>
    MultipleSpiffeIds,

    /// <summary>The SPIFFE ID is in another trust domain than the validator's.</summary>
    WrongTrustDomain,
}
