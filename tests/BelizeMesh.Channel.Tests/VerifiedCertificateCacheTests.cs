using BelizeMesh.Channel.Identity;
using BelizeMesh.Identity;

namespace BelizeMesh.Channel.Tests;

/// <summary>
/// The verified-certificate cache seen from the channel: a returning peer is served from the verifier's cache, and a
/// trust-bundle rotation (a new verifier, as the sidecar's certificate store builds on every reload) starts from an
/// empty cache, so a certificate verified under the old bundle is checked again under the new one.
/// </summary>
public sealed class VerifiedCertificateCacheTests
{
    private static readonly CertificateAuthority s_ca = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=Cache Root,O=BelizeMesh" });

    private static IssuedCertificate Issue(string service) => s_ca.Issue(new ServiceCertificateRequest { Service = service, Namespace = "belizechain" });

    [Fact]
    public async Task Verified_chain_cache_is_dropped_when_the_trust_bundle_rotates()
    {
        using IssuedCertificate nawal = Issue("nawal");
        using IssuedCertificate pakit = Issue("pakit");
        var validator = new CertificateValidator(s_ca.TrustBundle, new CertificateValidatorOptions());
        var verifier = new MeshCertificateVerifier(validator);
        ChannelCredentials serverCredentials = ChannelCredentials.Create(nawal.Certificate.RawData, nawal.PrivateKey, verifier);
        var server = new PqChannelOptions { Credentials = serverCredentials, Verifier = verifier };
        var client = new PqChannelOptions { Credentials = ChannelCredentials.Create(pakit.Certificate.RawData, pakit.PrivateKey, verifier), Verifier = verifier };
        await using KestrelHost host = await KestrelHost.StartAsync(server);

        for (int i = 0; i < 3; i++)
        {
            await using PqChannelStream channel = await host.ConnectChannelAsync(client);
            Assert.Equal(TestPki.ServerId, channel.PeerIdentity);
        }

        Assert.Equal(2, validator.CachedCount); // nawal and pakit, each verified once

        // Rotation to a bundle without the old root: the client verified a moment ago is refused.
        using var nextRoot = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=Next Cache Root,O=BelizeMesh" });
        var nextValidator = new CertificateValidator(nextRoot.TrustBundle, new CertificateValidatorOptions());
        server.UpdateCredentials(serverCredentials, new MeshCertificateVerifier(nextValidator));
        PqChannelException refused = await Assert.ThrowsAsync<PqChannelException>(() => host.ConnectChannelAsync(client));
        Assert.Equal(ChannelFailure.UnknownCa, refused.Reason);
        Assert.Equal(0, nextValidator.CachedCount);

        // Rotation to old + new roots: accepted again after a fresh verification under the new bundle.
        var bothValidator = new CertificateValidator(TrustBundle.Parse(s_ca.Certificate.ToPem() + nextRoot.Certificate.ToPem()), new CertificateValidatorOptions());
        server.UpdateCredentials(serverCredentials, new MeshCertificateVerifier(bothValidator));
        await using (PqChannelStream accepted = await host.ConnectChannelAsync(client))
        {
            Assert.Equal(TestPki.ServerId, accepted.PeerIdentity);
        }

        Assert.Equal(1, bothValidator.CachedCount);
    }
}
