using System.Buffers.Binary;

namespace BelizeMesh.Proxy.Forwarding.Http2;

/// <summary>HTTP/2 frame types (RFC 9113 §6).</summary>
internal enum Http2FrameType : byte
{
    Data = 0x0,
    Headers = 0x1,
    Priority = 0x2,
    RstStream = 0x3,
    Settings = 0x4,
    PushPromise = 0x5,
    Ping = 0x6,
    GoAway = 0x7,
    WindowUpdate = 0x8,
    Continuation = 0x9,
}

/// <summary>HTTP/2 error codes (RFC 9113 §7).</summary>
internal enum Http2ErrorCode : uint
{
    NoError = 0x0,
    ProtocolError = 0x1,
    InternalError = 0x2,
    FlowControlError = 0x3,
    SettingsTimeout = 0x4,
    StreamClosed = 0x5,
    FrameSizeError = 0x6,
    RefusedStream = 0x7,
    Cancel = 0x8,
    CompressionError = 0x9,
    ConnectError = 0xa,
    EnhanceYourCalm = 0xb,
    InadequateSecurity = 0xc,
    Http11Required = 0xd,
}

/// <summary>Frame flags, settings identifiers and the frame header (RFC 9113 §4.1, §6).</summary>
internal static class Http2Frame
{
    /// <summary>The 9-byte frame header.</summary>
    public const int HeaderLength = 9;

    /// <summary>SETTINGS_MAX_FRAME_SIZE's initial value, and the largest frame payload this client accepts.</summary>
    public const int DefaultMaxFrameSize = 16_384;

    /// <summary>The initial flow-control window of a stream and of the connection (RFC 9113 §6.9.2).</summary>
    public const int DefaultWindow = 65_535;

    /// <summary>The largest window size and window increment (2^31 - 1).</summary>
    public const int MaxWindow = int.MaxValue;

    public const byte FlagEndStream = 0x1;
    public const byte FlagAck = 0x1;
    public const byte FlagEndHeaders = 0x4;
    public const byte FlagPadded = 0x8;
    public const byte FlagPriority = 0x20;

    public const ushort SettingHeaderTableSize = 0x1;
    public const ushort SettingEnablePush = 0x2;
    public const ushort SettingMaxConcurrentStreams = 0x3;
    public const ushort SettingInitialWindowSize = 0x4;
    public const ushort SettingMaxFrameSize = 0x5;
    public const ushort SettingMaxHeaderListSize = 0x6;

    /// <summary>The client connection preface (RFC 9113 §3.4), sent before the first SETTINGS frame.</summary>
    public static ReadOnlySpan<byte> ClientPreface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    /// <summary>Writes a frame header into the first 9 bytes of <paramref name="destination"/>.</summary>
    public static void WriteHeader(Span<byte> destination, int payloadLength, Http2FrameType type, byte flags, int streamId)
    {
        destination[0] = (byte)(payloadLength >> 16);
        destination[1] = (byte)(payloadLength >> 8);
        destination[2] = (byte)payloadLength;
        destination[3] = (byte)type;
        destination[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(destination[5..], streamId & int.MaxValue);
    }

    /// <summary>Reads a frame header; the stream identifier's reserved bit is ignored (§4.1).</summary>
    public static void ReadHeader(ReadOnlySpan<byte> source, out int payloadLength, out Http2FrameType type, out byte flags, out int streamId)
    {
        payloadLength = (source[0] << 16) | (source[1] << 8) | source[2];
        type = (Http2FrameType)source[3];
        flags = source[4];
        streamId = BinaryPrimitives.ReadInt32BigEndian(source[5..]) & int.MaxValue;
    }
}
