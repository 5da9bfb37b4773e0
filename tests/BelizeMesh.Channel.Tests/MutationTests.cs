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

        using var handshake = new RecordedHandshake();
        IReadOnlyList<RecordedHandshake.Step> steps = handshake.Steps;
        RecordProtector serverRead = handshake.ServerRead;
        byte[][] records = SealSamples(handshake.ClientWrite);
        using var sink = new PooledBufferWriter();
        byte[] plaintext = new byte[ProtocolConstants.MaxRecord];
        var rejections = new Dictionary<ChannelFailure, int>();
        int[] perStep = new int[steps.Count];
        double[] msPerStep = new double[steps.Count + 1];
        int recordCases = 0, accepted = 0;
        long allocatedInRecordCases = 0;
        RecordProtector read = serverRead.Clone();
        var clock = Stopwatch.StartNew();

        for (int i = 0; i < cases; i++)
        {
            int step = PickStep(random);
            bool handshakeCase = step >= 0;
            byte[] original = handshakeCase ? steps[step].Record : records[random.Next(records.Length)];
            byte[] mutated = Mutate(original, random, out string mutation);
            string what = handshakeCase ? steps[step].Name : "record";
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            long caseStarted = Stopwatch.GetTimestamp();
            try
            {
                if (handshakeCase)
                {
                    perStep[step]++;
                    using HandshakeMachine receiver = steps[step].Receiver.Clone();
                    byte[] fed = [.. mutated, .. steps[step].RestOfFlight];
                    RecordedHandshake.Feed(receiver, fed, sink, out int consumed);
                    byte[] genuine = [.. original, .. steps[step].RestOfFlight];
                    if (receiver.IsComplete && !(consumed <= genuine.Length && fed.AsSpan(0, consumed).SequenceEqual(genuine.AsSpan(0, consumed))))
                    {
                        Assert.Fail($"case {i} (seed {seed}): {what} mutated by {mutation} still completed the handshake");
                    }
                }
                else
                {
                    recordCases++;
                    bool opened = OpenRecord(read, mutated, plaintext);
                    if (opened)
                    {
                        if (!(mutated.Length >= original.Length && mutated.AsSpan(0, original.Length).SequenceEqual(original)))
                        {
                            Assert.Fail($"case {i} (seed {seed}): record mutated by {mutation} was accepted");
                        }

                        read.Dispose();
                        read = serverRead.Clone(); // back to sequence 0 and the first key
                    }
                }

                accepted++;
            }
            catch (PqChannelException ex)
            {
                rejections[ex.Reason] = rejections.GetValueOrDefault(ex.Reason) + 1;
            }
            catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"case {i} (seed {seed}): {what} mutated by {mutation} threw {ex.GetType().Name}, not PqChannelException: {ex}");
            }
            finally
            {
                sink.Clear();
            }

            msPerStep[handshakeCase ? step : steps.Count] += Stopwatch.GetElapsedTime(caseStarted).TotalMilliseconds;
            if (!handshakeCase)
            {
                allocatedInRecordCases += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            }
        }

        output.WriteLine($"{cases} cases in {clock.Elapsed.TotalSeconds:0.00} s; record cases: {recordCases}; accepted (no-op mutation, unauthenticated hello field, or incomplete): {accepted}");
        for (int k = 0; k < steps.Count; k++)
        {
            output.WriteLine($"  {steps[k].Name,-22} {perStep[k],6} cases {msPerStep[k],8:0} ms");
        }

        output.WriteLine($"  {"application records",-22} {recordCases,6} cases {msPerStep[^1],8:0} ms");
        output.WriteLine("rejections: " + string.Join(", ", rejections.OrderBy(r => r.Key).Select(r => $"{r.Key}={r.Value}")));
        double perRecordCase = recordCases == 0 ? 0 : (double)allocatedInRecordCases / recordCases;
        output.WriteLine($"allocated per record case: {perRecordCase:0} bytes");
        Assert.True(perRecordCase < 8 * 1024, $"record cases allocate {perRecordCase:0} bytes each on average; the bound is 8 KiB");
        Assert.True(rejections.Values.Sum() > cases / 2, "most mutations must be rejected");

        read.Dispose();
    }

    /// <summary>Which handshake record to mutate (index into the 8 steps), or -1 for an application record.
    /// The two hellos are unauthenticated until Finished, so each of their cases pays for real ECDH and ML-KEM work: few.</summary>
    private static int PickStep(Random random)
    {
        int roll = random.Next(1000);
        return roll switch
        {
            < 3 => 0,                       // ClientHello
            < 6 => 1,                       // ServerHello
            < 400 => 2 + (roll - 6) % 6,    // the six encrypted handshake records
            _ => -1,
        };
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
                mutation = "record replayed twice";
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
