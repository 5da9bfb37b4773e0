namespace BelizeMesh.Identity;

/// <summary>
/// Credentials (a CA or a service's certificate, key and trust bundle) could not be loaded or do not fit together.
/// The message names the file and says what to do.
/// </summary>
public sealed class CredentialsException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CredentialsException(string message, CertificateRejection reason = CertificateRejection.None, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    /// <summary>The validator's reason when the certificate itself was rejected, otherwise <see cref="CertificateRejection.None"/>.</summary>
    public CertificateRejection Reason { get; }
}
