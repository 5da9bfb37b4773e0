using System.Buffers;
using System.IO.Pipelines;
using BelizeMesh.Channel.Middleware;
using BelizeMesh.Channel.Protocol;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;

namespace BelizeMesh.Channel.Tests;

/// <summary>The Kestrel face's record pipe on its own, over in-memory transport pipes (no sockets, no scheduling races).</summary>
public sealed class DuplexPipeTests
{
    private static readonly byte[] s_clientSecret = [.. Enumerable.Range(1, 48).Select(i => (byte)i)];
    private static readonly byte[] s_serverSecret = [.. Enumerable.Range(101, 48).Select(i => (byte)i)];

    [Fact]
    public async Task An_application_that_ends_after_a_tampered_record_gets_no_close_notify_sent_for_it()
    {
        var (channel, toServer, fromServer) = Start();

        // The peer sends one data record whose tag was altered.
        using var peerWrite = new RecordProtector(s_clientSecret);
        byte[] record = new byte[RecordLayer.MaxSealedLength(4)];
        int length = RecordLayer.SealData(peerWrite, "ping"u8, record);
        record[length - 1] ^= 0x01;
        await toServer.Writer.WriteAsync(record.AsMemory(0, length));

        // The application learns of the failure through its input, then finishes, completing its output: the usual
        // reaction of a connection handler. That must not reach the peer as an authenticated, clean end of stream.
        PipeReader input = channel.Application.Input;
        await Assert.ThrowsAsync<PqChannelException>(async () => await input.ReadAsync());
        await channel.Application.Output.CompleteAsync();
        await channel.DisposeAsync();
        await fromServer.Writer.CompleteAsync();

        ReadResult sent = await fromServer.Reader.ReadAsync();
        Assert.True(sent.Buffer.IsEmpty, $"the pipe sent {sent.Buffer.Length} bytes (a close_notify) after the channel failed");
    }

    [Fact]
    public async Task An_application_that_finishes_normally_sends_close_notify()
    {
        var (channel, toServer, fromServer) = Start();

        await channel.Application.Output.CompleteAsync();
        await channel.DisposeAsync();
        await fromServer.Writer.CompleteAsync();

        ReadResult sent = await fromServer.Reader.ReadAsync();
        byte[] bytes = sent.Buffer.ToArray();
        using var peerRead = new RecordProtector(s_serverSecret);
        Assert.Equal(0, RecordLayer.Open(peerRead, bytes, new byte[16], out RecordKind kind));
        Assert.Equal(RecordKind.Close, kind);
    }

    /// <summary>A server-side record pipe over in-memory transport pipes: write the peer's bytes into <c>ToServer</c>,
    /// read what the server sent from <c>FromServer</c>. Aborting the context does not touch the pipes.</summary>
    private static (PqChannelDuplexPipe Channel, Pipe ToServer, Pipe FromServer) Start()
    {
        var toServer = new Pipe();
        var fromServer = new Pipe();
        var transport = new Duplex(toServer.Reader, fromServer.Writer);
        var context = new DefaultConnectionContext("test", transport, new Duplex(fromServer.Reader, toServer.Writer));
        var channel = new PqChannelDuplexPipe(context, transport, new RecordProtector(s_clientSecret), new RecordProtector(s_serverSecret), metrics: null, NullLogger.Instance);
        return (channel, toServer, fromServer);
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
