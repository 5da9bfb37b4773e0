using System.Buffers;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Channel.Protocol;
using BelizeMesh.Identity;

namespace BelizeMesh.Channel.Tests;

/// <summary>
/// A handshake waiting for its peer's next flight (a half-open handshake) holds no record scratch and no flight buffer:
/// both are rented when a record is processed or a flight written, and returned once it is sent. The checks use the shared pool's per-thread slot: an array
/// returned on this thread is the next one rented on it at that size unless something else took it in between.
/// </summary>
public sealed class HandshakeLazyBufferTests
{
    private static readonly CertificateAuthority s_ca = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=Lazy Root,O=BelizeMesh" });
    private static readonly MeshCertificateVerifier s_verifier = new(new CertificateValidator(s_ca.TrustBundle, new CertificateValidatorOptions()));

    [Fact]
    public void A_server_handshake_waiting_for_the_client_hello_rents_no_record_buffer()
    {
        using IssuedCertificate issued = s_ca.Issue(new ServiceCertificateRequest { Service = "nawal", Namespace = "belizechain" });
        ChannelCredentials credentials = ChannelCredentials.Create(issued.Certificate.RawData, issued.PrivateKey, s_verifier);
        var options = new PqChannelOptions { Credentials = credentials, Verifier = s_verifier };

        byte[] parked = ArrayPool<byte>.Shared.Rent(ProtocolConstants.MaxRecord);
        ArrayPool<byte>.Shared.Return(parked);
        HandshakeMachine machine = HandshakeMachine.CreateServer(options);
        byte[] next = ArrayPool<byte>.Shared.Rent(ProtocolConstants.MaxRecord);
        try
        {
            Assert.Same(parked, next);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(next);
            machine.Dispose();
        }
    }

    [Fact]
    public void A_flight_buffer_rents_nothing_until_the_first_write_and_then_at_least_its_initial_capacity()
    {
        byte[] parked = ArrayPool<byte>.Shared.Rent(16 * 1024);
        ArrayPool<byte>.Shared.Return(parked);
        using var writer = new PooledBufferWriter();
        byte[] next = ArrayPool<byte>.Shared.Rent(16 * 1024);
        ArrayPool<byte>.Shared.Return(next);
        Assert.Same(parked, next);
        Assert.Equal(0, writer.WrittenCount);
        Assert.True(writer.WrittenMemory.IsEmpty);

        Span<byte> span = writer.GetSpan(10);
        Assert.True(span.Length >= 16 * 1024, $"first span {span.Length} bytes, expected the initial capacity");
        span[..3].Fill(7);
        writer.Advance(3);
        writer.GetSpan(40 * 1024)[0] = 9; // grows, keeping what was written
        writer.Advance(1);
        Assert.Equal(new byte[] { 7, 7, 7, 9 }, writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void A_flight_buffer_returns_its_buffer_to_the_pool_when_cleared_after_a_flight_is_sent()
    {
        using var writer = new PooledBufferWriter();
        Span<byte> span = writer.GetSpan(100);
        span[..100].Fill(5);
        writer.Advance(100);
        writer.Clear();
        Assert.Equal(0, writer.WrittenCount);

        byte[] next = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            Assert.Equal(0, next[0]); // the writer zeroes what it wrote before it gives the buffer back
            Assert.Equal(0, next[99]);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(next);
        }

        writer.GetSpan(1)[0] = 1; // writes again after a clear
        writer.Advance(1);
        Assert.Equal(new byte[] { 1 }, writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void A_flight_buffer_disposed_before_any_write_is_harmless_twice()
    {
        var writer = new PooledBufferWriter();
        writer.Dispose();
        writer.Dispose();
        Assert.Equal(0, writer.WrittenCount);
    }
}
