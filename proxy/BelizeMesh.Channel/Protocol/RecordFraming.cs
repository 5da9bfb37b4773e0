using System.Buffers;
using System.Buffers.Binary;

namespace BelizeMesh.Channel.Protocol;

/// <summary>The three outcomes of looking for a record at the front of a buffer.</summary>
internal enum RecordParseResult
{
    /// <summary>Not enough bytes yet; read more and try again.</summary>
    NeedMoreData,

    /// <summary>A complete record.</summary>
    Complete,

    /// <summary>The bytes are not a valid record header (not this protocol, unknown type or over-long).</summary>
    Invalid,
}

/// <summary>A parsed 5-byte record header.</summary>
internal readonly record struct RecordHeader(ContentType Type, int Length)
{
    public void Write(Span<byte> destination)
    {
        destination[0] = (byte)Type;
        destination[1] = ProtocolConstants.Marker0;
        destination[2] = ProtocolConstants.Marker1;
        BinaryPrimitives.WriteUInt16BigEndian(destination[3..], (ushort)Length);
    }
}

/// <summary>
/// Finds record boundaries, the way Kestrel's TlsListener finds a ClientHello: a static, allocation-free
/// <c>TryParse</c> over a <see cref="ReadOnlySequence{T}"/> (for the pipelines face) or a span (for the Stream
/// face) returning need-more / complete / invalid. The length cap is checked on the header, before the caller
/// buffers any payload.
/// </summary>
internal static class RecordFraming
{
    /// <summary>Parses the header at the start of <paramref name="buffer"/>. On <see cref="RecordParseResult.Complete"/>,
    /// <paramref name="record"/> is the whole record (header + payload).</summary>
    public static RecordParseResult TryParse(in ReadOnlySequence<byte> buffer, out RecordHeader header, out ReadOnlySequence<byte> record, out string? error)
    {
        record = default;
        Span<byte> headerBytes = stackalloc byte[ProtocolConstants.HeaderLength];
        var reader = new SequenceReader<byte>(buffer);
        int available = (int)Math.Min(buffer.Length, ProtocolConstants.HeaderLength);
        if (!reader.TryCopyTo(headerBytes[..available]))
        {
            header = default;
            error = null;
            return RecordParseResult.NeedMoreData;
        }

        RecordParseResult result = TryParseHeader(headerBytes[..available], out header, out error);
        if (result != RecordParseResult.Complete)
        {
            return result;
        }

        long total = ProtocolConstants.HeaderLength + header.Length;
        if (buffer.Length < total)
        {
            return RecordParseResult.NeedMoreData;
        }

        record = buffer.Slice(0, total);
        return RecordParseResult.Complete;
    }

    /// <summary>Span variant: <see cref="RecordParseResult.Complete"/> means the header is valid and the whole record
    /// (<c>5 + header.Length</c> bytes) is present.</summary>
    public static RecordParseResult TryParse(ReadOnlySpan<byte> buffer, out RecordHeader header, out string? error)
    {
        RecordParseResult result = TryParseHeader(buffer[..Math.Min(buffer.Length, ProtocolConstants.HeaderLength)], out header, out error);
        if (result != RecordParseResult.Complete)
        {
            return result;
        }

        return buffer.Length >= ProtocolConstants.HeaderLength + header.Length ? RecordParseResult.Complete : RecordParseResult.NeedMoreData;
    }

    /// <summary>
    /// Checks a (possibly partial) header. Rejects as early as the bytes allow: a wrong marker or type in the first
    /// three bytes is <see cref="RecordParseResult.Invalid"/> even before the length has arrived.
    /// </summary>
    public static RecordParseResult TryParseHeader(ReadOnlySpan<byte> headerBytes, out RecordHeader header, out string? error)
    {
        header = default;
        error = null;
        if (headerBytes.Length >= 1 && headerBytes[0] is < (byte)ContentType.Hello or > (byte)ContentType.KeyUpdate)
        {
            error = DescribeForeign(headerBytes);
            return RecordParseResult.Invalid;
        }

        if ((headerBytes.Length >= 2 && headerBytes[1] != ProtocolConstants.Marker0) ||
            (headerBytes.Length >= 3 && headerBytes[2] != ProtocolConstants.Marker1))
        {
            error = DescribeForeign(headerBytes);
            return RecordParseResult.Invalid;
        }

        if (headerBytes.Length < ProtocolConstants.HeaderLength)
        {
            return RecordParseResult.NeedMoreData;
        }

        var type = (ContentType)headerBytes[0];
        int length = BinaryPrimitives.ReadUInt16BigEndian(headerBytes[3..]);
        int max = type == ContentType.Hello ? ProtocolConstants.MaxPlaintext : ProtocolConstants.MaxCiphertext;
        if (length > max)
        {
            error = $"record of type {type} declares {length} bytes, more than the limit of {max}";
            return RecordParseResult.Invalid;
        }

        header = new RecordHeader(type, length);
        return RecordParseResult.Complete;
    }

    /// <summary>True when the first bytes look like a record of this protocol (used to tell foreign peers apart).</summary>
    public static bool LooksLikeForeignProtocol(ReadOnlySpan<byte> firstBytes) =>
        firstBytes.Length >= 1 && (firstBytes[0] is < (byte)ContentType.Hello or > (byte)ContentType.KeyUpdate ||
        (firstBytes.Length >= 2 && firstBytes[1] != ProtocolConstants.Marker0) ||
        (firstBytes.Length >= 3 && firstBytes[2] != ProtocolConstants.Marker1));

    private static string DescribeForeign(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= 2 && bytes[0] == 0x16 && bytes[1] == 0x03)
        {
            return "the peer speaks TLS, not the BelizeMesh PQ channel";
        }

        if (bytes.Length >= 1 && bytes[0] is >= (byte)'A' and <= (byte)'Z')
        {
            return "the peer speaks plaintext (HTTP?), not the BelizeMesh PQ channel";
        }

        return $"bytes 0x{Convert.ToHexString(bytes)} are not a BelizeMesh PQ channel record header";
    }
}
