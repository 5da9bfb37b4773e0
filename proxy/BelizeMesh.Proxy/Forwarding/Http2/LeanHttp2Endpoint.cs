using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace BelizeMesh.Proxy.Forwarding.Http2;

/// <summary>
/// What the lean HTTP/2 client (<see cref="LeanHttp2Connection"/>) and server
/// (<see cref="Inbound.Http2Server.LeanHttp2ServerConnection"/>) connections share: the connection's lock, its output
/// buffer and the policy that writes it, and the frames both append.
/// </summary>
/// <remarks>
/// <para>Writing: frames of every stream are appended to one output buffer under the connection's lock, and one write at
/// a time takes the whole buffer to the transport, looping until it is empty; everyone appending meanwhile returns at
/// once. A request alone on the connection writes at once on its own thread (no hand-off); with other streams open the
/// write is queued to the thread pool, so that under load the frames of many requests leave in one channel record and
/// one <c>send</c>.</para>
/// <para>The write itself is the connection's (<see cref="FlushLoopAsync"/>): the client writes to its channel stream
/// and ends the connection when that fails; the server moves the buffer to its output pipe and stops reading when the
/// client is gone. Each loop takes the buffer with <see cref="TakeOutput"/> and, on failure, calls
/// <see cref="EndFlushing"/>.</para>
/// </remarks>
internal abstract class LeanHttp2Endpoint : IThreadPoolWorkItem
{
    /// <summary>The largest written buffer kept as the spare for the next swap; larger ones go back to the pool.</summary>
    private protected const int OutputKeptSize = 64 * 1024;

    /// <summary>The most SETTINGS and PING acknowledgements that may wait in the output for the next write (nghttp2 allows
    /// 1000 outstanding): a peer that keeps asking for them without reading what it is sent would grow the output without
    /// bound, so beyond this the connection ends with ENHANCE_YOUR_CALM.</summary>
    internal const int MaxQueuedAcks = 1000;

    private protected readonly object _lock = new();

    // Beyond this much unwritten output, FlushAsync makes the writer wait for the write under way (int.MaxValue: never).
    private readonly int _outputHighWater;

    // Output and connection state: guarded by _lock.
    private protected byte[] _output = ArrayPool<byte>.Shared.Rent(4096);
    private protected int _outputLength;
    private protected byte[]? _spare;
    private protected bool _flushing;
    private protected TaskCompletionSource? _flushIdle;

    /// <summary>Set when no write takes the output any more (the connection failed or returned its buffer).</summary>
    private protected bool _outputClosed;

    /// <summary>Streams open: with more than one, <see cref="FlushAsync"/> queues the write.</summary>
    private protected int _active;

    /// <summary>Why the connection ended; null while it is up.</summary>
    private protected Exception? _failure;

    // The HPACK encoder's side of the peer's SETTINGS_HEADER_TABLE_SIZE, guarded by _lock: the dynamic table size last
    // announced (neither encoder indexes anything, so only the size updates use it), and whether the next header block
    // must start with an update to it.
    private int _encoderTableSize = 4096;
    private bool _tableSizeUpdatePending;

    /// <summary>SETTINGS and PING acknowledgements appended since the last write took the output (guarded by _lock).</summary>
    private int _queuedAcks;

    /// <param name="outputHighWater">Output bytes beyond which <see cref="FlushAsync"/> returns a task that waits for the
    /// write under way; <see cref="int.MaxValue"/> when writers never wait.</param>
    private protected LeanHttp2Endpoint(int outputHighWater)
    {
        _outputHighWater = outputHighWater;
    }

    internal object SyncRoot => _lock;

    /// <summary>Writes what has been appended, unless a write is already under way (it will take these frames too); alone
    /// on the connection, at once on the caller's thread, else from the thread pool (see below). When the output has
    /// grown past the high-water mark (the server's) the returned task waits for the write under way.</summary>
    internal Task FlushAsync()
    {
        lock (_lock)
        {
            if (_flushing || _outputLength == 0)
            {
                return _flushing && _outputLength > _outputHighWater && _failure is null
                    ? (_flushIdle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task
                    : Task.CompletedTask;
            }

            _flushing = true;
            if (_active > 1)
            {
                // Other streams are open: let their frames join these. The write runs as a work item at the end of the
                // thread pool's queue, after the work already queued (other requests appending their frames).
                // Measured at -c 64 (ab-cpu, session 21): writing at once cost ~7% more CPU per request than this
                // (one channel record and one send per request), about what SocketsHttpHandler cost.
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false); // at most one queued: _flushing
                return Task.CompletedTask;
            }
        }

        return FlushLoopAsync();
    }

    /// <summary>Writes what has been appended now, or waits for the write under way (or queued) to have taken it: for
    /// GOAWAY before the connection closes.</summary>
    private protected Task FlushNowAsync()
    {
        lock (_lock)
        {
            if (_flushing)
            {
                return (_flushIdle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }

            if (_outputLength == 0)
            {
                return Task.CompletedTask;
            }

            _flushing = true;
        }

        return FlushLoopAsync();
    }

    /// <summary>Waits for the write under way (or queued), if any, to end.</summary>
    private protected Task WaitFlushIdleAsync()
    {
        lock (_lock)
        {
            return _flushing ? (_flushIdle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task : Task.CompletedTask;
        }
    }

    /// <summary>The queued write (see <see cref="FlushAsync"/>).</summary>
    void IThreadPoolWorkItem.Execute() => _ = FlushLoopAsync();

    /// <summary>The write: while <see cref="TakeOutput"/> hands it a buffer, writes it to the transport; when a write
    /// fails, returns the buffer to the pool, calls <see cref="EndFlushing"/> under the lock and ends the loop. Started
    /// with <see cref="_flushing"/> set, once per flush.</summary>
    private protected abstract Task FlushLoopAsync();

    /// <summary>One turn of <see cref="FlushLoopAsync"/>: takes the buffer <paramref name="written"/> (the last one
    /// written, or null) back as the spare or to the pool, then swaps the output out for writing. False when there is
    /// nothing left to write (or the output is closed): the write is over, and whoever waits for it is released.</summary>
    private protected bool TakeOutput(ref byte[]? written, [NotNullWhen(true)] out byte[]? buffer, out int length)
    {
        TaskCompletionSource? idle = null;
        buffer = null;
        length = 0;
        lock (_lock)
        {
            if (written is not null && _spare is null && written.Length <= OutputKeptSize && !_outputClosed)
            {
                _spare = written; // the next swap takes it instead of renting
                written = null;
            }

            if (_outputLength == 0 || _outputClosed)
            {
                idle = EndFlushing();
            }
            else
            {
                buffer = _output;
                length = _outputLength;
                _output = _spare ?? ArrayPool<byte>.Shared.Rent(4096);
                _spare = null;
                _outputLength = 0;
                _queuedAcks = 0;
            }
        }

        if (written is not null)
        {
            ArrayPool<byte>.Shared.Return(written);
            written = null;
        }

        if (buffer is null)
        {
            idle?.TrySetResult();
            return false;
        }

        return true;
    }

    /// <summary>The write is over (caller holds the lock): returns whom to release, outside the lock.</summary>
    private protected TaskCompletionSource? EndFlushing()
    {
        _flushing = false;
        TaskCompletionSource? idle = _flushIdle;
        _flushIdle = null;
        return idle;
    }

    /// <summary>Room for <paramref name="count"/> more bytes at the end of the output. Caller holds the lock and adds
    /// what it wrote to <see cref="_outputLength"/>.</summary>
    private protected Span<byte> Reserve(int count)
    {
        LeanHttp1RequestWriter.Reserve(ref _output, _outputLength, count);
        return _output.AsSpan(_outputLength, count);
    }

    // ---- frames (caller holds the lock, and has checked that the connection may still write) ----

    /// <summary>The peer's SETTINGS_HEADER_TABLE_SIZE (caller holds the lock). A value below the size last announced must be
    /// signalled at the start of the next header block (RFC 7541 §4.2, RFC 9113 §6.5.2: a strict decoder such as
    /// nghttp2's fails the block without it); a higher one need not be, since an encoder may use less than allowed. Only
    /// lowering keeps the smallest of several changes between two blocks, which §4.2 requires to be signalled.</summary>
    private protected void OnPeerHeaderTableSize(uint value)
    {
        if (value < (uint)_encoderTableSize)
        {
            _encoderTableSize = (int)value;
            _tableSizeUpdatePending = true;
        }
    }

    /// <summary>Appends a header block as HEADERS and CONTINUATIONs of at most <paramref name="maxFrame"/> bytes each. After
    /// the peer lowered SETTINGS_HEADER_TABLE_SIZE, the first block appended starts with a dynamic table size update to the
    /// new size (<see cref="OnPeerHeaderTableSize"/>), written into the HEADERS frame ahead of the block.</summary>
    private protected void AppendHeaderFrames(int streamId, ReadOnlySpan<byte> block, bool endStream, int maxFrame)
    {
        Http2FrameType type = Http2FrameType.Headers;
        byte flags = endStream ? Http2Frame.FlagEndStream : (byte)0;
        int prefix = 0;
        if (_tableSizeUpdatePending)
        {
            _tableSizeUpdatePending = false;
            prefix = HPackEncoder.GetIntegerLength(_encoderTableSize, 5); // at most 6 bytes: far below any frame size
        }

        do
        {
            int length = Math.Min(block.Length, maxFrame - prefix);
            bool last = length == block.Length;
            Span<byte> frame = Reserve(Http2Frame.HeaderLength + prefix + length);
            Http2Frame.WriteHeader(frame, prefix + length, type, (byte)(flags | (last ? Http2Frame.FlagEndHeaders : 0)), streamId);
            if (prefix > 0)
            {
                HPackEncoder.WriteInteger(_encoderTableSize, 5, 0x20, frame[Http2Frame.HeaderLength..]); // §6.3: 001 and the size
            }

            block[..length].CopyTo(frame[(Http2Frame.HeaderLength + prefix)..]);
            _outputLength += frame.Length;
            block = block[length..];
            type = Http2FrameType.Continuation;
            flags = 0;
            prefix = 0;
        }
        while (!block.IsEmpty);
    }

    /// <summary>Appends a DATA frame; the caller has also taken the flow-control credit.</summary>
    internal void AppendDataFrame(int streamId, ReadOnlySpan<byte> data, bool endStream)
    {
        Span<byte> frame = Reserve(Http2Frame.HeaderLength + data.Length);
        Http2Frame.WriteHeader(frame, data.Length, Http2FrameType.Data, endStream ? Http2Frame.FlagEndStream : (byte)0, streamId);
        data.CopyTo(frame[Http2Frame.HeaderLength..]);
        _outputLength += frame.Length;
    }

    private protected void AppendResetFrame(int streamId, Http2ErrorCode code)
    {
        Span<byte> frame = Reserve(Http2Frame.HeaderLength + 4);
        Http2Frame.WriteHeader(frame, 4, Http2FrameType.RstStream, 0, streamId);
        BinaryPrimitives.WriteUInt32BigEndian(frame[Http2Frame.HeaderLength..], (uint)code);
        _outputLength += frame.Length;
    }

    private protected void AppendWindowUpdateFrame(int streamId, int increment)
    {
        Span<byte> frame = Reserve(Http2Frame.HeaderLength + 4);
        Http2Frame.WriteHeader(frame, 4, Http2FrameType.WindowUpdate, 0, streamId);
        BinaryPrimitives.WriteInt32BigEndian(frame[Http2Frame.HeaderLength..], increment);
        _outputLength += frame.Length;
    }

    /// <summary>Appends GOAWAY; <paramref name="debugData"/> (ASCII) says why, for the peer's logs (RFC 9113 §6.8).</summary>
    private protected void AppendGoAwayFrame(int lastStreamId, Http2ErrorCode code, ReadOnlySpan<char> debugData)
    {
        Span<byte> frame = Reserve(Http2Frame.HeaderLength + 8 + debugData.Length);
        Http2Frame.WriteHeader(frame, 8 + debugData.Length, Http2FrameType.GoAway, 0, 0);
        BinaryPrimitives.WriteInt32BigEndian(frame[Http2Frame.HeaderLength..], lastStreamId);
        BinaryPrimitives.WriteUInt32BigEndian(frame[(Http2Frame.HeaderLength + 4)..], (uint)code);
        System.Text.Ascii.FromUtf16(debugData, frame[(Http2Frame.HeaderLength + 8)..], out _);
        _outputLength += frame.Length;
    }

    /// <summary>Appends an acknowledgement of a SETTINGS or PING frame (caller holds the lock) unless
    /// <see cref="MaxQueuedAcks"/> already wait for the write under way: then the peer is not reading what it asks for,
    /// a connection error (ENHANCE_YOUR_CALM).</summary>
    private void CountQueuedAck()
    {
        if (_queuedAcks >= MaxQueuedAcks)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, $"more than {MaxQueuedAcks} SETTINGS and PING acknowledgements wait to be written: the peer does not read what it asks for");
        }

        _queuedAcks++;
    }

    private protected void AppendSettingsAck()
    {
        CountQueuedAck();
        Span<byte> ack = Reserve(Http2Frame.HeaderLength);
        Http2Frame.WriteHeader(ack, 0, Http2FrameType.Settings, Http2Frame.FlagAck, 0);
        _outputLength += ack.Length;
    }

    private protected void AppendPingAck(ReadOnlySpan<byte> payload)
    {
        CountQueuedAck();
        Span<byte> frame = Reserve(Http2Frame.HeaderLength + 8);
        Http2Frame.WriteHeader(frame, 8, Http2FrameType.Ping, Http2Frame.FlagAck, 0);
        payload.CopyTo(frame[Http2Frame.HeaderLength..]);
        _outputLength += frame.Length;
    }

    // ---- reading ----

    /// <summary>The payload of a DATA or HEADERS frame without its pad length, the <paramref name="prefix"/> bytes after it
    /// (HEADERS' priority fields) and its padding.</summary>
    private protected static ReadOnlySpan<byte> Unpad(byte flags, ReadOnlySpan<byte> payload, int prefix, Http2FrameType type)
    {
        int padding = 0;
        int offset = prefix;
        if ((flags & Http2Frame.FlagPadded) != 0)
        {
            if (payload.IsEmpty)
            {
                throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, $"a padded {type} frame without its pad length");
            }

            padding = payload[0];
            offset++;
        }

        if (offset > payload.Length)
        {
            // too small for its mandatory fields (RFC 9113 §4.2): HEADERS' priority fields
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, $"a {type} frame of {payload.Length} bytes, too short for its priority fields");
        }

        if (offset + padding > payload.Length)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"a {type} frame whose padding is longer than the frame");
        }

        return payload[offset..(payload.Length - padding)];
    }

    /// <summary>Checks a SETTINGS frame's framing (RFC 9113 §6.5): on stream 0, an acknowledgement empty, else a multiple
    /// of 6 bytes. True when it is an acknowledgement.</summary>
    private protected static bool IsSettingsAck(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId != 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "SETTINGS on a stream");
        }

        if ((flags & Http2Frame.FlagAck) != 0)
        {
            if (!payload.IsEmpty)
            {
                throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "a SETTINGS acknowledgement with a payload");
            }

            return true;
        }

        if (payload.Length % 6 != 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "a SETTINGS frame whose length is not a multiple of 6");
        }

        return false;
    }
}
