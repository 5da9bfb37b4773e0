using BelizeMesh.Channel;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Identity;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// The PKI of the single-sidecar benchmarks (handshake-servers, handshake-flood, footprint): a root, the backend
/// sidecar's credentials written as a mounted Secret, and channel options for a client presenting the frontend's
/// certificate.
/// </summary>
internal sealed class BenchPki : IDisposable
{
    private readonly CertificateAuthority _ca;
    private readonly IssuedCertificate _client;

    public BenchPki(string backendCertsDirectory)
    {
        _ca = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=BelizeMesh Bench CA,O=BelizeMesh" });
        _client = _ca.Issue(new ServiceCertificateRequest { Service = "frontend", Namespace = ScenarioContext.Namespace });
        BelizeMeshScenario.WriteCredentials(_ca, "backend", backendCertsDirectory);
        BackendCerts = backendCertsDirectory;
        var verifier = new MeshCertificateVerifier(new CertificateValidator(_ca.TrustBundle, new CertificateValidatorOptions()));
        ClientOptions = new PqChannelOptions { Credentials = ChannelCredentials.Create(_client.Certificate.RawData, _client.PrivateKey, verifier), Verifier = verifier };
    }

    /// <summary>The backend sidecar's <c>--certs</c> directory.</summary>
    public string BackendCerts { get; }

    /// <summary>A frontend client's channel options (its certificate, trusting the bench root).</summary>
    public PqChannelOptions ClientOptions { get; }

    public void Dispose()
    {
        _client.Dispose();
        _ca.Dispose();
    }
}
