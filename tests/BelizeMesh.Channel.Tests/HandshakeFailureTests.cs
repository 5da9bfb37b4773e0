using System.Text;
using BelizeMesh.Identity;

namespace BelizeMesh.Channel.Tests;

/// <summary>Every handshake rejection over real loopback sockets, with the reason each side reports.</summary>
public sealed class HandshakeFailureTests
{
    private static TestPki Pki => TestPki.Instance;

    /// <summary>Runs both handshakes; returns each side's exception (null when that side succeeded).</summary>
    private static async Task<(PqChannelException? Client, PqChannelException? Server)> RunAsync(
        PqChannelOptions client, PqChannelOptions server, string expected = TestPki.ServerId)
    {
        var (c, s) = await Loopback.ConnectAsync();
        await using var clientStream = new PqChannelStream(c, client);
        await using var serverStream = new PqChannelStream(s, server);
        Task clientTask = clientStream.AuthenticateAsClientAsync(expected);
        Task serverTask = serverStream.AuthenticateAsServerAsync();
        PqChannelException? clientError = await Catch(clientTask);
        PqChannelException? serverError = await Catch(serverTask);
        return (clientError, serverError);
    }

    private static async Task<PqChannelException?> Catch(Task task)
    {
        try
        {
            await task;
            return null;
        }
        catch (PqChannelException ex)
        {
            return ex;
        }
    }

    [Fact]
    public async Task Handshake_rejects_server_certificate_from_unknown_ca()
    {
        var (client, server) = await RunAsync(Pki.ClientOptions(), Pki.UncheckedOptions(Pki.FromUnknownCa));
        Assert.Equal(ChannelFailure.UnknownCa, client!.Reason);
        Assert.False(client.ReportedByPeer);
        Assert.Contains("UnknownIssuer", client.Message, StringComparison.Ordinal);
        Assert.Equal(ChannelFailure.UnknownCa, server!.Reason);
        Assert.True(server.ReportedByPeer);
    }

    [Fact]
    public async Task Handshake_rejects_client_certificate_from_unknown_ca()
    {
        var (client, server) = await RunAsync(Pki.UncheckedOptions(Pki.FromUnknownCa), Pki.ServerOptions());
        Assert.Equal(ChannelFailure.UnknownCa, server!.Reason);
        Assert.False(server.ReportedByPeer);
        Assert.Equal(ChannelFailure.UnknownCa, client!.Reason);
        Assert.True(client.ReportedByPeer);
    }

    [Fact]
    public async Task Handshake_rejects_expired_server_certificate()
    {
        var (client, _) = await RunAsync(Pki.ClientOptions(), Pki.UncheckedOptions(Pki.Expired));
        Assert.Equal(ChannelFailure.CertificateExpired, client!.Reason);
    }

    [Fact]
    public async Task Handshake_rejects_not_yet_valid_server_certificate()
    {
        var (client, _) = await RunAsync(Pki.ClientOptions(), Pki.UncheckedOptions(Pki.NotYetValid));
        Assert.Equal(ChannelFailure.CertificateNotYetValid, client!.Reason);
    }

    [Fact]
    public async Task Handshake_rejects_expired_client_certificate()
    {
        var (client, server) = await RunAsync(Pki.UncheckedOptions(Pki.Expired), Pki.ServerOptions());
        Assert.Equal(ChannelFailure.CertificateExpired, server!.Reason);
        Assert.Equal(ChannelFailure.CertificateExpired, client!.Reason);
        Assert.True(client.ReportedByPeer);
    }

    [Fact]
    public async Task Handshake_rejects_server_with_another_identity_than_expected()
    {
        var (client, server) = await RunAsync(Pki.ClientOptions(), Pki.ServerOptions(), expected: TestPki.OtherId);
        Assert.Equal(ChannelFailure.IdentityMismatch, client!.Reason);
        Assert.Contains("identity mismatch", client.Message, StringComparison.Ordinal);
        Assert.Contains(TestPki.ServerId, client.Message, StringComparison.Ordinal);
        Assert.Equal(ChannelFailure.IdentityMismatch, server!.Reason);
        Assert.True(server.ReportedByPeer);
    }

    [Fact]
    public async Task Handshake_rejects_server_whose_private_key_does_not_match_its_certificate()
    {
        var (client, server) = await RunAsync(Pki.ClientOptions(), Pki.UncheckedOptions(Pki.Server, privateKey: Pki.Other.PrivateKey));
        Assert.Equal(ChannelFailure.KeyMismatch, server!.Reason);
        Assert.False(server.ReportedByPeer);
        Assert.Equal(ChannelFailure.KeyMismatch, client!.Reason);
    }

    [Fact]
    public async Task Handshake_rejects_client_whose_private_key_does_not_match_its_certificate()
    {
        var (client, server) = await RunAsync(Pki.UncheckedOptions(Pki.Client, privateKey: Pki.Other.PrivateKey), Pki.ServerOptions());
        Assert.Equal(ChannelFailure.KeyMismatch, client!.Reason);
        Assert.False(client.ReportedByPeer);
        Assert.Equal(ChannelFailure.KeyMismatch, server!.Reason);
        Assert.True(server.ReportedByPeer);
    }

    [Fact]
    public void Credentials_with_a_key_that_does_not_match_the_certificate_fail_at_load()
    {
        var ex = Assert.Throws<PqChannelException>(() => ChannelCredentials.Create(Pki.Server.Certificate.RawData, Pki.Other.PrivateKey, Pki.Verifier));
        Assert.Equal(ChannelFailure.KeyMismatch, ex.Reason);
        Assert.Contains("does not belong to the certificate of " + TestPki.ServerId, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Credentials_with_an_expired_certificate_fail_at_load()
    {
        var ex = Assert.Throws<PqChannelException>(() => ChannelCredentials.Create(Pki.Expired.Certificate.RawData, Pki.Expired.PrivateKey, Pki.Verifier));
        Assert.Equal(ChannelFailure.CertificateExpired, ex.Reason);
    }

    [Fact]
    public void Options_without_credentials_are_rejected_with_the_missing_setting()
    {
        using var inner = new MemoryStream();
        var ex = Assert.Throws<InvalidOperationException>(() => new PqChannelStream(inner, new PqChannelOptions { Verifier = Pki.Verifier }));
        Assert.Contains("PqChannelOptions.Credentials is required", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_rejects_a_plaintext_http_client_as_not_a_pq_channel()
    {
        var (c, s) = await Loopback.ConnectAsync();
        await using var server = new PqChannelStream(s, Pki.ServerOptions());
        await c.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        var ex = await Assert.ThrowsAsync<PqChannelException>(() => server.AuthenticateAsServerAsync());
        Assert.Equal(ChannelFailure.NotPqChannel, ex.Reason);
        Assert.Contains("plaintext", ex.Message, StringComparison.Ordinal);
        await c.DisposeAsync();
    }

    [Fact]
    public async Task Server_rejects_a_tls_client_as_not_a_pq_channel()
    {
        var (c, s) = await Loopback.ConnectAsync();
        await using var server = new PqChannelStream(s, Pki.ServerOptions());
        await c.WriteAsync(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00 });
        var ex = await Assert.ThrowsAsync<PqChannelException>(() => server.AuthenticateAsServerAsync());
        Assert.Equal(ChannelFailure.NotPqChannel, ex.Reason);
        Assert.Contains("TLS", ex.Message, StringComparison.Ordinal);
        await c.DisposeAsync();
    }

    [Fact]
    public async Task Client_rejects_a_server_that_answers_garbage()
    {
        var (c, s) = await Loopback.ConnectAsync();
        await using var client = new PqChannelStream(c, Pki.ClientOptions());
        Task handshake = client.AuthenticateAsClientAsync(TestPki.ServerId);
        await s.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 400 Bad Request\r\n\r\n"));
        var ex = await Assert.ThrowsAsync<PqChannelException>(() => handshake);
        Assert.Equal(ChannelFailure.NotPqChannel, ex.Reason);
        await s.DisposeAsync();
    }

    [Fact]
    public async Task Server_times_out_a_client_that_stalls_mid_handshake()
    {
        var (c, s) = await Loopback.ConnectAsync();
        await using var server = new PqChannelStream(s, Pki.ServerOptions(timeout: TimeSpan.FromMilliseconds(300)));
        await c.WriteAsync(new byte[] { 0x01, 0x42, 0x4D, 0x06, 0x8C, 0x01 }); // a ClientHello header, then nothing
        var ex = await Assert.ThrowsAsync<PqChannelException>(() => server.AuthenticateAsServerAsync());
        Assert.Equal(ChannelFailure.Timeout, ex.Reason);
        await c.DisposeAsync();
    }

    [Fact]
    public async Task Client_times_out_a_server_that_never_answers()
    {
        var (c, s) = await Loopback.ConnectAsync();
        await using var client = new PqChannelStream(c, Pki.ClientOptions(timeout: TimeSpan.FromMilliseconds(300)));
        var ex = await Assert.ThrowsAsync<PqChannelException>(() => client.AuthenticateAsClientAsync(TestPki.ServerId));
        Assert.Equal(ChannelFailure.Timeout, ex.Reason);
        await s.DisposeAsync();
    }

    [Fact]
    public async Task Client_reports_truncation_when_the_server_closes_mid_handshake()
    {
        var (c, s) = await Loopback.ConnectAsync();
        await using var client = new PqChannelStream(c, Pki.ClientOptions());
        Task handshake = client.AuthenticateAsClientAsync(TestPki.ServerId);
        byte[] hello = new byte[100];
        await s.ReadExactlyAsync(hello);
        s.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        var ex = await Assert.ThrowsAsync<PqChannelException>(() => handshake);
        Assert.Equal(ChannelFailure.Truncated, ex.Reason);
        await s.DisposeAsync();
    }

    [Fact]
    public async Task Client_reports_the_servers_reason_when_the_server_rejects_its_kem_ciphertext()
    {
        // A relay flips the last tag byte of the client's second record (ClientKemCiphertext, under CHTS). The server
        // cannot open it and answers with an alert under the keys it still has; the client has moved on to the next
        // keys, and must still report the server's reason rather than guess at a key mismatch.
        var (c, relayClientSide) = await Loopback.ConnectAsync();
        var (relayServerSide, s) = await Loopback.ConnectAsync();
        Task upstream = RelayTamperingAsync(relayClientSide, relayServerSide, recordToTamper: 1);
        Task downstream = relayServerSide.CopyToAsync(relayClientSide);
        await using var clientStream = new PqChannelStream(c, Pki.ClientOptions());
        await using var serverStream = new PqChannelStream(s, Pki.ServerOptions());
        Task clientTask = clientStream.AuthenticateAsClientAsync(TestPki.ServerId);
        Task serverTask = serverStream.AuthenticateAsServerAsync();
        PqChannelException? client = await Catch(clientTask);
        PqChannelException? server = await Catch(serverTask);

        Assert.True(server is not null && client is not null, $"client: {client?.Reason} {client?.Message}; server: {server?.Reason} {server?.Message}");
        Assert.Equal(ChannelFailure.BadRecordMac, server!.Reason);
        Assert.False(server.ReportedByPeer);
        Assert.Equal(ChannelFailure.BadRecordMac, client!.Reason);
        Assert.True(client.ReportedByPeer);
        await relayClientSide.DisposeAsync();
        await relayServerSide.DisposeAsync();
        await Task.WhenAll(Quietly(upstream), Quietly(downstream));
    }

    /// <summary>Copies records from <paramref name="from"/> to <paramref name="to"/> up to record number
    /// <paramref name="recordToTamper"/> (0-based), whose last byte it flips, and stops there: the receiver fails on that
    /// record, and anything sent after it would sit unread and turn the receiver's close into a reset that could
    /// overtake its alert.</summary>
    private static async Task RelayTamperingAsync(Stream from, Stream to, int recordToTamper)
    {
        byte[] header = new byte[5];
        for (int index = 0; ; index++)
        {
            try
            {
                await from.ReadExactlyAsync(header);
            }
            catch (EndOfStreamException)
            {
                return;
            }

            byte[] body = new byte[(header[3] << 8) | header[4]];
            await from.ReadExactlyAsync(body);
            if (index == recordToTamper)
            {
                body[^1] ^= 0x01;
            }

            await to.WriteAsync(header);
            await to.WriteAsync(body);
            if (index == recordToTamper)
            {
                return;
            }
        }
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or EndOfStreamException)
        {
        }
    }

    [Fact]
    public void Certificate_rejections_map_to_channel_failures()
    {
        Assert.Equal(ChannelFailure.UnknownCa, Identity.MeshCertificateVerifier.Map(CertificateRejection.UnknownIssuer));
        Assert.Equal(ChannelFailure.CertificateExpired, Identity.MeshCertificateVerifier.Map(CertificateRejection.Expired));
        Assert.Equal(ChannelFailure.CertificateNotYetValid, Identity.MeshCertificateVerifier.Map(CertificateRejection.NotYetValid));
        Assert.Equal(ChannelFailure.BadCertificate, Identity.MeshCertificateVerifier.Map(CertificateRejection.BadSignature));
        Assert.Equal(ChannelFailure.BadCertificate, Identity.MeshCertificateVerifier.Map(CertificateRejection.Malformed));
    }

    [Fact]
    public void Server_rejects_an_invalid_client_kem_key_before_any_p256_work()
    {
        // docs/protocol.md 7.1: an unauthenticated ClientHello costs a parse and the ML-KEM key check (FIPS 203 section
        // 7.2) before the server generates a P-256 key or computes an ECDH secret for it. A ClientHello whose kem_ek fails
        // the check and whose P-256 share is off the curve must be refused for its kem_ek.
        using var handshake = new RecordedHandshake();
        RecordedHandshake.Step hello = handshake.Steps[0];
        byte[] message = (byte[])hello.Message.Clone();
        const int share = 1 + 3 + 3 + 32 + 2;                   // type, versions, suites, random, ecdh_share_length
        const int ek = share + 65 + 2;                          // ecdh_share, kem_ek_length
        message[share + 64] ^= 0x01;                            // last byte of Y: the point leaves the curve
        message[ek] = message[ek + 1] = message[ek + 2] = 0xFF; // first two coefficients 4095 >= q = 3329
        byte[] record = new byte[Protocol.ProtocolConstants.HeaderLength + message.Length];
        new Protocol.RecordHeader(Protocol.ContentType.Hello, message.Length).Write(record);
        message.CopyTo(record, Protocol.ProtocolConstants.HeaderLength);

        using Protocol.HandshakeMachine server = hello.Receiver.Clone();
        using var output = new Protocol.PooledBufferWriter();
        var ex = Assert.Throws<PqChannelException>(() => server.ProcessRecord(record, output));
        Assert.Equal(ChannelFailure.ProtocolViolation, ex.Reason);
        Assert.Contains("kem_ek", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, output.WrittenCount);
    }
}
