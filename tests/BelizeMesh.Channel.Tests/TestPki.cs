using BelizeMesh.Channel.Identity;
using BelizeMesh.Identity;
using BelizeMesh.Quantum;

namespace BelizeMesh.Channel.Tests;

/// <summary>A mutable clock for issuing certificates in the past or future.</summary>
internal sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>
/// Real mesh certificates for the tests, issued once per test run by <see cref="CertificateAuthority"/>: a trusted CA
/// with a server and a client identity, expired and not-yet-valid certificates, and a second, untrusted CA.
/// </summary>
internal sealed class TestPki
{
    public const string ServerId = "spiffe://cluster.local/ns/belizechain/sa/nawal";
    public const string ClientId = "spiffe://cluster.local/ns/belizechain/sa/pakit";
    public const string OtherId = "spiffe://cluster.local/ns/belizechain/sa/kinich";

    private static readonly Lazy<TestPki> s_instance = new(() => new TestPki());

    private TestPki()
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        var clock = new ManualClock(now.AddDays(-1000));
        Ca = CertificateAuthority.CreateRoot(new RootCertificateOptions { Time = clock });
        clock.Now = now.AddMinutes(-10);
        Server = Ca.Issue(Request("nawal"));
        Client = Ca.Issue(Request("pakit"));
        Other = Ca.Issue(Request("kinich"));
        clock.Now = now.AddDays(-200);
        Expired = Ca.Issue(Request("nawal"));
        clock.Now = now.AddDays(10);
        NotYetValid = Ca.Issue(Request("nawal"));

        using var rogueCa = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=Rogue CA,O=Elsewhere" });
        FromUnknownCa = rogueCa.Issue(Request("nawal"));

        Validator = new CertificateValidator(Ca.TrustBundle, new CertificateValidatorOptions());
        Verifier = new MeshCertificateVerifier(Validator);
    }

    public static TestPki Instance => s_instance.Value;

    public CertificateAuthority Ca { get; }

    public IssuedCertificate Server { get; }

    public IssuedCertificate Client { get; }

    public IssuedCertificate Other { get; }

    public IssuedCertificate Expired { get; }

    public IssuedCertificate NotYetValid { get; }

    public IssuedCertificate FromUnknownCa { get; }

    public CertificateValidator Validator { get; }

    public MeshCertificateVerifier Verifier { get; }

    public PqChannelOptions ServerOptions(TimeSpan? timeout = null, ChannelMetrics? metrics = null) => Options(Server, timeout, metrics);

    public PqChannelOptions ClientOptions(TimeSpan? timeout = null, ChannelMetrics? metrics = null) => Options(Client, timeout, metrics);

    public PqChannelOptions Options(IssuedCertificate issued, TimeSpan? timeout = null, ChannelMetrics? metrics = null) => new()
    {
        Credentials = ChannelCredentials.Create(issued.Certificate.RawData, issued.PrivateKey, Verifier),
        Verifier = Verifier,
        HandshakeTimeout = timeout ?? TimeSpan.FromSeconds(10),
        Metrics = metrics,
    };

    /// <summary>Options that present <paramref name="issued"/> without the load-time checks (expired, foreign or mismatched credentials).</summary>
    public PqChannelOptions UncheckedOptions(IssuedCertificate issued, MLKemKey? privateKey = null, TimeSpan? timeout = null) => new()
    {
        Credentials = ChannelCredentials.CreateUnchecked(issued.Certificate.RawData, privateKey ?? issued.PrivateKey, issued.Certificate.SpiffeId!.ToString()),
        Verifier = Verifier,
        HandshakeTimeout = timeout ?? TimeSpan.FromSeconds(10),
    };

    private static ServiceCertificateRequest Request(string name) => new() { Service = name, Namespace = "belizechain" };
}
