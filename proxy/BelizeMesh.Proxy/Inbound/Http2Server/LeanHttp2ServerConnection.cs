using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using BelizeMesh.Proxy.Forwarding.Http2;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Inbound.Http2Server;

/// <summary>
/// One HTTP/2 connection of the lean server (RFC 9113, server side): the read loop, the output buffer, flow control,
/// the connection's timers and abuse limits. Requests are <see cref="LeanHttp2ServerStream"/>s, pooled per connection.
/// </summary>
/// <remarks>
/// <para>1. Preface: the client's 24 bytes, then its SETTINGS first (else PROTOCOL_ERROR); our SETTINGS and a connection
/// WINDOW_UPDATE go out at once.</para>
/// <para>2. Reading: one loop parses frames straight from the input pipe (a frame split across segments is copied to a
/// scratch buffer) and handles each as it is parsed. A complete request header block is decoded into a pooled stream
/// and its application runs at once, inline, up to its first await. DATA is copied into its stream's buffer.</para>
/// <para>3. Writing: the lean client's policy (<see cref="LeanHttp2Endpoint"/>); each write moves the whole buffer to the
/// output pipe and flushes it. Response writers wait at <see cref="OutputHighWater"/>.</para>
/// <para>4. Ending: a connection error sends GOAWAY with its code and ends at once, failing every stream; a graceful end
/// (the host stopping, the client's GOAWAY) sends GOAWAY NO_ERROR with the last stream processed, lets open streams
/// finish, then closes. The connection returns only once every application has finished.</para>
/// </remarks>
internal sealed class LeanHttp2ServerConnection : LeanHttp2Endpoint, IHPackHeaderSink
{
    /// <summary>Output bytes beyond which a response writer waits for the write under way (the pipe's own limit bounds the
    /// rest): flow-control windows let a client ask for megabytes it does not read.</summary>
    internal const int OutputHighWater = 256 * 1024;

    // Above this much unwritten output after a read the connection is closed (ENHANCE_YOUR_CALM): response writers stop
    // at OutputHighWater, so only a peer that keeps provoking control frames without reading gets here.
    private const int OutputHardLimit = 16 * OutputHighWater;

    /// <summary>Bytes appended and not yet taken by a write (read without the lock: a hint for writers to wait).</summary>
    internal int PendingOutput => Volatile.Read(ref _outputLength);

    private const int MaxPooledStreams = 32;
    private const int RecentResetSlots = 64;
    private const long RapidResetWindowMilliseconds = 10_000;
    private const int RapidResetLimit = 200;
    private const int ControlFramesPerSecond = 100;
    private const int EmptyDataFramesLimit = 100;
    private const int TickMilliseconds = 1_000;
    private const ushort SettingEnableConnectProtocol = 0x8;

    private static readonly TimerCallback s_tick = static state => ((LeanHttp2ServerConnection)state!).OnTick();
    private static readonly Action<object?> s_closeRequested = static state => ((LeanHttp2ServerConnection)state!).BeginGracefulClose();
    private static readonly Action<object?> s_closed = static state => ((LeanHttp2ServerConnection)state!).OnTransportClosed();
    private static readonly Action<PipeReader> s_cancelRead = static input => input.CancelPendingRead();
    private static readonly SearchValues<char> s_regNameChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=%");
    private static readonly SearchValues<char> s_ipLiteralChars = SearchValues.Create("0123456789ABCDEFabcdef:.");

    private readonly ConnectionContext _context;
    private readonly PipeReader _input;
    private readonly PipeWriter _outputPipe;
    private readonly RequestDelegate _application;
    private readonly LeanHttp2ServerOptions _options;
    private readonly ILogger _logger;
    private readonly HPackDecoder _decoder;
    private readonly Dictionary<int, LeanHttp2ServerStream> _streams = [];
    private readonly Stack<LeanHttp2ServerStream> _pool = new();
    private readonly LeanHttp2HeaderStrings _strings = new();
    private readonly int[] _recentResets = new int[RecentResetSlots];
    private readonly int[] _recentClosed = new int[RecentResetSlots];
    private readonly TaskCompletionSource _streamsDone = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Connection state: guarded by _lock (the output, _active and _failure are LeanHttp2Endpoint's; here _active counts
    // the streams not yet released, open or closed, and _streams holds the open ones).
    private int _highestStreamId;
    private int _peerInitialWindow = Http2Frame.DefaultWindow;
    private int _peerMaxFrame = Http2Frame.DefaultMaxFrameSize;
    private long _sendWindow = Http2Frame.DefaultWindow;
    private long _receiveWindow;
    private int _receiveUnacked;
    private bool _settingsAcked;
    private bool _goAwaySent;
    private int _goAwayLastStreamId;
    private bool _peerGoingAway;
    private volatile bool _stopReading;
    private string? _closeReason;
    private long _idleSince = Environment.TickCount64;
    private List<LeanHttp2ServerStream>? _windowWaiters;
    private int _recentResetNext;
    private int _recentClosedNext;
    private long _rapidResetWindowStart;
    private int _rapidResets;

    // Read loop only (the timer reads the two header-block fields, a stale value only delays a check by a tick).
    private readonly long _startedAt = Environment.TickCount64;
    private volatile bool _settingsReceived;
    private volatile int _headerBlockStream;
    private long _headerBlockStartedAt;
    private byte[] _headerBlock = [];
    private int _headerBlockLength;
    private bool _headerBlockEndStream;
    private bool _headerBlockSelfDependent;
    private byte[]? _scratch;
    private long _controlWindowStart;
    private int _controlFrames;
    private int _emptyDataFrames;
    private Timer? _timer;

    // The header block being decoded (IHPackHeaderSink).
    private LeanHttp2ServerStream? _sink;
    private bool _sinkTrailers;
    private int _sinkField;
    private int _sinkSize;
    private bool _sinkRegular;
    private string? _sinkMalformed;
    private string? _sinkMethod;
    private string? _sinkScheme;
    private string? _sinkAuthority;
    private string? _sinkPath;
    private string? _sinkHost;
    private int _sinkHostFields;
    private string? _sinkProtocol;
    private long _sinkContentLength;

    public LeanHttp2ServerConnection(ConnectionContext context, RequestDelegate application, LeanHttp2ServerOptions options, ILogger logger)
        : base(OutputHighWater)
    {
        _context = context;
        _input = context.Transport.Input;
        _outputPipe = context.Transport.Output;
        _application = application;
        _options = options;
        _logger = logger;
        _receiveWindow = options.InitialConnectionWindowSize;

        // The decoder's own bound only caps the work one block can cause (indexed fields expand); the advertised limit is
        // checked field by field below, so a request over it can still be answered 431.
        _decoder = new HPackDecoder(4096, Math.Min(4 * options.MaxHeaderListSize, int.MaxValue / 2));
    }

    internal ConnectionContext Context => _context;

    internal LeanHttp2ServerOptions Options => _options;

    internal RequestDelegate Application => _application;

    internal ILogger Logger => _logger;

    /// <summary>Why the connection ended; null while it is up. Read under the lock.</summary>
    internal Exception? Failure => _failure;

    /// <summary>Serves the connection until it ends and every application has finished.</summary>
    public async Task RunAsync()
    {
        // Inside a PQ channel: this connection batches its own writes (FlushAsync), so the channel seals each flush on
        // the flushing thread instead of handing it to the thread pool once more.
        _context.Features.Get<BelizeMesh.Channel.IPqChannelWriteFeature>()?.SealOnFlush();

        // 1. Our preface: SETTINGS, and the connection window beyond the initial 65,535.
        lock (_lock)
        {
            int connectionIncrement = _options.InitialConnectionWindowSize - Http2Frame.DefaultWindow;
            int settingsLength = _options.EnableExtendedConnect ? 24 : 18;
            Span<byte> frame = Reserve(Http2Frame.HeaderLength + settingsLength);
            Http2Frame.WriteHeader(frame, settingsLength, Http2FrameType.Settings, 0, 0);
            WriteSetting(frame[9..], Http2Frame.SettingMaxConcurrentStreams, _options.MaxConcurrentStreams);
            WriteSetting(frame[15..], Http2Frame.SettingInitialWindowSize, _options.InitialStreamWindowSize);
            WriteSetting(frame[21..], Http2Frame.SettingMaxHeaderListSize, _options.MaxHeaderListSize);
            if (_options.EnableExtendedConnect)
            {
                WriteSetting(frame[27..], SettingEnableConnectProtocol, 1);
            }

            _outputLength += frame.Length;
            if (connectionIncrement > 0)
            {
                AppendWindowUpdate(0, connectionIncrement);
            }
        }

        _ = FlushAsync();
        CancellationTokenRegistration closeRequested = default;
        if (_context.Features.Get<IConnectionLifetimeNotificationFeature>() is { } lifetime)
        {
            closeRequested = lifetime.ConnectionClosedRequested.UnsafeRegister(s_closeRequested, this);
        }

        CancellationTokenRegistration closed = _context.ConnectionClosed.UnsafeRegister(s_closed, this);
        _timer = new Timer(s_tick, this, TickMilliseconds, TickMilliseconds);
        try
        {
            // 2. Read until the connection ends.
            await ReadLoopAsync().ConfigureAwait(false);

            // 4. Send what is pending (a GOAWAY), then fail what is still open and wait for the applications.
            await FinalFlushAsync().ConfigureAwait(false);
            List<LeanHttp2ServerStream>? open = null;
            lock (_lock)
            {
                _failure ??= new ConnectionAbortedException("The HTTP/2 connection closed: " + (_closeReason ?? "the client closed it") + ".");
                foreach (LeanHttp2ServerStream stream in _streams.Values)
                {
                    (open ??= []).Add(stream);
                }

                _streams.Clear();
                if (open is not null)
                {
                    foreach (LeanHttp2ServerStream stream in open)
                    {
                        stream.OnConnectionFailed();
                    }
                }

                WakeWindowWaiters();
                if (_active == 0)
                {
                    _streamsDone.TrySetResult();
                }
            }

            await _streamsDone.Task.ConfigureAwait(false);
            LeanHttp2ServerLog.ConnectionClosed(_logger, _context.ConnectionId, _closeReason ?? "the client closed it");
        }
        finally
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
            closeRequested.Dispose();
            closed.Dispose();
            await WaitFlushIdleAsync().ConfigureAwait(false);
            lock (_lock)
            {
                ArrayPool<byte>.Shared.Return(_output);
                _output = [];
                _outputLength = 0;
                _outputClosed = true;
                if (_spare is not null)
                {
                    ArrayPool<byte>.Shared.Return(_spare);
                    _spare = null;
                }

                while (_pool.TryPop(out LeanHttp2ServerStream? pooled))
                {
                    pooled.Dispose();
                }
            }

            if (_scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(_scratch);
                _scratch = null;
            }

            await _input.CompleteAsync().ConfigureAwait(false);
            await _outputPipe.CompleteAsync().ConfigureAwait(false);
        }

        static void WriteSetting(Span<byte> destination, ushort id, int value)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination, id);
            BinaryPrimitives.WriteInt32BigEndian(destination[2..], value);
        }
    }

    /// <summary>Flushes what is pending at the end (GOAWAY); a client that does not read gets its transport aborted.</summary>
    private async Task FinalFlushAsync()
    {
        Task flushed = FlushNowAsync();
        if (!flushed.IsCompleted)
        {
            try
            {
                await flushed.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _context.Abort(new ConnectionAbortedException("The HTTP/2 client did not read the connection's last frames."));
            }
        }
    }

    // ---- ending ----

    /// <summary>The host is stopping (IConnectionLifetimeNotificationFeature): GOAWAY NO_ERROR with the last stream
    /// processed, finish the open streams, then close.</summary>
    private void BeginGracefulClose()
    {
        lock (_lock)
        {
            if (_failure is not null)
            {
                return;
            }

            _closeReason ??= "the server is shutting down";
            AppendGoAway(Http2ErrorCode.NoError);
            StopIfDrained();
        }

        _ = FlushAsync();
    }

    /// <summary>The transport closed under us: fail everything now.</summary>
    private void OnTransportClosed()
    {
        lock (_lock)
        {
            _closeReason ??= "the transport closed";
            _stopReading = true;
        }

        StopReadLoop();
    }

    /// <summary>Ends the connection with GOAWAY <paramref name="code"/> (caller holds the lock); the read loop stops.</summary>
    private void CloseWithError(Http2ErrorCode code, string reason)
    {
        if (_closeReason is null)
        {
            _closeReason = reason;
            LeanHttp2ServerLog.ConnectionError(_logger, _context.ConnectionId, code, reason);
        }

        AppendGoAway(code);
        _stopReading = true;
    }

    /// <summary>After GOAWAY (ours or the client's), the connection ends once no stream is left (caller holds the lock).</summary>
    private void StopIfDrained()
    {
        if ((_goAwaySent || _peerGoingAway) && _active == 0 && !_stopReading)
        {
            _stopReading = true;
            StopReadLoop();
        }
    }

    /// <summary>Wakes the read loop so it sees <see cref="_stopReading"/>. From the thread pool: the channel's pipes run
    /// continuations inline, and the read loop must not resume inside a caller's lock.</summary>
    private void StopReadLoop() => ThreadPool.UnsafeQueueUserWorkItem(s_cancelRead, _input, preferLocal: false);

    /// <summary>The coarse timer: keep-alive, the preface and header-block timeouts, once a second.</summary>
    private void OnTick()
    {
        long now = Environment.TickCount64;
        bool stop = false;
        lock (_lock)
        {
            if (_stopReading || _failure is not null)
            {
                return;
            }

            TimeSpan headers = _options.RequestHeadersTimeout;
            if (headers != Timeout.InfiniteTimeSpan && !_settingsReceived && now - _startedAt > (long)headers.TotalMilliseconds)
            {
                CloseWithError(Http2ErrorCode.ProtocolError, "no preface and SETTINGS within the request headers timeout");
                stop = true;
            }
            else if (headers != Timeout.InfiniteTimeSpan && _headerBlockStream != 0 && now - Volatile.Read(ref _headerBlockStartedAt) > (long)headers.TotalMilliseconds)
            {
                CloseWithError(Http2ErrorCode.ProtocolError, "a header block not completed within the request headers timeout");
                stop = true;
            }
            else if (_options.KeepAliveTimeout != Timeout.InfiniteTimeSpan && _active == 0 && now - _idleSince > (long)_options.KeepAliveTimeout.TotalMilliseconds)
            {
                _closeReason = "keep-alive timeout";
                AppendGoAway(Http2ErrorCode.NoError);
                _stopReading = true;
                stop = true;
            }
        }

        if (stop)
        {
            StopReadLoop();
            _ = FlushAsync();
        }
    }

    // ---- writing ----

    /// <summary>The write (see <see cref="LeanHttp2Endpoint"/>): to the output pipe, flushed; when it fails the client is
    /// gone, and the read loop stops.</summary>
    private protected override async Task FlushLoopAsync()
    {
        byte[]? written = null;
        while (TakeOutput(ref written, out byte[]? buffer, out int length))
        {
            bool failed = false;
            try
            {
                _outputPipe.Write(buffer.AsSpan(0, length));
                FlushResult result = await _outputPipe.FlushAsync().ConfigureAwait(false);
                failed = result.IsCompleted || result.IsCanceled;
            }
            catch (Exception ex)
            {
                LeanHttp2ServerLog.TransportFailed(_logger, _context.ConnectionId, ex);
                failed = true;
            }

            if (failed)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                TaskCompletionSource? idle;
                lock (_lock)
                {
                    idle = EndFlushing();
                    _outputLength = 0; // the client is gone: nothing more can be written
                    _closeReason ??= "writing to the transport failed";
                    _stopReading = true;
                }

                StopReadLoop();
                idle?.TrySetResult();
                return;
            }

            written = buffer;
        }
    }

    /// <summary>Whether frames may still be appended (caller holds the lock): not once the connection failed.</summary>
    internal bool CanWrite => _failure is null && _output.Length > 0;

    /// <summary>Appends a header block as HEADERS and CONTINUATIONs within the client's frame size (caller holds the lock).
    /// After the client lowered SETTINGS_HEADER_TABLE_SIZE, the first block starts with a dynamic table size update to the
    /// new size (see <see cref="LeanHttp2Endpoint.AppendHeaderFrames"/>).</summary>
    internal void AppendHeaders(int streamId, ReadOnlySpan<byte> block, bool endStream)
    {
        if (!CanWrite)
        {
            return;
        }

        AppendHeaderFrames(streamId, block, endStream, _peerMaxFrame);
    }

    /// <summary>Appends a DATA frame; the caller holds the lock and has taken the flow-control credit.</summary>
    internal void AppendData(int streamId, ReadOnlySpan<byte> data, bool endStream)
    {
        if (!CanWrite)
        {
            return;
        }

        AppendDataFrame(streamId, data, endStream);
    }

    /// <summary>Appends RST_STREAM and remembers the stream, whose frames in flight are then ignored (caller holds the lock).</summary>
    internal void AppendReset(int streamId, Http2ErrorCode code)
    {
        _recentResets[_recentResetNext] = streamId;
        _recentResetNext = (_recentResetNext + 1) % RecentResetSlots;
        if (!CanWrite)
        {
            return;
        }

        AppendResetFrame(streamId, code);
    }

    private bool RecentlyReset(int streamId) => Array.IndexOf(_recentResets, streamId) >= 0;

    private void AppendWindowUpdate(int streamId, int increment)
    {
        if (!CanWrite)
        {
            return;
        }

        AppendWindowUpdateFrame(streamId, increment);
    }

    /// <summary>GOAWAY with the last stream processed (caller holds the lock). A later GOAWAY may only lower the last
    /// stream id; ours never changes after the first one, since no stream is processed above it.</summary>
    private void AppendGoAway(Http2ErrorCode code)
    {
        if (_goAwaySent && code == Http2ErrorCode.NoError)
        {
            return;
        }

        if (!_goAwaySent)
        {
            _goAwaySent = true;
            _goAwayLastStreamId = _highestStreamId; // streams opened later are refused: a later GOAWAY must not raise it (§6.8)
        }

        if (!CanWrite)
        {
            return;
        }

        // the debug data says why (RFC 9113 §6.8), in ASCII, for the peer's logs
        string reason = code == Http2ErrorCode.NoError ? "" : _closeReason ?? "";
        AppendGoAwayFrame(_goAwayLastStreamId, code, reason.AsSpan(0, Math.Min(reason.Length, 256)));
    }

    // ---- flow control and stream bookkeeping (caller holds the lock) ----

    /// <summary>The client's SETTINGS_MAX_FRAME_SIZE.</summary>
    internal int PeerMaxFrame => _peerMaxFrame;

    /// <summary>The connection's send credit for a stream's DATA: at most <paramref name="wanted"/>; 0 when the window is
    /// empty (the stream is then woken by the next WINDOW_UPDATE on stream 0).</summary>
    internal int TakeSendCredit(LeanHttp2ServerStream stream, int wanted)
    {
        int credit = (int)Math.Min(wanted, _sendWindow);
        if (credit <= 0)
        {
            List<LeanHttp2ServerStream> waiters = _windowWaiters ??= [];
            if (!waiters.Contains(stream))
            {
                waiters.Add(stream); // once: a writer woken by its stream's WINDOW_UPDATEs would otherwise add itself again and again
            }

            return 0;
        }

        _sendWindow -= credit;
        return credit;
    }

    /// <summary>The application read (or the stream discarded) <paramref name="count"/> request bytes: the credit goes back
    /// to the client once half a window has accumulated. True when a WINDOW_UPDATE was appended (to flush).</summary>
    internal bool Consumed(int streamId, int count, ref int streamUnacked, bool streamOpen)
    {
        if (count <= 0 || !CanWrite)
        {
            return false;
        }

        bool appended = false;
        _receiveUnacked += count;
        if (_receiveUnacked >= _options.InitialConnectionWindowSize / 2)
        {
            AppendWindowUpdate(0, _receiveUnacked);
            _receiveWindow += _receiveUnacked;
            _receiveUnacked = 0;
            appended = true;
        }

        if (streamOpen)
        {
            streamUnacked += count;
            if (streamUnacked >= Math.Max(1, _options.InitialStreamWindowSize / 2))
            {
                AppendWindowUpdate(streamId, streamUnacked);
                streamUnacked = 0;
                appended = true;
            }
        }

        return appended;
    }

    /// <summary>The stream's receive window before our SETTINGS are acknowledged covers the protocol's initial 65,535; the
    /// acknowledgement moves every open stream to <see cref="LeanHttp2ServerOptions.InitialStreamWindowSize"/>.
    /// The client may apply our SETTINGS before its acknowledgement reaches us, so until then a stream accepts the larger of
    /// the two.</summary>
    internal int InitialReceiveWindow => _settingsAcked ? _options.InitialStreamWindowSize : Math.Max(Http2Frame.DefaultWindow, _options.InitialStreamWindowSize);

    /// <summary>A stream is over in both directions, or reset: frames for it are no longer expected.</summary>
    internal void Remove(LeanHttp2ServerStream stream)
    {
        if (_streams.TryGetValue(stream.Id, out LeanHttp2ServerStream? current) && ReferenceEquals(current, stream))
        {
            _streams.Remove(stream.Id);
            _recentClosed[_recentClosedNext] = stream.Id;
            _recentClosedNext = (_recentClosedNext + 1) % RecentResetSlots;
        }
    }

    /// <summary>Whether a new stream must be refused for concurrency (caller holds the lock). Only open and half-closed
    /// streams — those in the table — count against SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §5.1.2): a stream closed
    /// on the wire (both END_STREAMs, or reset) does not, though its application or OnCompleted callbacks may still run
    /// and it is released only then. Those streams (<see cref="LeanHttp2Endpoint._active"/> counts every stream not yet
    /// released) are bounded at twice the limit, so that a client cannot pile up requests still finishing.</summary>
    private bool OverConcurrencyLimit()
        => _streams.Count >= _options.MaxConcurrentStreams || _active - _options.MaxConcurrentStreams >= _options.MaxConcurrentStreams;

    /// <summary>A stream reset by the client while its application ran: counted against rapid reset (CVE-2023-44487).</summary>
    private bool CountRapidReset()
    {
        long now = Environment.TickCount64;
        if (now - _rapidResetWindowStart > RapidResetWindowMilliseconds)
        {
            _rapidResetWindowStart = now;
            _rapidResets = 0;
        }

        return ++_rapidResets > RapidResetLimit;
    }

    /// <summary>A request's application finished and its stream is closed: the object goes back to the pool.</summary>
    internal void Release(LeanHttp2ServerStream stream)
    {
        bool flush = false;
        lock (_lock)
        {
            Remove(stream);
            _active--;
            flush = stream.DiscardUnreadBody(); // bytes the application never read: the connection's credit back
            if (_failure is null && _pool.Count < MaxPooledStreams)
            {
                stream.ResetForReuse();
                _pool.Push(stream);
            }
            else
            {
                stream.Dispose();
            }

            if (_active == 0)
            {
                _idleSince = Environment.TickCount64;
                if (_failure is not null)
                {
                    _streamsDone.TrySetResult();
                }
                else
                {
                    bool before = _stopReading;
                    StopIfDrained();
                    flush |= !before && _stopReading;
                }
            }
        }

        if (flush)
        {
            _ = FlushAsync();
        }
    }

    private void WakeWindowWaiters()
    {
        List<LeanHttp2ServerStream>? woken = _windowWaiters;
        _windowWaiters = null;
        if (woken is not null)
        {
            foreach (LeanHttp2ServerStream stream in woken)
            {
                stream.WakeWriter();
            }
        }
    }

    // ---- reading ----

    private async Task ReadLoopAsync()
    {
        bool prefaceRead = false;
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _input.ReadAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LeanHttp2ServerLog.TransportFailed(_logger, _context.ConnectionId, ex);
                lock (_lock)
                {
                    _closeReason ??= "reading from the transport failed";
                }

                return;
            }

            ReadOnlySequence<byte> buffer = result.Buffer;
            bool stop;
            try
            {
                if (!prefaceRead)
                {
                    if (buffer.Length >= Http2Frame.ClientPreface.Length)
                    {
                        // the middleware has seen these bytes are the preface; consume them
                        buffer = buffer.Slice(Http2Frame.ClientPreface.Length);
                        prefaceRead = true;
                    }
                }

                if (prefaceRead)
                {
                    ProcessFrames(ref buffer);
                }

                lock (_lock)
                {
                    // Response writers wait at OutputHighWater; what the read loop itself answers (resets, SETTINGS and
                    // PING acknowledgements) does not. A peer that provokes those and never reads would grow the output
                    // without bound: past OutputHardLimit it is cut off.
                    if (_outputLength > OutputHardLimit && !_stopReading)
                    {
                        CloseWithError(Http2ErrorCode.EnhanceYourCalm, "the peer does not read what it asks for");
                    }

                    stop = _stopReading;
                }
            }
            catch (Http2ConnectionException ex)
            {
                lock (_lock)
                {
                    CloseWithError(ex.Code, ex.Message);
                }

                stop = true;
            }
            catch (HPackDecodingException ex)
            {
                lock (_lock)
                {
                    CloseWithError(Http2ErrorCode.CompressionError, ex.Message);
                }

                stop = true;
            }
            catch (Exception ex)
            {
                LeanHttp2ServerLog.TransportFailed(_logger, _context.ConnectionId, ex);
                lock (_lock)
                {
                    CloseWithError(Http2ErrorCode.InternalError, "an internal error: " + ex.Message);
                }

                stop = true;
            }

            _input.AdvanceTo(buffer.Start, buffer.End);
            if (stop)
            {
                return;
            }

            if (result.IsCompleted)
            {
                lock (_lock)
                {
                    _closeReason ??= "the client closed the connection";
                }

                return;
            }
        }
    }

    /// <summary>Handles every complete frame at the start of <paramref name="buffer"/>, which is left at the first frame
    /// not yet complete.</summary>
    private void ProcessFrames(ref ReadOnlySequence<byte> buffer)
    {
        Span<byte> header = stackalloc byte[Http2Frame.HeaderLength];
        while (buffer.Length >= Http2Frame.HeaderLength)
        {
            ReadOnlySpan<byte> first = buffer.FirstSpan;
            if (first.Length >= Http2Frame.HeaderLength)
            {
                first[..Http2Frame.HeaderLength].CopyTo(header);
            }
            else
            {
                buffer.Slice(0, Http2Frame.HeaderLength).CopyTo(header);
            }

            Http2Frame.ReadHeader(header, out int length, out Http2FrameType type, out byte flags, out int streamId);
            if (length > Http2Frame.DefaultMaxFrameSize)
            {
                throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, $"a {type} frame of {length} bytes, above SETTINGS_MAX_FRAME_SIZE {Http2Frame.DefaultMaxFrameSize}");
            }

            if (buffer.Length < Http2Frame.HeaderLength + length)
            {
                return;
            }

            ReadOnlySpan<byte> payload;
            if (first.Length >= Http2Frame.HeaderLength + length)
            {
                payload = first.Slice(Http2Frame.HeaderLength, length);
            }
            else
            {
                _scratch ??= ArrayPool<byte>.Shared.Rent(Http2Frame.DefaultMaxFrameSize);
                buffer.Slice(Http2Frame.HeaderLength, length).CopyTo(_scratch);
                payload = _scratch.AsSpan(0, length);
            }

            ProcessFrame(type, flags, streamId, payload);
            buffer = buffer.Slice(Http2Frame.HeaderLength + length);
            if (_stopReading)
            {
                return;
            }
        }
    }

    private void ProcessFrame(Http2FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (!_settingsReceived && (type != Http2FrameType.Settings || (flags & Http2Frame.FlagAck) != 0))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"a {type} frame before the client's SETTINGS");
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
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "PUSH_PROMISE from a client");
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

    /// <summary>A PRIORITY frame making its stream depend on itself: a stream error PROTOCOL_ERROR (RFC 9113 §5.3.1). An
    /// idle stream cannot be reset (§6.4: the client would take RST_STREAM on it as a connection error), so there the
    /// error is the connection's.</summary>
    private void OnSelfDependentPriority(int streamId)
    {
        if (IsIdle(streamId))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"PRIORITY making idle stream {streamId} depend on itself");
        }

        lock (_lock)
        {
            if (_streams.TryGetValue(streamId, out LeanHttp2ServerStream? stream))
            {
                stream.ResetFromProtocol(Http2ErrorCode.ProtocolError, "a PRIORITY frame made the stream depend on itself");
            }
            else if (!RecentlyReset(streamId))
            {
                AppendReset(streamId, Http2ErrorCode.ProtocolError); // closed: the reset only says why its frame was refused
            }
        }

        _ = FlushAsync();
    }

    /// <summary>SETTINGS and PING (not acknowledgements) above <see cref="ControlFramesPerSecond"/> end the connection.</summary>
    private void CountControlFrame()
    {
        long now = Environment.TickCount64;
        if (now - _controlWindowStart >= 1000)
        {
            _controlWindowStart = now;
            _controlFrames = 0;
        }

        if (++_controlFrames > ControlFramesPerSecond)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, $"more than {ControlFramesPerSecond} SETTINGS and PING frames in a second");
        }
    }

    private void OnData(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "DATA on stream 0");
        }

        if (IsIdle(streamId))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"DATA on stream {streamId}, which is idle");
        }

        ReadOnlySpan<byte> data = Unpad(flags, payload, 0, Http2FrameType.Data);
        bool endStream = (flags & Http2Frame.FlagEndStream) != 0;
        if (payload.IsEmpty && !endStream)
        {
            if (++_emptyDataFrames > EmptyDataFramesLimit)
            {
                throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, $"more than {EmptyDataFramesLimit} empty DATA frames in a row");
            }
        }
        else
        {
            _emptyDataFrames = 0;
        }

        bool flush;
        lock (_lock)
        {
            int before = _outputLength;
            _receiveWindow -= payload.Length;
            if (_receiveWindow < 0)
            {
                throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "DATA beyond the connection's receive window");
            }

            if (_streams.TryGetValue(streamId, out LeanHttp2ServerStream? stream))
            {
                stream.OnData(data, payload.Length - data.Length, endStream);
            }
            else
            {
                int unused = 0;
                _ = Consumed(streamId, payload.Length, ref unused, streamOpen: false); // the credit goes back at once
                if (!RecentlyReset(streamId))
                {
                    AppendReset(streamId, Http2ErrorCode.StreamClosed); // §5.1: DATA on a closed stream
                }
            }

            flush = _outputLength > before;
        }

        if (flush)
        {
            _ = FlushAsync();
        }
    }

    /// <summary>A stream the client has not opened (RFC 9113 §5.1: only HEADERS and PRIORITY may name it): an odd id above
    /// every stream opened so far, or an even id, since even streams are the server's and it opens none (no push).</summary>
    private bool IsIdle(int streamId) => streamId > _highestStreamId || (streamId & 1) == 0;

    private void OnHeaders(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0 || (streamId & 1) == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"HEADERS on stream {streamId}, which a client cannot open");
        }

        bool priority = (flags & Http2Frame.FlagPriority) != 0;
        ReadOnlySpan<byte> fragment = Unpad(flags, payload, priority ? 5 : 0, Http2FrameType.Headers);
        bool dependsOnItself = priority && (BinaryPrimitives.ReadInt32BigEndian(payload[((flags & Http2Frame.FlagPadded) != 0 ? 1 : 0)..]) & int.MaxValue) == streamId;
        bool endStream = (flags & Http2Frame.FlagEndStream) != 0;
        if ((flags & Http2Frame.FlagEndHeaders) != 0)
        {
            OnHeaderBlock(streamId, endStream, dependsOnItself, fragment);
            return;
        }

        _headerBlockSelfDependent = dependsOnItself;
        _headerBlockLength = 0;
        _headerBlockEndStream = endStream;
        Volatile.Write(ref _headerBlockStartedAt, Environment.TickCount64);
        AppendToHeaderBlock(fragment);
        _headerBlockStream = streamId;
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
            OnHeaderBlock(id, _headerBlockEndStream, _headerBlockSelfDependent, _headerBlock.AsSpan(0, _headerBlockLength));
        }
    }

    private void AppendToHeaderBlock(ReadOnlySpan<byte> fragment)
    {
        int limit = 2 * _options.MaxHeaderListSize;
        if (_headerBlockLength + fragment.Length > limit)
        {
            throw new Http2ConnectionException(Http2ErrorCode.EnhanceYourCalm, $"a header block over {limit} bytes");
        }

        if (_headerBlock.Length - _headerBlockLength < fragment.Length)
        {
            byte[] larger = new byte[Math.Min(limit, Math.Max(_headerBlock.Length * 2, Math.Max(1024, _headerBlockLength + fragment.Length)))];
            _headerBlock.AsSpan(0, _headerBlockLength).CopyTo(larger);
            _headerBlock = larger;
        }

        fragment.CopyTo(_headerBlock.AsSpan(_headerBlockLength));
        _headerBlockLength += fragment.Length;
    }

    /// <summary>A complete header block: a new request, its trailers, or one to decode and drop (HPACK's table is the
    /// connection's, so every block is decoded in order).</summary>
    private void OnHeaderBlock(int streamId, bool endStream, bool dependsOnItself, ReadOnlySpan<byte> block)
    {
        LeanHttp2ServerStream? stream = null;
        bool trailers = false;
        Http2ErrorCode refuse = Http2ErrorCode.NoError;
        lock (_lock)
        {
            if (_streams.TryGetValue(streamId, out LeanHttp2ServerStream? existing))
            {
                if (existing.RequestEnded)
                {
                    throw new Http2ConnectionException(Http2ErrorCode.StreamClosed, $"HEADERS on stream {streamId} after its END_STREAM");
                }

                stream = existing;
                trailers = true;
            }
            else if (streamId <= _highestStreamId)
            {
                if (!RecentlyReset(streamId))
                {
                    // §5.1: a closed stream; §5.1.1: a new stream must have a higher id than every earlier one
                    throw Array.IndexOf(_recentClosed, streamId) >= 0
                        ? new Http2ConnectionException(Http2ErrorCode.StreamClosed, $"HEADERS on stream {streamId}, which is closed")
                        : new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"HEADERS opening stream {streamId}, not above the last stream opened ({_highestStreamId})");
                }
            }
            else
            {
                _highestStreamId = streamId;
                if (_goAwaySent || _peerGoingAway || _failure is not null || OverConcurrencyLimit())
                {
                    refuse = Http2ErrorCode.RefusedStream;
                }
                else if (dependsOnItself)
                {
                    refuse = Http2ErrorCode.ProtocolError;
                }
                else
                {
                    stream = _pool.TryPop(out LeanHttp2ServerStream? pooled) ? pooled : new LeanHttp2ServerStream(this);
                    stream.Open(streamId, endStream, InitialReceiveWindow, _peerInitialWindow);
                    _streams.Add(streamId, stream);
                    _active++;
                }
            }
        }

        _sink = stream;
        _sinkTrailers = trailers;
        _sinkField = 0;
        _sinkSize = 0;
        _sinkRegular = false;
        _sinkMalformed = null;
        _sinkMethod = _sinkScheme = _sinkAuthority = _sinkPath = _sinkHost = _sinkProtocol = null;
        _sinkHostFields = 0;
        _sinkContentLength = -1;
        try
        {
            _decoder.Decode(block, this);
        }
        catch when (stream is not null && !trailers)
        {
            // the connection ends (COMPRESSION_ERROR); the stream never ran, so it is not counted as running
            lock (_lock)
            {
                Remove(stream);
                _active--;
            }

            throw;
        }
        finally
        {
            _sink = null;
        }

        if (refuse != Http2ErrorCode.NoError)
        {
            lock (_lock)
            {
                AppendReset(streamId, refuse);
            }

            _ = FlushAsync();
            return;
        }

        if (stream is null)
        {
            return;
        }

        if (trailers)
        {
            bool flush;
            lock (_lock)
            {
                int before = _outputLength;
                if (dependsOnItself)
                {
                    stream.ResetFromProtocol(Http2ErrorCode.ProtocolError, "request trailers whose priority makes the stream depend on itself");
                }
                else if (!endStream)
                {
                    stream.ResetFromProtocol(Http2ErrorCode.ProtocolError, "request trailers that do not end the stream");
                }
                else if (_sinkMalformed is not null)
                {
                    stream.ResetFromProtocol(Http2ErrorCode.ProtocolError, "malformed request trailers: " + _sinkMalformed);
                }
                else if (_sinkSize > _options.MaxHeaderListSize)
                {
                    // the fields past the limit were not kept: the application must not see the trailers cut short (and the
                    // response may have started, so no 431)
                    stream.ResetFromProtocol(Http2ErrorCode.ProtocolError, $"request trailers over SETTINGS_MAX_HEADER_LIST_SIZE {_options.MaxHeaderListSize}");
                }
                else
                {
                    stream.OnTrailersEnd();
                }

                flush = _outputLength > before;
            }

            if (flush)
            {
                _ = FlushAsync();
            }

            return;
        }

        StartRequest(stream, endStream);
    }

    /// <summary>Validates the decoded request (RFC 9113 §8.3.1) and runs its application, or answers it here.</summary>
    private void StartRequest(LeanHttp2ServerStream stream, bool endStream)
    {
        string? malformed = _sinkMalformed;
        int localStatus = malformed is null && _sinkSize > _options.MaxHeaderListSize ? StatusCodes.Status431RequestHeaderFieldsTooLarge : 0;
        if (malformed is null && localStatus == 0)
        {
            if (_sinkMethod is null)
            {
                malformed = "no :method";
            }
            else if (_sinkProtocol is not null)
            {
                // RFC 8441 §4: an extended CONNECT carries :scheme, :path and :authority like any request
                if (!ReferenceEquals(_sinkMethod, HttpMethods.Connect) || _sinkScheme is null || _sinkPath is null || _sinkAuthority is null)
                {
                    malformed = ":protocol on a request that is not a CONNECT with :scheme, :path and :authority";
                }
                else if (_sinkPath[0] != '/')
                {
                    malformed = "a :path that is not origin form";
                }
            }
            else if (ReferenceEquals(_sinkMethod, HttpMethods.Connect))
            {
                if (_sinkScheme is not null || _sinkPath is not null || _sinkAuthority is null)
                {
                    malformed = "CONNECT with :scheme or :path, or without :authority";
                }
                else
                {
                    localStatus = StatusCodes.Status501NotImplemented;
                }
            }
            else if (_sinkScheme is null || _sinkPath is null)
            {
                malformed = "no :scheme or :path";
            }
            else if (_sinkPath.Length == 0 || (_sinkPath[0] != '/' && !(_sinkPath == "*" && ReferenceEquals(_sinkMethod, HttpMethods.Options))))
            {
                malformed = "a :path that is not origin form";
            }
        }

        if (malformed is null && localStatus == 0)
        {
            // RFC 9110 §7.2: more than one Host, or one that is not host[:port], is a bad request (Kestrel resets the stream
            // too); the forwarding copies Host as it came. :authority, which replaces Host, must not carry userinfo (§8.3.1).
            if (_sinkAuthority is null && _sinkHostFields > 1)
            {
                malformed = "more than one host field";
            }
            else if (!IsValidHost(_sinkAuthority ?? _sinkHost))
            {
                malformed = "an :authority or host that is not host[:port]";
            }
        }

        if (malformed is not null)
        {
            lock (_lock)
            {
                stream.ResetFromProtocol(Http2ErrorCode.ProtocolError, "malformed request: " + malformed);
            }

            _ = FlushAsync();
            stream.Finished(); // the application never ran
            return;
        }

        if (localStatus != 0)
        {
            stream.AnswerLocally(localStatus);
            return;
        }

        string authority = _sinkAuthority ?? _sinkHost ?? "";
        if (!stream.SetRequest(_sinkMethod!, _sinkScheme!, _sinkPath!, authority, _sinkAuthority is not null, _sinkContentLength, _sinkProtocol))
        {
            _ = FlushAsync();
            stream.Finished();
            return;
        }

        stream.Execute();
    }

    /// <summary>Empty, or host [":" port] (RFC 3986 §3.2.2, §3.2.3): the host an IP literal in brackets, or a reg-name or
    /// IPv4 address (unreserved, sub-delims and percent-encoding characters); no userinfo, path or white space.</summary>
    internal static bool IsValidHost(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return true;
        }

        int end;
        if (value[0] == '[')
        {
            int close = value.IndexOf(']');
            if (close < 2 || value.AsSpan(1, close - 1).ContainsAnyExcept(s_ipLiteralChars))
            {
                return false;
            }

            end = close + 1;
        }
        else
        {
            end = value.AsSpan().IndexOfAnyExcept(s_regNameChars);
            if (end < 0)
            {
                return true;
            }
        }

        return end == value.Length || (value[end] == ':' && !value.AsSpan(end + 1).ContainsAnyExceptInRange('0', '9'));
    }

    /// <summary>One decoded field of the block being read (<see cref="IHPackHeaderSink"/>).</summary>
    void IHPackHeaderSink.OnHeader(int staticIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        _sinkSize += name.Length + value.Length + 32;
        LeanHttp2ServerStream? stream = _sink;
        if (stream is null || _sinkMalformed is not null || _sinkSize > _options.MaxHeaderListSize)
        {
            return;
        }

        int field = _sinkField++;
        if (!name.IsEmpty && name[0] == (byte)':')
        {
            if (_sinkTrailers)
            {
                _sinkMalformed = "a pseudo-header in trailers";
                return;
            }

            if (_sinkRegular)
            {
                _sinkMalformed = "a pseudo-header after a regular header";
                return;
            }

            OnPseudoHeader(name, value);
            return;
        }

        _sinkRegular = true;
        if (name.IsEmpty || name.ContainsAnyExcept(LeanHttp2HeaderStrings.LowerCaseTokenBytes))
        {
            _sinkMalformed = "a header name that is empty, upper-case or not a token";
            return;
        }

        if (value.IndexOfAny((byte)'\0', (byte)'\r', (byte)'\n') >= 0
            || (!value.IsEmpty && (value[0] is (byte)' ' or (byte)'\t' || value[^1] is (byte)' ' or (byte)'\t')))
        {
            _sinkMalformed = "a header value with NUL, CR, LF or surrounding white space";
            return;
        }

        switch (name.Length)
        {
            case 2 when name.SequenceEqual("te"u8):
                if (!value.SequenceEqual("trailers"u8))
                {
                    _sinkMalformed = "te other than trailers";
                    return;
                }

                break;
            case 4 when name.SequenceEqual("host"u8):
                _sinkHost = _strings.Value(field, value);
                _sinkHostFields++;
                break;
            case 7 when name.SequenceEqual("upgrade"u8):
            case 10 when name.SequenceEqual("connection"u8) || name.SequenceEqual("keep-alive"u8):
            case 16 when name.SequenceEqual("proxy-connection"u8):
            case 17 when name.SequenceEqual("transfer-encoding"u8):
                _sinkMalformed = "a connection-specific header";
                return;
            case 14 when name.SequenceEqual("content-length"u8) && !_sinkTrailers:
                if (!Forwarding.LeanHttp1Connection.TryParseLength(value, out long length) || (_sinkContentLength >= 0 && _sinkContentLength != length))
                {
                    _sinkMalformed = "a content-length that is not one number";
                    return;
                }

                _sinkContentLength = length;
                break;
        }

        string headerName = _strings.Name(staticIndex, field, name);
        string headerValue = _strings.Value(field, value);
        if (_sinkTrailers)
        {
            stream.AddRequestTrailer(headerName, headerValue);
        }
        else
        {
            stream.AddRequestHeader(headerName, headerValue);
        }
    }

    private void OnPseudoHeader(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        if (name.SequenceEqual(":protocol"u8))
        {
            if (!_options.EnableExtendedConnect || _sinkProtocol is not null || value.IsEmpty || value.ContainsAnyExceptInRange((byte)'!', (byte)'~'))
            {
                _sinkMalformed = _options.EnableExtendedConnect ? "a duplicate or invalid :protocol" : ":protocol (extended CONNECT is not enabled)";
                return;
            }

            _sinkProtocol = LeanHttp2HeaderStrings.Scheme(value) is "websocket" ? "websocket" : System.Text.Encoding.ASCII.GetString(value);
            return;
        }

        int kind = name.Length switch
        {
            7 when name.SequenceEqual(":method"u8) => 1,
            7 when name.SequenceEqual(":scheme"u8) => 2,
            10 when name.SequenceEqual(":authority"u8) => 3,
            5 when name.SequenceEqual(":path"u8) => 4,
            _ => 0,
        };
        if (kind == 0)
        {
            _sinkMalformed = "an unknown or response pseudo-header";
            return;
        }

        if ((kind == 1 && _sinkMethod is not null) || (kind == 2 && _sinkScheme is not null) || (kind == 3 && _sinkAuthority is not null) || (kind == 4 && _sinkPath is not null))
        {
            _sinkMalformed = "a duplicate pseudo-header";
            return;
        }

        if (value.IsEmpty || value.ContainsAnyExceptInRange((byte)'!', (byte)'~'))
        {
            _sinkMalformed = "an empty pseudo-header, or one with white space, control or non-ASCII characters";
            return;
        }

        switch (kind)
        {
            case 1:
                _sinkMethod = LeanHttp2HeaderStrings.Method(value);
                break;
            case 2:
                _sinkScheme = LeanHttp2HeaderStrings.Scheme(value);
                break;
            case 3:
                _sinkAuthority = _strings.Authority(value);
                break;
            default:
                _sinkPath = _strings.Path(value);
                break;
        }
    }

    private void OnReset(int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId == 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "RST_STREAM on stream 0");
        }

        if (payload.Length != 4)
        {
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "a RST_STREAM frame not 4 bytes long");
        }

        if (IsIdle(streamId))
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"RST_STREAM on stream {streamId}, which is idle");
        }

        var code = (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(payload);
        lock (_lock)
        {
            // counted: streams whose application was running, and streams we had just refused or reset (a client
            // cycling streams above the concurrency limit is refused, and resets them all the same)
            bool counted = _streams.TryGetValue(streamId, out LeanHttp2ServerStream? stream) ? stream.OnPeerReset(code) : RecentlyReset(streamId);
            if (counted)
            {
                if (CountRapidReset())
                {
                    CloseWithError(Http2ErrorCode.EnhanceYourCalm, $"more than {RapidResetLimit} streams reset by the client within {RapidResetWindowMilliseconds / 1000} s");
                }
            }
        }
    }

    private void OnSettings(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (IsSettingsAck(flags, streamId, payload))
        {
            lock (_lock)
            {
                if (!_settingsAcked)
                {
                    // our SETTINGS_INITIAL_WINDOW_SIZE applies from now on (§6.9.2)
                    _settingsAcked = true;
                    int delta = _options.InitialStreamWindowSize - Math.Max(Http2Frame.DefaultWindow, _options.InitialStreamWindowSize);
                    foreach (LeanHttp2ServerStream stream in _streams.Values)
                    {
                        stream.AddReceiveWindow(delta);
                    }
                }
            }

            return;
        }

        CountControlFrame();
        _settingsReceived = true;
        lock (_lock)
        {
            bool wake = false;
            for (; !payload.IsEmpty; payload = payload[6..])
            {
                ushort id = BinaryPrimitives.ReadUInt16BigEndian(payload);
                uint value = BinaryPrimitives.ReadUInt32BigEndian(payload[2..]);
                switch (id)
                {
                    case Http2Frame.SettingEnablePush:
                    case SettingEnableConnectProtocol:
                        if (value > 1)
                        {
                            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"SETTINGS {id} with value {value}");
                        }

                        break;
                    case Http2Frame.SettingInitialWindowSize:
                        if (value > Http2Frame.MaxWindow)
                        {
                            throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, $"SETTINGS_INITIAL_WINDOW_SIZE {value}");
                        }

                        int delta = (int)value - _peerInitialWindow;
                        _peerInitialWindow = (int)value;
                        foreach (LeanHttp2ServerStream stream in _streams.Values)
                        {
                            if (!stream.AddSendWindow(delta))
                            {
                                throw new Http2ConnectionException(Http2ErrorCode.FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE takes a stream's window beyond 2^31-1");
                            }
                        }

                        wake |= delta > 0;
                        break;
                    case Http2Frame.SettingMaxFrameSize:
                        if (value is < Http2Frame.DefaultMaxFrameSize or > 16_777_215)
                        {
                            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"SETTINGS_MAX_FRAME_SIZE {value}");
                        }

                        _peerMaxFrame = (int)value;
                        break;
                    case Http2Frame.SettingHeaderTableSize:
                        OnPeerHeaderTableSize(value); // our encoder does not index, but a lower limit is still signalled
                        break;
                    default:
                        break; // MAX_CONCURRENT_STREAMS: no push; others advisory or unknown
                }
            }

            AppendSettingsAck();
            if (wake)
            {
                foreach (LeanHttp2ServerStream stream in _streams.Values)
                {
                    stream.WakeWriter();
                }
            }
        }

        _ = FlushAsync();
    }

    private void OnPing(byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        if (streamId != 0)
        {
            throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, "PING on a stream");
        }

        if (payload.Length != 8)
        {
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "a PING frame not 8 bytes long");
        }

        if ((flags & Http2Frame.FlagAck) != 0)
        {
            return; // this server sends no PING
        }

        CountControlFrame();
        lock (_lock)
        {
            if (CanWrite)
            {
                AppendPingAck(payload);
            }
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

        lock (_lock)
        {
            // The client opens no more streams; the ones open finish, then the connection closes.
            _peerGoingAway = true;
            _closeReason ??= "the client sent GOAWAY";
            StopIfDrained();
        }
    }

    private void OnWindowUpdate(int streamId, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 4)
        {
            throw new Http2ConnectionException(Http2ErrorCode.FrameSizeError, "a WINDOW_UPDATE frame not 4 bytes long");
        }

        int increment = BinaryPrimitives.ReadInt32BigEndian(payload) & int.MaxValue;
        bool flush = false;
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

                WakeWindowWaiters();
            }
            else if (IsIdle(streamId))
            {
                throw new Http2ConnectionException(Http2ErrorCode.ProtocolError, $"WINDOW_UPDATE on stream {streamId}, which is idle");
            }
            else if (_streams.TryGetValue(streamId, out LeanHttp2ServerStream? stream))
            {
                int before = _outputLength;
                if (increment == 0)
                {
                    stream.ResetFromProtocol(Http2ErrorCode.ProtocolError, "a WINDOW_UPDATE of 0 on a stream");
                }
                else if (!stream.AddSendWindow(increment))
                {
                    stream.ResetFromProtocol(Http2ErrorCode.FlowControlError, "WINDOW_UPDATEs took a stream's window beyond 2^31-1");
                }
                else
                {
                    stream.WakeWriter();
                }

                flush = _outputLength > before;
            }

            // else: a closed stream; WINDOW_UPDATE may still arrive for it (§6.9)
        }

        if (flush)
        {
            _ = FlushAsync();
        }
    }
}
