namespace BelizeMesh.Identity;

/// <summary>Settings of a <see cref="CertificateValidator"/>.</summary>
public sealed record CertificateValidatorOptions
{
    /// <summary>The trust domain every peer's SPIFFE ID must belong to.</summary>
    public string TrustDomain { get; init; } = SpiffeId.DefaultTrustDomain;

    /// <summary>How far clocks may disagree: a certificate is accepted this long before NotBefore and after NotAfter.</summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The clock (tests inject their own).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How many verified certificates the validator remembers (by content) to skip the signature check next time.</summary>
    public int CacheCapacity { get; init; } = 1024;
}
