using System.Globalization;

namespace BelizeMesh.Identity;

/// <summary>
/// The layout of the <c>kubernetes.io/tls</c> Secret a sidecar mounts at <c>/etc/belizemesh/certs</c>, shared by
/// <c>belizemesh certs secret</c> and the injector's certificate controller so both write the same object: name
/// <c>belizemesh-certs-&lt;service-account&gt;</c>, label <c>app.kubernetes.io/managed-by: belizemesh</c>, annotations
/// with the SPIFFE ID and the expiry, and data <c>tls.crt</c>, <c>tls.key</c>, <c>ca.crt</c> (the PEM files' bytes).
/// </summary>
public static class ServiceCertificateSecret
{
    /// <summary>The Secret type.</summary>
    public const string Type = MeshNames.CertsSecretType;

    /// <summary>The name prefix; the service account's name follows.</summary>
    public const string NamePrefix = MeshNames.CertsSecretPrefix;

    /// <summary>The label every generated object carries.</summary>
    public const string ManagedByLabel = MeshNames.ManagedByLabel;

    /// <summary>The value of <see cref="ManagedByLabel"/>.</summary>
    public const string ManagedByValue = MeshNames.ManagedByValue;

    /// <summary>Annotation: the certificate's SPIFFE ID.</summary>
    public const string SpiffeIdAnnotation = MeshNames.SpiffeIdAnnotation;

    /// <summary>Annotation: the certificate's NotAfter, RFC 3339 UTC to the second.</summary>
    public const string NotAfterAnnotation = MeshNames.NotAfterAnnotation;

    /// <summary>The Secret's name for a service account.</summary>
    public static string NameFor(string serviceAccount) => NamePrefix + serviceAccount;

    /// <summary>The value of <see cref="NotAfterAnnotation"/>.</summary>
    public static string FormatNotAfter(DateTimeOffset notAfter) =>
        notAfter.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>The data keys in the order they are written.</summary>
    public static IReadOnlyList<string> DataKeys { get; } =
        [ServiceCredentials.CertificateFileName, ServiceCredentials.KeyFileName, ServiceCredentials.TrustBundleFileName];
}
