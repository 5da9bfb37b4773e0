using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Threading.Tasks.Sources;
using BelizeMesh.Proxy.Forwarding.Http2;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace BelizeMesh.Proxy.Inbound.Http2Server;

/// <summary>
/// One request of a <see cref="LeanHttp2ServerConnection"/> (RFC 9113 §5.1), pooled per connection: its protocol state,
/// its buffered request body, its response, and its <see cref="HttpContext"/>, whose feature collection is this object
/// (<c>LeanHttp2ServerStream.Features.cs</c>).
/// </summary>
/// <remarks>
/// Protocol state (windows, buffered body, END_STREAM and reset flags) is guarded by the connection's lock and changed by
/// the read loop; the response is written by the application's thread, one call at a time. Completions of body reads and
/// window waits run their continuations on the thread pool, never under the lock or on the read loop. The stream leaves
/// the connection's table when both directions have ended or it was reset; it goes back to the pool once its application
/// has also finished.
/// </remarks>
internal sealed partial class LeanHttp2ServerStream : IDisposable
{
    private const int MaxKeptBuffer = 64 * 1024;
    private const int HeaderScratchSize = 1024;

    private static readonly StreamPipeWriterOptions s_writerOptions = new(leaveOpen: true);
    private static readonly Action<CancellationTokenSource> s_cancel = static source =>
    {
        try
        {
            source.Cancel();
        }
        catch (AggregateException)
        {
            // a RequestAborted callback threw; the request is over either way
        }
    };

    private static readonly Action<object?> s_cancelWaits = static state => ((LeanHttp2ServerStream)state!).CancelWaits();

    private readonly LeanHttp2ServerConnection _connection;
    private readonly DefaultHttpContext _httpContext;
    private readonly HeaderDictionary _requestHeaders = new();
    private readonly HeaderDictionary _responseHeaders = new();
    private readonly HeaderDictionary _requestTrailers = new();
    private readonly HeaderDictionary _responseTrailers = new();
    private readonly LeanHttp2RequestBodyStream _requestBody;
    private readonly LeanHttp2ResponseBodyStream _responseBody;
    private readonly Signal _readable = new();
    private readonly Signal _writable = new();
    private CancellationTokenSource _aborted = new();
    private bool _abortQueued;
    private bool _contextInitialized = true;
    private byte[]? _headerScratch;

    // Protocol state: guarded by the connection's lock.
    private byte[]? _data;
    private int _dataStart;
    private int _dataEnd;
    private int _receiveWindow;
    private int _receiveUnacked;
    private long _expectedLength = -1;
    private long _receivedLength;
    private bool _requestEnded;
    private Exception? _bodyError;
    private long _sendWindow;
    private bool _responseEnded;
    private bool _reset;
    private bool _appRunning;

    // Response state: the application's thread.
    private bool _hasStarted;
    private bool _completed;
    private long _bytesWritten;
    private long _declaredLength = -1;
    private bool _bodiless;
    private bool _expectContinue;
    private PipeWriter? _writer;
    private List<KeyValuePair<Func<object, Task>, object>>? _onStarting;
    private List<KeyValuePair<Func<object, Task>, object>>? _onCompleted;

    public LeanHttp2ServerStream(LeanHttp2ServerConnection connection)
    {
        _connection = connection;
        _requestBody = new LeanHttp2RequestBodyStream(this);
        _responseBody = new LeanHttp2ResponseBodyStream(this);
        ResetFeatures();
        _httpContext = new DefaultHttpContext(this);
    }

    public int Id { get; private set; }

    /// <summary>END_STREAM arrived (or the stream was reset): no more request frames are expected. Under the lock.</summary>
    public bool RequestEnded => _requestEnded || _reset;

    private object Sync => _connection.SyncRoot;

    // ---- opening (the read loop) ----

    /// <summary>A new stream (caller holds the lock; the connection adds it to its table).</summary>
    public void Open(int id, bool endStream, int receiveWindow, int sendWindow)
    {
        Id = id;
        _requestEnded = endStream;
        _receiveWindow = receiveWindow;
        _sendWindow = sendWindow;
        _reset = false;
        _responseEnded = false;
        _appRunning = false;
        if (!_contextInitialized)
        {
            _httpContext.Initialize(this);
            _contextInitialized = true;
        }
    }

    public void AddRequestHeader(string name, string value)
    {
        if (_requestHeaders.TryGetValue(name, out StringValues existing))
        {
            // RFC 9113 §8.2.3: cookie fields split for compression are joined with "; " for HTTP/1.1-era consumers
            _requestHeaders[name] = name == "cookie"
                ? new StringValues(existing.ToString() + "; " + value)
                : StringValues.Concat(existing, value);
        }
        else
        {
            _requestHeaders[name] = value;
        }
    }

    public void AddRequestTrailer(string name, string value)
    {
        _requestTrailers[name] = _requestTrailers.TryGetValue(name, out StringValues existing) ? StringValues.Concat(existing, value) : new StringValues(value);
    }

    /// <summary>The request's pseudo-headers, once the block decoded and validated. False: the stream was reset instead
    /// (a content-length the request cannot have), and its application must not run.</summary>
    public bool SetRequest(string method, string scheme, string rawTarget, string authority, bool fromAuthority, long contentLength, string? connectProtocol)
    {
        _connectProtocol = connectProtocol;
        _extendedConnectFeature = connectProtocol is null ? null : this;
        _method = method;
        _scheme = scheme;
        _rawTarget = rawTarget;
        int query = rawTarget.IndexOf('?');
        string path = query < 0 ? rawTarget : rawTarget[..query];
        _queryString = query < 0 ? string.Empty : rawTarget[query..];
        _path = path == "*" ? string.Empty : LeanHttp2RequestPath.Decode(path);
        if (authority.Length > 0 && (fromAuthority || !_requestHeaders.ContainsKey("Host")))
        {
            // :authority wins over a host header (RFC 9113 §8.3.1); Kestrel does the same
            _requestHeaders["Host"] = authority;
        }

        _canHaveBody = !_requestEnded && connectProtocol is null; // an extended CONNECT's DATA is a tunnel, not a body (as Kestrel)
        _bodiless = ReferenceEquals(method, HttpMethods.Head);
        _expectContinue = !_requestEnded && _requestHeaders.TryGetValue("expect", out StringValues expect)
            && string.Equals(expect.ToString(), "100-continue", StringComparison.OrdinalIgnoreCase);
        if (_connection.Context.RemoteEndPoint is IPEndPoint remote)
        {
            _remoteIp = remote.Address;
            _remotePort = remote.Port;
        }

        if (_connection.Context.LocalEndPoint is IPEndPoint local)
        {
            _localIp = local.Address;
            _localPort = local.Port;
        }

        lock (Sync)
        {
            _expectedLength = contentLength;
            if (_requestEnded && contentLength > 0)
            {
                ResetFromProtocol(Http2ErrorCode.ProtocolError, $"the request ended with its headers although its content-length is {contentLength}");
                return false;
            }

            _appRunning = true;
            return true;
        }
    }

    /// <summary>Runs the application on the caller's thread (the read loop) up to its first await.</summary>
    public void Execute() => _ = RunAsync();

    private async Task RunAsync()
    {
        Exception? error = null;
        try
        {
            Task application = _connection.Application(_httpContext);
            if (!application.IsCompletedSuccessfully)
            {
                await application.ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }

        try
        {
            await EndResponseAsync(error).ConfigureAwait(false);
            bool flush = false;
            lock (Sync)
            {
                if (!_reset && !_requestEnded)
                {
                    // §8.1: the response is complete and the application is done: the rest of the request body is not wanted
                    // (as Kestrel, this does not signal RequestAborted: the application finished, it was not aborted)
                    _appRunning = false;
                    ResetLocal(Http2ErrorCode.NoError);
                    flush = true;
                }
            }

            if (flush)
            {
                _ = _connection.FlushAsync();
            }
        }
        catch (Exception ex)
        {
            // OnStarting or the header encoding failed after the application: the stream cannot end cleanly
            LeanHttp2ServerLog.ApplicationError(_connection.Logger, _connection.Context.ConnectionId, Id, ex);
            lock (Sync)
            {
                ResetLocal(Http2ErrorCode.InternalError);
            }

            _ = _connection.FlushAsync();
        }
        finally
        {
            lock (Sync)
            {
                _appRunning = false;
            }

            await RunOnCompletedAsync().ConfigureAwait(false);
            _connection.Release(this);
        }
    }

    /// <summary>Answers the request here without running the application (431, 501): headers only.</summary>
    public void AnswerLocally(int status)
    {
        lock (Sync)
        {
            _hasStarted = true;
            int length = EncodeHeaders(status, null, contentLengthZero: true);
            _connection.AppendHeaders(Id, _headerScratch.AsSpan(0, length), endStream: true);
            _responseEnded = true;
            if (!_requestEnded)
            {
                ResetLocal(Http2ErrorCode.NoError);
            }

            CheckClosed();
        }

        _ = _connection.FlushAsync();
        _connection.Release(this);
    }

    /// <summary>A stream refused before its application ran.</summary>
    public void Finished() => _connection.Release(this);

    // ---- request body (the read loop, under the lock) ----

    public void OnData(ReadOnlySpan<byte> data, int padding, bool endStream)
    {
        int frameLength = data.Length + padding;
        if (_requestEnded || _reset)
        {
            int unused = 0;
            _ = _connection.Consumed(Id, frameLength, ref unused, streamOpen: false);
            ResetFromProtocol(Http2ErrorCode.StreamClosed, "DATA after the request's END_STREAM");
            return;
        }

        _receiveWindow -= frameLength;
        if (_receiveWindow < 0)
        {
            int unused = 0;
            _ = _connection.Consumed(Id, frameLength, ref unused, streamOpen: false);
            ResetFromProtocol(Http2ErrorCode.FlowControlError, "DATA beyond the stream's receive window");
            return;
        }

        _receivedLength += data.Length;
        if (_expectedLength >= 0 && (_receivedLength > _expectedLength || (endStream && _receivedLength != _expectedLength)))
        {
            int unused = 0;
            _ = _connection.Consumed(Id, frameLength, ref unused, streamOpen: false);
            ResetFromProtocol(Http2ErrorCode.ProtocolError, $"a request body ({_receivedLength}{(endStream ? "" : "+")} bytes) that does not match its content-length ({_expectedLength})");
            return;
        }

        if (_maxRequestBodySize is long max && _receivedLength > max)
        {
            int unused = 0;
            _ = _connection.Consumed(Id, frameLength, ref unused, streamOpen: false);
            ResetFromProtocol(Http2ErrorCode.Cancel, $"a request body over the maximum of {max} bytes");
            return;
        }

        if (padding > 0)
        {
            ConsumedLocked(padding);
        }

        if (!data.IsEmpty)
        {
            if (_data is null || _data.Length - _dataEnd < data.Length)
            {
                GrowData(data.Length);
            }

            data.CopyTo(_data.AsSpan(_dataEnd));
            _dataEnd += data.Length;
        }

        if (endStream)
        {
            _requestEnded = true;
            CheckClosed();
        }

        _readable.Set();
    }

    public void OnTrailersEnd()
    {
        if (_expectedLength >= 0 && _receivedLength != _expectedLength)
        {
            ResetFromProtocol(Http2ErrorCode.ProtocolError, $"a request body ({_receivedLength} bytes) that does not match its content-length ({_expectedLength})");
            return;
        }

        _trailersAvailable = true;
        _requestEnded = true;
        CheckClosed();
        _readable.Set();
    }

    /// <summary>Request bytes still buffered when the stream is released (the application did not read them): their
    /// connection credit goes back (caller holds the lock). True when a WINDOW_UPDATE was appended.</summary>
    public bool DiscardUnreadBody()
    {
        int buffered = _dataEnd - _dataStart;
        _dataStart = _dataEnd = 0;
        int unused = 0;
        return buffered > 0 && _connection.Consumed(Id, buffered, ref unused, streamOpen: false);
    }

    /// <summary>Our SETTINGS were acknowledged: the receive window moves by <paramref name="delta"/>.</summary>
    public void AddReceiveWindow(int delta) => _receiveWindow += delta;

    private void GrowData(int more)
    {
        int buffered = _dataEnd - _dataStart;
        if (_data is not null && _dataStart > 0 && _data.Length - buffered >= more)
        {
            _data.AsSpan(_dataStart, buffered).CopyTo(_data);
        }
        else
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(buffered + more, Math.Min(2 * (_data?.Length ?? 2048), _connection.Options.InitialStreamWindowSize)));
            if (_data is not null)
            {
                _data.AsSpan(_dataStart, buffered).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_data);
            }

            _data = larger;
        }

        _dataStart = 0;
        _dataEnd = buffered;
    }

    /// <summary>Returns consumed credit (caller holds the lock); true when a WINDOW_UPDATE was appended.</summary>
    private bool ConsumedLocked(int count)
    {
        bool open = !_requestEnded && !_reset;
        int before = _receiveUnacked;
        bool appended = _connection.Consumed(Id, count, ref _receiveUnacked, open);
        if (open && _receiveUnacked < before + count)
        {
            _receiveWindow += before + count - _receiveUnacked; // a stream WINDOW_UPDATE went out
        }

        return appended;
    }

    /// <summary>Reads buffered request body bytes, waiting for DATA when there are none (the request body stream).</summary>
    public async ValueTask<int> ReadBodyAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (_expectContinue)
        {
            SendContinue();
        }

        while (true)
        {
            int count = 0;
            bool flush = false;
            lock (Sync)
            {
                _bodyStarted = true;
                int buffered = _dataEnd - _dataStart;
                if (buffered > 0)
                {
                    if (destination.IsEmpty)
                    {
                        return 0;
                    }

                    count = Math.Min(buffered, destination.Length);
                    _data.AsSpan(_dataStart, count).CopyTo(destination.Span);
                    _dataStart += count;
                    if (_dataStart == _dataEnd)
                    {
                        _dataStart = _dataEnd = 0;
                    }

                    flush = ConsumedLocked(count);
                }
                else if (_bodyError is not null)
                {
                    throw new IOException(_bodyError.Message, _bodyError);
                }
                else if (_requestEnded)
                {
                    return 0;
                }
                else
                {
                    _readable.Arm();
                }
            }

            if (count > 0)
            {
                if (flush)
                {
                    _ = _connection.FlushAsync();
                }

                return count;
            }

            await WaitAsync(_readable, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The request has <c>expect: 100-continue</c> and its client holds the body back: the first read sends 100
    /// (Continue), unless the response or the request is already over (RFC 9110 §10.1.1; Kestrel does the same).</summary>
    private void SendContinue()
    {
        lock (Sync)
        {
            _expectContinue = false;
            if (_hasStarted || _reset || _requestEnded)
            {
                return;
            }

            Span<byte> block = stackalloc byte[8];
            int length = HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.Status200, "100"u8, block);
            _connection.AppendHeaders(Id, block[..length], endStream: false);
        }

        _ = _connection.FlushAsync();
    }

    private async ValueTask WaitAsync(Signal signal, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            await signal.WaitAsync().ConfigureAwait(false);
            return;
        }

        CancellationTokenRegistration registration = cancellationToken.UnsafeRegister(s_cancelWaits, this);
        try
        {
            await signal.WaitAsync().ConfigureAwait(false);
        }
        finally
        {
            await registration.DisposeAsync().ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    private void CancelWaits()
    {
        lock (Sync)
        {
            _readable.Set();
            _writable.Set();
        }
    }

    // ---- resets and failures (under the lock) ----

    /// <summary>The client reset the stream. True when its application was still running (rapid reset counts those).</summary>
    public bool OnPeerReset(Http2ErrorCode code)
    {
        bool running = _appRunning;
        MarkReset(new IOException($"The client reset the HTTP/2 stream ({code})."));
        return running;
    }

    /// <summary>A stream error found by us: RST_STREAM with <paramref name="code"/>; the application's body read fails.</summary>
    public void ResetFromProtocol(Http2ErrorCode code, string reason)
    {
        if (_reset)
        {
            return;
        }

        _connection.AppendReset(Id, code);
        MarkReset(new IOException("The HTTP/2 request stream was reset (" + code + "): " + reason + "."));
    }

    /// <summary>The application or the server resets the stream (Reset, Abort, an incomplete response). On a stream already
    /// closed both ways (the response completed, the request ended) nothing is sent (RFC 9113 §5.1); the request is still
    /// aborted.</summary>
    private void ResetLocal(Http2ErrorCode code)
    {
        if (_reset)
        {
            return;
        }

        if (!(_requestEnded && _responseEnded))
        {
            _connection.AppendReset(Id, code);
        }

        MarkReset(new IOException($"The HTTP/2 stream was reset ({code})."));
    }

    public void OnConnectionFailed() => MarkReset(new IOException("The HTTP/2 connection closed.", _connection.Failure));

    private void MarkReset(Exception error)
    {
        if (_reset)
        {
            return;
        }

        _reset = true;
        _bodyError ??= error;
        int buffered = _dataEnd - _dataStart;
        if (buffered > 0)
        {
            int unused = 0;
            _ = _connection.Consumed(Id, buffered, ref unused, streamOpen: false); // unread bytes: the connection's credit back
            _dataStart = _dataEnd = 0;
        }

        _connection.Remove(this);
        _readable.Set();
        _writable.Set();
        if (_appRunning && !_abortQueued)
        {
            // RequestAborted's callbacks (YARP cancelling its upstream request) run on the thread pool, not on the read loop
            _abortQueued = true;
            ThreadPool.UnsafeQueueUserWorkItem(s_cancel, _aborted, preferLocal: false);
        }
    }

    /// <summary>Both directions ended: the stream leaves the connection's table (caller holds the lock).</summary>
    private void CheckClosed()
    {
        if (_requestEnded && _responseEnded)
        {
            _connection.Remove(this);
        }
    }

    public bool AddSendWindow(int delta)
    {
        _sendWindow += delta;
        return _sendWindow <= Http2Frame.MaxWindow;
    }

    public void WakeWriter() => _writable.Set();

    // ---- response (the application's thread) ----

    /// <summary>Runs OnStarting and appends the response headers (HEADERS without END_STREAM), once.</summary>
    private async ValueTask StartResponseAsync()
    {
        if (_hasStarted)
        {
            return;
        }

        await RunOnStartingAsync().ConfigureAwait(false);
        lock (Sync)
        {
            CommitHeaders(endStream: false);
        }
    }

    /// <summary>Marks the response started and appends its headers (caller holds the lock).</summary>
    private void CommitHeaders(bool endStream)
    {
        // encoded first: headers that cannot be sent (a control character in a value, a bad name or status) throw with the
        // response not started, so that a failing application still gets its 500
        int status = _statusCode;
        int length = EncodeHeaders(status, _responseHeadersCurrent, contentLengthZero: false);
        _hasStarted = true;
        if (_responseHeadersCurrent is HeaderDictionary headers)
        {
            headers.IsReadOnly = true;
        }

        _bodiless |= status is StatusCodes.Status204NoContent or StatusCodes.Status304NotModified;
        _declaredLength = _responseHeadersCurrent.ContentLength ?? -1;
        if (!_reset)
        {
            _connection.AppendHeaders(Id, _headerScratch.AsSpan(0, length), endStream);
        }
    }

    private async Task RunOnStartingAsync()
    {
        List<KeyValuePair<Func<object, Task>, object>>? callbacks = _onStarting;
        _onStarting = null;
        if (callbacks is not null)
        {
            for (int i = callbacks.Count - 1; i >= 0; i--)
            {
                await callbacks[i].Key(callbacks[i].Value).ConfigureAwait(false);
            }
        }
    }

    private async Task RunOnCompletedAsync()
    {
        List<KeyValuePair<Func<object, Task>, object>>? callbacks = _onCompleted;
        _onCompleted = null;
        if (callbacks is not null)
        {
            for (int i = callbacks.Count - 1; i >= 0; i--)
            {
                try
                {
                    await callbacks[i].Key(callbacks[i].Value).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    LeanHttp2ServerLog.ApplicationError(_connection.Logger, _connection.Context.ConnectionId, Id, ex);
                }
            }
        }
    }

    /// <summary>Writes response body bytes as DATA within the flow-control windows (the response body stream).</summary>
    public async ValueTask WriteBodyAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (_completed)
        {
            throw new InvalidOperationException("The response has completed.");
        }

        if (!_hasStarted)
        {
            await StartResponseAsync().ConfigureAwait(false);
        }

        if (_bodiless || data.IsEmpty)
        {
            if (data.IsEmpty)
            {
                await _connection.FlushAsync().ConfigureAwait(false);
            }

            return;
        }

        // counted as it goes out: a write cancelled (or failed) midway must leave a declared length short, so that the
        // response then ends with a reset, never with END_STREAM as if complete
        if (_declaredLength >= 0 && _bytesWritten + data.Length > _declaredLength)
        {
            _bytesWritten += data.Length;
            throw new InvalidOperationException($"Response Content-Length mismatch: too many bytes written ({_bytesWritten} of {_declaredLength}).");
        }

        while (!data.IsEmpty)
        {
            int sent = 0;
            lock (Sync)
            {
                if (_reset || !_connection.CanWrite)
                {
                    throw new IOException("The HTTP/2 stream was reset or its connection closed.", _bodyError);
                }

                int wanted = (int)Math.Min(Math.Min(data.Length, _sendWindow), _connection.PeerMaxFrame);
                if (wanted > 0)
                {
                    sent = _connection.TakeSendCredit(this, wanted);
                }

                if (sent > 0)
                {
                    _sendWindow -= sent;
                    _connection.AppendData(Id, data.Span[..sent], endStream: false);
                }
                else
                {
                    _writable.Arm();
                }
            }

            if (sent == 0)
            {
                await _connection.FlushAsync().ConfigureAwait(false);
                await WaitAsync(_writable, cancellationToken).ConfigureAwait(false);
                continue;
            }

            _bytesWritten += sent;
            data = data[sent..];
            if (!data.IsEmpty && _connection.PendingOutput > LeanHttp2ServerConnection.OutputHighWater)
            {
                // a large write to a peer with large windows: wait for the output to drain instead of copying all of it
                await _connection.FlushAsync().ConfigureAwait(false);
            }
        }

        await _connection.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Starts the response if needed and writes what is pending.</summary>
    public async Task FlushBodyAsync()
    {
        if (!_hasStarted)
        {
            await StartResponseAsync().ConfigureAwait(false);
        }

        await _connection.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Ends the response: the headers if not yet sent, trailers or END_STREAM; a failed application's response
    /// becomes a 500 if nothing was sent, else the stream is reset. Idempotent (CompleteAsync, then the end of the
    /// application).</summary>
    private async Task EndResponseAsync(Exception? error)
    {
        if (_completed)
        {
            if (error is not null)
            {
                LeanHttp2ServerLog.ApplicationError(_connection.Logger, _connection.Context.ConnectionId, Id, error);
            }

            return;
        }

        _completed = true;
        if (error is null && _writer is not null)
        {
            try
            {
                await _writer.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                error = ex;
            }
        }

        if (error is null && !_hasStarted)
        {
            try
            {
                await RunOnStartingAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                error = ex;
            }
        }

        if (error is not null && error is not IOException and not OperationCanceledException)
        {
            LeanHttp2ServerLog.ApplicationError(_connection.Logger, _connection.Context.ConnectionId, Id, error);
        }

        lock (Sync)
        {
            if (_reset)
            {
                // nothing more to send
            }
            else if (error is not null)
            {
                if (_hasStarted)
                {
                    ResetLocal(Http2ErrorCode.InternalError);
                }
                else
                {
                    RespondServerError();
                }
            }
            else if (!_hasStarted)
            {
                bool trailers = _responseTrailersCurrent is { Count: > 0 };
                long declared = _responseHeadersCurrent.ContentLength ?? -1;
                if (declared > 0 && !_bodiless && _statusCode is not (StatusCodes.Status204NoContent or StatusCodes.Status304NotModified))
                {
                    // a declared body never written: as Kestrel, the response becomes a 500 instead (headers not sent yet)
                    LeanHttp2ServerLog.ResponseLengthMismatch(_connection.Logger, _connection.Context.ConnectionId, Id, declared, 0);
                    RespondServerError();
                }
                else if (!TryCommitHeaders(endStream: !trailers))
                {
                    RespondServerError(); // headers that cannot be sent (a 1xx final status, a bad value): as for a failure
                }
                else
                {
                    if (trailers)
                    {
                        AppendTrailers();
                    }
                    else
                    {
                        _responseEnded = true;
                    }
                }
            }
            else if (!_bodiless && _declaredLength >= 0 && _bytesWritten != _declaredLength)
            {
                LeanHttp2ServerLog.ResponseLengthMismatch(_connection.Logger, _connection.Context.ConnectionId, Id, _declaredLength, _bytesWritten);
                ResetLocal(Http2ErrorCode.InternalError);
            }
            else if (_responseTrailersCurrent is { Count: > 0 })
            {
                AppendTrailers();
            }
            else
            {
                _connection.AppendData(Id, [], endStream: true);
                _responseEnded = true;
            }

            CheckClosed();
        }

        await _connection.FlushAsync().ConfigureAwait(false);
    }

    /// <summary><see cref="CommitHeaders"/> when the application has returned (caller holds the lock): false, with the
    /// response not started and the reason logged, when its headers cannot be sent.</summary>
    private bool TryCommitHeaders(bool endStream)
    {
        try
        {
            CommitHeaders(endStream);
            return true;
        }
        catch (InvalidOperationException ex) when (!_hasStarted)
        {
            LeanHttp2ServerLog.ApplicationError(_connection.Logger, _connection.Context.ConnectionId, Id, ex);
            return false;
        }
    }

    /// <summary>500 with an empty body for an application that failed before its response started (caller holds the lock).</summary>
    private void RespondServerError()
    {
        _hasStarted = true;
        _statusCode = StatusCodes.Status500InternalServerError; // what OnCompleted and the logs see, as Kestrel
        int length = EncodeHeaders(StatusCodes.Status500InternalServerError, null, contentLengthZero: true);
        _connection.AppendHeaders(Id, _headerScratch.AsSpan(0, length), endStream: true);
        _responseEnded = true;
    }

    private void AppendTrailers()
    {
        int length = EncodeFields(_responseTrailersCurrent!, 0);
        _connection.AppendHeaders(Id, _headerScratch.AsSpan(0, length), endStream: true);
        _responseEnded = true;
    }

    // ---- HPACK encoding of the response ----

    /// <summary>Encodes <c>:status</c> and <paramref name="headers"/> (or only <c>content-length: 0</c>) into the header
    /// scratch buffer; returns the length.</summary>
    private int EncodeHeaders(int status, IHeaderDictionary? headers, bool contentLengthZero)
    {
        _headerScratch ??= ArrayPool<byte>.Shared.Rent(HeaderScratchSize);
        int pos;
        int index = status switch
        {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => 0,
        };
        if (index > 0)
        {
            pos = HPackEncoder.WriteIndexed(index, _headerScratch);
        }
        else
        {
            Span<byte> digits = stackalloc byte[3];
            if (status is < 100 or > 999)
            {
                throw new InvalidOperationException($"The status code {status} is not three digits.");
            }

            if (status < 200)
            {
                // RFC 9113 §8.1: 1xx are interim only (100 Continue is sent by the server itself), and §8.6: no 101
                throw new InvalidOperationException($"The status code {status} cannot be the final status of an HTTP/2 response: 1xx responses are informational and 101 (Switching Protocols) does not exist in HTTP/2.");
            }

            digits[0] = (byte)('0' + (status / 100));
            digits[1] = (byte)('0' + (status / 10 % 10));
            digits[2] = (byte)('0' + (status % 10));
            pos = HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.Status200, digits, _headerScratch);
        }

        if (contentLengthZero)
        {
            pos += HPackEncoder.WriteLiteralWithoutIndexing(28, "0"u8, _headerScratch.AsSpan(pos));
            return pos;
        }

        bool hasDate = false;
        if (headers is not null)
        {
            hasDate = headers.ContainsKey("date");
            pos = EncodeFields(headers, pos);
        }

        if (!hasDate)
        {
            string date = LeanHttp2Date.Current;
            Reserve(pos, date.Length + 8);
            pos += HPackEncoder.WriteLiteralWithoutIndexing(33, date, _headerScratch.AsSpan(pos));
        }

        return pos;
    }

    /// <summary>Appends one field per value of <paramref name="headers"/> at <paramref name="pos"/>: names lower-cased,
    /// connection-specific fields dropped (RFC 9113 §8.2.2).</summary>
    private int EncodeFields(IHeaderDictionary headers, int pos)
    {
        if (headers is HeaderDictionary dictionary)
        {
            foreach (KeyValuePair<string, StringValues> header in dictionary)
            {
                pos = EncodeField(header.Key, header.Value, pos);
            }
        }
        else
        {
            foreach (KeyValuePair<string, StringValues> header in headers)
            {
                pos = EncodeField(header.Key, header.Value, pos);
            }
        }

        return pos;
    }

    private int EncodeField(string name, StringValues values, int pos)
    {
        if (name.Length == 0 || name.Length > 1024 || name.AsSpan().ContainsAnyExcept(LeanHttp2Names.TokenChars))
        {
            throw new InvalidOperationException($"Invalid response header name '{name}'.");
        }

        if (LeanHttp2Names.IsConnectionSpecific(name))
        {
            return pos;
        }

        Span<char> lower = stackalloc char[name.Length];
        System.Text.Ascii.ToLower(name, lower, out _);
        int index = HPackStaticTable.NameIndex(lower);
        for (int i = 0; i < values.Count; i++)
        {
            string? value = values[i];
            if (value is null)
            {
                continue;
            }

            ReadOnlySpan<char> span = value;
            if (span.IndexOfAny('\r', '\n', '\0') >= 0 || span.ContainsAnyExceptInRange('\0', '\u00ff'))
            {
                throw new InvalidOperationException($"Invalid control or non-Latin-1 character in the value of response header '{name}'.");
            }

            Reserve(pos, HPackEncoder.MaxLiteralLength(index > 0 ? 0 : name.Length, span.Length));
            pos += index > 0
                ? HPackEncoder.WriteLiteralWithoutIndexing(index, span, _headerScratch.AsSpan(pos))
                : HPackEncoder.WriteLiteralWithoutIndexingLowerCasedName(name, span, _headerScratch.AsSpan(pos));
        }

        return pos;
    }

    private void Reserve(int pos, int count)
    {
        _headerScratch ??= ArrayPool<byte>.Shared.Rent(HeaderScratchSize);
        if (_headerScratch.Length - pos < count)
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(_headerScratch.Length * 2, pos + count));
            _headerScratch.AsSpan(0, pos).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_headerScratch);
            _headerScratch = larger;
        }
    }

    // ---- pooling ----

    /// <summary>Clears the request for the next one on this connection (caller holds the lock).</summary>
    public void ResetForReuse()
    {
        _httpContext.Uninitialize();
        _contextInitialized = false;
        _requestHeaders.IsReadOnly = false;
        _requestHeaders.Clear();
        _requestTrailers.Clear();
        _responseHeaders.IsReadOnly = false;
        _responseHeaders.Clear();
        _responseTrailers.Clear();
        if (_data is not null && _data.Length > MaxKeptBuffer)
        {
            ArrayPool<byte>.Shared.Return(_data);
            _data = null;
        }

        _dataStart = _dataEnd = 0;
        _receiveUnacked = 0;
        _expectedLength = -1;
        _receivedLength = 0;
        _bodyError = null;
        _hasStarted = false;
        _completed = false;
        _bytesWritten = 0;
        _declaredLength = -1;
        _bodiless = false;
        _expectContinue = false;
        _writer = null;
        _onStarting = null;
        _onCompleted = null;
        if (_abortQueued || !_aborted.TryReset())
        {
            _aborted = new CancellationTokenSource(); // a cancellation queued for the last request must not reach the next
        }

        _abortQueued = false;
        ResetFeatures();
    }

    public void Dispose()
    {
        if (_data is not null)
        {
            ArrayPool<byte>.Shared.Return(_data);
            _data = null;
        }

        if (_headerScratch is not null)
        {
            ArrayPool<byte>.Shared.Return(_headerScratch);
            _headerScratch = null;
        }
    }

    /// <summary>A reusable wait: armed under the connection's lock before waiting, set under it; continuations run on the
    /// thread pool.</summary>
    private sealed class Signal : IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
        private bool _armed;

        public void Arm()
        {
            _core.Reset();
            _armed = true;
        }

        public void Set()
        {
            if (_armed)
            {
                _armed = false;
                _core.SetResult(true);
            }
        }

        public ValueTask WaitAsync() => new(this, _core.Version);

        void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => _core.OnCompleted(continuation, state, token, flags);
    }
}

/// <summary>Field-name rules shared by the response encoder.</summary>
internal static class LeanHttp2Names
{
    /// <summary>RFC 9110 token characters.</summary>
    public static readonly SearchValues<char> TokenChars = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    public static bool IsConnectionSpecific(string name) => name.Length switch
    {
        7 => name.Equals("upgrade", StringComparison.OrdinalIgnoreCase),
        10 => name.Equals("connection", StringComparison.OrdinalIgnoreCase) || name.Equals("keep-alive", StringComparison.OrdinalIgnoreCase),
        16 => name.Equals("proxy-connection", StringComparison.OrdinalIgnoreCase),
        17 => name.Equals("transfer-encoding", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };
}

/// <summary>The <c>date</c> response header, formatted at most once a second for the whole process.</summary>
internal static class LeanHttp2Date
{
    private static string s_value = "";
    private static long s_second = -1;

    public static string Current
    {
        get
        {
            long second = Environment.TickCount64 / 1000;
            if (second != Volatile.Read(ref s_second))
            {
                Volatile.Write(ref s_value, DateTimeOffset.UtcNow.ToString("r", CultureInfo.InvariantCulture));
                Volatile.Write(ref s_second, second);
            }

            return Volatile.Read(ref s_value);
        }
    }
}
