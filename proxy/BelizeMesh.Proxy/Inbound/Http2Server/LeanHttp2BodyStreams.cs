namespace BelizeMesh.Proxy.Inbound.Http2Server;

/// <summary>The request body of a <see cref="LeanHttp2ServerStream"/>: its buffered DATA, read asynchronously only (as
/// Kestrel, synchronous I/O is refused).</summary>
internal sealed class LeanHttp2RequestBodyStream(LeanHttp2ServerStream stream) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => stream.ReadBodyAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => stream.ReadBodyAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count)
        => throw new InvalidOperationException("Synchronous operations are disallowed. Call ReadAsync instead.");

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>The response body of a <see cref="LeanHttp2ServerStream"/>: each write becomes DATA frames within the
/// flow-control windows and is flushed; asynchronous only (as Kestrel, synchronous I/O is refused).</summary>
internal sealed class LeanHttp2ResponseBodyStream(LeanHttp2ServerStream stream) : Stream
{
    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        => stream.WriteBodyAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => stream.WriteBodyAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => stream.FlushBodyAsync();

    public override void Write(byte[] buffer, int offset, int count)
        => throw new InvalidOperationException("Synchronous operations are disallowed. Call WriteAsync instead.");

    public override void Flush()
    {
        // Stream.Dispose and some writers call this; there is nothing buffered here to write synchronously
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>An accepted extended CONNECT (a WebSocket): reads are the request's DATA, writes the response's.</summary>
internal sealed class LeanHttp2TunnelStream(LeanHttp2ServerStream stream) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => stream.ReadBodyAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => stream.ReadBodyAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        => stream.WriteBodyAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => stream.WriteBodyAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => stream.FlushBodyAsync();

    public override int Read(byte[] buffer, int offset, int count)
        => throw new InvalidOperationException("Synchronous operations are disallowed. Call ReadAsync instead.");

    public override void Write(byte[] buffer, int offset, int count)
        => throw new InvalidOperationException("Synchronous operations are disallowed. Call WriteAsync instead.");

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
