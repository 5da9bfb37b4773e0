using System.Buffers;
using System.Net.Http;
using System.Threading.Tasks.Sources;

namespace BelizeMesh.Proxy.Forwarding.Http2;

/// <summary>
/// One request on a <see cref="LeanHttp2Connection"/> (RFC 9113 §5.1): its response as it arrives, its buffered response
/// body, and its request body's flow control. Every field is guarded by the connection's lock; completions run their
/// continuations on the thread pool, never under the lock — except the response's, which the read loop delivers outside
/// the lock and may run inline (<see cref="CompleteResponse"/>).
/// </summary>
/// <remarks>
/// The stream leaves the connection's count when both directions have ended (END_STREAM sent and received) or it was
/// reset; response bytes already received stay readable after that. Disposing the response body before its end resets
/// the stream (CANCEL) and gives its unread bytes' credit back to the connection.
/// </remarks>
internal sealed class LeanHttp2Stream : IValueTaskSource<HttpResponseMessage>, IValueTaskSource
{
    private const int MaxKeptBuffer = 64 * 1024;

    private readonly LeanHttp2Connection _connection;
    private ManualResetValueTaskSourceCore<HttpResponseMessage> _responseSource = new() { RunContinuationsAsynchronously = true };
    private ManualResetValueTaskSourceCore<bool> _readable = new() { RunContinuationsAsynchronously = true };
    private bool _responseDone;
    private bool _readerWaiting;
    private byte[]? _data;
    private int _dataStart;
    private int _dataEnd;
    private int _receiveWindow = LeanHttp2Connection.StreamReceiveWindow;
    private int _receiveUnacked;
    private long _sendWindow;
    private long _expectedLength = -1;
    private bool _noContent;
    private long _receivedLength;
    private bool _endReceived;
    private bool _endSent;
    private bool _closed;
    private Exception? _error;
    private TaskCompletionSource? _writerWaiter;

    public LeanHttp2Stream(LeanHttp2Connection connection, int id, HttpRequestMessage request, int sendWindow, bool endSent)
    {
        _connection = connection;
        Id = id;
        Request = request;
        _sendWindow = sendWindow;
        _endSent = endSent;
    }

    public int Id { get; }

    public HttpRequestMessage Request { get; }

    /// <summary>The response, once its headers arrived.</summary>
    public HttpResponseMessage? Response { get; private set; }

    public bool HasResponse => Response is not null;

    /// <summary>The peer ended its side of the stream (END_STREAM received). Read under the lock.</summary>
    public bool RemoteEnded => _endReceived;

    /// <summary>The response, when its headers arrive; fails when the stream is reset or the connection fails first.</summary>
    public ValueTask<HttpResponseMessage> ResponseAsync => new(this, _responseSource.Version);

    /// <summary>An exception for a request the peer did not process (safe to send again).</summary>
    public static HttpProtocolException Refused(string why)
        => new((long)Http2ErrorCode.RefusedStream, "The upstream refused the HTTP/2 stream: " + why + ".", null);

    private object Sync => _connection.SyncRoot;

    // ---- called by the connection's read loop, under the lock ----

    public void OnResponse(HttpResponseMessage response, bool endStream)
    {
        Response = response;
        long declared = ((LeanResponseContent)response.Content).DeclaredLength;
        bool bodiless = response.StatusCode is System.Net.HttpStatusCode.NoContent or System.Net.HttpStatusCode.NotModified
            || ReferenceEquals(Request.Method, HttpMethod.Head) || Request.Method.Method.Equals("HEAD", StringComparison.OrdinalIgnoreCase);
        // RFC 9110 §6.4.1: these responses have no content, whatever their content-length says (RFC 9113 §8.1.1)
        _noContent = bodiless;
        _expectedLength = bodiless ? 0 : declared;
        if (endStream && _expectedLength > 0)
        {
            ResetFromPeerError(Http2ErrorCode.ProtocolError, $"The upstream's HTTP/2 response ended with its headers although its content-length is {_expectedLength}.");
            return;
        }

        ((LeanResponseContent)response.Content).Body = endStream ? Stream.Null : new LeanHttp2ResponseStream(this);
        if (endStream)
        {
            EndReceived();
        }

        if (!_responseDone)
        {
            _responseDone = true;
            _connection.DeferResponse(this); // completed by the read loop once this read's frames are handled (CompleteResponse)
        }
    }

    /// <summary>Delivers the response decoded by <see cref="OnResponse"/>: called by the connection's read loop outside
    /// the lock, after the frames of the read that carried it (its first DATA included) were handled. <paramref name="inline"/>:
    /// the request's continuation (YARP copying the response on) runs on the read loop now, up to its first wait; else it
    /// is queued to the thread pool.</summary>
    public void CompleteResponse(bool inline)
    {
        _responseSource.RunContinuationsAsynchronously = !inline;
        _responseSource.SetResult(Response!);
    }

    public void OnTrailers()
    {
        if (_expectedLength >= 0 && _receivedLength != _expectedLength)
        {
            ResetFromPeerError(Http2ErrorCode.ProtocolError, $"The upstream's HTTP/2 response body ({_receivedLength} bytes) does not match its content-length ({_expectedLength}).");
            return;
        }

        EndReceived();
    }

    public void OnData(ReadOnlySpan<byte> data, int padding, bool endStream)
    {
        int frameLength = data.Length + padding;
        if (!HasResponse || _endReceived)
        {
            int unused = 0;
            _ = _connection.Consumed(Id, frameLength, ref unused, streamOpen: false);
            ResetFromPeerError(_endReceived ? Http2ErrorCode.StreamClosed : Http2ErrorCode.ProtocolError,
                _endReceived ? "The upstream sent DATA after ending the stream." : "The upstream sent DATA before the response headers.");
            return;
        }

        _receiveWindow -= frameLength;
        if (_receiveWindow < 0)
        {
            int unused = 0;
            _ = _connection.Consumed(Id, frameLength, ref unused, streamOpen: false);
            ResetFromPeerError(Http2ErrorCode.FlowControlError, "The upstream sent DATA beyond the stream's receive window.");
            return;
        }

        _receivedLength += data.Length;
        if (_expectedLength >= 0 && (_receivedLength > _expectedLength || (endStream && _receivedLength != _expectedLength)))
        {
            // RFC 9113 §8.1.1: DATA that disagrees with content-length makes the response malformed; so does content in
            // a response that has none (a response to HEAD, a 204 or 304)
            _ = _connection.Consumed(Id, frameLength, ref _receiveUnacked, streamOpen: false);
            ResetFromPeerError(Http2ErrorCode.ProtocolError, _noContent
                ? $"The upstream's HTTP/2 response ({(int)Response!.StatusCode} to {Request.Method}) carries content, which it cannot have."
                : $"The upstream's HTTP/2 response body ({_receivedLength}{(endStream ? "" : "+")} bytes) does not match its content-length ({_expectedLength}).");
            return;
        }

        if (padding > 0)
        {
            _ = _connection.Consumed(Id, padding, ref _receiveUnacked, streamOpen: !endStream);
            _receiveWindow += padding;
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
            EndReceived();
        }
        else
        {
            WakeReader();
        }
    }

    private void GrowData(int more)
    {
        int buffered = _dataEnd - _dataStart;
        if (_data is not null && _dataStart > 0 && _data.Length - buffered >= more)
        {
            _data.AsSpan(_dataStart, buffered).CopyTo(_data);
        }
        else
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(buffered + more, Math.Min(2 * (_data?.Length ?? 0), LeanHttp2Connection.StreamReceiveWindow)));
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

    private void EndReceived()
    {
        _endReceived = true;
        WakeReader();
        if (_endSent)
        {
            Close();
        }
    }

    public void OnPeerReset(Http2ErrorCode code)
    {
        if (code == Http2ErrorCode.NoError && _endReceived)
        {
            // the response is complete and the server wants no more of the request body (§8.1)
            _endSent = true;
            Close();
            WakeWriter();
            return;
        }

        Fail(code == Http2ErrorCode.RefusedStream && !HasResponse
            ? Refused("RST_STREAM REFUSED_STREAM")
            : new HttpProtocolException((long)code, $"The upstream reset the HTTP/2 stream ({code}).", null));
        Close();
        Discard();
    }

    public void OnRefusedByGoAway(Http2ErrorCode code)
    {
        Fail(Refused($"it is closing the connection (GOAWAY {code}) and did not process the request"));
        Close();
        Discard();
    }

    /// <summary>The peer broke the protocol on this stream only (§5.4.2): reset it and fail the request.</summary>
    public void ResetFromPeerError(Http2ErrorCode code, string message) => ResetLocally(code, new HttpProtocolException((long)code, message, null));

    /// <summary>The peer's header section is larger than this client takes: the stream is reset (PROTOCOL_ERROR, as for
    /// a response it cannot process) and the request or its body read fails with a limit error.</summary>
    public void ResetOverHeaderLimit(string message)
        => ResetLocally(Http2ErrorCode.ProtocolError, new HttpRequestException(HttpRequestError.ConfigurationLimitExceeded, message));

    public void OnConnectionFailed(Exception error)
    {
        _closed = true;
        Fail(error);
        Discard();
    }

    /// <summary>Adds to the stream's send window (WINDOW_UPDATE, or a change of SETTINGS_INITIAL_WINDOW_SIZE); false
    /// when that takes it beyond 2^31-1.</summary>
    public bool AddSendWindow(int delta)
    {
        _sendWindow += delta;
        return _sendWindow <= Http2Frame.MaxWindow;
    }

    /// <summary>Wakes a request body write waiting for flow-control credit (may be called outside the lock).</summary>
    public void WakeWriter() => Interlocked.Exchange(ref _writerWaiter, null)?.TrySetResult();

    // ---- state changes (under the lock) ----

    private void ResetLocally(Http2ErrorCode code, Exception error)
    {
        if (!_closed)
        {
            _connection.AppendReset(Id, code);
        }

        Fail(error);
        Close();
        Discard();
    }

    private void Fail(Exception error)
    {
        _error ??= error;
        if (!_responseDone)
        {
            _responseDone = true;
            _responseSource.SetException(error);
        }

        WakeReader();
        WakeWriter();
    }

    private void WakeReader()
    {
        if (_readerWaiting)
        {
            _readerWaiting = false;
            _readable.SetResult(true);
        }
    }

    private void Close()
    {
        if (!_closed)
        {
            _closed = true;
            _connection.Closed(this);
        }
    }

    /// <summary>Drops the unread response bytes and gives their credit back to the connection.</summary>
    private void Discard()
    {
        int buffered = _dataEnd - _dataStart;
        if (buffered > 0)
        {
            int unused = 0;
            _ = _connection.Consumed(Id, buffered, ref unused, streamOpen: false);
        }

        ReturnData();
    }

    private void ReturnData()
    {
        if (_data is not null)
        {
            ArrayPool<byte>.Shared.Return(_data);
            _data = null;
        }

        _dataStart = _dataEnd = 0;
    }

    // ---- the request's side ----

    /// <summary>The request was cancelled before its response: reset the stream (CANCEL).</summary>
    public void Cancel(CancellationToken cancellationToken)
    {
        lock (Sync)
        {
            if (_responseDone)
            {
                return;
            }

            ResetLocally(Http2ErrorCode.Cancel, new OperationCanceledException("The request was canceled.", null, cancellationToken));
        }

        _ = _connection.FlushAsync();
    }

    /// <summary>Sends the request body as DATA frames within the flow-control windows, then END_STREAM. A failure of the
    /// body (the client went away) resets the stream.</summary>
    public async Task SendBodyAsync(HttpContent content, CancellationToken cancellationToken)
    {
        try
        {
            await content.CopyToAsync(new LeanHttp2RequestBodyStream(this), cancellationToken).ConfigureAwait(false);
            lock (Sync)
            {
                if (_endSent || _closed)
                {
                    return;
                }

                _connection.AppendDataFrame(Id, [], endStream: true);
                _endSent = true;
                if (_endReceived)
                {
                    Close();
                }
            }

            await _connection.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            lock (Sync)
            {
                if (_closed || _endSent)
                {
                    return;
                }

                ResetLocally(Http2ErrorCode.Cancel, new HttpRequestException(HttpRequestError.Unknown, "Sending the request body failed: " + ex.Message, ex));
            }

            await _connection.FlushAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Writes request body bytes as DATA frames, waiting for flow-control credit when there is none.</summary>
    public async ValueTask WriteBodyAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            Task? wait = null;
            int sent = 0;
            lock (Sync)
            {
                if (_error is not null)
                {
                    throw new IOException("The HTTP/2 stream failed: " + _error.Message, _error);
                }

                if (_endSent || _closed)
                {
                    return; // the server said it wants no more of the body
                }

                int wanted = (int)Math.Min(_sendWindow, data.Length);
                if (wanted > 0)
                {
                    sent = _connection.TakeSendCredit(this, wanted);
                }

                if (sent > 0)
                {
                    _connection.AppendDataFrame(Id, data.Span[..sent], endStream: false);
                    _sendWindow -= sent;
                }
                else
                {
                    var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _writerWaiter = waiter;
                    wait = waiter.Task;
                }
            }

            if (wait is not null)
            {
                await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            data = data[sent..];
            await _connection.FlushAsync().ConfigureAwait(false);
        }
    }

    // ---- the response body's side ----

    /// <summary>Reads buffered response bytes, waiting when none have arrived; 0 at the end of the body.</summary>
    public ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (destination.IsEmpty)
        {
            return new ValueTask<int>(0);
        }

        int read;
        bool flush;
        lock (Sync)
        {
            read = TryRead(destination.Span, out flush);
            if (read < 0)
            {
                if (_readerWaiting)
                {
                    throw new InvalidOperationException("The HTTP/2 response body does not take concurrent reads.");
                }

                _readable.Reset();
                _readerWaiting = true;
            }
        }

        if (read >= 0)
        {
            if (flush)
            {
                _ = _connection.FlushAsync(); // a WINDOW_UPDATE for what was read
            }

            return new ValueTask<int>(read);
        }

        return WaitThenReadAsync(destination, cancellationToken);
    }

    private async ValueTask<int> WaitThenReadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        using (cancellationToken.UnsafeRegister(static (state, token) => ((LeanHttp2Stream)state!).CancelRead(token), this))
        {
            await new ValueTask(this, _readable.Version).ConfigureAwait(false);
        }

        return await ReadAsync(destination, cancellationToken).ConfigureAwait(false);
    }

    private void CancelRead(CancellationToken cancellationToken)
    {
        lock (Sync)
        {
            if (_readerWaiting)
            {
                _readerWaiting = false;
                _readable.SetException(new OperationCanceledException("Reading the response body was canceled.", null, cancellationToken));
            }
        }
    }

    /// <summary>Copies buffered bytes (caller holds the lock): the count, 0 at the end, -1 when the reader must wait.</summary>
    private int TryRead(Span<byte> destination, out bool flush)
    {
        flush = false;
        int buffered = _dataEnd - _dataStart;
        if (buffered > 0)
        {
            int n = Math.Min(buffered, destination.Length);
            _data.AsSpan(_dataStart, n).CopyTo(destination);
            _dataStart += n;
            if (_dataStart == _dataEnd)
            {
                _dataStart = _dataEnd = 0;
                if (_endReceived || _data!.Length > MaxKeptBuffer)
                {
                    ReturnData();
                }
            }

            _receiveWindow += n;
            flush = _connection.Consumed(Id, n, ref _receiveUnacked, streamOpen: !_endReceived && !_closed);
            return n;
        }

        if (_error is not null)
        {
            throw _error as IOException ?? new IOException("The HTTP/2 stream failed: " + _error.Message, _error);
        }

        return _endReceived ? 0 : -1;
    }

    /// <summary>The response body was disposed: reset the stream if it is not over, and drop what was not read.</summary>
    public void Abandon()
    {
        lock (Sync)
        {
            if (!_closed && _endReceived && _error is null)
            {
                // the response is complete, the request body still going: end the exchange without error (as a server
                // does with RST_STREAM NO_ERROR, RFC 9113 §8.1); the body's writer stops quietly
                _connection.AppendReset(Id, Http2ErrorCode.NoError);
                _endSent = true;
                Close();
                Discard();
                WakeWriter();
            }
            else if (!_closed)
            {
                ResetLocally(Http2ErrorCode.Cancel, new ObjectDisposedException(nameof(LeanHttp2ResponseStream), "The response body was disposed."));
            }
            else
            {
                Discard();
            }
        }

        _ = _connection.FlushAsync();
    }

    HttpResponseMessage IValueTaskSource<HttpResponseMessage>.GetResult(short token) => _responseSource.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<HttpResponseMessage>.GetStatus(short token) => _responseSource.GetStatus(token);

    void IValueTaskSource<HttpResponseMessage>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _responseSource.OnCompleted(continuation, state, token, flags);

    void IValueTaskSource.GetResult(short token) => _readable.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _readable.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _readable.OnCompleted(continuation, state, token, flags);
}

/// <summary>The response body of a <see cref="LeanHttp2Stream"/>.</summary>
internal sealed class LeanHttp2ResponseStream(LeanHttp2Stream stream) : Stream
{
    private int _disposed;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return stream.ReadAsync(buffer, cancellationToken);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int n = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, n).CopyTo(buffer);
            return n;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            stream.Abandon();
        }

        base.Dispose(disposing);
    }
}

/// <summary>The request body's destination: DATA frames of a <see cref="LeanHttp2Stream"/>.</summary>
internal sealed class LeanHttp2RequestBodyStream(LeanHttp2Stream stream) : Stream
{
    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        => stream.WriteBodyAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(ReadOnlySpan<byte> buffer) => WriteAsync(buffer.ToArray()).AsTask().GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
