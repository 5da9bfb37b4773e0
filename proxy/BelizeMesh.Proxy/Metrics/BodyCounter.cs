using System.Collections.Concurrent;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace BelizeMesh.Proxy.Metrics;

/// <summary>
/// Counts the bytes of a body whose size no <c>Content-Length</c> declares (HTTP/1.1 chunked, an HTTP/2 stream without
/// one), for <c>istio_request_bytes</c> / <c>istio_response_bytes</c>. Installed only for such a body: the request's
/// <see cref="HttpRequest.Body"/> is wrapped when the request starts, the response's <see cref="IHttpResponseBodyFeature"/>
/// when the upstream's response headers arrive without a length. YARP's forwarder reads and writes the two streams
/// (never <c>BodyReader</c>/<c>BodyWriter</c>), so every forwarded byte passes the counters. Counters are pooled per
/// sidecar: a request that needs one takes it and gives it back when it is recorded, so counting allocates nothing
/// once the pool is warm.
/// </summary>
internal sealed class BodyCounter
{
    private readonly CountingReadStream _request = new();
    private readonly CountingResponseBodyFeature _response = new();
    private HttpContext? _context;
    private Stream? _originalRequestBody;
    private IHttpResponseBodyFeature? _originalResponseBody;

    public long RequestBytes => _originalRequestBody is null ? -1 : _request.Count;

    public long ResponseBytes => _originalResponseBody is null ? -1 : _response.Count;

    /// <summary>Counts the request body from now on.</summary>
    public void CountRequest(HttpContext context)
    {
        _context = context;
        _originalRequestBody = context.Request.Body;
        _request.Attach(_originalRequestBody);
        context.Request.Body = _request;
    }

    /// <summary>Counts the response body from now on (before the first byte of it is written). A second response to
    /// the same request (an attempt after a failed one) restarts the count on the same wrapper.</summary>
    public void CountResponse(HttpContext context)
    {
        if (_originalResponseBody is not null && ReferenceEquals(context.Features.Get<IHttpResponseBodyFeature>(), _response))
        {
            _response.Restart();
            return;
        }

        _context = context;
        _originalResponseBody = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        _response.Attach(_originalResponseBody);
        context.Features.Set<IHttpResponseBodyFeature>(_response);
    }

    /// <summary>Puts the request's own body and response feature back and forgets the request.</summary>
    public void Detach()
    {
        if (_context is { } context)
        {
            if (_originalRequestBody is not null && ReferenceEquals(context.Request.Body, _request))
            {
                context.Request.Body = _originalRequestBody;
            }

            if (_originalResponseBody is not null && ReferenceEquals(context.Features.Get<IHttpResponseBodyFeature>(), _response))
            {
                context.Features.Set(_originalResponseBody);
            }

            context.Features.Set<BodyCounter>(null);
        }

        _context = null;
        _originalRequestBody = null;
        _originalResponseBody = null;
        _request.Attach(Stream.Null);
        _response.Attach(null);
    }

    /// <summary>A bounded pool of counters (one sidecar's).</summary>
    internal sealed class Pool
    {
        private const int Capacity = 256;
        private readonly ConcurrentQueue<BodyCounter> _items = new();
        private int _count;

        public BodyCounter Rent()
        {
            if (_items.TryDequeue(out BodyCounter? counter))
            {
                Interlocked.Decrement(ref _count);
                return counter;
            }

            return new BodyCounter();
        }

        public void Return(BodyCounter counter)
        {
            counter.Detach();
            if (Interlocked.Increment(ref _count) <= Capacity)
            {
                _items.Enqueue(counter);
            }
            else
            {
                Interlocked.Decrement(ref _count);
            }
        }
    }

    /// <summary>A read-only pass-through stream that counts what is read.</summary>
    private sealed class CountingReadStream : Stream
    {
        private Stream _inner = Null;

        public long Count { get; private set; }

        public void Attach(Stream inner)
        {
            _inner = inner;
            Count = 0;
        }

        public override bool CanRead => true;

        public override bool CanSeek => _inner.CanSeek;

        public override bool CanWrite => false;

        public override long Length => _inner.Length;

        public override long Position { get => _inner.Position; set => _inner.Position = value; }

        public override int Read(byte[] buffer, int offset, int count) => Counted(_inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Counted(_inner.Read(buffer));

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => Counted(await _inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).ConfigureAwait(false));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ValueTask<int> read = _inner.ReadAsync(buffer, cancellationToken);
            return read.IsCompletedSuccessfully ? new ValueTask<int>(Counted(read.Result)) : Await(read);
        }

        private async ValueTask<int> Await(ValueTask<int> read) => Counted(await read.ConfigureAwait(false));

        private int Counted(int read)
        {
            Count += read;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => _inner.Seek(offset, origin);

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>The response body feature with a counting <see cref="Stream"/>; everything else is the original's.</summary>
    private sealed class CountingResponseBodyFeature : IHttpResponseBodyFeature
    {
        private readonly CountingWriteStream _stream;
        private IHttpResponseBodyFeature? _inner;

        public CountingResponseBodyFeature() => _stream = new CountingWriteStream();

        public long Count => _stream.Count;

        public void Restart() => _stream.Attach(_inner?.Stream ?? Stream.Null);

        public void Attach(IHttpResponseBodyFeature? inner)
        {
            _inner = inner;
            _stream.Attach(inner?.Stream ?? Stream.Null);
        }

        private IHttpResponseBodyFeature Inner => _inner ?? throw new ObjectDisposedException(nameof(BodyCounter));

        public Stream Stream => _stream;

        public PipeWriter Writer => Inner.Writer; // not counted: the forwarder writes through Stream

        public void DisableBuffering() => Inner.DisableBuffering();

        public Task StartAsync(CancellationToken cancellationToken = default) => Inner.StartAsync(cancellationToken);

        public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
            => Inner.SendFileAsync(path, offset, count, cancellationToken);

        public Task CompleteAsync() => Inner.CompleteAsync();
    }

    /// <summary>A write-only pass-through stream that counts what is written.</summary>
    private sealed class CountingWriteStream : Stream
    {
        private Stream _inner = Null;

        public long Count { get; private set; }

        public void Attach(Stream inner)
        {
            _inner = inner;
            Count = 0;
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            _inner.Write(buffer, offset, count);
            Count += count;
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _inner.Write(buffer);
            Count += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Count += count;
            return _inner.WriteAsync(buffer, offset, count, cancellationToken);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Count += buffer.Length;
            return _inner.WriteAsync(buffer, cancellationToken);
        }

        public override void Flush() => _inner.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
