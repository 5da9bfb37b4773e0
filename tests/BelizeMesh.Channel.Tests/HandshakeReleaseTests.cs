using System.Buffers;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Channel.Protocol;
using BelizeMesh.Identity;

namespace BelizeMesh.Channel.Tests;

/// <summary>
/// The server middleware releases a handshake's buffers and keys as soon as the channel is established (an idle channel
/// used to hold them for its whole life), and its <c>using</c> declarations dispose them once more when the connection
/// ends: a second disposal must be a no-op, never a second return of the same buffer to the shared pool (the
/// <c>PooledBufferWriter</c>'s second disposal returns an empty array, which the pool ignores).
/// </summary>
public sealed class HandshakeReleaseTests
{
    private static readonly CertificateAuthority s_ca = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=Release Root,O=BelizeMesh" });
    private static readonly MeshCertificateVerifier s_verifier = new(new CertificateValidator(s_ca.TrustBundle, new CertificateValidatorOptions()));

    [Fact]
    public void A_handshake_machine_disposed_twice_returns_its_record_buffer_to_the_pool_once()
    {
        using IssuedCertificate issued = s_ca.Issue(new ServiceCertificateRequest { Service = "nawal", Namespace = "belizechain" });
        ChannelCredentials credentials = ChannelCredentials.Create(issued.Certificate.RawData, issued.PrivateKey, s_verifier);
        var options = new PqChannelOptions { Credentials = credentials, Verifier = s_verifier };
        int released = 0;
        HandshakeMachine machine = HandshakeMachine.CreateServer(options);
        credentials.Retire(() => released++);

        machine.Dispose();
        machine.Dispose();

        Assert.Equal(1, released); // the credential lease is released once
        // Returned twice, the buffer would sit in the pool twice, and two rents on this thread would get the same array.
        byte[] first = ArrayPool<byte>.Shared.Rent(ProtocolConstants.MaxRecord);
        byte[] second = ArrayPool<byte>.Shared.Rent(ProtocolConstants.MaxRecord);
        try
        {
            Assert.NotSame(first, second);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(first);
            ArrayPool<byte>.Shared.Return(second);
        }
    }

    [Fact]
    public void A_server_waiting_for_client_finished_holds_no_master_secret()
    {
        // docs/protocol.md section 4: every secret is zeroed as soon as the next stage no longer needs it. Once the server
        // has sent ServerFinished it has ClientFinished's expected value and both application secrets, so MS must go then,
        // not when flight 5 arrives (up to the handshake deadline later, or never).
        using var handshake = new RecordedHandshake();
        RecordedHandshake.Step clientFinished = handshake.Steps.Single(s => s.Name == "ClientFinished");
        RecordedHandshake.Step serverFinished = handshake.Steps.Single(s => s.Name == "ServerFinished");

        Assert.False(clientFinished.Receiver.IsClient);
        Assert.False(clientFinished.Receiver.HoldsStageSecretForTest);
        Assert.True(serverFinished.Receiver.HoldsStageSecretForTest); // the client still needs MS to check ServerFinished
    }
}
