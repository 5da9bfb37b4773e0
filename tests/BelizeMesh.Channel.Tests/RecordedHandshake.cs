using BelizeMesh.Channel.Protocol;

namespace BelizeMesh.Channel.Tests;

/// <summary>
/// A real handshake run in memory and kept apart, record by record, for the mutation fuzzers: for every record, the
/// receiver's state just before it, the rest of its flight, the handshake message it carries and (for encrypted
/// ones) a copy of the sender's write protector before it was sealed — so a test can seal a mutated message under the
/// same key and sequence. Snapshots are never advanced; callers clone them.
/// </summary>
internal sealed class RecordedHandshake : IDisposable
{
    public static readonly string[] Names = ["ClientHello", "ServerHello", "ServerCertificate", "ClientKemCiphertext", "ClientCertificate", "ServerKemCiphertext", "ServerFinished", "ClientFinished"];

    private readonly List<HandshakeMachine> _machines = [];
    private readonly List<RecordProtector> _protectors = [];

    /// <summary>One handshake record.</summary>
    public sealed record Step(string Name, HandshakeMachine Receiver, byte[] Record, byte[] RestOfFlight, byte[] Message, RecordProtector? SenderWrite);

    public RecordedHandshake()
    {
        var sent = new List<(byte[] Message, RecordProtector? Write)>();
        void Observe(ContentType type, ReadOnlySpan<byte> message, RecordProtector? write)
        {
            RecordProtector? copy = write?.Clone();
            if (copy is not null)
            {
                _protectors.Add(copy);
            }

            sent.Add((message.ToArray(), copy));
        }

        HandshakeMachine client = HandshakeMachine.CreateClient(TestPki.Instance.ClientOptions(), TestPki.ServerId);
        HandshakeMachine server = HandshakeMachine.CreateServer(TestPki.Instance.ServerOptions());
        _machines.Add(client);
        _machines.Add(server);
        using var output = new PooledBufferWriter();
        client.ObserveSendForTest = Observe;
        client.Start(output);
        client.ObserveSendForTest = null;
        byte[] flight = output.WrittenSpan.ToArray();
        output.Clear();
        var steps = new List<Step>();
        for (int k = 0; !(client.IsComplete && server.IsComplete); k++)
        {
            bool toServer = k % 2 == 0;
            ReadOnlySpan<byte> rest = flight;
            while (!rest.IsEmpty)
            {
                Assert.Equal(RecordParseResult.Complete, RecordFraming.TryParse(rest, out RecordHeader header, out _));
                int length = ProtocolConstants.HeaderLength + header.Length;
                HandshakeMachine snapshot = toServer ? server : client;
                HandshakeMachine next = snapshot.Clone();
                _machines.Add(next);
                (byte[] message, RecordProtector? write) = sent[steps.Count];
                steps.Add(new Step(Names[steps.Count], snapshot, rest[..length].ToArray(), rest[length..].ToArray(), message, write));
                next.ObserveSendForTest = Observe;
                next.ProcessRecord(rest[..length], output);
                next.ObserveSendForTest = null;
                rest = rest[length..];
                if (toServer)
                {
                    server = next;
                }
                else
                {
                    client = next;
                }
            }

            flight = output.WrittenSpan.ToArray();
            output.Clear();
        }

        Assert.Equal(Names.Length, steps.Count);
        Steps = steps;
        var (clientRead, clientWrite) = client.TakeApplicationProtectors();
        var (serverRead, serverWrite) = server.TakeApplicationProtectors();
        clientRead.Dispose();
        serverWrite.Dispose();
        ClientWrite = clientWrite;
        ServerRead = serverRead;
    }

    public IReadOnlyList<Step> Steps { get; }

    /// <summary>The client's application write protector at sequence 0.</summary>
    public RecordProtector ClientWrite { get; }

    /// <summary>The server's application read protector at sequence 0.</summary>
    public RecordProtector ServerRead { get; }

    /// <summary>Feeds whole records as a face would; returns false when the bytes end mid-record. Bytes after the
    /// handshake completes are left for the record layer (<paramref name="consumed"/> says where).</summary>
    public static bool Feed(HandshakeMachine machine, ReadOnlySpan<byte> bytes, PooledBufferWriter output, out int consumed)
    {
        consumed = 0;
        while (!bytes.IsEmpty && !machine.IsComplete)
        {
            switch (RecordFraming.TryParse(bytes, out RecordHeader header, out string? error))
            {
                case RecordParseResult.NeedMoreData:
                    return false;
                case RecordParseResult.Invalid:
                    throw new PqChannelException(machine.ReceivedAnyRecord ? ChannelFailure.ProtocolViolation : ChannelFailure.NotPqChannel, error!);
            }

            int length = ProtocolConstants.HeaderLength + header.Length;
            machine.ProcessRecord(bytes[..length], output);
            bytes = bytes[length..];
            consumed += length;
        }

        return true;
    }

    public void Dispose()
    {
        foreach (HandshakeMachine machine in _machines)
        {
            machine.Dispose();
        }

        foreach (RecordProtector protector in _protectors)
        {
            protector.Dispose();
        }

        ClientWrite.Dispose();
        ServerRead.Dispose();
    }
}
