using System.Security.Cryptography.X509Certificates;
using BelizeMesh.Quantum;

namespace BelizeMesh.Identity.Tests;

/// <summary>A clock that only moves when a test moves it.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset now) : TimeProvider
{
    private DateTimeOffset _now = now;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;

    public void Set(DateTimeOffset now) => _now = now;
}

/// <summary>A root CA and one service certificate, created once per test class (ML-DSA keygen and signing cost milliseconds).</summary>
public sealed class PkiFixture : IDisposable
{
    /// <summary>The fixed "now" every test starts from.</summary>
    public static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    public PkiFixture()
    {
        Authority = CertificateAuthority.CreateRoot(new RootCertificateOptions { Time = new ManualTimeProvider(Now) });
        Service = Authority.Issue(Request());
    }

    internal CertificateAuthority Authority { get; }

    internal IssuedCertificate Service { get; }

    internal static ServiceCertificateRequest Request(string service = "pakit", string ns = "belizechain") => new() { Service = service, Namespace = ns };

    internal CertificateValidator Validator(ManualTimeProvider? time = null, string trustDomain = "cluster.local", int capacity = 1024) =>
        new(Authority.TrustBundle, new CertificateValidatorOptions { Time = time ?? new ManualTimeProvider(Now), TrustDomain = trustDomain, CacheCapacity = capacity });

    /// <summary>A fresh ML-KEM-1024 public key as a SubjectPublicKeyInfo .NET can carry.</summary>
    internal static PublicKey NewKemPublicKey()
    {
        using var key = MLKemKey.Generate(MLKemParameterSet.MLKem1024);
        byte[] ek = new byte[key.Algorithm.EncapsulationKeySizeInBytes];
        key.ExportEncapsulationKey(ek);
        return MLDsaSignatureGenerator.CreatePublicKey(MeshOids.MLKem1024, ek);
    }

    internal static string KemPublicOf(MLKemKey key)
    {
        byte[] ek = new byte[key.Algorithm.EncapsulationKeySizeInBytes];
        key.ExportEncapsulationKey(ek);
        return Convert.ToHexString(ek);
    }

    public void Dispose()
    {
        Service.Dispose();
        Authority.Dispose();
    }
}
