using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Http;

namespace BelizeMesh.Proxy.Forwarding.Http2;

/// <summary>
/// One HTTP/2 connection (RFC 9113) of the lean client: inside a PQ channel to a peer sidecar. Many requests share it,
/// each as one <see cref="LeanHttp2Stream"/>.
/// </summary>
/// <remarks>
/// <para>Writing: see <see cref="LeanHttp2Endpoint"/>; the output goes to the channel, and a failed write ends the
/// connection.</para>
/// <para>Reading: one loop reads the channel and handles each frame as it is parsed: response headers are decoded at
/// once (HPACK's dynamic table is per connection, in order) and the response handed to its request; DATA is copied
/// into its stream's buffer. Flow control (§5.2): the peer may send <see cref="StreamReceiveWindow"/> per stream and
/// <see cref="ConnectionReceiveWindow"/> in all before the application has read them, so a slow reader holds the
/// upstream back instead of growing memory; WINDOW_UPDATEs go out as the application reads.</para>
/// <para>Errors: a protocol violation by the peer ends the connection (GOAWAY with the error, every open stream fails
/// with <see cref="HttpProtocolException"/>); a stream error resets only its stream. A request the peer refused
/// (REFUSED_STREAM, or above the last stream of its GOAWAY) was not processed: the handler sends it again when it has
/// no body.</para>
/// </remarks>
internal sealed class LeanHttp2Connection : LeanHttp2Endpoint, IHPackHeaderSink
{
    /// <summary>The receive window of each stream (SETTINGS_INITIAL_WINDOW_SIZE): a credit, not an allocation. 4 MiB let
    /// a 500 MB download through two sidecars run CPU-bound (see <see cref="UpstreamClientFactory"/>).</summary>
    public const int StreamReceiveWindow = 4 * 1024 * 1024;

    /// <summary>The receive window of the connection: the most response bytes buffered unread over all its streams.</summary>
    public const int ConnectionReceiveWindow = 16 * 1024 * 1024;

    /// <summary>The most header bytes (RFC 9113 §6.5.2's measure) a response or trailer section may take.</summary>
    public const int MaxHeaderListSize = LeanHttp1Handler.MaxHeadBytes;

    /// <summary>Streams allowed when the peer's SETTINGS do not say (RFC 9113 says unlimited; Kestrel's default is 100).</summary>
    private const int InitialPeerMaxStreams = 100;

    private const int ReadBufferSize = 32 * 1024;

    /// <summary>How long a connection error waits for its GOAWAY to be written before the connection closes anyway: a
    /// peer that does not read would otherwise hold the connection, and its requests, for ever.</summary>
    private static readonly TimeSpan s_goAwayFlushTimeout = TimeSpan.FromSeconds(2);

    /// <summary>What a regular field name may hold (§8.2.1): visible ASCII but upper case and the colon.</summary>
    private static readonly SearchValues<byte> s_fieldNameBytes = SearchValues.Create("!\"#$%&'()*+,-./0123456789;<=>?@[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"u8);

    private readonly LeanHttp2Pool _pool;
    private readonly Stream _stream;
    private readonly HPackDecoder _decoder = new(4096, MaxHeaderListSize);
    private readonly Dictionary<int, LeanHttp2Stream> _streams = [];
    private readonly CancellationTokenSource _aborted = new();
    private readonly LeanResponseHeaderCache _headerCache = new();
    private readonly TaskCompletionSource _settingsReceived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Connection state: guarded by _lock (the output, _active and _failure are LeanHttp2Endpoint's).
    private int _nextStreamId = 1;
    private int _peerMaxStreams = InitialPeerMaxStreams;
    private int _peerInitialWindow = Http2Frame.DefaultWindow;
    private int _peerMaxFrame = Http2Frame.DefaultMaxFrameSize;
    private long _sendWindow = Http2Frame.DefaultWindow;
    private long _receiveWindow = ConnectionReceiveWindow;
    private int _receiveUnacked;
    private bool _goingAway;
    private long _idleSince = Environment.TickCount64;
    private List<LeanHttp2Stream>? _windowWaiters;

    // Read loop only.
    private readonly List<LeanHttp2Stream> _decodedResponses = []; // responses decoded from the current read (OnResponse)
    private byte[] _headerBlock = [];
    private int _headerBlockLength;
    private int _headerBlockStream;
    private bool _headerBlockEndStream;
    private bool _headerBlockSelfDependent;
    private HttpResponseMessage? _sinkResponse;
    private bool _sinkTrailers;
    private int _sinkStatus;
    private int _sinkField;
    private string? _sinkMalformed;
    private long _sinkContentLength;

    public LeanHttp2Connection(LeanHttp2Pool pool, Stream stream)
        : base(outputHighWater: int.MaxValue) // writers never wait: a request's body waits for flow-control credit
    {
        _pool = pool;
        _stream = stream;
    }

    /// <summary>Why the connection ended; null while it is up.</summary>
    internal Exception? Failure
    {
        get
        {
            lock (_lock)
            {
                return _failure;
            }
        }
    }

    /// <summary>Sends the preface and SETTINGS, starts reading, and waits for the peer's first SETTINGS (within
    /// <paramref name="timeout"/>): RFC 9113 lets a client send requests before they arrive (§3.4), but until then it
    /// cannot know the peer's SETTINGS_MAX_CONCURRENT_STREAMS, and a burst above it on a new connection is refused.
    /// One round trip per connection, after the channel's handshake.</summary>
    public async Task StartAsync(TimeSpan timeout)
    {
        lock (_lock)
        {
            Span<byte> head = Reserve(Http2Frame.ClientPreface.Length + Http2Frame.HeaderLength + 18 + Http2Frame.HeaderLength + 4);
            Http2Frame.ClientPreface.CopyTo(head);
            Span<byte> settings = head[Http2Frame.ClientPreface.Length..];
            Http2Frame.WriteHeader(settings, 18, Http2FrameType.Settings, 0, 0);
            WriteSetting(settings[9..], Http2Frame.SettingEnablePush, 0);
            WriteSetting(settings[15..], Http2Frame.SettingInitialWindowSize, StreamReceiveWindow);
            WriteSetting(settings[21..], Http2Frame.SettingMaxHeaderListSize, MaxHeaderListSize);
            Span<byte> update = settings[27..];
            Http2Frame.WriteHeader(update, 4, Http2FrameType.WindowUpdate, 0, 0);
            BinaryPrimitives.WriteInt32BigEndian(update[9..], ConnectionReceiveWindow - Http2Frame.DefaultWindow);
            _outputLength += head.Length;
        }

        _ = Task.Run(ReadLoopAsync); // it ends with the connection, having failed what was open
        await FlushAsync().ConfigureAwait(false);
        try
        {
            await _settingsReceived.Task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Abort(new HttpRequestException(HttpRequestError.ConnectionError, $"The upstream sent no HTTP/2 SETTINGS within {timeout.TotalSeconds:0.###} s."));
        }

        static void WriteSetting(Span<byte> destination, ushort id, int value)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination, id);
            BinaryPrimitives.WriteInt32BigEndian(destination[2..], value);
        }
    }

    /// <summary>False when the peer's SETTINGS_MAX_CONCURRENT_STREAMS is 0: no stream can open on the connection.</summary>
    public bool AllowsStreams
    {
        get
        {
            lock (_lock)
            {
                return _peerMaxStreams > 0;
            }
        }
    }

    /// <summary>Takes a stream slot if the connection can open one more stream now.</summary>
    public bool TryReserve()
    {
        lock (_lock)
        {
            if (_failure is not null || _goingAway || _active >= _peerMaxStreams || _nextStreamId > int.MaxValue - 2)
            {
                return false;
            }

            _active++;
            return true;
        }
    }

    /// <summary>Closes the connection if it has had no stream for <paramref name="idleMilliseconds"/> (or at all when
    /// <paramref name="all"/>); true when it did.</summary>
    public bool TryCloseIdle(long now, long idleMilliseconds, bool all)
    {
        lock (_lock)
        {
            if (_failure is null && !all && (_active > 0 || now - _idleSince < idleMilliseconds))
            {
                return false;
            }

            _goingAway = true;
            if (_failure is null && _active == 0)
            {
                AppendGoAway(Http2ErrorCode.NoError);
            }
        }

        _ = CloseAfterFlushAsync();
        return true;
    }

    private async Task CloseAfterFlushAsync()
    {
        await FlushNowAsync().ConfigureAwait(false);
        Abort(new HttpRequestException(HttpRequestError.Unknown, "The HTTP/2 connection to the upstream was closed."));
    }

    /// <summary>Opens a stream in a slot <see cref="TryReserve"/> took: its HEADERS (and CONTINUATIONs) go into the output
    /// in stream order. Call <see cref="LeanHttp2Endpoint.FlushAsync"/> after.</summary>
    public LeanHttp2Stream Open(HttpRequestMessage request, ReadOnlySpan<byte> headerBlock, bool endStream)
    {
        lock (_lock)
        {
            if (_failure is not null || _goingAway)
            {
                SlotFreed(); // the last slot of a connection going away: it closes now
                throw LeanHttp2Stream.Refused("the connection closed before the request was sent");
            }

            int id = _nextStreamId;
            _nextStreamId += 2;
            var stream = new LeanHttp2Stream(this, id, request, _peerInitialWindow, endStream);
            _streams.Add(id, stream);

            AppendHeaderFrames(id, headerBlock, endStream, _peerMaxFrame);
            return stream;
        }
    }

    /// <summary>The write (see <see cref="LeanHttp2Endpoint"/>): to the channel; a failed write ends the connection.</summary>
    private protected override async Task FlushLoopAsync()
    {
        byte[]? written = null;
        while (TakeOutput(ref written, out byte[]? buffer, out int length))
        {
            try
            {
                await _stream.WriteAsync(buffer.AsMemory(0, length), _aborted.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                TaskCompletionSource? idle;
                lock (_lock)
                {
                    idle = EndFlushing();
                }

                idle?.TrySetResult();
                ArrayPool<byte>.Shared.Return(buffer);
                Abort(new HttpIOException(HttpRequestError.Unknown, "Writing to the HTTP/2 connection to the upstream failed: " + ex.Message, ex));
                return;
            }

            written = buffer;
        }
    }

    /// <summary>Appends RST_STREAM (caller holds the lock).</summary>
    internal void AppendReset(int streamId, Http2ErrorCode code)
    {
        if (_failure is not null)
        {
            return;
        }

        AppendResetFrame(streamId, code);
    }

    private void AppendGoAway(Http2ErrorCode code) => AppendGoAwayFrame(0, code, default); // the peer opens no streams

    // ---- flow control (caller holds the lock) ----

    /// <summary>The connection's send credit for a stream's DATA: at most <paramref name="wanted"/>, at most a frame; 0
    /// when the connection's window is empty (the stream is then woken by the next WINDOW_UPDATE on stream 0).</summary>
    internal int TakeSendCredit(LeanHttp2Stream stream, int wanted)
    {
        int credit = (int)Math.Min(Math.Min(wanted, _sendWindow), _peerMaxFrame);
        if (credit <= 0)
        {
            (_windowWaiters ??= []).Add(stream);
            return 0;
        }

        _sendWindow -= credit;
        return credit;
    }

    /// <summary>The application read <paramref name="count"/> bytes of a stream (or they were discarded): returns the
    /// credit to the peer once enough has accumulated. True when that appended a WINDOW_UPDATE (to flush).</summary>
    internal bool Consumed(int streamId, int count, ref int streamUnacked, bool streamOpen)
    {
        if (_failure is not null)
        {
            return false;
        }

        bool appended = false;
        _receiveUnacked += count;
        if (_receiveUnacked >= ConnectionReceiveWindow / 4)
        {
            AppendWindowUpdateFrame(0, _receiveUnacked);
            _receiveWindow += _receiveUnacked;
            _receiveUnacked = 0;
            appended = true;
        }

        if (streamOpen)
        {
            streamUnacked += count;
            if (streamUnacked >= StreamReceiveWindow / 4)
            {
                AppendWindowUpdateFrame(streamId, streamUnacked);
                streamUnacked = 0;
                appended = true;
            }
        }

        return appended;
    }

    /// <summary>A stream is over in both directions, or reset: it no longer counts against the peer's limit.</summary>
    internal void Closed(LeanHttp2Stream stream)
    {
        if (_streams.Remove(stream.Id))
        {
            SlotFreed();
        }
    }

    /// <summary>A slot <see cref="TryReserve"/> took is free again (caller holds the lock): the last one of a connection
    /// going away closes it (no one else will: it has left the pool).</summary>
    private void SlotFreed()
    {
        _active--;
        if (_active == 0)
        {
            _idleSince = Environment.TickCount64;
            if (_goingAway && _failure is null)
            {
                _ = Task.Run(CloseAfterFlushAsync); // not under the lock: closing takes the pool's lock
            }
        }
    }

    // ---- reading ----

    private async Task ReadLoopAsync()
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        int start = 0;
        int end = 0;
        try
        {
            while (true)
            {
                while (end - start >= Http2Frame.HeaderLength)
                {
                    Http2Frame.ReadHeader(buffer.AsSpan(start), out int length, out Http2FrameType type, out byte flags, out int streamId);
                    if (length > Http2Frame.DefaultMaxFrameSize)
                    {
                        throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, $"a {type} frame of {length} bytes, above SETTINGS_MAX_FRAME_SIZE {Http2Frame.DefaultMaxFrameSize}");
                    }

                    if (end - start < Http2Frame.HeaderLength + length)
                    {
                        break;
                    }

                    ProcessFrame(type, flags, streamId, buffer.AsSpan(start + Http2Frame.HeaderLength, length));
                    start += Http2Frame.HeaderLength + length;
                }

                CompleteResponses();

                if (start == end)
                {
                    start = end = 0;
                }
                else if (buffer.Length - start < Http2Frame.HeaderLength + Http2Frame.DefaultMaxFrameSize)
                {
                    Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                    end -= start;
                    start = 0;
                }

                int read = await _stream.ReadAsync(buffer.AsMemory(end), _aborted.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    bool clean;
                    lock (_lock)
                    {
                        clean = _active == 0;
                    }

                    Abort(clean
                        ? new HttpRequestException(HttpRequestError.Unknown, "The upstream closed the HTTP/2 connection.")
                        : new HttpIOException(HttpRequestError.ResponseEnded, "The upstream closed the HTTP/2 connection with requests in flight."));
                    return;
                }

                end += read;
            }
        }
        catch (Http2ConnectionException ex)
        {
            lock (_lock)
            {
                if (_failure is null)
                {
                    AppendGoAway(ex.Code);
                }
            }

            await FlushNowAsync().WaitAsync(s_goAwayFlushTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            Abort(new HttpProtocolException((long)ex.Code, "The upstream broke the HTTP/2 protocol: " + ex.Message + ".", null));
        }
        catch (Exception ex)
        {
            Abort(ex is HttpIOException or OperationCanceledException
                ? ex
                : new HttpIOException(HttpRequestError.Unknown, "Reading the HTTP/2 connection to the upstream failed: " + ex.Message, ex));
        }
        finally
        {
            CompleteResponses(); // responses decoded before a failure are still delivered (their bodies then fail)
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>On the read loop: a response decoded from this read, delivered once the read's frames are handled.</summary>
    internal void DeferResponse(LeanHttp2Stream stream) => _decodedResponses.Add(stream);

    /// <summary>Delivers the responses decoded from the last read, outside the lock. The response of a connection's only
    /// request runs its continuation (YARP copying the response to the client) inline on the read loop, up to its first
    /// wait, instead of waking a pool thread for it: with HTTP/2 at 1,000 req/s (gRPC, <c>h2UpgradePolicy: UPGRADE</c>)
    /// 7.9 → 6.0 context switches, 6.2 → 0.4 futex calls and ×0.85 the CPU per request. With other requests open every
    /// response goes through the thread pool, as before: inline there too, one read loop ran every response's continuation
    /// and cost ×1.03 at 64 connections (perf/README.md, "data path, session 23").</summary>
    private void CompleteResponses()
    {
        List<LeanHttp2Stream> ready = _decodedResponses;
        if (ready.Count == 0)
        {
            return;
        }

        bool alone;
        lock (_lock)
        {
            alone = ready.Count == 1 && _active <= 1;
        }

        try
        {
            // an inline continuation cannot add to the list: only this loop decodes responses, and it is here
            foreach (LeanHttp2Stream stream in ready)
            {
                stream.CompleteResponse(inline: alone);
            }
        }
        finally
        {
            ready.Clear();
        }
    }

    private void ProcessFrame(Http2FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (type != Http2FrameType.Settings && !_settingsReceived.Task.IsCompleted)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"a {type} frame before the server's SETTINGS, which must come first (§3.4)");
        }

        if (_headerBlockStream != 0 && type != Http2FrameType.Continuation)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"a {type} frame inside the header block of stream {_headerBlockStream}");
        }

        switch (type)
        {
            case Http2FrameType.Data:
                OnData(flags, streamId, payload);
                break;
            case Http2FrameType.Headers:
                OnHeaders(flags, streamId, payload);
                break;
            case Http2FrameType.Continuation:
                OnContinuation(flags, streamId, payload);
                break;
            case Http2FrameType.RstStream:
                OnReset(streamId, payload);
                break;
            case Http2FrameType.Settings:
                OnSettings(flags, streamId, payload);
                break;
            case Http2FrameType.Ping:
                OnPing(flags, streamId, payload);
                break;
            case Http2FrameType.GoAway:
                OnGoAway(streamId, payload);
                break;
            case Http2FrameType.WindowUpdate:
                OnWindowUpdate(streamId, payload);
                break;
            case Http2FrameType.PushPromise:
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "PUSH_PROMISE although this client sent SETTINGS_ENABLE_PUSH 0");
            case Http2FrameType.Priority:
                if (streamId == 0)
                {
                    throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "PRIORITY on stream 0");
                }

                if (payload.Length != 5)
                {
                    throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "a PRIORITY frame not 5 bytes long");
                }

                if ((BinaryPrimitives.ReadInt32BigEndian(payload) & int.MaxValue) == streamId)
                {
                    OnSelfDependentPriority(streamId);
                }

                break; // priorities are not used (RFC 9113 §5.3.2 deprecates them)
            default:
                break; // unknown frame types are ignored (§4.1)
        }
    }

    /// <summary>A PRIORITY frame making its stream depend on itself: a stream error PROTOCOL_ERROR (RFC 9113 §5.3.1) on an
    /// open stream; nothing to reset on a closed one; on an idle one, which RST_STREAM cannot name (§6.4), a connection
    /// error.</summary>
    private void OnSelfDependentPriority(int streamId)
    {
        bool flush;
        lock (_lock)
        {
            if (NeverOpened(streamId))
            {
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"PRIORITY making idle stream {streamId} depend on itself");
            }

            int before = _outputLength;
            if (_streams.TryGetValue(streamId, out LeanHttp2Stream? stream))
            {
                stream.ResetFromPeerError(Http2ErrorCode.ProtocolError, "The upstream sent a PRIORITY frame making the stream depend on itself.");
            }

            flush = _outputLength > before;
        }

        if (flush)
        {
            _ = FlushAsync();
        }
    }

    /// <summary>True for a stream in the idle state (§5.1): one this client has not opened yet, or an even one (the server
    /// opens none: push is off). A frame other than PRIORITY on such a stream is a connection error (PROTOCOL_ERROR).
    /// Caller holds the lock.</summary>
    private bool NeverOpened(int streamId) => streamId >= _nextStreamId || (streamId & 1) == 0;

    private void OnData(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "DATA on stream 0");
        }

        ReadOnlySpan<byte> data = Unpad(flags, payload, 0, Http2FrameType.Data);
        bool endStream = (flags & Http2Frame.FlagEndStream) != 0;
        bool flush = false;
        lock (_lock)
        {
            int before = _outputLength; // flush only what handling this frame appended (a reset, a WINDOW_UPDATE)
            _receiveWindow -= payload.Length;
            if (_receiveWindow < 0)
            {
                throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "DATA beyond the connection's receive window");
            }

            if (!_streams.TryGetValue(streamId, out LeanHttp2Stream? stream))
            {
                if (NeverOpened(streamId))
                {
                    throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"DATA on stream {streamId}, which was never opened");
                }

                int unused = 0;
                _ = Consumed(streamId, payload.Length, ref unused, streamOpen: false); // a stream already closed: credit back at once
                flush = _outputLength > before;
            }
            else
            {
                stream.OnData(data, payload.Length - data.Length, endStream);
                flush = _outputLength > before;
            }
        }

        if (flush)
        {
            _ = FlushAsync();
        }
    }

    private void OnHeaders(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "HEADERS on stream 0");
        }

        // pad length (PADDED), then the priority fields (PRIORITY: 5 bytes), then the fragment, then the padding
        bool priority = (flags & Http2Frame.FlagPriority) != 0;
        ReadOnlySpan<byte> fragment = Unpad(flags, payload, priority ? 5 : 0, Http2FrameType.Headers);
        bool dependsOnItself = priority && (BinaryPrimitives.ReadInt32BigEndian(payload[((flags & Http2Frame.FlagPadded) != 0 ? 1 : 0)..]) & int.MaxValue) == streamId;

        bool endStream = (flags & Http2Frame.FlagEndStream) != 0;
        if ((flags & Http2Frame.FlagEndHeaders) != 0)
        {
            DecodeHeaderBlock(streamId, endStream, dependsOnItself, fragment);
            return;
        }

        _headerBlockStream = streamId;
        _headerBlockEndStream = endStream;
        _headerBlockSelfDependent = dependsOnItself;
        _headerBlockLength = 0;
        AppendToHeaderBlock(fragment);
    }

    private void OnContinuation(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (_headerBlockStream == 0 || streamId != _headerBlockStream)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"CONTINUATION on stream {streamId} without a header block open on it");
        }

        AppendToHeaderBlock(payload);
        if ((flags & Http2Frame.FlagEndHeaders) != 0)
        {
            int id = _headerBlockStream;
            _headerBlockStream = 0;
            DecodeHeaderBlock(id, _headerBlockEndStream, _headerBlockSelfDependent, _headerBlock.AsSpan(0, _headerBlockLength));
        }
    }

    private void AppendToHeaderBlock(ReadOnlySpan<byte> fragment)
    {
        if (_headerBlockLength + fragment.Length > 2 * MaxHeaderListSize)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, $"a header block over {2 * MaxHeaderListSize} bytes");
        }

        if (_headerBlock.Length - _headerBlockLength < fragment.Length)
        {
            Array.Resize(ref _headerBlock, Math.Max(_headerBlock.Length * 2, _headerBlockLength + fragment.Length));
        }

        fragment.CopyTo(_headerBlock.AsSpan(_headerBlockLength));
        _headerBlockLength += fragment.Length;
    }

    private void DecodeHeaderBlock(int streamId, bool endStream, bool dependsOnItself, ReadOnlySpan<byte> block)
    {
        LeanHttp2Stream? stream;
        bool trailers = false;
        bool afterEnd = false;
        lock (_lock)
        {
            if (_streams.TryGetValue(streamId, out stream))
            {
                trailers = stream.HasResponse;
                afterEnd = stream.RemoteEnded; // half-closed (remote), open only for the request body (§5.1)
            }
            else if (NeverOpened(streamId))
            {
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"HEADERS on stream {streamId}, which this client never opened");
            }
        }

        // A stream already gone (cancelled, reset) still has its block decoded: the dynamic table is the connection's.
        _sinkResponse = stream is null || afterEnd ? null : trailers ? stream.Response : new HttpResponseMessage { RequestMessage = stream.Request, Version = HttpVersion.Version20, Content = new LeanResponseContent() };
        _sinkTrailers = trailers;
        _sinkStatus = 0;
        _sinkField = 0;
        _sinkMalformed = null;
        _sinkContentLength = -1;
        bool withinLimit;
        try
        {
            // past MaxHeaderListSize the block is still decoded to its end (the table is the connection's), and then
            // only its stream fails
            withinLimit = _decoder.DecodeWithinLimit(block, this);
        }
        catch (HPackDecodingException ex)
        {
            throw new Http2ConnectionException(Http2ErrorCode.CompressionError, ex.Message);
        }

        HttpResponseMessage? response = _sinkResponse;
        _sinkResponse = null;
        if (afterEnd)
        {
            bool reset;
            lock (_lock)
            {
                reset = _streams.TryGetValue(streamId, out LeanHttp2Stream? current) && ReferenceEquals(current, stream);
                if (reset)
                {
                    stream!.ResetFromPeerError(Http2ErrorCode.StreamClosed, "The upstream sent HEADERS after ending the stream.");
                }
            }

            if (reset)
            {
                _ = FlushAsync();
            }

            return;
        }

        if (stream is null || response is null)
        {
            return;
        }

        // RFC 9113 §5.3.1: a stream depending on itself is a stream error PROTOCOL_ERROR, like a malformed response
        string? malformed = dependsOnItself ? "HEADERS whose priority makes the stream depend on itself" : _sinkMalformed;
        if (!withinLimit)
        {
            malformed = null; // what was decoded is cut short: the limit is the error
        }
        else if (malformed is null && !trailers)
        {
            if (_sinkStatus == 0)
            {
                malformed = "response headers without :status";
            }
            else if (_sinkStatus is >= 100 and < 200)
            {
                if (_sinkStatus == 101 || endStream)
                {
                    malformed = $"an informational {_sinkStatus} response that " + (endStream ? "ends the stream" : "switches protocols");
                }
                else
                {
                    response.Dispose();
                    return; // 1xx: the final response follows
                }
            }
        }
        else if (malformed is null && !endStream)
        {
            malformed = "trailers that do not end the stream";
        }

        bool flush;
        lock (_lock)
        {
            int before = _outputLength; // flush only what handling this frame appended (a reset, a WINDOW_UPDATE)
            if (!_streams.TryGetValue(streamId, out LeanHttp2Stream? current) || !ReferenceEquals(current, stream))
            {
                // reset or cancelled while its block was decoded
                if (!trailers)
                {
                    response.Dispose();
                }

                return;
            }

            if (!withinLimit)
            {
                stream.ResetOverHeaderLimit($"The upstream's HTTP/2 response {(trailers ? "trailers are" : "headers are")} larger than the limit of {MaxHeaderListSize} bytes (name + value + 32 per field, RFC 9113 §6.5.2).");
            }
            else if (malformed is not null)
            {
                stream.ResetFromPeerError(Http2ErrorCode.ProtocolError, "The upstream sent a malformed HTTP/2 response: " + malformed + ".");
            }
            else if (trailers)
            {
                stream.OnTrailers();
            }
            else
            {
                response.StatusCode = (HttpStatusCode)_sinkStatus;
                ((LeanResponseContent)response.Content).DeclaredLength = _sinkContentLength;
                stream.OnResponse(response, endStream);
            }

            flush = _outputLength > before;
        }

        if ((malformed is not null || !withinLimit) && !trailers)
        {
            response.Dispose();
        }

        if (flush)
        {
            _ = FlushAsync();
        }
    }

    /// <summary>One decoded field of the block being read (<see cref="IHPackHeaderSink"/>).</summary>
    void IHPackHeaderSink.OnHeader(int staticIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        HttpResponseMessage? response = _sinkResponse;
        if (response is null || _sinkMalformed is not null)
        {
            return;
        }

        if (!name.IsEmpty && name[0] == (byte)':')
        {
            if (_sinkTrailers || _sinkField > 0 || _sinkStatus != 0 || !name.SequenceEqual(":status"u8)
                || value.Length != 3 || value[0] is < (byte)'1' or > (byte)'9' || !char.IsAsciiDigit((char)value[1]) || !char.IsAsciiDigit((char)value[2]))
            {
                _sinkMalformed = "the pseudo-header " + LeanResponseHeaderCache.Latin1(name) + (_sinkField > 0 ? " after a regular header" : "");
                return;
            }

            // three digits, 100 at least (RFC 9110 §15: below is no status; "000" would also pass for no :status at all)
            _sinkStatus = ((value[0] - '0') * 100) + ((value[1] - '0') * 10) + (value[2] - '0');
            return;
        }

        if (name.IsEmpty || name.IndexOfAnyExcept(s_fieldNameBytes) >= 0 || IsConnectionSpecific(name))
        {
            _sinkMalformed = "the header name '" + LeanResponseHeaderCache.Latin1(name) + "' (upper case, empty, with a character a name cannot have, or connection-specific)";
            return;
        }

        if (value.IndexOfAny((byte)'\0', (byte)'\r', (byte)'\n') >= 0
            || (!value.IsEmpty && (value[0] is (byte)' ' or (byte)'\t' || value[^1] is (byte)' ' or (byte)'\t')))
        {
            _sinkMalformed = "a value of '" + LeanResponseHeaderCache.Latin1(name) + "' with NUL, CR or LF, or with whitespace around it";
            return;
        }

        if (_sinkTrailers)
        {
            response.TrailingHeaders.TryAddWithoutValidation(LeanHttp1HeaderNames.Get(name, out _), LeanResponseHeaderCache.Latin1(value));
            return;
        }

        if (name.Length == 14 && name.SequenceEqual("content-length"u8))
        {
            if (_sinkContentLength >= 0 || !LeanHttp1Connection.TryParseLength(value, out _sinkContentLength))
            {
                _sinkMalformed = "a content-length that is not one number";
                return;
            }
        }

        _headerCache.Add(response, _sinkField++, name, value);
    }

    private static bool IsConnectionSpecific(ReadOnlySpan<byte> name)
        => name.Length switch
        {
            7 => name.SequenceEqual("upgrade"u8),
            10 => name.SequenceEqual("connection"u8) || name.SequenceEqual("keep-alive"u8),
            16 => name.SequenceEqual("proxy-connection"u8),
            17 => name.SequenceEqual("transfer-encoding"u8),
            _ => false,
        };

    private void OnReset(int streamId, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 4)
        {
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "a RST_STREAM frame not 4 bytes long");
        }

        if (streamId == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "RST_STREAM on stream 0");
        }

        var code = (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload);
        lock (_lock)
        {
            if (_streams.TryGetValue(streamId, out LeanHttp2Stream? stream))
            {
                stream.OnPeerReset(code);
            }
            else if (NeverOpened(streamId))
            {
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"RST_STREAM on stream {streamId}, which was never opened");
            }
        }
    }

    private void OnSettings(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (IsSettingsAck(flags, streamId, payload))
        {
            return;
        }

        List<LeanHttp2Stream>? woken = null;
        lock (_lock)
        {
            for (; !payload.IsEmpty; payload = payload[6..])
            {
                ushort id = BinaryPrimitives.ReadUInt16BigEndian(payload);
                uint value = BinaryPrimitives.ReadUInt32BigEndian(payload[2..]);
                switch (id)
                {
                    case Http2Frame.SettingEnablePush when value != 0: // a server may only send 0 (§6.5.2)
                        throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"SETTINGS_ENABLE_PUSH {value} from a server");
                    case Http2Frame.SettingMaxConcurrentStreams:
                        _peerMaxStreams = (int)Math.Min(value, int.MaxValue);
                        break;
                    case Http2Frame.SettingInitialWindowSize:
                        if (value > Http2Frame.MaxWindow)
                        {
                            throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, $"SETTINGS_INITIAL_WINDOW_SIZE {value}");
                        }

                        int delta = (int)value - _peerInitialWindow;
                        _peerInitialWindow = (int)value;
                        foreach (LeanHttp2Stream stream in _streams.Values)
                        {
                            if (!stream.AddSendWindow(delta))
                            {
                                throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream's window");
                            }

                            if (delta > 0)
                            {
                                (woken ??= []).Add(stream);
                            }
                        }

                        break;
                    case Http2Frame.SettingMaxFrameSize:
                        if (value is < Http2Frame.DefaultMaxFrameSize or > 16_777_215)
                        {
                            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"SETTINGS_MAX_FRAME_SIZE {value}");
                        }

                        _peerMaxFrame = (int)value;
                        break;
                    case Http2Frame.SettingHeaderTableSize:
                        OnPeerHeaderTableSize(value); // this client's encoder indexes nothing, but a lower limit is still signalled
                        break;
                    default:
                        break; // others are advisory or unknown
                }
            }

            _settingsReceived.TrySetResult();
            AppendSettingsAck();
        }

        if (woken is not null)
        {
            foreach (LeanHttp2Stream stream in woken)
            {
                stream.WakeWriter();
            }
        }

        _ = FlushAsync();
    }

    private void OnPing(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 8)
        {
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "a PING frame not 8 bytes long");
        }

        if (streamId != 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "PING on a stream");
        }

        if ((flags & Http2Frame.FlagAck) != 0)
        {
            return; // this client sends no PING
        }

        lock (_lock)
        {
            AppendPingAck(payload);
        }

        _ = FlushAsync();
    }

    private void OnGoAway(int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId != 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "GOAWAY on a stream");
        }

        if (payload.Length < 8)
        {
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "a GOAWAY frame shorter than 8 bytes");
        }

        int lastStream = BinaryPrimitives.ReadInt32BigEndian(payload) & int.MaxValue;
        var code = (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload[4..]);
        List<LeanHttp2Stream>? refused = null;
        lock (_lock)
        {
            _goingAway = true;
            foreach (LeanHttp2Stream stream in _streams.Values)
            {
                if (stream.Id > lastStream)
                {
                    (refused ??= []).Add(stream);
                }
            }

            if (refused is not null)
            {
                foreach (LeanHttp2Stream stream in refused)
                {
                    stream.OnRefusedByGoAway(code);
                }
            }

            if (_active == 0 && _failure is null)
            {
                _ = Task.Run(CloseAfterFlushAsync); // not under the lock: closing takes the pool's lock
            }
        }

        _pool.Remove(this);
    }

    private void OnWindowUpdate(int streamId, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 4)
        {
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "a WINDOW_UPDATE frame not 4 bytes long");
        }

        int increment = BinaryPrimitives.ReadInt32BigEndian(payload) & int.MaxValue;
        List<LeanHttp2Stream>? woken = null;
        LeanHttp2Stream? single = null;
        lock (_lock)
        {
            if (streamId == 0)
            {
                if (increment == 0)
                {
                    throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "a WINDOW_UPDATE of 0 on the connection");
                }

                _sendWindow += increment;
                if (_sendWindow > Http2Frame.MaxWindow)
                {
                    throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "WINDOW_UPDATEs took the connection's window beyond 2^31-1");
                }

                woken = _windowWaiters;
                _windowWaiters = null;
            }
            else if (_streams.TryGetValue(streamId, out LeanHttp2Stream? stream))
            {
                if (increment == 0)
                {
                    stream.ResetFromPeerError(Http2ErrorCode.ProtocolError, "The upstream sent a WINDOW_UPDATE of 0 on a stream.");
                }
                else if (!stream.AddSendWindow(increment))
                {
                    stream.ResetFromPeerError(Http2ErrorCode.FlowControlError, "The upstream's WINDOW_UPDATEs took a stream's window beyond 2^31-1.");
                }
                else
                {
                    single = stream;
                }
            }
            else if (NeverOpened(streamId))
            {
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"WINDOW_UPDATE on stream {streamId}, which was never opened");
            }
        }

        single?.WakeWriter();
        if (woken is not null)
        {
            foreach (LeanHttp2Stream stream in woken)
            {
                stream.WakeWriter();
            }
        }

        _ = FlushAsync();
    }

    /// <summary>Ends the connection: every open stream fails with <paramref name="error"/>, the channel is closed.</summary>
    public void Abort(Exception error)
    {
        LeanHttp2Stream[] streams;
        lock (_lock)
        {
            if (_failure is not null)
            {
                return;
            }

            _failure = error;
            _outputClosed = true;
            streams = [.. _streams.Values];
            _streams.Clear();
            _active = 0;
            if (!_flushing)
            {
                ArrayPool<byte>.Shared.Return(_output);
                _output = [];
                _outputLength = 0;
            }

            if (_spare is not null)
            {
                ArrayPool<byte>.Shared.Return(_spare);
                _spare = null;
            }

            foreach (LeanHttp2Stream stream in streams)
            {
                stream.OnConnectionFailed(error);
            }
        }

        _settingsReceived.TrySetResult(); // StartAsync then sees the failure
        _pool.Remove(this);
        _aborted.Cancel();
        _ = DisposeStreamAsync();
    }

    private async Task DisposeStreamAsync()
    {
        try
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // the connection is already failed; nothing more to tell anyone
        }
    }
}

/// <summary>A connection error (RFC 9113 §5.4.1): the read loop sends GOAWAY with <see cref="Code"/> and ends.</summary>
internal sealed class Http2ConnectionException(Http2ErrorCode code, string message) : Exception(message)
{
    public Http2ErrorCode Code { get; } = code;
}
