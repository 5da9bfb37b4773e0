using System.Buffers;
using System.Net;
using System.Net.Http;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// One pooled HTTP/1.1 connection of <see cref="LeanHttp1Handler"/>: writes a request head and body, parses the
/// response head, and gives the response body as a stream. One request at a time; a request has two parts — sending
/// the request (head and body) and reading the response — that run concurrently, and the connection goes back to its
/// pool only when both ended cleanly (else it is closed).
/// </summary>
internal sealed class LeanHttp1Connection
{
    private const int InitialBufferSize = 4096;

    private static readonly SearchValues<byte> s_tokenBytes = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);
    private static readonly Action<object?> s_abort = static state => ((LeanHttp1Connection)state!).AbortForCancellation();

    private readonly LeanHttp1Pool _pool;
    private readonly LeanResponseHeaderCache _headerCache = new();
    private LeanHttp1RequestBodyStream? _body;
    private ValueTask<int> _readAhead;
    private bool _hasReadAhead;
    private int _aborted;
    private int _pendingParts;
    private volatile bool _reusable;
    private volatile bool _abortedByCancellation;
    private volatile Exception? _bodyError;
    private long _headBytesSeen;
    private int _headScanFrom; // where the search for the end of the head resumes, relative to ReadStart
    private long _keepAliveMilliseconds = long.MaxValue;

    public LeanHttp1Connection(LeanHttp1Pool pool, Stream stream)
    {
        _pool = pool;
        Stream = stream;
        ReadBuffer = GC.AllocateUninitializedArray<byte>(InitialBufferSize);
    }

    internal Stream Stream { get; }

    // The read buffer is never returned to a pool: a read may still be pending on it when the connection is aborted.
    internal byte[] ReadBuffer;
    internal int ReadStart;
    internal int ReadEnd;

    /// <summary>The bytes the searches for the end of a response head, a chunk-size line or a trailer section examined (tests).</summary>
    internal long FramingBytesScanned;

    internal long IdleSince { get; private set; }

    /// <summary>Idle, and the read-ahead ended: the server closed the connection (or sent bytes nobody asked for).</summary>
    internal bool ClosedByServer => _hasReadAhead && _readAhead.IsCompleted;

    /// <summary>How long the server keeps the connection open when idle (its <c>Keep-Alive: timeout</c>, less a second).</summary>
    internal long KeepAliveMilliseconds => _keepAliveMilliseconds;

    internal bool IsAborted => Volatile.Read(ref _aborted) != 0;

    /// <summary>The current request's token was cancelled while it was registered (<see cref="Begin"/>): its callback
    /// aborted the connection. Read after the registration is disposed, which waits for a running callback.</summary>
    internal bool AbortedByCancellation => _abortedByCancellation;

    /// <summary>Called by the pool as the connection goes idle: starts the read that notices the server closing it, and
    /// that becomes the first read of the next response.</summary>
    internal void StartIdle()
    {
        IdleSince = Environment.TickCount64;
        ReadStart = ReadEnd = 0;
        try
        {
            _readAhead = Stream.ReadAsync(ReadBuffer.AsMemory(), CancellationToken.None);
        }
        catch (Exception)
        {
            _readAhead = new ValueTask<int>(0);
        }

        _hasReadAhead = true;
    }

    /// <summary>Takes the connection out of the pool for a request; false when it is no longer usable.</summary>
    internal bool TryActivate()
    {
        if (IsAborted || Environment.TickCount64 - IdleSince >= Math.Min((long)_pool.IdleTimeout.TotalMilliseconds, _keepAliveMilliseconds))
        {
            return false;
        }

        if (_hasReadAhead && _readAhead.IsCompleted)
        {
            _hasReadAhead = false;
            try
            {
                _ = _readAhead.GetAwaiter().GetResult();
            }
            catch (Exception)
            {
                // closed or reset: unusable either way
            }

            return false;
        }

        return true;
    }

    /// <summary>Closes the connection now (idempotent). A pending read or write ends with an error.</summary>
    internal void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        try
        {
            Stream.Dispose();
        }
        catch (Exception)
        {
            // closing must not throw
        }
    }

    private void AbortForCancellation()
    {
        _abortedByCancellation = true;
        Abort();
    }

    /// <summary>Closes an idle (or never used) connection, observing its read-ahead.</summary>
    internal void Close()
    {
        Abort();
        if (_hasReadAhead)
        {
            _hasReadAhead = false;
            _ = ObserveAsync(_readAhead);
        }

        static async Task ObserveAsync(ValueTask<int> read)
        {
            try
            {
                await read.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // the connection is closed: its last read's error is expected
            }
        }
    }

    /// <summary>One part of the exchange (sending the request, reading the response) ended; the last one returns the
    /// connection to the pool when everything was clean, or closes it.</summary>
    internal void CompletePart(bool clean)
    {
        if (!clean)
        {
            _reusable = false;
            Abort();
        }

        if (Interlocked.Decrement(ref _pendingParts) == 0)
        {
            if (_reusable && !IsAborted && ReadStart == ReadEnd)
            {
                _pool.Return(this);
            }
            else
            {
                Close();
                _pool.Closed();
            }
        }
    }

    internal void MarkNotReusable() => _reusable = false;

    /// <summary>Prepares the connection for a request (before its head is written).</summary>
    internal CancellationTokenRegistration Begin(LeanRequestHead parsed, CancellationToken cancellationToken)
    {
        _pendingParts = 1;
        _reusable = !parsed.ConnectionClose;
        _bodyError = null;
        _headBytesSeen = 0;
        _headScanFrom = 0;
        _abortedByCancellation = false;
        return cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(s_abort, this) : default;
    }

    /// <summary>Starts sending the request body (after the head), concurrently with reading the response.</summary>
    internal void StartBody(HttpContent content, LeanRequestHead parsed, CancellationToken cancellationToken)
    {
        _pendingParts = 2;
        _ = SendBodyAsync(content, parsed, cancellationToken);
    }

    /// <summary>True when the next read is the idle connection's read-ahead (<see cref="ReadAhead"/>, into the empty buffer).</summary>
    internal bool HasReadAhead => _hasReadAhead;

    internal ValueTask<int> ReadAhead
    {
        get
        {
            _hasReadAhead = false;
            return _readAhead;
        }
    }

    /// <summary>Makes room after <see cref="ReadEnd"/> for another read (compacting or growing the buffer).</summary>
    internal Memory<byte> ReadSpace()
    {
        if (ReadStart == ReadEnd)
        {
            ReadStart = ReadEnd = 0;
        }
        else if (ReadEnd == ReadBuffer.Length)
        {
            if (ReadStart > 0)
            {
                ReadBuffer.AsSpan(ReadStart, ReadEnd - ReadStart).CopyTo(ReadBuffer);
                ReadEnd -= ReadStart;
                ReadStart = 0;
            }
            else
            {
                byte[] larger = GC.AllocateUninitializedArray<byte>(ReadBuffer.Length * 2);
                ReadBuffer.AsSpan(0, ReadEnd).CopyTo(larger);
                ReadBuffer = larger;
            }
        }

        return ReadBuffer.AsMemory(ReadEnd);
    }

    /// <summary>Records <paramref name="n"/> bytes read while waiting for the response head; throws at end of stream.</summary>
    internal void HeadBytesRead(int n)
    {
        if (n == 0)
        {
            throw new HttpIOException(HttpRequestError.ResponseEnded, _headBytesSeen == 0
                ? "The upstream closed the connection without sending a response."
                : "The upstream closed the connection in the middle of the response head.");
        }

        ReadEnd += n;
        _headBytesSeen += n;
    }

    /// <summary>The response, once its whole head is buffered (interim 1xx responses skipped); null: read more.</summary>
    internal HttpResponseMessage? TryParseResponse(HttpRequestMessage request, bool isHead)
    {
        while (true)
        {
            // compacting or growing the buffer keeps the bytes after ReadStart where they were relative to it
            ReadOnlySpan<byte> buffered = ReadBuffer.AsSpan(ReadStart, ReadEnd - ReadStart);
            FramingBytesScanned += buffered.Length - _headScanFrom;
            int headLength = FindHeadEnd(buffered, ref _headScanFrom);
            if (headLength < 0)
            {
                if (ReadEnd - ReadStart >= LeanHttp1Handler.MaxHeadBytes)
                {
                    throw Malformed($"its head is larger than {LeanHttp1Handler.MaxHeadBytes / 1024} KiB");
                }

                return null;
            }

            if (headLength > LeanHttp1Handler.MaxHeadBytes)
            {
                throw Malformed($"its head is larger than {LeanHttp1Handler.MaxHeadBytes / 1024} KiB");
            }

            HttpResponseMessage? response = ParseHead(request, ReadBuffer.AsSpan(ReadStart, headLength), isHead, out LeanBodyKind kind, out long length);
            ReadStart += headLength;
            _headScanFrom = 0; // a head that follows an interim one starts at the new ReadStart
            if (response is null)
            {
                continue; // an interim 1xx response: the final one follows
            }

            var content = (LeanResponseContent)response.Content;
            content.DeclaredLength = length;
            content.Body = kind == LeanBodyKind.Empty
                ? Stream.Null // the caller ends the response part
                : new LeanHttp1ResponseStream(this, response, kind, length);
            return response;
        }
    }

    /// <summary>The request failed before its response head was complete: closes the connection and says whether
    /// to send the request again on another connection (false: throw <paramref name="error"/>'s translation).</summary>
    internal bool Fail(Exception error, bool reused, bool bodyStarted, CancellationToken cancellationToken, out Exception translated)
    {
        bool sawResponse = _headBytesSeen > 0;
        CompletePart(clean: false);
        if (cancellationToken.IsCancellationRequested)
        {
            translated = new TaskCanceledException("The request was canceled.", error, cancellationToken);
            return false;
        }

        if (error is HttpRequestException { HttpRequestError: HttpRequestError.InvalidResponse })
        {
            translated = error;
            return false;
        }

        if (reused && !sawResponse && !bodyStarted)
        {
            translated = error;
            return true;
        }

        translated = _bodyError is { } bodyError
            ? new HttpRequestException(HttpRequestError.Unknown, "An error occurred while sending the request body.", bodyError)
            : error is HttpIOException { HttpRequestError: HttpRequestError.ResponseEnded }
                ? new HttpRequestException(HttpRequestError.ResponseEnded, error.Message, error)
                : new HttpRequestException(HttpRequestError.Unknown, "An error occurred while sending the request: " + error.Message, error);
        return false;
    }

    private async Task SendBodyAsync(HttpContent content, LeanRequestHead parsed, CancellationToken cancellationToken)
    {
        bool clean = false;
        try
        {
            LeanHttp1RequestBodyStream body = _body ??= new LeanHttp1RequestBodyStream(this);
            body.Start(parsed.Framing, parsed.ContentLength);

            // the token YARP passed in: its content recognises it as HTTP/1.1's (no linked token source)
            await content.CopyToAsync(body, null, cancellationToken).ConfigureAwait(false);
            await body.FinishAsync(cancellationToken).ConfigureAwait(false);
            clean = true;
        }
        catch (Exception ex)
        {
            _bodyError = ex;
        }
        finally
        {
            CompletePart(clean);
        }
    }

    /// <summary>Reads more bytes into <see cref="ReadBuffer"/> after <see cref="ReadEnd"/> (compacting or growing it
    /// first when full); the first read after the connection was idle is its read-ahead. Returns 0 at end of stream.</summary>
    internal async ValueTask<int> FillAsync(CancellationToken cancellationToken)
    {
        int n = _hasReadAhead
            ? await ReadAhead.ConfigureAwait(false)
            : await Stream.ReadAsync(ReadSpace(), cancellationToken).ConfigureAwait(false);
        ReadEnd += n;
        return n;
    }

    /// <summary>Offset just past the empty line that ends the head, or -1 when it has not all arrived.</summary>
    /// <param name="data">The head's bytes so far.</param>
    /// <param name="from">Where the search starts: 0 for a new head, else what the last call on a shorter prefix of the
    /// same data left (so that a head arriving in many reads is searched once, not once per read). On -1 it is set two
    /// bytes before the end: every LF before that was already followed by two more bytes, which decided whether it began
    /// the empty line; an LF in the last two bytes may begin one that the next read completes.</param>
    private static int FindHeadEnd(ReadOnlySpan<byte> data, ref int from)
    {
        int i = from;
        while (true)
        {
            int lf = data[i..].IndexOf((byte)'\n');
            if (lf < 0)
            {
                from = Math.Max(from, data.Length - 2);
                return -1;
            }

            int next = i + lf + 1;
            if (next < data.Length && data[next] == '\n')
            {
                return next + 1;
            }

            if (next + 1 < data.Length && data[next] == '\r' && data[next + 1] == '\n')
            {
                return next + 2;
            }

            if (next >= data.Length || (data[next] == '\r' && next + 1 >= data.Length))
            {
                from = Math.Max(from, data.Length - 2);
                return -1;
            }

            i = next;
        }
    }

    private static ReadOnlySpan<byte> NextLine(ref ReadOnlySpan<byte> data)
    {
        int lf = data.IndexOf((byte)'\n');
        ReadOnlySpan<byte> line = lf < 0 ? data : data[..lf];
        data = lf < 0 ? default : data[(lf + 1)..];
        return line.Length > 0 && line[^1] == '\r' ? line[..^1] : line;
    }

    /// <summary>Parses a complete head; null for an interim (1xx) response.</summary>
    private HttpResponseMessage? ParseHead(HttpRequestMessage request, ReadOnlySpan<byte> head, bool isHead, out LeanBodyKind kind, out long length)
    {
        kind = LeanBodyKind.Empty;
        length = -1;
        ReadOnlySpan<byte> line = NextLine(ref head);

        // HTTP/1.x SP 3DIGIT [SP reason]
        if (line.Length < 12 || !line.StartsWith("HTTP/1."u8) || (line[7] != '1' && line[7] != '0') || line[8] != ' '
            || !char.IsAsciiDigit((char)line[9]) || !char.IsAsciiDigit((char)line[10]) || !char.IsAsciiDigit((char)line[11])
            || (line.Length > 12 && line[12] != ' '))
        {
            throw Malformed("its status line is not HTTP/1.x");
        }

        if (line.IndexOfAny((byte)'\r', (byte)0) >= 0)
        {
            throw Malformed("its reason phrase contains a NUL or a bare CR"); // RFC 9112 2.2, RFC 9110 5.5
        }

        bool http10 = line[7] == '0';
        int status = ((line[9] - '0') * 100) + ((line[10] - '0') * 10) + (line[11] - '0');
        if (status < 100)
        {
            throw Malformed($"its status code {status} is out of range");
        }

        if (status < 200)
        {
            if (status == 101)
            {
                throw Malformed("it switched protocols (101) for a request that did not ask to upgrade");
            }

            return null;
        }

        var response = new HttpResponseMessage((HttpStatusCode)status)
        {
            Version = http10 ? HttpVersion.Version10 : HttpVersion.Version11,
            RequestMessage = request,
            Content = new LeanResponseContent(),
        };
        if (line.Length > 13)
        {
            ReadOnlySpan<byte> reason = line[13..];
            if (!System.Text.Ascii.Equals(reason, ReasonPhrases.GetReasonPhrase(status)))
            {
                response.ReasonPhrase = Encoding.Latin1.GetString(reason);
            }
        }

        if (http10)
        {
            _reusable = false;
        }

        bool chunked = false;
        bool otherCoding = false;
        int index = 0;
        while (!head.IsEmpty)
        {
            line = NextLine(ref head);
            if (line.IsEmpty)
            {
                break;
            }

            if (!TrySplitHeader(line, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value))
            {
                throw Malformed($"header line {index + 1} is not 'name: value' (or its value has a NUL or a bare CR)");
            }

            if (name.Length == 14 && System.Text.Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                if (!TryParseLength(value, out long parsed) || (length >= 0 && parsed != length))
                {
                    throw Malformed("its Content-Length is not a single number");
                }

                length = parsed;
            }
            else if (name.Length == 17 && System.Text.Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
            {
                // the last coding decides: chunked frames the body; any other makes it read-until-close (RFC 9112 6.3)
                int comma = value.LastIndexOf((byte)',');
                ReadOnlySpan<byte> last = (comma < 0 ? value : value[(comma + 1)..]).Trim(" \t"u8);
                chunked = System.Text.Ascii.EqualsIgnoreCase(last, "chunked"u8);
                otherCoding = !chunked;
            }
            else if (name.Length == 10 && System.Text.Ascii.EqualsIgnoreCase(name, "Connection"u8) && ContainsToken(value, "close"u8))
            {
                _reusable = false;
            }
            else if (name.Length == 10 && System.Text.Ascii.EqualsIgnoreCase(name, "Keep-Alive"u8))
            {
                ProcessKeepAlive(value);
            }

            _headerCache.Add(response, index, name, value);
            index++;
        }

        if ((chunked || otherCoding) && length >= 0)
        {
            // Transfer-Encoding overrides Content-Length, which must not be forwarded (it does not frame the decoded
            // body), and the connection is not trusted for another request (RFC 9112 6.3)
            response.Content.Headers.Remove("Content-Length");
            length = -1;
            _reusable = false;
        }

        if (isHead || status is 204 or 304)
        {
            kind = LeanBodyKind.Empty;
        }
        else if (chunked || otherCoding)
        {
            kind = chunked ? LeanBodyKind.Chunked : LeanBodyKind.UntilClose;
            if (otherCoding)
            {
                _reusable = false; // read until the server closes
            }
        }
        else if (length > 0)
        {
            kind = LeanBodyKind.ContentLength;
        }
        else if (length == 0)
        {
            kind = LeanBodyKind.Empty;
        }
        else
        {
            kind = LeanBodyKind.UntilClose;
            _reusable = false;
        }

        return response;
    }

    /// <summary><c>Keep-Alive: timeout=N</c>: the server closes the connection after N idle seconds; stop using it a
    /// second before (SocketsHttpHandler honours it too), or at once when N is 1 or less.</summary>
    private void ProcessKeepAlive(ReadOnlySpan<byte> value)
    {
        foreach (Range part in value.Split((byte)','))
        {
            ReadOnlySpan<byte> parameter = value[part].Trim(" \t"u8);
            if (parameter.Length > 8 && System.Text.Ascii.EqualsIgnoreCase(parameter[..8], "timeout="u8)
                && System.Buffers.Text.Utf8Parser.TryParse(parameter[8..], out int seconds, out int consumed) && consumed == parameter.Length - 8)
            {
                if (seconds <= 1)
                {
                    _reusable = false;
                }
                else
                {
                    _keepAliveMilliseconds = Math.Min(_keepAliveMilliseconds, (seconds - 1) * 1000L);
                }
            }
        }
    }

    private static bool TrySplitHeader(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        int colon = line.IndexOf((byte)':');
        if (colon <= 0)
        {
            name = value = default;
            return false;
        }

        name = line[..colon];
        value = line[(colon + 1)..].Trim(" \t"u8);

        // a NUL or a bare CR in a field value makes the message invalid (RFC 9110 5.5, RFC 9112 2.2)
        return !name.ContainsAnyExcept(s_tokenBytes) && value.IndexOfAny((byte)'\r', (byte)0) < 0;
    }

    private static bool ContainsToken(ReadOnlySpan<byte> value, ReadOnlySpan<byte> token)
    {
        foreach (Range part in value.Split((byte)','))
        {
            if (System.Text.Ascii.EqualsIgnoreCase(value[part].Trim(" \t"u8), token))
            {
                return true;
            }
        }

        return false;
    }

    internal static bool TryParseLength(ReadOnlySpan<byte> value, out long length)
    {
        length = 0;
        if (value.IsEmpty || value.Length > 18)
        {
            return false;
        }

        foreach (byte b in value)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            length = (length * 10) + (b - '0');
        }

        return true;
    }

    private static string Latin1(ReadOnlySpan<byte> bytes) => LeanResponseHeaderCache.Latin1(bytes);

    internal static HttpRequestException Malformed(string what)
        => new(HttpRequestError.InvalidResponse, $"The upstream sent a malformed HTTP/1.1 response: {what}.");

    /// <summary>Parses a trailer section (after the last chunk) from <paramref name="data"/> into the response's trailing
    /// headers; returns the bytes consumed, or -1 when it has not all arrived. The search for the section's end resumes
    /// at <c>from</c> (0 for a new section) and on -1 leaves where the next call resumes, as for a head.</summary>
    internal static int TryParseTrailers(ReadOnlySpan<byte> data, HttpResponseMessage response, ref int from)
    {
        // the section is empty (CRLF alone) or header lines ending with an empty line
        int end;
        if (data.Length >= 1 && data[0] == '\n')
        {
            end = 1;
        }
        else if (data.Length >= 2 && data[0] == '\r' && data[1] == '\n')
        {
            end = 2;
        }
        else if (data.Length < 2)
        {
            return -1;
        }
        else
        {
            end = FindHeadEnd(data, ref from);
            if (end < 0)
            {
                return -1;
            }

            ReadOnlySpan<byte> section = data[..end];
            while (!section.IsEmpty)
            {
                ReadOnlySpan<byte> line = NextLine(ref section);
                if (line.IsEmpty)
                {
                    break;
                }

                if (!TrySplitHeader(line, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value))
                {
                    throw new HttpIOException(HttpRequestError.InvalidResponse, "The upstream sent a malformed HTTP/1.1 response: a trailer line is not 'name: value' (or its value has a NUL or a bare CR).");
                }

                response.TrailingHeaders.TryAddWithoutValidation(LeanHttp1HeaderNames.Get(name, out _), Latin1(value));
            }
        }

        return end;
    }
}

/// <summary>How a response body is delimited.</summary>
internal enum LeanBodyKind : byte
{
    Empty,
    ContentLength,
    Chunked,
    UntilClose,
}

/// <summary>A response's content from a lean client: the body stream of a <see cref="LeanHttp1Connection"/> or of an HTTP/2
/// stream (<see cref="Http2.LeanHttp2Stream"/>).</summary>
internal sealed class LeanResponseContent : HttpContent
{
    /// <summary>Set once the head is parsed (the content exists earlier, to receive the content headers).</summary>
    public Stream Body { get; set; } = Stream.Null;

    /// <summary>The response's <c>Content-Length</c> as the head parser validated it; -1 when the head had none. Read
    /// instead of <c>Headers.ContentLength</c>, which would parse the header's text once more (and make YARP's copy of
    /// the headers format the parsed number back into a new string).</summary>
    public long DeclaredLength { get; set; } = -1;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => Body.CopyToAsync(stream);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        => Body.CopyToAsync(stream, cancellationToken);

    protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult(Body);

    protected override Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) => Task.FromResult(Body);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) => Body;

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Body.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>Common header names, so a response head allocates no string for them; and which are content headers.</summary>
internal static class LeanHttp1HeaderNames
{
    private static readonly string[] s_content =
    [
        "Allow", "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length", "Content-Location",
        "Content-MD5", "Content-Range", "Content-Type", "Expires", "Last-Modified",
    ];

    private static readonly string[] s_other =
    [
        "Date", "Server", "Connection", "Keep-Alive", "Transfer-Encoding", "Cache-Control", "ETag", "Vary", "Location",
        "Set-Cookie", "Accept-Ranges", "Age", "Pragma", "Trailer", "Via", "Alt-Svc", "Retry-After", "WWW-Authenticate",
        "Strict-Transport-Security", "Access-Control-Allow-Origin", "X-Content-Type-Options", "X-Frame-Options",
        "grpc-status", "grpc-message", "x-envoy-peer-metadata", "x-envoy-peer-metadata-id", "x-envoy-upstream-service-time",
        "traceparent", "tracestate", "x-request-id", "Link", "Upgrade", "Proxy-Authenticate", "Warning",
    ];

    public static bool IsContentHeader(string name)
    {
        foreach (string known in s_content)
        {
            if (ReferenceEquals(known, name))
            {
                return true;
            }
        }

        return false;
    }

    public static string Get(ReadOnlySpan<byte> name, out bool isContent)
    {
        foreach (string known in s_content)
        {
            if (known.Length == name.Length && System.Text.Ascii.EqualsIgnoreCase(name, known))
            {
                isContent = true;
                return known;
            }
        }

        isContent = false;
        foreach (string known in s_other)
        {
            if (known.Length == name.Length && System.Text.Ascii.EqualsIgnoreCase(name, known))
            {
                return known;
            }
        }

        return Encoding.ASCII.GetString(name);
    }
}
