using System.Security.Cryptography;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Identity;

namespace BelizeMesh.Channel.Tests;

/// <summary>Stream ↔ Stream data transfer, and options built from the Identity types the proxy loads.</summary>
public sealed class StreamDataTests
{
    [Fact]
    public async Task Stream_to_stream_carries_megabytes_in_both_directions_at_once()
    {
        var (client, server) = await Loopback.ChannelPairAsync();
        await using (client)
        await using (server)
        {
            byte[] up = RandomNumberGenerator.GetBytes(4 * 1024 * 1024 + 7);
            byte[] down = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 11);
            Task sendUp = Task.Run(async () => { await client.WriteAsync(up); await client.ShutdownWriteAsync(); });
            Task sendDown = Task.Run(async () => { await server.WriteAsync(down); await server.ShutdownWriteAsync(); });
            Task<byte[]> receiveUp = KestrelMiddlewareTests.ReadToEndAsync(server);
            Task<byte[]> receiveDown = KestrelMiddlewareTests.ReadToEndAsync(client);
            await Task.WhenAll(sendUp, sendDown, receiveUp, receiveDown);
            Assert.Equal(up, await receiveUp);
            Assert.Equal(down, await receiveDown);
        }
    }

    [Fact]
    public async Task Stream_to_stream_delivers_many_small_writes_in_order_into_small_reads()
    {
        var (client, server) = await Loopback.ChannelPairAsync();
        await using (client)
        await using (server)
        {
            Task send = Task.Run(async () =>
            {
                for (int i = 0; i < 3000; i++)
                {
                    await client.WriteAsync(BitConverter.GetBytes(i));
                }

                await client.ShutdownWriteAsync();
            });
            var received = new MemoryStream();
            byte[] small = new byte[3];
            int n;
            while ((n = await server.ReadAsync(small)) > 0)
            {
                received.Write(small, 0, n);
            }

            await send;
            byte[] all = received.ToArray();
            Assert.Equal(3000 * 4, all.Length);
            for (int i = 0; i < 3000; i++)
            {
                Assert.Equal(i, BitConverter.ToInt32(all, i * 4));
            }
        }
    }

    [Fact]
    public async Task Options_from_service_credentials_authenticate_with_the_mesh_validator()
    {
        var pki = TestPki.Instance;
        using var serverCredentials = ServiceCredentials.FromPem(pki.Server.CertificatePem, pki.Server.ExportPrivateKeyPem(), pki.Ca.TrustBundle.Pem);
        using var clientCredentials = ServiceCredentials.FromPem(pki.Client.CertificatePem, pki.Client.ExportPrivateKeyPem(), pki.Ca.TrustBundle.Pem);
        PqChannelOptions serverOptions = serverCredentials.ToChannelOptions(handshakeTimeout: TimeSpan.FromSeconds(5));
        Assert.Equal(TestPki.ServerId, serverOptions.Credentials!.Identity);
        Assert.Equal(TimeSpan.FromSeconds(5), serverOptions.HandshakeTimeout);

        var (client, server) = await Loopback.ChannelPairAsync(clientCredentials.ToChannelOptions(), serverOptions);
        await using (client)
        await using (server)
        {
            Assert.Equal(TestPki.ClientId, server.PeerIdentity);
        }
    }

    [Fact]
    public async Task A_stream_left_open_whose_read_failed_sends_no_close_notify_on_shutdown()
    {
        // docs/protocol.md 2.3: a side whose channel has failed never sends close_notify afterwards, so the peer sees the
        // failure as truncation, not as a clean end. With leaveInnerStreamOpen the transport stays writable after the failure.
        var (c, s) = await Loopback.ConnectAsync();
        await using var client = new PqChannelStream(c, TestPki.Instance.ClientOptions(), leaveInnerStreamOpen: true);
        await using var server = new PqChannelStream(s, TestPki.Instance.ServerOptions());
        await Task.WhenAll(client.AuthenticateAsClientAsync(TestPki.ServerId), server.AuthenticateAsServerAsync());

        byte[] forged = [0x04, 0x42, 0x4D, 0x00, 0x20, .. new byte[0x20]]; // application_data that does not authenticate
        await s.WriteAsync(forged);
        var readFailure = await Assert.ThrowsAsync<PqChannelException>(async () => _ = await client.ReadAsync(new byte[64]));
        Assert.Equal(ChannelFailure.BadRecordMac, readFailure.Reason);

        await Assert.ThrowsAsync<PqChannelException>(() => client.ShutdownWriteAsync());
        await c.DisposeAsync();
        var seen = await Assert.ThrowsAsync<PqChannelException>(async () => _ = await server.ReadAsync(new byte[64]));
        Assert.Equal(ChannelFailure.Truncated, seen.Reason);
    }
}
