namespace BelizeMesh.Identity;

/// <summary>A certificate, key or PEM document is not in the form the mesh expects; the message says what and where.</summary>
public sealed class CertificateFormatException : FormatException
{
    /// <summary>Creates the exception with a message that says what is wrong and how to fix it.</summary>
    public CertificateFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the decoder's error.</summary>
    public CertificateFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
