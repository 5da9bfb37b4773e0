using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using BelizeMesh.Channel.Protocol;

namespace BelizeMesh.Channel;

/// <summary>
/// The post-quantum channel (docs/protocol.md) over any duplex <see cref="Stream"/>: the outbound face that
/// <c>SocketsHttpHandler.ConnectCallback</c> hands to YARP, also usable as a server.
/// </summary>
/// <remarks>
/// Like <c>SslStream</c>: authenticate first (<see cref="AuthenticateAsClientAsync"/> or
/// <see cref="AuthenticateAsServerAsync"/>), then one reader and one writer may run concurrently. A read returns 0
/// only after the peer's authenticated close_notify; a transport EOF without it throws
/// <see cref="PqChannelException"/> (<see cref="ChannelFailure.Truncated"/>). Any failure closes the inner stream
/// (unless <c>leaveInnerStreamOpen</c>) and every later read rethrows it. Synchronous Read/Write block on the
/// asynchronous paths.
/// </remarks>
public sealed class PqChannelStream : Stream
{
    // Room for four full records and a partial one: one receive can bring in a 64 KiB write's worth of records.
    private const int ReadBufferSize = 5 * ProtocolConstants.MaxRecord;
    private const int RecordsPerWrite = 4;

    private readonly Stream _inner;
    private readonly PqChannelOptions _options;
    private readonly bool _leaveInnerStreamOpen;
    private RecordProtector? _read;
    private RecordProtector? _write;
    private byte[]? _readBuffer;
    private int _readStart;
    private int _readEnd;
    private int _plainStart;
    private int _plainEnd;
    private byte[]? _writeBuffer;
    private bool _readClosed;
    private bool _writeClosed;
    private bool _isClient;
    private int _handshakeStarted;
    private int _readInProgress;
    private int _writeInProgress;
    private int _disposed;
    private Exception? _fault;

    /// <summary>Wraps <paramref name="innerStream"/>; <paramref name="options"/> is validated now.</summary>
    public PqChannelStream(Stream innerStream, PqChannelOptions options, bool leaveInnerStreamOpen = false)
    {
        ArgumentNullException.ThrowIfNull(innerStream);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _inner = innerStream;
        _options = options;
        _leaveInnerStreamOpen = leaveInnerStreamOpen;
    }

    /// <summary>The peer's SPIFFE ID after a successful handshake.</summary>
    public string? PeerIdentity { get; private set; }

    /// <summary>True after a successful handshake.</summary>
    public bool IsAuthenticated => _read is not null;

    /// <summary>How long the handshake took.</summary>
    public TimeSpan HandshakeDuration { get; private set; }

    /// <summary>Key updates done on the sending and receiving keys (tests).</summary>
    internal (int Write, int Read) KeyGenerations => (_write?.Generation ?? -1, _read?.Generation ?? -1);

    /// <inheritdoc />
    public override bool CanRead => _disposed == 0 && _inner.CanRead;

    /// <inheritdoc />
    public override bool CanWrite => _disposed == 0 && _inner.CanWrite;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Runs the client handshake and requires the server to prove <paramref name="expectedPeerIdentity"/> (a SPIFFE ID).</summary>
    /// <exception cref="PqChannelException">The handshake failed; <see cref="PqChannelException.Reason"/> says why.</exception>
    public Task AuthenticateAsClientAsync(string expectedPeerIdentity, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(expectedPeerIdentity);
        return HandshakeAsync(isClient: true, expectedPeerIdentity, cancellationToken);
    }

    /// <summary>Runs the server handshake; afterwards <see cref="PeerIdentity"/> names the authenticated client.</summary>
    /// <exception cref="PqChannelException">The handshake failed; <see cref="PqChannelException.Reason"/> says why.</exception>
    public Task AuthenticateAsServerAsync(CancellationToken cancellationToken = default) =>
        HandshakeAsync(isClient: false, expectedPeerIdentity: null, cancellationToken);

    private async Task HandshakeAsync(bool isClient, string? expectedPeerIdentity, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (Interlocked.Exchange(ref _handshakeStarted, 1) != 0)
        {
            throw new InvalidOperationException("the handshake can run only once per stream");
        }

        _isClient = isClient;
        long started = Stopwatch.GetTimestamp();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_options.HandshakeTimeout != Timeout.InfiniteTimeSpan)
        {
            deadline.CancelAfter(_options.HandshakeTimeout);
        }

        // Connected by a socket continuation, this may run on an epoll thread: the key generation and everything the
        // handshake computes runs on the thread pool instead (ThreadPoolHop).
        await ThreadPoolHop.FromEventLoop;
        _readBuffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        using var machine = isClient
            ? HandshakeMachine.CreateClient(_options, expectedPeerIdentity!)
            : HandshakeMachine.CreateServer(_options);
        using var output = new PooledBufferWriter();
        try
        {
            if (isClient)
            {
                machine.Start(output);
                await SendAsync(output, deadline.Token).ConfigureAwait(false);
            }

            while (!machine.IsComplete)
            {
                int length = await ReadRecordAsync(machine.ReceivedAnyRecord, duringHandshake: true, deadline.Token).ConfigureAwait(false);
                await ThreadPoolHop.FromEventLoop; // decapsulation and signature checks: not on the epoll thread
                machine.ProcessRecord(_readBuffer.AsSpan(_readStart, length), output);
                CryptographicOperations.ZeroMemory(_readBuffer.AsSpan(_readStart, length));
                _readStart += length;
                await SendAsync(output, deadline.Token).ConfigureAwait(false);
            }

            await _inner.FlushAsync(deadline.Token).ConfigureAwait(false);
            (_read, _write) = machine.TakeApplicationProtectors();
            PeerIdentity = machine.PeerIdentity;
            HandshakeDuration = Stopwatch.GetElapsedTime(started);
            _options.Metrics?.HandshakeSucceeded(isClient, HandshakeDuration);
            _options.Metrics?.ChannelOpened(isClient);
        }
        catch (Exception ex) when (ex is not PqChannelException && deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            var timeout = new PqChannelException(ChannelFailure.Timeout,
                $"the handshake did not finish within {_options.HandshakeTimeout.TotalSeconds:0.###} s", innerException: ex);
            Fail(timeout, started);
            throw timeout;
        }
        catch (PqChannelException ex)
        {
            if (!ex.ReportedByPeer && !deadline.IsCancellationRequested && machine.TryWriteAlert(ex.Reason, output))
            {
                try
                {
                    await SendAsync(output, deadline.Token).ConfigureAwait(false);
                }
                catch (Exception alertFailure) when (alertFailure is IOException or OperationCanceledException or ObjectDisposedException)
                {
                    // The alert is a courtesy; the failure is already decided.
                }
            }

            Fail(ex, started);
            throw;
        }
        catch (IOException ex)
        {
            var truncated = new PqChannelException(ChannelFailure.Truncated, $"the transport failed during the handshake: {ex.Message}", innerException: ex);
            Fail(truncated, started);
            throw truncated;
        }
        catch (Exception ex)
        {
            Fail(ex, started);
            throw;
        }
    }

    private void Fail(Exception ex, long started)
    {
        _fault = ex;
        _options.Metrics?.HandshakeFailed(_isClient, ex is PqChannelException p ? p.Reason : ChannelFailure.InternalError, Stopwatch.GetElapsedTime(started));
        CloseInner();
    }

    private async ValueTask SendAsync(PooledBufferWriter output, CancellationToken cancellationToken)
    {
        if (output.WrittenCount > 0)
        {
            await _inner.WriteAsync(output.WrittenMemory, cancellationToken).ConfigureAwait(false);
            output.Clear();
        }
    }

    /// <summary>Ensures one whole record is buffered at <see cref="_readStart"/>; returns its length (header + payload).</summary>
    private async ValueTask<int> ReadRecordAsync(bool receivedAny, bool duringHandshake, CancellationToken cancellationToken)
    {
        byte[] buffer = _readBuffer!;
        while (true)
        {
            switch (RecordFraming.TryParse(buffer.AsSpan(_readStart, _readEnd - _readStart), out RecordHeader header, out string? error))
            {
                case RecordParseResult.Complete:
                    return ProtocolConstants.HeaderLength + header.Length;
                case RecordParseResult.Invalid:
                    throw new PqChannelException(receivedAny ? ChannelFailure.ProtocolViolation : ChannelFailure.NotPqChannel, error!);
            }

            if (buffer.Length - _readStart < ProtocolConstants.MaxRecord)
            {
                int pending = _readEnd - _readStart;
                Buffer.BlockCopy(buffer, _readStart, buffer, 0, pending);
                _readStart = 0;
                _readEnd = pending;
            }

            int read = await _inner.ReadAsync(buffer.AsMemory(_readEnd), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new PqChannelException(ChannelFailure.Truncated, duringHandshake
                    ? "the peer closed the connection during the handshake"
                    : "the transport closed without close_notify (truncation)");
            }

            _readEnd += read;
        }
    }

    /// <inheritdoc />
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfNotUsable();
        if (Interlocked.Exchange(ref _readInProgress, 1) != 0)
        {
            throw new NotSupportedException("PqChannelStream allows one read at a time");
        }

        try
        {
            if (_fault is not null)
            {
                throw _fault;
            }

            while (_plainEnd == _plainStart)
            {
                if (_readClosed)
                {
                    return 0;
                }

                int length = await ReadRecordAsync(receivedAny: true, duringHandshake: false, cancellationToken).ConfigureAwait(false);
                ReadOnlySpan<byte> record = _readBuffer.AsSpan(_readStart, length);
                int plaintextLength = length - ProtocolConstants.HeaderLength - ProtocolConstants.TagLength;
                bool direct = buffer.Length >= plaintextLength && plaintextLength > 0;
                Span<byte> target = direct ? buffer.Span : _readBuffer.AsSpan(_readStart + ProtocolConstants.HeaderLength);
                int n;
                RecordKind kind;
                try
                {
                    n = RecordLayer.Open(_read!, record, target, out kind);
                }
                catch (PqChannelException ex)
                {
                    _fault = ex;
                    CloseInner();
                    throw;
                }

                int recordStart = _readStart;
                _readStart += length;
                if (kind == RecordKind.Close)
                {
                    _readClosed = true;
                    return 0;
                }

                if (n == 0)
                {
                    continue;
                }

                if (direct)
                {
                    // Records already buffered behind this one go straight into the rest of the caller's buffer, so
                    // a 64 KiB read takes up to four records for one call and one receive instead of four of each.
                    n += OpenBufferedRecords(buffer.Span[n..]);
                    _options.Metrics?.BytesReceived(n);
                    return n;
                }

                _options.Metrics?.BytesReceived(n);

                _plainStart = recordStart + ProtocolConstants.HeaderLength;
                _plainEnd = _plainStart + n;
            }

            int count = Math.Min(buffer.Length, _plainEnd - _plainStart);
            _readBuffer.AsSpan(_plainStart, count).CopyTo(buffer.Span);
            _plainStart += count;
            return count;
        }
        catch (IOException ex) when (ex is not PqChannelException)
        {
            _fault = new PqChannelException(ChannelFailure.Truncated, $"the transport failed: {ex.Message}", innerException: ex);
            CloseInner();
            throw _fault;
        }
        finally
        {
            Volatile.Write(ref _readInProgress, 0);
        }
    }

    /// <summary>
    /// Opens whole records that are already in the read buffer, while their plaintext fits in <paramref name="target"/>;
    /// no I/O. Stops at a close_notify (the next read returns 0) and at an authentication failure, which is kept in
    /// <see cref="_fault"/> for the next read to throw: what was authenticated before it is still handed over, nothing
    /// after it is.
    /// </summary>
    private int OpenBufferedRecords(Span<byte> target)
    {
        int produced = 0;
        while (!_readClosed && _fault is null
            && RecordFraming.TryParse(_readBuffer.AsSpan(_readStart, _readEnd - _readStart), out RecordHeader header, out _) == RecordParseResult.Complete)
        {
            int length = ProtocolConstants.HeaderLength + header.Length;
            int plaintextLength = header.Length - ProtocolConstants.TagLength;
            if (plaintextLength <= 0 || plaintextLength > target.Length - produced)
            {
                break;      // does not fit (or is malformed: the regular path reports that)
            }

            int n;
            RecordKind kind;
            try
            {
                n = RecordLayer.Open(_read!, _readBuffer.AsSpan(_readStart, length), target[produced..], out kind);
            }
            catch (PqChannelException ex)
            {
                _fault = ex;
                CloseInner();
                break;
            }

            _readStart += length;
            if (kind == RecordKind.Close)
            {
                _readClosed = true;
                break;
            }

            produced += n;
        }

        return produced;
    }

    /// <inheritdoc />
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ThrowIfNotUsable();
        if (_writeClosed)
        {
            throw new InvalidOperationException("the write side is shut down (close_notify sent)");
        }

        if (Interlocked.Exchange(ref _writeInProgress, 1) != 0)
        {
            throw new NotSupportedException("PqChannelStream allows one write at a time");
        }

        try
        {
            if (_fault is not null)
            {
                throw _fault;
            }

            _writeBuffer ??= ArrayPool<byte>.Shared.Rent(RecordsPerWrite * RecordLayer.MaxSealedLength(ProtocolConstants.MaxPlaintext));
            long total = buffer.Length;
            while (!buffer.IsEmpty)
            {
                int written = 0;
                while (!buffer.IsEmpty && _writeBuffer.Length - written >= RecordLayer.MaxSealedLength(ProtocolConstants.MaxPlaintext))
                {
                    int chunk = Math.Min(buffer.Length, ProtocolConstants.MaxPlaintext);
                    written += RecordLayer.SealData(_write!, buffer.Span[..chunk], _writeBuffer.AsSpan(written));
                    buffer = buffer[chunk..];
                }

                await _inner.WriteAsync(_writeBuffer.AsMemory(0, written), cancellationToken).ConfigureAwait(false);
            }

            _options.Metrics?.BytesSent(total);
        }
        finally
        {
            Volatile.Write(ref _writeInProgress, 0);
        }
    }

    /// <summary>
    /// Sends an authenticated close_notify: the peer's reads then return 0. Reading continues to work (half-close).
    /// </summary>
    public async Task ShutdownWriteAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfNotUsable();
        if (_writeClosed)
        {
            return;
        }

        if (Interlocked.Exchange(ref _writeInProgress, 1) != 0)
        {
            throw new NotSupportedException("PqChannelStream allows one write at a time");
        }

        try
        {
            if (_fault is not null)
            {
                // docs/protocol.md 2.3: a failed channel never sends close_notify; the peer must see a truncation.
                throw _fault;
            }

            byte[] record = new byte[RecordProtector.SealedLength(1)];
            int n = RecordLayer.SealCloseNotify(_write!, record);
            _writeClosed = true;
            await _inner.WriteAsync(record.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            await _inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _writeInProgress, 0);
        }
    }

    /// <inheritdoc />
    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public override void Flush() => _inner.Flush();

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
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
            ArrayPool<byte>.Shared.Return(rented, clearArray: true);
        }
    }

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer) => WriteAsync(buffer.ToArray()).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            bool ownsWriter = Interlocked.CompareExchange(ref _writeInProgress, 1, 0) == 0;
            if (ownsWriter && CanSendCloseNotify())
            {
                try
                {
                    byte[] record = new byte[RecordProtector.SealedLength(1)];
                    int n = RecordLayer.SealCloseNotify(_write!, record);
                    _inner.Write(record, 0, n);
                    _inner.Flush();
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException or NotSupportedException)
                {
                    // The peer may be gone; disposal must not throw.
                }
            }

            Release(ownsWriter);
        }

        base.Dispose(disposing);
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            bool ownsWriter = Interlocked.CompareExchange(ref _writeInProgress, 1, 0) == 0;
            if (ownsWriter && CanSendCloseNotify())
            {
                try
                {
                    byte[] record = new byte[RecordProtector.SealedLength(1)];
                    int n = RecordLayer.SealCloseNotify(_write!, record);
                    await _inner.WriteAsync(record.AsMemory(0, n)).ConfigureAwait(false);
                    await _inner.FlushAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException or NotSupportedException)
                {
                    // The peer may be gone; disposal must not throw.
                }
            }

            Release(ownsWriter);
        }

        GC.SuppressFinalize(this);
    }

    private bool CanSendCloseNotify() => _write is not null && !_writeClosed && _fault is null;

    /// <summary>Zeroes keys and returns buffers; a buffer still used by an in-flight operation is left to the GC.</summary>
    private void Release(bool ownsWriter)
    {
        bool wasOpen = _read is not null;
        if (Interlocked.CompareExchange(ref _readInProgress, 1, 0) == 0)
        {
            _read?.Dispose();
            if (_readBuffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_readBuffer, clearArray: true);
                _readBuffer = null;
            }
        }

        if (ownsWriter)
        {
            _write?.Dispose();
            if (_writeBuffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_writeBuffer, clearArray: true);
                _writeBuffer = null;
            }
        }

        if (wasOpen)
        {
            _options.Metrics?.ChannelClosed(_isClient);
        }

        if (!_leaveInnerStreamOpen)
        {
            _inner.Dispose();
        }
    }

    private void CloseInner()
    {
        if (!_leaveInnerStreamOpen)
        {
            _inner.Dispose();
        }
    }

    private void ThrowIfNotUsable()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_read is null)
        {
            throw _fault ?? new InvalidOperationException("authenticate the channel before reading or writing");
        }
    }
}
