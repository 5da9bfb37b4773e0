using System.Buffers.Binary;

namespace BelizeMesh.Channel.Protocol;

/// <summary>Bounds-checked reader over one handshake message body; every short read is a <see cref="ChannelFailure.ProtocolViolation"/> naming the field.</summary>
internal ref struct MessageReader(ReadOnlySpan<byte> data, string message)
{
    private ReadOnlySpan<byte> _rest = data;

    public byte ReadByte(string field)
    {
        Need(1, field);
        byte b = _rest[0];
        _rest = _rest[1..];
        return b;
    }

    public ushort ReadUInt16(string field)
    {
        Need(2, field);
        ushort v = BinaryPrimitives.ReadUInt16BigEndian(_rest);
        _rest = _rest[2..];
        return v;
    }

    public ReadOnlySpan<byte> ReadBytes(int count, string field)
    {
        Need(count, field);
        ReadOnlySpan<byte> v = _rest[..count];
        _rest = _rest[count..];
        return v;
    }

    /// <summary>Reads a <c>uint16</c>-prefixed vector whose length must be exactly <paramref name="expectedLength"/> (or 1..max when negative).</summary>
    public ReadOnlySpan<byte> ReadVector16(string field, int expectedLength = -1, int maxLength = ProtocolConstants.MaxPlaintext)
    {
        int length = ReadUInt16(field + " length");
        if (expectedLength >= 0 ? length != expectedLength : length is 0 || length > maxLength)
        {
            throw new PqChannelException(ChannelFailure.ProtocolViolation,
                expectedLength >= 0
                    ? $"{message}: {field} is {length} bytes, expected {expectedLength}"
                    : $"{message}: {field} is {length} bytes, expected 1..{maxLength}");
        }

        return ReadBytes(length, field);
    }

    public readonly void ExpectEnd()
    {
        if (!_rest.IsEmpty)
        {
            throw new PqChannelException(ChannelFailure.ProtocolViolation, $"{message}: {_rest.Length} trailing bytes");
        }
    }

    private readonly void Need(int count, string field)
    {
        if (_rest.Length < count)
        {
            throw new PqChannelException(ChannelFailure.ProtocolViolation, $"{message} ends before {field} ({_rest.Length} of {count} bytes)");
        }
    }
}
