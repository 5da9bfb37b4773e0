using BelizeMesh.Channel.Identity;
using BelizeMesh.Channel.Protocol;
using BelizeMesh.Identity;

namespace BelizeMesh.Channel.Tests;

/// <summary>
/// Rotating credentials under running handshakes: <see cref="PqChannelOptions.UpdateCredentials"/> swaps the pair for
/// the next handshake, and <see cref="ChannelCredentials.Retire"/> lets the owner dispose the old key only once no
/// handshake holds it. Each test issues its own keys from its own CA.
/// </summary>
public sealed class CredentialRotationTests
{
    // A CA of our own on the real clock (TestPki's CA issues on a clock left in the future).
    private static readonly CertificateAuthority s_ca = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=Rotation Root,O=BelizeMesh" });
    private static readonly MeshCertificateVerifier s_verifier = new(new CertificateValidator(s_ca.TrustBundle, new CertificateValidatorOptions()));
    private static readonly IssuedCertificate s_client = Issue("pakit");

    private static IssuedCertificate Issue(string service) => s_ca.Issue(new ServiceCertificateRequest { Service = service, Namespace = "belizechain" });

    private static ChannelCredentials Credentials(IssuedCertificate issued) => ChannelCredentials.Create(issued.Certificate.RawData, issued.PrivateKey, s_verifier);

    private static PqChannelOptions Options(IssuedCertificate issued) => new() { Credentials = Credentials(issued), Verifier = s_verifier };

    [Fact]
    public async Task Next_handshake_presents_the_updated_certificate_and_trusts_the_updated_bundle()
    {
        using IssuedCertificate nawal = Issue("nawal");
        using IssuedCertificate kinich = Issue("kinich");
        PqChannelOptions server = Options(nawal);
        PqChannelOptions client = Options(s_client);
        await using KestrelHost host = await KestrelHost.StartAsync(server);
        await using (PqChannelStream before = await host.ConnectChannelAsync(client))
        {
            Assert.Equal(TestPki.ServerId, before.PeerIdentity);

            server.UpdateCredentials(Credentials(kinich), s_verifier);

            // A new handshake proves the new identity; the channel established before keeps working.
            await using PqChannelStream after = await host.ConnectChannelAsync(client, expected: TestPki.OtherId);
            Assert.Equal(TestPki.OtherId, after.PeerIdentity);
            await before.WriteAsync("still here"u8.ToArray());
            byte[] buffer = new byte[16];
            Assert.Equal("still here", System.Text.Encoding.ASCII.GetString(buffer, 0, await before.ReadAsync(buffer)));
        }

        // The verifier is swapped with the key: a bundle holding only another root makes the server refuse the same
        // client it accepted a moment ago (the client trusts the server's certificate; the server reports UnknownCa).
        using var otherRoot = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=Next Root,O=BelizeMesh" });
        var otherVerifier = new MeshCertificateVerifier(new CertificateValidator(otherRoot.TrustBundle, new CertificateValidatorOptions()));
        server.UpdateCredentials(Credentials(nawal), otherVerifier);
        PqChannelException refused = await Assert.ThrowsAsync<PqChannelException>(() => host.ConnectChannelAsync(client));
        Assert.Equal(ChannelFailure.UnknownCa, refused.Reason);
        Assert.True(refused.ReportedByPeer, refused.ToString());
    }

    [Fact]
    public void Retired_credentials_are_released_when_the_last_handshake_holding_them_ends()
    {
        using IssuedCertificate first = Issue("nawal");
        using IssuedCertificate second = Issue("nawal");
        ChannelCredentials old = Credentials(first), next = Credentials(second);
        var options = new PqChannelOptions { Credentials = old, Verifier = s_verifier };
        int released = 0;

        HandshakeMachine running = HandshakeMachine.CreateServer(options);
        options.UpdateCredentials(next, s_verifier);
        old.Retire(() => released++);
        Assert.True(old.IsRetired);
        Assert.Equal(0, released); // a handshake that started with them may still decapsulate

        using (HandshakeMachine.CreateServer(options))
        {
            // new handshakes take the replacement; the old credentials are not leased again
        }

        Assert.Equal(0, released);
        running.Dispose();
        Assert.Equal(1, released);
        running.Dispose();
        Assert.Equal(1, released);
        Assert.Throws<InvalidOperationException>(() => old.Retire(null));

        // No holder at all: at once. Credentials retired while still configured fail the next handshake clearly.
        next.Retire(() => released++);
        Assert.Equal(2, released);
        InvalidOperationException misuse = Assert.Throws<InvalidOperationException>(() => HandshakeMachine.CreateServer(options));
        Assert.Contains("retired while still in use", misuse.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Established_channel_does_not_keep_retired_credentials_alive()
    {
        using IssuedCertificate first = Issue("nawal");
        using IssuedCertificate second = Issue("nawal");
        ChannelCredentials old = Credentials(first);
        var server = new PqChannelOptions { Credentials = old, Verifier = s_verifier };
        await using KestrelHost host = await KestrelHost.StartAsync(server);
        await using PqChannelStream client = await host.ConnectChannelAsync(Options(s_client));
        await host.Feature.Task.WaitAsync(TimeSpan.FromSeconds(10)); // the server side is past its handshake too

        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.UpdateCredentials(Credentials(second), s_verifier);
        old.Retire(released.SetResult);

        // The connection is still open, yet nothing holds the old key: the middleware released it at completion.
        await released.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await client.WriteAsync("after"u8.ToArray());
        byte[] buffer = new byte[8];
        Assert.Equal("after", System.Text.Encoding.ASCII.GetString(buffer, 0, await client.ReadAsync(buffer)));
    }

    [Fact]
    public async Task Handshakes_racing_rotations_never_meet_a_disposed_key()
    {
        // Every rotation disposes the previous private key as soon as Retire allows: a handshake that used a key after
        // its disposal would fail with ObjectDisposedException.
        IssuedCertificate[] keys = [.. Enumerable.Range(0, 12).Select(_ => Issue("nawal"))];
        PqChannelOptions server = Options(keys[0]);
        PqChannelOptions client = Options(s_client);
        int disposed = 0;
        using var stop = new CancellationTokenSource();

        async Task<int> HandshakesAsync()
        {
            int count = 0;
            while (!stop.IsCancellationRequested || count == 0)
            {
                var (c, s) = await Loopback.ChannelPairAsync(client, server);
                await c.DisposeAsync();
                await s.DisposeAsync();
                count++;
            }

            return count;
        }

        Task<int>[] loops = [HandshakesAsync(), HandshakesAsync(), HandshakesAsync()];
        ChannelCredentials current = server.Credentials!;
        for (int i = 1; i < keys.Length; i++)
        {
            await Task.Delay(5);
            ChannelCredentials next = Credentials(keys[i]);
            server.UpdateCredentials(next, s_verifier);
            IssuedCertificate retiredKey = keys[i - 1];
            current.Retire(() =>
            {
                retiredKey.Dispose();
                Interlocked.Increment(ref disposed);
            });
            current = next;
        }

        stop.Cancel();
        int[] counts = await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.All(counts, n => Assert.True(n > 0));
        Assert.Equal(keys.Length - 1, Volatile.Read(ref disposed)); // every loop finished, so no handshake holds an old key
        keys[^1].Dispose();
    }
}
