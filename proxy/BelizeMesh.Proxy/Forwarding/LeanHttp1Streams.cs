using System.Buffers.Text;
using System.Net.Http;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// A response body on a <see cref="LeanHttp1Connection"/>: Content-Length, chunked (trailers into
/// <see cref="HttpResponseMessage.TrailingHeaders"/>) or read until the server closes. The response part of the
/// exchange ends as soon as the body's end is parsed (not at the reader's next read), so the connection goes back to its
/// pool promptly; disposing the stream before the end, a failed read or a cancelled one closes the connection.
/// </summary>
internal sealed class LeanHttp1ResponseStream : Stream
{
    private const int MaxChunkLine = 4096;

    private readonly LeanHttp1Connection _connection;
    private readonly HttpResponseMessage _response;
    private readonly LeanBodyKind _kind;
    private long _remaining; // Content-Length: bytes left; chunked: bytes left in the current chunk
    private ChunkState _chunkState;
    private bool _done;
    private bool _failed;
    private long _trailerBytes;
    private int _trailerScanFrom; // where the search for the trailer section's end resumes, relative to ReadStart
    private int _chunkLineScanned; // the bytes of a chunk-size line already searched for its LF, relative to ReadStart

    public LeanHttp1ResponseStream(LeanHttp1Connection connection, HttpResponseMessage response, LeanBodyKind kind, long length)
    {
        _connection = connection;
        _response = response;
        _kind = kind;
        _remaining = kind == LeanBodyKind.ContentLength ? length : 0;
        _chunkState = ChunkState.Header;
    }

    private enum ChunkState : byte
    {
        Header,
        Data,
        DataEnd,
        Trailers,
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_done)
        {
            // after a failed or cancelled read (or a dispose before the end) the rest of the body is lost: not a clean end
            return _failed ? ValueTask.FromException<int>(Unusable()) : new ValueTask<int>(0);
        }

        if (buffer.IsEmpty)
        {
            return new ValueTask<int>(0);
        }

        if (_kind == LeanBodyKind.ContentLength && Buffered > 0)
        {
            // the common case: the rest of a small body came with the head
            int n = CopyBuffered(buffer.Span, _remaining);
            _remaining -= n;
            if (_remaining == 0)
            {
                Finish(clean: true);
            }

            return new ValueTask<int>(n);
        }

        return ReadSlowAsync(buffer, cancellationToken);
    }

    private async ValueTask<int> ReadSlowAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            int n = _kind switch
            {
                LeanBodyKind.ContentLength => await ReadContentLengthAsync(buffer, cancellationToken).ConfigureAwait(false),
                LeanBodyKind.Chunked => await ReadChunkedAsync(buffer, cancellationToken).ConfigureAwait(false),
                _ => await ReadUntilCloseAsync(buffer, cancellationToken).ConfigureAwait(false),
            };
            return n;
        }
        catch (Exception ex) when (!_done)
        {
            Finish(clean: false);
            if (ex is OperationCanceledException || ex is HttpIOException)
            {
                throw;
            }

            if (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException("The response body read was canceled.", ex, cancellationToken);
            }

            throw new HttpIOException(HttpRequestError.ResponseEnded, "Error reading the upstream's response body: " + ex.Message, ex);
        }
    }

    private int Buffered => _connection.ReadEnd - _connection.ReadStart;

    private int CopyBuffered(Span<byte> destination, long limit)
    {
        int n = (int)Math.Min(Math.Min(Buffered, destination.Length), limit);
        _connection.ReadBuffer.AsSpan(_connection.ReadStart, n).CopyTo(destination);
        _connection.ReadStart += n;
        return n;
    }

    private async ValueTask<int> ReadContentLengthAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int n;
        if (Buffered > 0)
        {
            n = CopyBuffered(buffer.Span, _remaining);
        }
        else if (buffer.Length >= _connection.ReadBuffer.Length)
        {
            n = await _connection.Stream.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw Ended();
            }
        }
        else
        {
            if (await _connection.FillAsync(cancellationToken).ConfigureAwait(false) == 0)
            {
                throw Ended();
            }

            n = CopyBuffered(buffer.Span, _remaining);
        }

        _remaining -= n;
        if (_remaining == 0)
        {
            Finish(clean: true);
        }

        return n;
    }

    private async ValueTask<int> ReadUntilCloseAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (Buffered > 0)
        {
            return CopyBuffered(buffer.Span, long.MaxValue);
        }

        int n = await _connection.Stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (n == 0)
        {
            _connection.MarkNotReusable();
            Finish(clean: true); // the end of the body; the connection closes (it was never reusable)
        }

        return n;
    }

    private async ValueTask<int> ReadChunkedAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_chunkState == ChunkState.Data)
            {
                int n;
                if (Buffered > 0)
                {
                    n = CopyBuffered(buffer.Span, _remaining);
                }
                else if (buffer.Length >= _connection.ReadBuffer.Length)
                {
                    n = await _connection.Stream.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _remaining)], cancellationToken).ConfigureAwait(false);
                    if (n == 0)
                    {
                        throw Ended();
                    }
                }
                else
                {
                    if (await _connection.FillAsync(cancellationToken).ConfigureAwait(false) == 0)
                    {
                        throw Ended();
                    }

                    continue;
                }

                _remaining -= n;
                if (_remaining == 0)
                {
                    _chunkState = ChunkState.DataEnd;
                    AdvanceBuffered(); // the body's end may already be here: end the response part now
                }

                return n;
            }

            AdvanceBuffered();
            if (_done)
            {
                return 0;
            }

            if (_chunkState == ChunkState.Data)
            {
                continue;
            }

            if (await _connection.FillAsync(cancellationToken).ConfigureAwait(false) == 0)
            {
                throw Ended();
            }
        }
    }

    /// <summary>Parses chunk framing from the bytes already buffered, up to the next data or the body's end.</summary>
    private void AdvanceBuffered()
    {
        while (!_done)
        {
            ReadOnlySpan<byte> data = _connection.ReadBuffer.AsSpan(_connection.ReadStart, Buffered);
            switch (_chunkState)
            {
                case ChunkState.Data:
                    return;

                case ChunkState.DataEnd:
                    if (data.Length >= 1 && data[0] == '\n')
                    {
                        _connection.ReadStart += 1;
                    }
                    else if (data.Length >= 2 && data[0] == '\r' && data[1] == '\n')
                    {
                        _connection.ReadStart += 2;
                    }
                    else if (data.Length >= 2 || (data.Length == 1 && data[0] != '\r'))
                    {
                        throw Malformed("a chunk's data is not followed by CRLF");
                    }
                    else
                    {
                        return;
                    }

                    _chunkState = ChunkState.Header;
                    break;

                case ChunkState.Header:
                    // the bytes before _chunkLineScanned were searched by an earlier call and hold no LF
                    _connection.FramingBytesScanned += data.Length - _chunkLineScanned;
                    int lf = data[_chunkLineScanned..].IndexOf((byte)'\n');
                    if (lf < 0)
                    {
                        if (data.Length > MaxChunkLine)
                        {
                            throw Malformed($"a chunk-size line is longer than {MaxChunkLine} bytes");
                        }

                        _chunkLineScanned = data.Length;
                        return;
                    }

                    lf += _chunkLineScanned;
                    _chunkLineScanned = 0;

                    ReadOnlySpan<byte> line = data[..lf];
                    if (line.Length > 0 && line[^1] == '\r')
                    {
                        line = line[..^1];
                    }

                    int semicolon = line.IndexOf((byte)';');
                    ReadOnlySpan<byte> size = (semicolon < 0 ? line : line[..semicolon]).TrimEnd(" \t"u8);
                    if (size.IsEmpty || size.Length > 15 || !Utf8Parser.TryParse(size, out long chunkSize, out int consumed, 'X') || consumed != size.Length)
                    {
                        throw Malformed("a chunk-size is not a hexadecimal number");
                    }

                    _connection.ReadStart += lf + 1;
                    if (chunkSize == 0)
                    {
                        _chunkState = ChunkState.Trailers;
                        _trailerScanFrom = 0;
                    }
                    else
                    {
                        _remaining = chunkSize;
                        _chunkState = ChunkState.Data;
                    }

                    break;

                case ChunkState.Trailers:
                    _connection.FramingBytesScanned += data.Length - _trailerScanFrom;
                    int used = LeanHttp1Connection.TryParseTrailers(data, _response, ref _trailerScanFrom);
                    if (used < 0)
                    {
                        _trailerBytes = data.Length;
                        if (_trailerBytes > LeanHttp1Handler.MaxHeadBytes)
                        {
                            throw Malformed($"its trailers are larger than {LeanHttp1Handler.MaxHeadBytes / 1024} KiB");
                        }

                        return;
                    }

                    _connection.ReadStart += used;
                    Finish(clean: true);
                    return;
            }
        }
    }

    private void Finish(bool clean)
    {
        if (_done)
        {
            return;
        }

        _done = true;
        _failed = !clean;
        _connection.CompletePart(clean);
    }

    private static HttpIOException Ended()
        => new(HttpRequestError.ResponseEnded, "The upstream closed the connection before the end of the response body.");

    private static HttpIOException Unusable()
        => new(HttpRequestError.ResponseEnded, "The upstream's response body is incomplete: an earlier read failed or was canceled, or the body was disposed before its end.");

    private static HttpIOException Malformed(string what)
        => new(HttpRequestError.InvalidResponse, $"The upstream sent a malformed HTTP/1.1 response body: {what}.");

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Finish(clean: false); // before the end: the rest of the body is unread, the connection cannot be reused
        }

        base.Dispose(disposing);
    }
}

/// <summary>The request body as written by the request's <see cref="HttpContent"/>: checked against its
/// Content-Length, or framed in chunks. One per connection, reused for each request.</summary>
internal sealed class LeanHttp1RequestBodyStream(LeanHttp1Connection connection) : Stream
{
    private const int CoalesceLimit = 8192;

    private byte[]? _scratch;
    private LeanBodyFraming _framing;
    private long _length;
    private long _written;
    private bool _pendingCrlf;

    public void Start(LeanBodyFraming framing, long length)
    {
        _framing = framing;
        _length = length;
        _written = 0;
        _pendingCrlf = false;
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return ValueTask.CompletedTask;
        }

        if (_framing != LeanBodyFraming.Chunked)
        {
            _written += buffer.Length;
            if (_written > _length)
            {
                throw new HttpRequestException($"The request body is longer than its Content-Length ({_length} bytes).");
            }

            return connection.Stream.WriteAsync(buffer, cancellationToken);
        }

        return WriteChunkAsync(buffer, cancellationToken);
    }

    private async ValueTask WriteChunkAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        byte[] scratch = _scratch ??= GC.AllocateUninitializedArray<byte>(CoalesceLimit + 32);
        int pos = 0;
        if (_pendingCrlf)
        {
            scratch[pos++] = (byte)'\r';
            scratch[pos++] = (byte)'\n';
        }

        Utf8Formatter.TryFormat(data.Length, scratch.AsSpan(pos), out int written, new System.Buffers.StandardFormat('X'));
        pos += written;
        scratch[pos++] = (byte)'\r';
        scratch[pos++] = (byte)'\n';
        _pendingCrlf = true;
        if (data.Length <= CoalesceLimit)
        {
            data.Span.CopyTo(scratch.AsSpan(pos));
            await connection.Stream.WriteAsync(scratch.AsMemory(0, pos + data.Length), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await connection.Stream.WriteAsync(scratch.AsMemory(0, pos), cancellationToken).ConfigureAwait(false);
            await connection.Stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Ends the body: the last chunk, or the check that Content-Length bytes were written.</summary>
    public ValueTask FinishAsync(CancellationToken cancellationToken)
    {
        if (_framing == LeanBodyFraming.Chunked)
        {
            ReadOnlyMemory<byte> end = _pendingCrlf ? s_crlfLastChunk : s_lastChunk;
            return connection.Stream.WriteAsync(end, cancellationToken);
        }

        if (_written != _length)
        {
            throw new HttpRequestException($"The request body ended after {_written} of its Content-Length {_length} bytes.");
        }

        return ValueTask.CompletedTask;
    }

    private static readonly byte[] s_lastChunk = "0\r\n\r\n"u8.ToArray();
    private static readonly byte[] s_crlfLastChunk = "\r\n0\r\n\r\n"u8.ToArray();

    // The connection's streams do not buffer: a flush has nothing to push (YARP flushes first to send the head).
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
