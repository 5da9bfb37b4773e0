using System.Diagnostics;
using System.Security.Cryptography;
using BelizeMesh.Channel.Protocol;
using Xunit.Abstractions;

namespace BelizeMesh.Channel.Tests;

/// <summary>
/// Structure-aware fuzzing of the channel (issue 14): every case is a <em>valid</em> handshake message or record with
/// one field changed the way a hostile peer would change it — a length prefix that disagrees with its vector, a vector
/// shrunk or grown with its prefix kept consistent, a P-256 share off the curve, an ML-KEM key with a coefficient ≥ q,
/// a certificate with one DER node's tag, length or content changed, a wrong message type, a dropped or duplicated
/// field, trailing bytes — then framed or <em>re-sealed under the sender's real key and sequence</em>, so the mutation
/// reaches the message parsers and certificate validation instead of stopping at the AEAD tag. Application-phase
/// records are re-sealed the same way with wrong content types, non-empty key_updates, bad alerts and skipped or
/// repeated sequence numbers. Invariants: only <see cref="PqChannelException"/> ever escapes, a changed message never
/// completes a handshake, a changed record never delivers data, and no case allocates without bound.
/// 1,000,000 cases by default (<c>BELIZEMESH_CHANNEL_FUZZ_CASES</c> to change, <c>BELIZEMESH_CHANNEL_FUZZ_SEED</c> to replay).
/// </summary>
public sealed class StructuredFuzzTests(ITestOutputHelper output)
{
    private enum Kind
    {
        Type,       // the message type byte
        Len8,       // a one-byte length prefix
        Len16,      // a two-byte length prefix
        Bytes,      // opaque bytes (random, key, ciphertext, MAC)
        Ecdh,       // an uncompressed P-256 point
        KemKey,     // an ML-KEM-1024 encapsulation key
        Der,        // a certificate
    }

    private readonly record struct Field(int Offset, int Length, Kind Kind, int Prefix = -1);

    [Fact]
    public void Structurally_mutated_handshake_messages_and_records_only_ever_raise_typed_failures()
    {
        int cases = int.TryParse(Environment.GetEnvironmentVariable("BELIZEMESH_CHANNEL_FUZZ_CASES"), out int c) ? c : 1_000_000;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("BELIZEMESH_CHANNEL_FUZZ_SEED"), out int s) ? s : Environment.TickCount;
        output.WriteLine($"seed {seed}, {cases} cases");
        var random = new Random(seed);
        using var handshake = new RecordedHandshake();
        IReadOnlyList<RecordedHandshake.Step> steps = handshake.Steps;
        Field[][] layouts = [.. steps.Select(step => Layout(step.Name, step.Message))];
        using var sink = new PooledBufferWriter();
        byte[] record = new byte[RecordProtector.SealedLength(ProtocolConstants.MaxPlaintext) + 64];
        byte[] plaintext = new byte[ProtocolConstants.MaxRecord];
        var rejections = new Dictionary<ChannelFailure, int>();
        var perMutation = new Dictionary<string, int>();
        int[] perStep = new int[steps.Count + 1];
        int accepted = 0;
        long allocated = 0;
        var clock = Stopwatch.StartNew();

        for (int i = 0; i < cases; i++)
        {
            int step = PickStep(random);
            string mutation;
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                if (step >= 0)
                {
                    RecordedHandshake.Step original = steps[step];
                    byte[] message = MutateMessage(original.Message, layouts[step], random, out mutation);
                    int length = Frame(original, message, record);
                    using HandshakeMachine receiver = original.Receiver.Clone();
                    byte[] fed = [.. record.AsSpan(0, length), .. original.RestOfFlight];
                    RecordedHandshake.Feed(receiver, fed, sink, out _);
                    if (receiver.IsComplete && !message.AsSpan().SequenceEqual(original.Message))
                    {
                        Assert.Fail($"case {i} (seed {seed}): {original.Name} mutated by {mutation} completed the handshake");
                    }
                }
                else
                {
                    int length = MutateRecord(handshake, random, record, out mutation, out bool genuine);
                    using RecordProtector read = handshake.ServerRead.Clone();
                    RecordLayer.Open(read, record.AsSpan(0, length), plaintext, out RecordKind kind);
                    if (!genuine)
                    {
                        Assert.Fail($"case {i} (seed {seed}): record {mutation} was accepted as {kind}");
                    }
                }

                accepted++;
            }
            catch (PqChannelException ex)
            {
                rejections[ex.Reason] = rejections.GetValueOrDefault(ex.Reason) + 1;
                mutation = "";
            }
            catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"case {i} (seed {seed}): step {(step >= 0 ? steps[step].Name : "record")} threw {ex.GetType().Name}, not PqChannelException: {ex}");
                throw;
            }
            finally
            {
                sink.Clear();
            }

            perStep[step >= 0 ? step : steps.Count]++;
            allocated += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        }

        output.WriteLine($"{cases} cases in {clock.Elapsed.TotalSeconds:0.00} s, {allocated / Math.Max(1, cases)} bytes allocated per case; accepted (no-op or unauthenticated field): {accepted}");
        for (int k = 0; k < steps.Count; k++)
        {
            output.WriteLine($"  {steps[k].Name,-22} {perStep[k],7} cases");
        }

        output.WriteLine($"  {"application records",-22} {perStep[^1],7} cases");
        output.WriteLine("rejections: " + string.Join(", ", rejections.OrderBy(r => r.Key).Select(r => $"{r.Key}={r.Value}")));
        Assert.True(rejections.Values.Sum() > cases / 2, "most mutations must be rejected");
        // The parsers and certificate validation must be reached, not just the AEAD tag: these come from inside.
        Assert.Contains(ChannelFailure.ProtocolViolation, rejections.Keys);
        Assert.Contains(ChannelFailure.BadCertificate, rejections.Keys);
        Assert.True(allocated / Math.Max(1, cases) < 64 * 1024, $"cases allocate {allocated / cases} bytes each on average");
    }

    /// <summary>Which handshake record to mutate, or -1 for an application record. Hellos cost real ECDH and ML-KEM
    /// work per case and certificates an ML-DSA-87 verification when they still parse: fewer of those.</summary>
    private static int PickStep(Random random)
    {
        int roll = random.Next(1000);
        return roll switch
        {
            < 2 => 0,                       // ClientHello
            < 4 => 1,                       // ServerHello
            < 34 => roll < 19 ? 2 : 4,      // the two certificates
            < 500 => (roll % 4) switch { 0 => 3, 1 => 5, 2 => 6, _ => 7 }, // KEM ciphertexts and Finished
            _ => -1,
        };
    }

    /// <summary>The fields of one message of the given type (docs/protocol.md section 3).</summary>
    private static Field[] Layout(string name, byte[] m)
    {
        var fields = new List<Field> { new(0, 1, Kind.Type) };
        int n = 1;
        void Vector8(Kind kind)
        {
            fields.Add(new Field(n, 1, Kind.Len8));
            int length = m[n];
            fields.Add(new Field(n + 1, length, kind, Prefix: fields.Count - 1));
            n += 1 + length;
        }

        void Vector16(Kind kind)
        {
            fields.Add(new Field(n, 2, Kind.Len16));
            int length = (m[n] << 8) | m[n + 1];
            fields.Add(new Field(n + 2, length, kind, Prefix: fields.Count - 1));
            n += 2 + length;
        }

        void Fixed(int length)
        {
            fields.Add(new Field(n, length, Kind.Bytes));
            n += length;
        }

        switch (name)
        {
            case "ClientHello":
                Vector8(Kind.Bytes);
                Vector8(Kind.Bytes);
                Fixed(ProtocolConstants.RandomLength);
                Vector16(Kind.Ecdh);
                Vector16(Kind.KemKey);
                break;
            case "ServerHello":
                Fixed(2);
                Fixed(2);
                Fixed(ProtocolConstants.RandomLength);
                Vector16(Kind.Ecdh);
                Vector16(Kind.Bytes);
                break;
            case "ServerCertificate" or "ClientCertificate":
                Vector16(Kind.Der);
                break;
            case "ClientKemCiphertext" or "ServerKemCiphertext":
                Vector16(Kind.Bytes);
                break;
            default:
                Fixed(ProtocolConstants.HashLength);
                break;
        }

        Assert.Equal(m.Length, n);
        return [.. fields];
    }

    private static byte[] MutateMessage(byte[] message, Field[] fields, Random random, out string mutation)
    {
        Field field = fields[random.Next(fields.Length)];
        byte[] m = (byte[])message.Clone();
        switch (random.Next(8))
        {
            case 0 when field.Kind is Kind.Type:
                byte[] types = [1, 2, 11, 12, 13, 14, 20, 21, 0, 255];
                m[0] = types[random.Next(types.Length)];
                mutation = $"type {m[0]}";
                return m;
            case 0 or 1 when field.Kind is Kind.Len8 or Kind.Len16:
            {
                int actual = field.Kind == Kind.Len8 ? m[field.Offset] : (m[field.Offset] << 8) | m[field.Offset + 1];
                int max = field.Kind == Kind.Len8 ? 0xFF : 0xFFFF;
                int[] values = [0, 1, actual - 1, actual + 1, max, random.Next(max + 1)];
                int value = Math.Clamp(values[random.Next(values.Length)], 0, max);
                WriteLength(m, field, value);
                mutation = $"length prefix at {field.Offset}: {actual} → {value}";
                return m;
            }

            case 2 when field.Prefix >= 0:
            {
                // Resize the vector and keep its prefix consistent: well-formed framing, wrong size.
                int delta = random.Next(2) == 0 ? -random.Next(1, Math.Max(2, field.Length + 1)) : random.Next(1, 64);
                int newLength = Math.Max(0, field.Length + delta);
                if (newLength > (fields[field.Prefix].Kind == Kind.Len8 ? 0xFF : 0xFFFF))
                {
                    newLength = field.Length;
                }

                byte[] content = new byte[newLength];
                message.AsSpan(field.Offset, Math.Min(field.Length, newLength)).CopyTo(content);
                random.NextBytes(content.AsSpan(Math.Min(field.Length, newLength)));
                byte[] resized = [.. message.AsSpan(0, field.Offset), .. content, .. message.AsSpan(field.Offset + field.Length)];
                WriteLength(resized, fields[field.Prefix], newLength);
                mutation = $"vector at {field.Offset} resized {field.Length} → {newLength}";
                return resized;
            }

            case 3 when field.Kind == Kind.Ecdh && field.Length == ProtocolConstants.EcdhShareLength:
            {
                Span<byte> point = m.AsSpan(field.Offset, field.Length);
                switch (random.Next(4))
                {
                    case 0: point.Clear(); mutation = "P-256 share all zero"; break;
                    case 1: point[0] = 0x02; mutation = "P-256 share marked compressed"; break;
                    case 2: point[^1] ^= 1; mutation = "P-256 share off the curve"; break;
                    default: point[1..].Fill(0xFF); mutation = "P-256 share with coordinates ≥ p"; break;
                }

                return m;
            }

            case 3 when field.Kind == Kind.KemKey:
            {
                // FIPS 203 section 7.2 modulus check: a 12-bit coefficient ≥ q = 3329.
                int coefficient = random.Next(field.Length * 2 / 3 - 1);
                int at = field.Offset + coefficient / 2 * 3;
                if (coefficient % 2 == 0)
                {
                    m[at] = 0xFF;
                    m[at + 1] |= 0x0F;
                }
                else
                {
                    m[at + 1] |= 0xF0;
                    m[at + 2] = 0xFF;
                }

                mutation = $"ML-KEM key coefficient {coefficient} set ≥ q";
                return m;
            }

            case 3 or 4 when field.Kind == Kind.Der:
                return MutateDer(message, field, random, out mutation);
            case 5 when field.Length > 0:
            {
                Span<byte> content = m.AsSpan(field.Offset, field.Length);
                switch (random.Next(4))
                {
                    case 0: content.Clear(); mutation = $"field at {field.Offset} zeroed"; break;
                    case 1: content.Fill(0xFF); mutation = $"field at {field.Offset} all ones"; break;
                    case 2: random.NextBytes(content); mutation = $"field at {field.Offset} random"; break;
                    default: content[random.Next(content.Length)] ^= (byte)(1 << random.Next(8)); mutation = $"bit flip in field at {field.Offset}"; break;
                }

                return m;
            }

            case 6:
            {
                int end = field.Offset + field.Length;
                bool duplicate = random.Next(2) == 0 && m.Length + field.Length <= ProtocolConstants.MaxPlaintext - 64;
                mutation = duplicate ? $"field at {field.Offset} duplicated" : $"field at {field.Offset} dropped";
                return duplicate
                    ? [.. m.AsSpan(0, end), .. m.AsSpan(field.Offset, field.Length), .. m.AsSpan(end)]
                    : [.. m.AsSpan(0, field.Offset), .. m.AsSpan(end)];
            }

            default:
            {
                if (random.Next(2) == 0)
                {
                    byte[] tail = new byte[random.Next(1, 33)];
                    random.NextBytes(tail);
                    mutation = $"{tail.Length} trailing bytes";
                    return [.. m, .. tail];
                }

                int cut = field.Offset + random.Next(field.Length + 1);
                mutation = $"message cut at {cut}";
                return m[..cut];
            }
        }
    }

    private static void WriteLength(byte[] m, Field prefix, int value)
    {
        if (prefix.Kind == Kind.Len8)
        {
            m[prefix.Offset] = (byte)value;
        }
        else
        {
            m[prefix.Offset] = (byte)(value >> 8);
            m[prefix.Offset + 1] = (byte)value;
        }
    }

    /// <summary>One DER node of the certificate (tag, length or content) changed; lengths of its parents kept.</summary>
    private static byte[] MutateDer(byte[] message, Field field, Random random, out string mutation)
    {
        var nodes = new List<(int Start, int HeaderLength, int ContentLength)>();
        CollectNodes(message, field.Offset, field.Offset + field.Length, nodes, depth: 0);
        var (start, headerLength, contentLength) = nodes[random.Next(nodes.Count)];
        byte[] m = (byte[])message.Clone();
        switch (random.Next(5))
        {
            case 0:
                byte[] tags = [0x02, 0x03, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x16, 0x17, 0x18, 0x30, 0x31, 0xA0, 0xA3, 0x86, 0x1F, 0x00];
                m[start] = tags[random.Next(tags.Length)];
                mutation = $"DER tag at {start} → 0x{m[start]:x2}";
                return m;
            case 1:
                // Length byte(s): off by one, indefinite (0x80, not DER), or a long form claiming more than there is.
                int at = start + 1;
                byte[] choices = [(byte)(m[at] + 1), (byte)(m[at] - 1), 0x80, 0x84, 0xFF];
                m[at] = choices[random.Next(choices.Length)];
                mutation = $"DER length at {at} → 0x{m[at]:x2}";
                return m;
            case 2 when contentLength > 0:
                m[start + headerLength + random.Next(contentLength)] ^= (byte)(1 << random.Next(8));
                mutation = $"bit flip in DER content of node at {start}";
                return m;
            case 3 when contentLength > 0:
                random.NextBytes(m.AsSpan(start + headerLength, Math.Min(contentLength, 64)));
                mutation = $"DER content of node at {start} randomised";
                return m;
            default:
                // Re-sign nothing: swap two sibling-sized runs so the structure parses but means something else.
                var (otherStart, otherHeader, otherContent) = nodes[random.Next(nodes.Count)];
                int length = Math.Min(contentLength, otherContent);
                message.AsSpan(otherStart + otherHeader, length).CopyTo(m.AsSpan(start + headerLength, length));
                mutation = $"DER content of node at {start} replaced by node at {otherStart}'s";
                return m;
        }
    }

    private static void CollectNodes(byte[] der, int offset, int end, List<(int, int, int)> nodes, int depth)
    {
        while (offset + 2 <= end)
        {
            byte tag = der[offset];
            int lengthByte = der[offset + 1];
            int header = 2, length;
            if (lengthByte < 0x80)
            {
                length = lengthByte;
            }
            else
            {
                int count = lengthByte & 0x7F;
                if (count is 0 or > 3 || offset + 2 + count > end)
                {
                    return;
                }

                length = 0;
                for (int k = 0; k < count; k++)
                {
                    length = (length << 8) | der[offset + 2 + k];
                }

                header += count;
            }

            if (offset + header + length > end)
            {
                return;
            }

            nodes.Add((offset, header, length));
            if ((tag & 0x20) != 0 && depth < 12)
            {
                CollectNodes(der, offset + header, offset + header + length, nodes, depth + 1);
            }
            else if (tag == 0x03 && length > 1 && der[offset + header] == 0 && depth < 12)
            {
                CollectNodes(der, offset + header + 1, offset + header + length, nodes, depth + 1); // BIT STRING wrapping DER
            }
            else if (tag == 0x04 && depth < 12)
            {
                CollectNodes(der, offset + header, offset + header + length, nodes, depth + 1); // OCTET STRING wrapping DER (extensions)
            }

            offset += header + length;
        }
    }

    /// <summary>Frames a hello or seals a handshake message under a copy of the sender's protector; returns the record length.</summary>
    private static int Frame(RecordedHandshake.Step step, byte[] message, byte[] record)
    {
        if (message.Length > ProtocolConstants.MaxPlaintext)
        {
            message = message[..ProtocolConstants.MaxPlaintext];
        }

        if (step.SenderWrite is null)
        {
            new RecordHeader(ContentType.Hello, message.Length).Write(record);
            message.CopyTo(record, ProtocolConstants.HeaderLength);
            return ProtocolConstants.HeaderLength + message.Length;
        }

        using RecordProtector write = step.SenderWrite.Clone();
        return write.Seal(ContentType.Handshake, message, record);
    }

    /// <summary>A record sealed with the client's real application key, but wrong in one respect (or, rarely, genuine).</summary>
    private static int MutateRecord(RecordedHandshake handshake, Random random, byte[] record, out string mutation, out bool genuine)
    {
        using RecordProtector write = handshake.ClientWrite.Clone();
        genuine = false;
        Span<byte> body = stackalloc byte[64];
        random.NextBytes(body);
        switch (random.Next(8))
        {
            case 0:
                byte[] types = [0x00, (byte)ContentType.Hello, (byte)ContentType.Handshake, 0x06, 0x17, 0x80, 0xFF];
                byte type = types[random.Next(types.Length)];
                mutation = $"sealed as content type 0x{type:x2}";
                return write.Seal((ContentType)type, body[..random.Next(body.Length)], record);
            case 1:
                mutation = "key_update with a body";
                write.Seal(ContentType.ApplicationData, body[..1], record); // so the key has protected something
                return write.Seal(ContentType.KeyUpdate, body[..random.Next(1, body.Length)], record);
            case 2:
                mutation = "key_update under an unused key";
                return write.Seal(ContentType.KeyUpdate, [], record);
            case 3:
                int skip = random.Next(1, 1000);
                write.AdvanceSequenceForTest((ulong)skip);
                mutation = $"sequence skipped by {skip}";
                return write.Seal(ContentType.ApplicationData, body, record);
            case 4:
                byte code = (byte)random.Next(1, 256);
                mutation = $"authenticated alert {code}";
                return write.Seal(ContentType.Alert, [code], record);
            case 5:
                mutation = "alert with a long body";
                return write.Seal(ContentType.Alert, body[..random.Next(2, body.Length)], record);
            case 6:
                // Sealed under a handshake-phase key of the same direction: the wrong key.
                RecordProtector? handshakeKey = handshake.Steps[5].SenderWrite ?? handshake.Steps[3].SenderWrite;
                using (RecordProtector wrong = handshakeKey!.Clone())
                {
                    mutation = "sealed under the handshake key";
                    return wrong.Seal(ContentType.ApplicationData, body, record);
                }

            default:
                genuine = true;
                mutation = "genuine data record";
                return write.Seal(ContentType.ApplicationData, body[..random.Next(body.Length)], record);
        }
    }
}
