using System.Net;
using System.Net.Sockets;
using System.Text;

namespace BelizeMesh.Perf.Load;

/// <summary>
/// One HTTP/1.1 keep-alive client connection over a raw socket, for load generation: the request is a fixed,
/// pre-encoded byte array; the response parser reads the status line, <c>Content-Length</c> or chunked framing and
/// <c>Connection: close</c>, and discards the body. One 64 KiB receive buffer per connection, nothing allocated per
/// request, so the generator's own cost stays small next to the proxies it measures.
/// </summary>
internal sealed class Http1Connection : IDisposable
{
    private const int BufferSize = 64 * 1024;

    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly ReadOnlyMemory<byte> _request;
    private int _start;
    private int _end;

    private Http1Connection(Socket socket, ReadOnlyMemory<byte> request)
    {
        _socket = socket;
        _request = request;
    }

    /// <summary>True once the server said <c>Connection: close</c> (or closed): the caller must reconnect.</summary>
    public bool Closed { get; private set; }

    public static byte[] EncodeGet(string host, string path) =>
        Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: belizemesh-perf\r\nAccept: */*\r\n\r\n");

    public static async Task<Http1Connection> ConnectAsync(IPEndPoint endPoint, ReadOnlyMemory<byte> request, CancellationToken cancellationToken)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return new Http1Connection(socket, request);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends the request without waiting (the caller may be a scheduler thread: a small send on a healthy
    /// loopback socket completes at once).</summary>
    public void Send()
    {
        ReadOnlySpan<byte> remaining = _request.Span;
        while (remaining.Length > 0)
        {
            int sent = _socket.Send(remaining, SocketFlags.None);
            remaining = remaining[sent..];
        }
    }

    public async ValueTask SendAsync(CancellationToken cancellationToken)
    {
        ReadOnlyMemory<byte> remaining = _request;
        while (remaining.Length > 0)
        {
            int sent = await _socket.SendAsync(remaining, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            remaining = remaining[sent..];
        }
    }

    /// <summary>Reads one whole response and returns its status code. Throws <see cref="IOException"/> when the
    /// connection closes early or the response is malformed.</summary>
    public async ValueTask<int> ReadResponseAsync(CancellationToken cancellationToken)
    {
        int headerEnd;
        while ((headerEnd = FindHeaderEnd()) < 0)
        {
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }

        (int status, long contentLength, bool chunked, bool close) = ParseHead(_buffer.AsSpan(_start, headerEnd - _start));
        _start = headerEnd;
        if (chunked)
        {
            await SkipChunkedAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (contentLength > 0)
        {
            await SkipAsync(contentLength, cancellationToken).ConfigureAwait(false);
        }
        else if (contentLength < 0 && status != 204 && status != 304)
        {
            throw new IOException("response without Content-Length or chunked framing (read-until-close is not supported by the load generator)");
        }

        Closed = close;
        return status;
    }

    public void Dispose() => _socket.Dispose();

    private int FindHeaderEnd()
    {
        int index = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
        return index < 0 ? -1 : _start + index + 4;
    }

    private async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == _buffer.Length)
        {
            if (_start == 0)
            {
                throw new IOException($"response head larger than {BufferSize} bytes");
            }

            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        int read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            Closed = true;
            throw new IOException("the server closed the connection in the middle of a response");
        }

        _end += read;
    }

    private async ValueTask SkipAsync(long count, CancellationToken cancellationToken)
    {
        while (true)
        {
            int available = _end - _start;
            if (available >= count)
            {
                _start += (int)count;
                return;
            }

            count -= available;
            _start = _end;
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask SkipChunkedAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int lineEnd;
            while ((lineEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0)
            {
                await FillAsync(cancellationToken).ConfigureAwait(false);
            }

            long size = ParseChunkSize(_buffer.AsSpan(_start, lineEnd));
            _start += lineEnd + 2;
            if (size == 0)
            {
                // Trailers (none expected) end with an empty line.
                while (true)
                {
                    while ((lineEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0)
                    {
                        await FillAsync(cancellationToken).ConfigureAwait(false);
                    }

                    _start += lineEnd + 2;
                    if (lineEnd == 0)
                    {
                        return;
                    }
                }
            }

            await SkipAsync(size + 2, cancellationToken).ConfigureAwait(false);
        }
    }

    private static long ParseChunkSize(ReadOnlySpan<byte> line)
    {
        long size = 0;
        int digits = 0;
        foreach (byte b in line)
        {
            int value = b switch
            {
                >= (byte)'0' and <= (byte)'9' => b - '0',
                >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
                _ => -1,
            };
            if (value < 0)
            {
                break;      // chunk extensions
            }

            size = (size * 16) + value;
            if (++digits > 15)
            {
                throw new IOException("chunk size too large");
            }
        }

        return digits == 0 ? throw new IOException("malformed chunk size line") : size;
    }

    private static (int Status, long ContentLength, bool Chunked, bool Close) ParseHead(ReadOnlySpan<byte> head)
    {
        // "HTTP/1.1 200 OK\r\n"
        if (head.Length < 12 || !head.StartsWith("HTTP/1."u8) || head[8] != (byte)' ')
        {
            throw new IOException("malformed status line");
        }

        int status = ((head[9] - '0') * 100) + ((head[10] - '0') * 10) + (head[11] - '0');
        bool http10 = head[7] == (byte)'0';
        long contentLength = -1;
        bool chunked = false;
        bool close = http10;
        int lineStart = head.IndexOf("\r\n"u8) + 2;
        while (lineStart < head.Length)
        {
            int length = head[lineStart..].IndexOf("\r\n"u8);
            if (length <= 0)
            {
                break;
            }

            ReadOnlySpan<byte> line = head.Slice(lineStart, length);
            int colon = line.IndexOf((byte)':');
            if (colon > 0)
            {
                ReadOnlySpan<byte> name = line[..colon];
                ReadOnlySpan<byte> value = line[(colon + 1)..].Trim((byte)' ');
                if (Ascii.EqualsIgnoreCase(name, "content-length"u8))
                {
                    contentLength = 0;
                    foreach (byte b in value)
                    {
                        contentLength = (contentLength * 10) + (b - '0');
                    }
                }
                else if (Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8))
                {
                    chunked = Ascii.EqualsIgnoreCase(value, "chunked"u8);
                }
                else if (Ascii.EqualsIgnoreCase(name, "connection"u8))
                {
                    close = Ascii.EqualsIgnoreCase(value, "close"u8) || (http10 && !Ascii.EqualsIgnoreCase(value, "keep-alive"u8));
                }
            }

            lineStart += length + 2;
        }

        return (status, contentLength, chunked, close);
    }
}
