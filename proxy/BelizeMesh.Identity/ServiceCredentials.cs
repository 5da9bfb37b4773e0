using BelizeMesh.Quantum;

namespace BelizeMesh.Identity;

/// <summary>
/// What a sidecar loads from its mounted Secret (<c>tls.crt</c>, <c>tls.key</c>, <c>ca.crt</c>): its certificate, the
/// ML-KEM-1024 private key that matches it, and the trust bundle it validates against. Disposing zeroes the key.
/// </summary>
public sealed class ServiceCredentials : IDisposable
{
    /// <summary>File name of the service certificate.</summary>
    public const string CertificateFileName = MeshNames.CertificateFile;

    /// <summary>File name of the service's private key.</summary>
    public const string KeyFileName = MeshNames.KeyFile;

    /// <summary>File name of the trust bundle.</summary>
    public const string TrustBundleFileName = MeshNames.TrustBundleFile;

    private ServiceCredentials(MeshCertificate certificate, MLKemKey privateKey, TrustBundle trustBundle, CertificateValidator validator)
    {
        Certificate = certificate;
        PrivateKey = privateKey;
        TrustBundle = trustBundle;
        Validator = validator;
    }

    /// <summary>The service's own certificate.</summary>
    public MeshCertificate Certificate { get; }

    /// <summary>The service's ML-KEM-1024 private key.</summary>
    public MLKemKey PrivateKey { get; }

    /// <summary>The roots peers are validated against.</summary>
    public TrustBundle TrustBundle { get; }

    /// <summary>A validator over <see cref="TrustBundle"/> with the options the credentials were loaded with.</summary>
    public CertificateValidator Validator { get; }

    /// <summary>The service's identity.</summary>
    public SpiffeId SpiffeId => Certificate.SpiffeId!;

    /// <summary>Loads <c>tls.crt</c>, <c>tls.key</c> and <c>ca.crt</c> from a directory (a mounted Secret).</summary>
    /// <exception cref="CredentialsException">A file is missing or malformed, the key does not match the certificate, or the
    /// certificate does not validate against the bundle; the message names the file and the reason.</exception>
    public static ServiceCredentials Load(string directory, CertificateValidatorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string certificatePath = Path.Combine(directory, CertificateFileName);
        string keyPath = Path.Combine(directory, KeyFileName);
        string bundlePath = Path.Combine(directory, TrustBundleFileName);
        return FromPem(CredentialFiles.Read(certificatePath), CredentialFiles.Read(keyPath), CredentialFiles.Read(bundlePath), options, certificatePath, keyPath, bundlePath);
    }

    /// <summary>Builds credentials from PEM text, with the same checks as <see cref="Load"/>.</summary>
    public static ServiceCredentials FromPem(string certificatePem, string privateKeyPem, string trustBundlePem, CertificateValidatorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(privateKeyPem);
        return FromPem(certificatePem, privateKeyPem.AsSpan(), trustBundlePem, options, CertificateFileName, KeyFileName, TrustBundleFileName);
    }

    /// <summary>Builds credentials from PEM text, the private key's held in a buffer the caller zeroes afterwards (no
    /// copy of it is made into a string); the same checks as <see cref="Load"/>.</summary>
    public static ServiceCredentials FromPem(string certificatePem, ReadOnlySpan<char> privateKeyPem, string trustBundlePem, CertificateValidatorOptions? options = null) =>
        FromPem(certificatePem, privateKeyPem, trustBundlePem, options, CertificateFileName, KeyFileName, TrustBundleFileName);

    private static ServiceCredentials FromPem(string certificatePem, ReadOnlySpan<char> privateKeyPem, string trustBundlePem, CertificateValidatorOptions? options, string certificateName, string keyName, string bundleName)
    {
        ArgumentNullException.ThrowIfNull(certificatePem);
        ArgumentNullException.ThrowIfNull(trustBundlePem);
        options ??= new CertificateValidatorOptions();

        MeshCertificate certificate = Parse(certificateName, () => MeshCertificate.ParsePem(certificatePem));
        TrustBundle bundle = Parse(bundleName, () => TrustBundle.Parse(trustBundlePem));
        var validator = new CertificateValidator(bundle, options);
        var result = validator.Validate(certificate.RawData.Span);
        if (!result.IsValid)
        {
            throw new CredentialsException($"{certificateName}: rejected ({result.Reason}): {result.Detail}", result.Reason);
        }

        MLKemKey key;
        try
        {
            key = MeshPrivateKey.ImportMLKem1024Pem(privateKeyPem);
        }
        catch (CertificateFormatException e)
        {
            throw new CredentialsException($"{keyName}: {e.Message}", CertificateRejection.Malformed, e);
        }

        byte[] ek = new byte[key.Algorithm.EncapsulationKeySizeInBytes];
        key.ExportEncapsulationKey(ek);
        if (!ek.AsSpan().SequenceEqual(certificate.PublicKey.Span))
        {
            key.Dispose();
            throw new CredentialsException($"{keyName}: the private key does not match the certificate in {certificateName} (their ML-KEM-1024 public keys differ); reissue both with 'belizemesh certs issue'");
        }

        return new ServiceCredentials(certificate, key, bundle, validator);
    }

    private static T Parse<T>(string name, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (CertificateFormatException e)
        {
            throw new CredentialsException($"{name}: {e.Message}", CertificateRejection.Malformed, e);
        }
    }

    /// <inheritdoc />
    public void Dispose() => PrivateKey.Dispose();
}
