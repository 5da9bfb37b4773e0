using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BelizeMesh.Proxy.Forwarding.Http2;

namespace BelizeMesh.Proxy.Tests.Upstream;

/// <summary>One frame from the server. A HEADERS frame and its CONTINUATIONs arrive as one HEADERS frame with the whole
/// block in <see cref="Payload"/> (padding and priority removed) and its decoded fields in <see cref="Fields"/>.</summary>
internal sealed record H2Frame(Http2FrameType Type, byte Flags, int StreamId, byte[] Payload)
{
    public IReadOnlyList<(string Name, string Value)>? Fields { get; init; }

    public bool EndStream => Type is Http2FrameType.Data or Http2FrameType.Headers && (Flags & Http2Frame.FlagEndStream) != 0;

    public bool IsAck => Type is Http2FrameType.Settings or Http2FrameType.Ping && (Flags & Http2Frame.FlagAck) != 0;

    /// <summary>The error code of a RST_STREAM or GOAWAY.</summary>
    public Http2ErrorCode ErrorCode => Type switch
    {
        Http2FrameType.RstStream => (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload),
        Http2FrameType.GoAway => (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(Payload.AsSpan(4)),
        _ => throw new InvalidOperationException($"{Type} has no error code"),
    };

    /// <summary>GOAWAY's last stream identifier.</summary>
    public int LastStreamId => BinaryPrimitives.ReadInt32BigEndian(Payload) & int.MaxValue;

    /// <summary>WINDOW_UPDATE's increment.</summary>
    public int Increment => BinaryPrimitives.ReadInt32BigEndian(Payload) & int.MaxValue;

    public string? Field(string name)
    {
        foreach ((string Name, string Value) field in Fields ?? [])
        {
            if (field.Name == name)
            {
                return field.Value;
            }
        }

        return null;
    }

    public override string ToString()
    {
        string detail = Type switch
        {
            Http2FrameType.RstStream when Payload.Length == 4 => $" {ErrorCode}",
            Http2FrameType.GoAway when Payload.Length >= 8 => $" last={LastStreamId} {ErrorCode} \"{Encoding.Latin1.GetString(Payload, 8, Payload.Length - 8)}\"",
            Http2FrameType.WindowUpdate when Payload.Length == 4 => $" +{Increment}",
            Http2FrameType.Headers => $" [{string.Join(", ", (Fields ?? []).Select(f => $"{f.Name}: {f.Value}"))}]",
            _ => $" ({Payload.Length} bytes)",
        };
        return $"{Type}#{StreamId} flags=0x{Flags:x2}{detail}";
    }
}

/// <summary>A response read frame by frame: the final HEADERS, the DATA, the trailers, or the RST_STREAM that ended it.</summary>
internal sealed record H2Response(int StreamId, H2Frame? Headers, byte[] Body, H2Frame? Trailers, Http2ErrorCode? ResetCode, int DataFrames)
{
    public int Status => int.Parse(Headers?.Field(":status") ?? "0", System.Globalization.CultureInfo.InvariantCulture);

    public string BodyText => Encoding.Latin1.GetString(Body);
}

/// <summary>Builds a request header block by hand (literal fields, names exactly as given, so a test can break the rules).</summary>
internal sealed class RequestHeaderBlock
{
    private readonly List<byte> _bytes = [];

    public static RequestHeaderBlock Get(string path = "/", string authority = "localhost") => Request("GET", path, authority);

    public static RequestHeaderBlock Request(string method, string path, string authority = "localhost", string scheme = "http")
        => new RequestHeaderBlock().Field(":method", method).Field(":scheme", scheme).Field(":authority", authority).Field(":path", path);

    /// <summary>A literal without indexing with a literal name (RFC 7541 §6.2.2).</summary>
    public RequestHeaderBlock Field(string name, string value)
    {
        byte[] nameBytes = Encoding.Latin1.GetBytes(name);
        byte[] valueBytes = Encoding.Latin1.GetBytes(value);
        byte[] scratch = new byte[HPackEncoder.MaxLiteralLength(nameBytes.Length, valueBytes.Length)];
        int n = HPackEncoder.WriteLiteralWithoutIndexingNewName(nameBytes, valueBytes, scratch);
        _bytes.AddRange(scratch.AsSpan(0, n));
        return this;
    }

    /// <summary>An indexed field (RFC 7541 §6.1).</summary>
    public RequestHeaderBlock Indexed(int index)
    {
        byte[] scratch = new byte[HPackEncoder.MaxIntegerLength];
        int n = HPackEncoder.WriteIndexed(index, scratch);
        _bytes.AddRange(scratch.AsSpan(0, n));
        return this;
    }

    /// <summary>Bytes appended as they are (for malformed HPACK).</summary>
    public RequestHeaderBlock Raw(params byte[] bytes)
    {
        _bytes.AddRange(bytes);
        return this;
    }

    public byte[] ToArray() => [.. _bytes];
}

/// <summary>
/// An HTTP/2 client that speaks in hand-made frames over TCP, for protocol-level tests of a server. A pump reads every
/// frame into a queue; it acknowledges the server's SETTINGS and PINGs and (unless <see cref="AutoWindowUpdate"/> is off)
/// gives back the connection and stream windows for each DATA frame it receives. Reads can wait for one kind of frame;
/// the frames skipped meanwhile stay queued for later reads, so streams can be read in any order.
/// </summary>
internal sealed class RawHttp2Client : IAsyncDisposable
{
    public static readonly TimeSpan Backstop = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly System.Threading.Channels.Channel<H2Frame> _frames = System.Threading.Channels.Channel.CreateUnbounded<H2Frame>();
    private readonly List<H2Frame> _pending = [];
    private readonly List<H2Frame> _history = [];
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly HPackDecoder _decoder = new(maxHeaderListSize: 1024 * 1024);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _pump = Task.CompletedTask;

    private RawHttp2Client(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Acknowledge the server's SETTINGS as they arrive (on by default).</summary>
    public bool AutoAckSettings { get; set; } = true;

    /// <summary>Return every DATA frame's bytes to the connection and stream windows as it arrives (on by default).</summary>
    public bool AutoWindowUpdate { get; set; } = true;

    /// <summary>Completes when the server closed (or reset) the connection.</summary>
    public Task Closed => _closed.Task;

    /// <summary>Why the pump ended: null for a clean end of stream.</summary>
    public Exception? CloseReason { get; private set; }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>The largest frame payload received (before CONTINUATIONs are joined).</summary>
    public int LargestFrame { get; private set; }

    /// <summary>Every frame received so far (for failure messages).</summary>
    public string History
    {
        get
        {
            lock (_history)
            {
                return string.Join("\n  ", _history.Select(f => f.ToString()).Prepend("frames received:"));
            }
        }
    }

    /// <summary>Connects; writes the preface and a SETTINGS frame with <paramref name="settings"/> unless told not to.</summary>
    public static async Task<RawHttp2Client> ConnectAsync(int port, bool preface = true, bool settings = true, params (ushort Id, uint Value)[] initialSettings)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        // The preface and our SETTINGS go in one write before the pump starts: the pump's ACK of the server's SETTINGS
        // must not overtake our own SETTINGS, which has to be the first frame. Without our SETTINGS, no ACK either.
        var client = new RawHttp2Client(socket) { AutoAckSettings = preface && settings };
        if (preface)
        {
            byte[] magic = Http2Frame.ClientPreface.ToArray();
            await client.SendRawAsync(settings ? [.. magic, .. Frame(Http2FrameType.Settings, 0, 0, SettingsPayload(initialSettings))] : magic);
        }

        client._pump = Task.Run(client.PumpAsync);
        return client;
    }

    public static byte[] Frame(Http2FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        byte[] frame = new byte[Http2Frame.HeaderLength + payload.Length];
        Http2Frame.WriteHeader(frame, payload.Length, type, flags, streamId);
        payload.CopyTo(frame.AsSpan(Http2Frame.HeaderLength));
        return frame;
    }

    public static byte[] SettingsPayload(params (ushort Id, uint Value)[] settings)
    {
        byte[] payload = new byte[settings.Length * 6];
        for (int i = 0; i < settings.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(i * 6), settings[i].Id);
            BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan((i * 6) + 2), settings[i].Value);
        }

        return payload;
    }

    public static byte[] U32(uint value)
    {
        byte[] payload = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(payload, value);
        return payload;
    }

    // -------------------------------------------------------------------------------------------------------------
    // Writing
    // -------------------------------------------------------------------------------------------------------------

    public async Task SendRawAsync(byte[] bytes)
    {
        await _writeLock.WaitAsync();
        try
        {
            await _stream.WriteAsync(bytes);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Writes the frames in one write (so they reach the server together).</summary>
    public Task SendAsync(params byte[][] frames) => SendRawAsync([.. frames.SelectMany(f => f)]);

    public Task SendFrameAsync(Http2FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload) => SendRawAsync(Frame(type, flags, streamId, payload));

    public Task SendSettingsAsync(params (ushort Id, uint Value)[] settings) => SendFrameAsync(Http2FrameType.Settings, 0, 0, SettingsPayload(settings));

    public Task SendHeadersAsync(int streamId, byte[] block, bool endStream, bool endHeaders = true)
        => SendRawAsync(HeadersFrame(streamId, block, endStream, endHeaders));

    public static byte[] HeadersFrame(int streamId, byte[] block, bool endStream, bool endHeaders = true)
        => Frame(Http2FrameType.Headers, (byte)((endHeaders ? Http2Frame.FlagEndHeaders : 0) | (endStream ? Http2Frame.FlagEndStream : 0)), streamId, block);

    public Task SendContinuationAsync(int streamId, byte[] fragment, bool endHeaders)
        => SendFrameAsync(Http2FrameType.Continuation, endHeaders ? Http2Frame.FlagEndHeaders : (byte)0, streamId, fragment);

    public Task SendDataAsync(int streamId, ReadOnlySpan<byte> data, bool endStream)
        => SendFrameAsync(Http2FrameType.Data, endStream ? Http2Frame.FlagEndStream : (byte)0, streamId, data);

    /// <summary>DATA in frames of at most 16,384 bytes, the last with END_STREAM when asked.</summary>
    public async Task SendBodyAsync(int streamId, byte[] data, bool endStream)
    {
        for (int offset = 0; offset < data.Length || (offset == 0 && data.Length == 0); offset += Http2Frame.DefaultMaxFrameSize)
        {
            int n = Math.Min(Http2Frame.DefaultMaxFrameSize, data.Length - offset);
            bool last = offset + n >= data.Length;
            await SendDataAsync(streamId, data.AsSpan(offset, n), endStream && last);
            if (data.Length == 0)
            {
                break;
            }
        }
    }

    public Task SendResetAsync(int streamId, Http2ErrorCode code) => SendFrameAsync(Http2FrameType.RstStream, 0, streamId, U32((uint)code));

    public static byte[] ResetFrame(int streamId, Http2ErrorCode code) => Frame(Http2FrameType.RstStream, 0, streamId, U32((uint)code));

    public Task SendPingAsync(byte[] opaque, bool ack = false) => SendFrameAsync(Http2FrameType.Ping, ack ? Http2Frame.FlagAck : (byte)0, 0, opaque);

    public Task SendWindowUpdateAsync(int streamId, uint increment) => SendFrameAsync(Http2FrameType.WindowUpdate, 0, streamId, U32(increment));

    /// <summary>A GET (HEADERS with END_STREAM) on <paramref name="streamId"/>.</summary>
    public Task SendGetAsync(int streamId, string path = "/") => SendHeadersAsync(streamId, RequestHeaderBlock.Get(path).ToArray(), endStream: true);

    // -------------------------------------------------------------------------------------------------------------
    // Reading
    // -------------------------------------------------------------------------------------------------------------

    /// <summary>The server's first SETTINGS frame (not an ACK), as identifier → value.</summary>
    public async Task<Dictionary<ushort, uint>> ReadServerSettingsAsync()
    {
        H2Frame settings = await NextAsync(f => f.Type == Http2FrameType.Settings && !f.IsAck, "the server's SETTINGS");
        var values = new Dictionary<ushort, uint>();
        for (int i = 0; i + 6 <= settings.Payload.Length; i += 6)
        {
            values[BinaryPrimitives.ReadUInt16BigEndian(settings.Payload.AsSpan(i))] = BinaryPrimitives.ReadUInt32BigEndian(settings.Payload.AsSpan(i + 2));
        }

        return values;
    }

    /// <summary>The next frame that matches (frames skipped stay queued for later reads), null when the connection
    /// closed first; throws <see cref="TimeoutException"/> after <paramref name="within"/>.</summary>
    public async Task<H2Frame?> TryNextAsync(Func<H2Frame, bool> match, TimeSpan? within = null)
    {
        lock (_pending)
        {
            for (int i = 0; i < _pending.Count; i++)
            {
                if (match(_pending[i]))
                {
                    H2Frame found = _pending[i];
                    _pending.RemoveAt(i);
                    return found;
                }
            }
        }

        using var timeout = new CancellationTokenSource(within ?? Backstop);
        try
        {
            while (await _frames.Reader.WaitToReadAsync(timeout.Token))
            {
                while (_frames.Reader.TryRead(out H2Frame? frame))
                {
                    if (match(frame))
                    {
                        return frame;
                    }

                    lock (_pending)
                    {
                        _pending.Add(frame);
                    }
                }
            }

            return null;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no matching frame within {within ?? Backstop}; {History}");
        }
    }

    /// <summary>The next frame that matches; fails the test when the connection closes or nothing comes in time.</summary>
    public async Task<H2Frame> NextAsync(Func<H2Frame, bool> match, string what, TimeSpan? within = null)
    {
        H2Frame? frame;
        try
        {
            frame = await TryNextAsync(match, within);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"Waited {within ?? Backstop} for {what}; {History}");
        }

        return frame ?? throw new Xunit.Sdk.XunitException($"The server closed the connection before {what} ({CloseReason?.GetType().Name}); {History}");
    }

    /// <summary>True when a matching frame arrives within <paramref name="period"/>; false when none does (or the
    /// connection closes first).</summary>
    public async Task<bool> SeesAsync(Func<H2Frame, bool> match, TimeSpan period)
    {
        try
        {
            return await TryNextAsync(match, period) is not null;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Waits for a GOAWAY, asserts its code, then asserts that the server closes the connection.</summary>
    public async Task<H2Frame> ExpectGoAwayAsync(Http2ErrorCode code, bool thenClosed = true)
    {
        H2Frame goAway = await NextAsync(f => f.Type == Http2FrameType.GoAway, $"GOAWAY {code}");
        Assert.True(goAway.ErrorCode == code, $"GOAWAY {goAway.ErrorCode}, expected {code}; {History}");
        if (thenClosed)
        {
            await ExpectClosedAsync();
        }

        return goAway;
    }

    /// <summary>Waits for the stream's RST_STREAM and asserts its code.</summary>
    public async Task ExpectResetAsync(int streamId, Http2ErrorCode code)
    {
        H2Frame reset = await NextAsync(
            f => (f.StreamId == streamId && f.Type is Http2FrameType.RstStream or Http2FrameType.Headers) || f.Type == Http2FrameType.GoAway,
            $"RST_STREAM {code} on stream {streamId}");
        Assert.True(reset.Type == Http2FrameType.RstStream, $"expected RST_STREAM {code} on stream {streamId} alone, got {reset}; {History}");
        Assert.True(reset.ErrorCode == code, $"RST_STREAM {reset.ErrorCode} on stream {streamId}, expected {code}; {History}");
    }

    /// <summary>Waits until the server closes the connection (reading and dropping frames).</summary>
    public async Task ExpectClosedAsync(TimeSpan? within = null)
    {
        try
        {
            await _closed.Task.WaitAsync(within ?? Backstop);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"The server did not close the connection within {within ?? Backstop}; {History}");
        }
    }

    /// <summary>Reads the stream's response: HEADERS (1xx skipped), DATA, trailers, until END_STREAM or RST_STREAM.</summary>
    public async Task<H2Response> ReadResponseAsync(int streamId)
    {
        H2Frame? headers = null;
        H2Frame? trailers = null;
        using var body = new MemoryStream();
        int dataFrames = 0;
        while (true)
        {
            H2Frame frame = await NextAsync(
                f => f.StreamId == streamId && f.Type is Http2FrameType.Headers or Http2FrameType.Data or Http2FrameType.RstStream,
                $"the rest of stream {streamId}'s response (so far: {(headers is null ? "no headers" : headers.ToString())}, {body.Length} bytes)");
            switch (frame.Type)
            {
                case Http2FrameType.RstStream:
                    return new H2Response(streamId, headers, body.ToArray(), trailers, frame.ErrorCode, dataFrames);
                case Http2FrameType.Headers when headers is null:
                    string? status = frame.Field(":status");
                    if (status is { Length: 3 } && status[0] == '1' && !frame.EndStream)
                    {
                        continue; // informational
                    }

                    headers = frame;
                    break;
                case Http2FrameType.Headers:
                    trailers = frame;
                    break;
                case Http2FrameType.Data:
                    dataFrames++;
                    body.Write(frame.Payload);
                    break;
            }

            if (frame.EndStream)
            {
                return new H2Response(streamId, headers, body.ToArray(), trailers, null, dataFrames);
            }
        }
    }

    // -------------------------------------------------------------------------------------------------------------
    // The pump
    // -------------------------------------------------------------------------------------------------------------

    private async Task PumpAsync()
    {
        try
        {
            byte[] header = new byte[Http2Frame.HeaderLength];
            H2Frame? open = null; // a HEADERS frame waiting for its CONTINUATIONs
            while (true)
            {
                await _stream.ReadExactlyAsync(header);
                Http2Frame.ReadHeader(header, out int length, out Http2FrameType type, out byte flags, out int streamId);
                byte[] payload = new byte[length];
                await _stream.ReadExactlyAsync(payload);
                if (length > LargestFrame)
                {
                    LargestFrame = length;
                }

                H2Frame frame = new(type, flags, streamId, payload);
                switch (type)
                {
                    case Http2FrameType.Headers:
                        frame = frame with { Payload = HeaderBlockFragment(flags, payload) };
                        if ((flags & Http2Frame.FlagEndHeaders) == 0)
                        {
                            open = frame;
                            continue;
                        }

                        frame = Decoded(frame);
                        break;
                    case Http2FrameType.Continuation when open is not null:
                        open = open with { Payload = [.. open.Payload, .. payload], Flags = (byte)(open.Flags | (flags & Http2Frame.FlagEndHeaders)) };
                        if ((flags & Http2Frame.FlagEndHeaders) == 0)
                        {
                            continue;
                        }

                        frame = Decoded(open);
                        open = null;
                        break;
                    case Http2FrameType.Settings when (flags & Http2Frame.FlagAck) == 0 && AutoAckSettings:
                        await TrySendAsync(Frame(Http2FrameType.Settings, Http2Frame.FlagAck, 0, []));
                        break;
                    case Http2FrameType.Ping when (flags & Http2Frame.FlagAck) == 0:
                        await TrySendAsync(Frame(Http2FrameType.Ping, Http2Frame.FlagAck, 0, payload));
                        break;
                    case Http2FrameType.Data when length > 0 && AutoWindowUpdate:
                        await TrySendAsync(Frame(Http2FrameType.WindowUpdate, 0, 0, U32((uint)length)));
                        if ((flags & Http2Frame.FlagEndStream) == 0)
                        {
                            await TrySendAsync(Frame(Http2FrameType.WindowUpdate, 0, streamId, U32((uint)length)));
                        }

                        break;
                }

                lock (_history)
                {
                    if (_history.Count < 200)
                    {
                        _history.Add(frame.Type == Http2FrameType.Data ? frame with { Payload = [] } : frame);
                    }
                }

                _frames.Writer.TryWrite(frame);
            }
        }
        catch (EndOfStreamException)
        {
            // the server closed the connection
        }
        catch (Exception ex)
        {
            CloseReason = ex;
        }
        finally
        {
            _frames.Writer.TryComplete();
            _closed.TrySetResult();
        }
    }

    private static byte[] HeaderBlockFragment(byte flags, byte[] payload)
    {
        int start = 0;
        int end = payload.Length;
        if ((flags & Http2Frame.FlagPadded) != 0)
        {
            end -= payload[0];
            start = 1;
        }

        if ((flags & Http2Frame.FlagPriority) != 0)
        {
            start += 5;
        }

        return payload[start..end];
    }

    private H2Frame Decoded(H2Frame frame)
    {
        var sink = new FieldSink();
        _decoder.Decode(frame.Payload, sink);
        return frame with { Fields = sink.Fields };
    }

    private async Task TrySendAsync(byte[] frame)
    {
        try
        {
            await SendRawAsync(frame);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
        {
            // the server is closing the connection
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        await _stream.DisposeAsync();
        await _pump;
        _writeLock.Dispose();
    }

    private sealed class FieldSink : IHPackHeaderSink
    {
        public List<(string Name, string Value)> Fields { get; } = [];

        public void OnHeader(int staticIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
            => Fields.Add((Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
    }
}

/// <summary>Polls a condition until it holds or a deadline passes.</summary>
internal static class Eventually
{
    public static async Task<bool> HoldsAsync(Func<bool> condition, TimeSpan? within = null)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            if (stopwatch.Elapsed > (within ?? RawHttp2Client.Backstop))
            {
                return false;
            }

            await Task.Delay(10);
        }

        return true;
    }
}
