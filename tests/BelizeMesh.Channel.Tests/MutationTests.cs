using System.Diagnostics;
using BelizeMesh.Channel.Protocol;
using Xunit.Abstractions;

namespace BelizeMesh.Channel.Tests;

/// <summary>
/// Randomized mutation of handshake flights and protected records, fed in memory to the protocol core (no sockets):
/// every corrupted input must end in a <see cref="PqChannelException"/> (or, for a no-op mutation, the normal result),
/// never another exception, a completed handshake or delivered plaintext. 100,000 cases by default; set
/// <c>BELIZEMESH_CHANNEL_FUZZ_CASES</c> for a longer run and <c>BELIZEMESH_CHANNEL_FUZZ_SEED</c> to replay one.
/// </summary>
public sealed class MutationTests(ITestOutputHelper output)
{
    private static readonly byte[][] s_samplePlaintexts = [[], [0x42], new byte[100], new byte[1500], new byte[ProtocolConstants.MaxPlaintext]];

    [Fact]
    public void Corrupted_handshake_and_record_bytes_only_ever_raise_typed_failures()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("BELIZEMESH_CHANNEL_FUZZ_CASES"), out int c) ? c : 100_000;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("BELIZEMESH_CHANNEL_FUZZ_SEED"), out int s) ? s : Environment.TickCount;
        output.WriteLine($"seed {seed}, {cases} cases");
        var random = new Random(seed);

        var (flights, receivers, clientWrite, serverRead) = RecordHandshake();
        byte[][] records = SealSamples(clientWrite);
        using var sink = new PooledBufferWriter();
        byte[] plaintext = new byte[ProtocolConstants.MaxRecord];
        var rejections = new Dictionary<ChannelFailure, int>();
        int[] perFlight = new int[flights.Count];
        double[] msPerFlight = new double[flights.Count + 1];
        int recordCases = 0, noOps = 0;
        long allocatedInRecordCases = 0;
        var clock = Stopwatch.StartNew();

        for (int i = 0; i < cases; i++)
        {
            bool handshakeCase = random.Next(100) < 45;
            int flight = handshakeCase ? PickFlight(random) : -1;
            byte[] original = handshakeCase ? flights[flight] : records[random.Next(records.Length)];
            byte[] mutated = Mutate(original, random, out string mutation);
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            long caseStarted = Stopwatch.GetTimestamp();
            try
            {
                if (handshakeCase)
                {
                    perFlight[flight]++;
                    using HandshakeMachine receiver = receivers[flight].Clone();
                    FeedHandshake(receiver, mutated, sink, out int consumed);
                    if (receiver.IsComplete && !mutated.AsSpan(0, consumed).SequenceEqual(original))
                    {
                        Assert.Fail($"case {i} (seed {seed}): flight {flight} mutated by {mutation} still completed the handshake");
                    }
                }
                else
                {
                    recordCases++;
                    using RecordProtector read = serverRead.Clone();
                    bool opened = OpenRecord(read, mutated, plaintext);
                    if (opened && !(mutated.Length >= original.Length && mutated.AsSpan(0, original.Length).SequenceEqual(original)))
                    {
                        Assert.Fail($"case {i} (seed {seed}): record mutated by {mutation} was accepted");
                    }
                }

                noOps++;
            }
            catch (PqChannelException ex)
            {
                rejections[ex.Reason] = rejections.GetValueOrDefault(ex.Reason) + 1;
            }
            catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"case {i} (seed {seed}): {(handshakeCase ? $"flight {flight}" : "record")} mutated by {mutation} threw {ex.GetType().Name}, not PqChannelException: {ex}");
            }
            finally
            {
                sink.Clear();
            }

            msPerFlight[handshakeCase ? flight : flights.Count] += Stopwatch.GetElapsedTime(caseStarted).TotalMilliseconds;
            if (!handshakeCase)
            {
                allocatedInRecordCases += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            }
        }

        output.WriteLine($"{cases} cases in {clock.Elapsed.TotalSeconds:0.00} s; handshake cases per flight: {string.Join(", ", perFlight)}; record cases: {recordCases}; accepted unchanged/no-op: {noOps}");
        output.WriteLine("time per flight (ms, last = records): " + string.Join(", ", msPerFlight.Select(t => t.ToString("0"))));
        output.WriteLine("rejections: " + string.Join(", ", rejections.OrderBy(r => r.Key).Select(r => $"{r.Key}={r.Value}")));
        double perRecordCase = recordCases == 0 ? 0 : (double)allocatedInRecordCases / recordCases;
        output.WriteLine($"allocated per record case: {perRecordCase:0} bytes");
        Assert.True(perRecordCase < 16 * 1024, $"record cases allocate {perRecordCase:0} bytes each on average; the bound is 16 KiB");
        Assert.True(rejections.Values.Sum() > cases / 2, "most mutations must be rejected");
        foreach (var receiver in receivers)
        {
            receiver.Dispose();
        }

        clientWrite.Dispose();
        serverRead.Dispose();
    }

    private static int PickFlight(Random random) => random.Next(100) switch
    {
        < 4 => 0,   // ClientHello: the server runs ECDH and an encapsulation per case
        < 16 => 1,  // ServerHello + ServerCertificate
        < 44 => 2,  // ClientKemCiphertext + ClientCertificate
        < 72 => 3,  // ServerKemCiphertext + ServerFinished
        _ => 4,     // ClientFinished
    };

    /// <summary>Runs a real handshake in memory, keeping each flight and a snapshot of its receiver just before it.</summary>
    private static (List<byte[]> Flights, List<HandshakeMachine> Receivers, RecordProtector ClientWrite, RecordProtector ServerRead) RecordHandshake()
    {
        using var client = HandshakeMachine.CreateClient(TestPki.Instance.ClientOptions(), TestPki.ServerId);
        using var server = HandshakeMachine.CreateServer(TestPki.Instance.ServerOptions());
        using var output = new PooledBufferWriter();
        var flights = new List<byte[]>();
        var receivers = new List<HandshakeMachine>();
        client.Start(output);
        flights.Add(output.WrittenSpan.ToArray());
        output.Clear();
        for (int k = 0; !(client.IsComplete && server.IsComplete); k++)
        {
            HandshakeMachine receiver = k % 2 == 0 ? server : client;
            receivers.Add(receiver.Clone());
            Assert.True(FeedHandshake(receiver, flights[k], output, out _));
            if (output.WrittenCount > 0)
            {
                flights.Add(output.WrittenSpan.ToArray());
                output.Clear();
            }
        }

        Assert.Equal(5, flights.Count);
        var (clientRead, clientWrite) = client.TakeApplicationProtectors();
        var (serverRead, serverWrite) = server.TakeApplicationProtectors();
        clientRead.Dispose();
        serverWrite.Dispose();
        return (flights, receivers, clientWrite, serverRead);
    }

    /// <summary>Seals data, key_update and close_notify records, each at sequence 0 of the client's application key.</summary>
    private static byte[][] SealSamples(RecordProtector write)
    {
        var records = new List<byte[]>();
        foreach (byte[] sample in s_samplePlaintexts)
        {
            using RecordProtector w = write.Clone();
            byte[] record = new byte[RecordProtector.SealedLength(sample.Length)];
            w.Seal(ContentType.ApplicationData, sample, record);
            records.Add(record);
        }

        using (RecordProtector w = write.Clone())
        {
            byte[] record = new byte[RecordProtector.SealedLength(0)];
            w.Seal(ContentType.KeyUpdate, [], record);
            records.Add(record);
        }

        using (RecordProtector w = write.Clone())
        {
            byte[] record = new byte[RecordProtector.SealedLength(1)];
            RecordLayer.SealCloseNotify(w, record);
            records.Add(record);
        }

        return [.. records];
    }

    /// <summary>Feeds whole records as a face would; returns false when the bytes end mid-record. Bytes after the
    /// handshake completes are left for the record layer (<paramref name="consumed"/> says where).</summary>
    private static bool FeedHandshake(HandshakeMachine machine, ReadOnlySpan<byte> bytes, PooledBufferWriter output, out int consumed)
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

    /// <summary>Opens the first record of <paramref name="bytes"/>; returns true when it was accepted.</summary>
    private static bool OpenRecord(RecordProtector read, ReadOnlySpan<byte> bytes, byte[] plaintext)
    {
        switch (RecordFraming.TryParse(bytes, out RecordHeader header, out string? error))
        {
            case RecordParseResult.NeedMoreData:
                return false;
            case RecordParseResult.Invalid:
                throw new PqChannelException(ChannelFailure.ProtocolViolation, error!);
        }

        RecordLayer.Open(read, bytes[..(ProtocolConstants.HeaderLength + header.Length)], plaintext, out _);
        return true;
    }

    private static byte[] Mutate(byte[] original, Random random, out string mutation)
    {
        byte[] m = (byte[])original.Clone();
        int position = random.Next(m.Length);
        switch (random.Next(9))
        {
            case 0:
                m[position] ^= (byte)(1 << random.Next(8));
                mutation = $"bit flip at {position}";
                return m;
            case 1:
                m[position] = (byte)random.Next(256);
                mutation = $"byte set at {position}";
                return m;
            case 2:
                mutation = $"truncation to {position}";
                return m[..position];
            case 3:
                byte[] tail = new byte[random.Next(1, 33)];
                random.NextBytes(tail);
                mutation = $"{tail.Length} bytes appended";
                return [.. m, .. tail];
            case 4:
                int headerByte = random.Next(ProtocolConstants.HeaderLength);
                m[headerByte] ^= (byte)random.Next(1, 256);
                mutation = $"header byte {headerByte} changed";
                return m;
            case 5:
                mutation = $"byte inserted at {position}";
                return [.. m[..position], (byte)random.Next(256), .. m[position..]];
            case 6:
                int count = Math.Min(random.Next(1, 64), m.Length - position);
                mutation = $"{count} bytes deleted at {position}";
                return [.. m[..position], .. m[(position + count)..]];
            case 7:
                mutation = "flight replayed twice";
                return [.. m, .. m];
            default:
                int length = random.Next(65536);
                m[3] = (byte)(length >> 8);
                m[4] = (byte)length;
                mutation = $"length field set to {length}";
                return m;
        }
    }
}
