using System.Buffers;
using BelizeMesh.Channel.Protocol;

namespace BelizeMesh.Channel.Tests;

/// <summary>The frame parser, fed the same bytes whole, split at every position, and cut short (like Kestrel's TlsListener tests).</summary>
public sealed class RecordFramingTests
{
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }

    private static ReadOnlySequence<byte> Split(byte[] bytes, int at)
    {
        var first = new Segment(bytes.AsMemory(0, at));
        Segment last = first.Append(bytes.AsMemory(at));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private static byte[] SealedRecordFollowedByMore(int plaintextLength)
    {
        using var protector = new RecordProtector(new byte[48]);
        byte[] bytes = new byte[RecordProtector.SealedLength(plaintextLength) + 3];
        protector.Seal(ContentType.ApplicationData, new byte[plaintextLength], bytes);
        bytes[^3] = (byte)ContentType.ApplicationData; // the start of the next record
        return bytes;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(300)]
    public void A_record_is_found_whole_and_split_at_every_position(int plaintextLength)
    {
        byte[] bytes = SealedRecordFollowedByMore(plaintextLength);
        int recordLength = RecordProtector.SealedLength(plaintextLength);
        for (int at = 0; at <= bytes.Length; at++)
        {
            var sequence = Split(bytes, at);
            Assert.Equal(RecordParseResult.Complete, RecordFraming.TryParse(sequence, out RecordHeader header, out ReadOnlySequence<byte> record, out string? error));
            Assert.Null(error);
            Assert.Equal(ContentType.ApplicationData, header.Type);
            Assert.Equal(recordLength, record.Length);
            Assert.True(record.ToArray().AsSpan().SequenceEqual(bytes.AsSpan(0, recordLength)));
        }
    }

    [Fact]
    public void Every_proper_prefix_of_a_record_needs_more_data()
    {
        byte[] bytes = SealedRecordFollowedByMore(100);
        int recordLength = RecordProtector.SealedLength(100);
        for (int length = 0; length < recordLength; length++)
        {
            Assert.Equal(RecordParseResult.NeedMoreData, RecordFraming.TryParse(new ReadOnlySequence<byte>(bytes, 0, length), out _, out _, out _));
            Assert.Equal(RecordParseResult.NeedMoreData, RecordFraming.TryParse(bytes.AsSpan(0, length), out _, out _));
        }
    }

    [Fact]
    public void An_over_long_length_is_rejected_from_the_header_alone()
    {
        byte[] header = [(byte)ContentType.ApplicationData, 0x42, 0x4D, 0x40, 0x11]; // 16401 > 16400
        Assert.Equal(RecordParseResult.Invalid, RecordFraming.TryParse(new ReadOnlySequence<byte>(header), out _, out _, out string? error));
        Assert.Equal("record of type ApplicationData declares 16401 bytes, more than the limit of 16400", error);

        byte[] hello = [(byte)ContentType.Hello, 0x42, 0x4D, 0x40, 0x01]; // 16385 > 16384 for a plaintext hello
        Assert.Equal(RecordParseResult.Invalid, RecordFraming.TryParse(hello, out _, out error));
        Assert.Equal("record of type Hello declares 16385 bytes, more than the limit of 16384", error);
    }

    [Theory]
    [InlineData("G", "the peer speaks plaintext (HTTP?), not the BelizeMesh PQ channel")]
    [InlineData("PRI * HTTP/2.0", "the peer speaks plaintext (HTTP?), not the BelizeMesh PQ channel")]
    public void Plaintext_is_recognised_from_its_first_byte(string text, string expected)
    {
        Assert.Equal(RecordParseResult.Invalid, RecordFraming.TryParse(System.Text.Encoding.ASCII.GetBytes(text), out _, out string? error));
        Assert.Equal(expected, error);
    }

    [Fact]
    public void Tls_is_recognised_from_its_first_two_bytes()
    {
        Assert.Equal(RecordParseResult.Invalid, RecordFraming.TryParse(new byte[] { 0x16, 0x03 }, out _, out string? error));
        Assert.Equal("the peer speaks TLS, not the BelizeMesh PQ channel", error);
    }

    [Fact]
    public void A_wrong_marker_is_rejected_before_the_length_arrives()
    {
        Assert.Equal(RecordParseResult.Invalid, RecordFraming.TryParse(new byte[] { 0x01, 0x42, 0x00 }, out _, out string? error));
        Assert.Equal("bytes 0x014200 are not a BelizeMesh PQ channel record header", error);
    }
}
