using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BelizeMesh.Injector.Tests.Support;

/// <summary>Throwaway ECDSA certificates written as PEM files into a temporary directory.</summary>
internal sealed class TestCertificates : IDisposable
{
    public TestCertificates(string commonName = "belizemesh-injector.belizemesh-system.svc")
    {
        Directory = Path.Combine(Path.GetTempPath(), "bm-injector-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        (CertPem, KeyPem, Certificate) = Create(commonName);
        CertPath = Path.Combine(Directory, "tls.crt");
        KeyPath = Path.Combine(Directory, "tls.key");
        File.WriteAllText(CertPath, CertPem);
        File.WriteAllText(KeyPath, KeyPem);
    }

    public string Directory { get; }

    public string CertPath { get; }

    public string KeyPath { get; }

    public string CertPem { get; }

    public string KeyPem { get; }

    public X509Certificate2 Certificate { get; }

    /// <summary>A self-signed P-256 certificate for 127.0.0.1 and the given name.</summary>
    public static (string CertPem, string KeyPem, X509Certificate2 Certificate) Create(string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        san.AddDnsName(commonName);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        string certPem = certificate.ExportCertificatePem();
        string keyPem = key.ExportPkcs8PrivateKeyPem();
        return (certPem, keyPem, X509Certificate2.CreateFromPem(certPem));
    }

    public void Dispose()
    {
        Certificate.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
