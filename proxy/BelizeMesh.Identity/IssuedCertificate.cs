using BelizeMesh.Quantum;

namespace BelizeMesh.Identity;

/// <summary>A freshly issued service certificate with its ML-KEM-1024 private key. Disposing zeroes the key.</summary>
public sealed class IssuedCertificate : IDisposable
{
    internal IssuedCertificate(MeshCertificate certificate, MLKemKey privateKey)
    {
        Certificate = certificate;
        PrivateKey = privateKey;
    }

    /// <summary>The certificate.</summary>
    public MeshCertificate Certificate { get; }

    /// <summary>The ML-KEM-1024 private key whose encapsulation key the certificate carries.</summary>
    public MLKemKey PrivateKey { get; }

    /// <summary>The certificate as PEM.</summary>
    public string CertificatePem => Certificate.ToPem();

    /// <summary>The private key as PKCS#8 PEM (seed form).</summary>
    public string ExportPrivateKeyPem() => MeshPrivateKey.ExportPem(PrivateKey);

    /// <inheritdoc />
    public void Dispose() => PrivateKey.Dispose();
}
