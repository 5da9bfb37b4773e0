using System.Net;
using System.Net.Http;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// Sends a streamed response's headers to the client as soon as the upstream pauses before its body, as Envoy does.
/// YARP copies the upstream's response headers but writes them only with the first body bytes (its HttpForwarder step
/// 7-B, dotnet/yarp#2520), so a stream whose server sends its headers and then waits for the client — a gRPC server
/// that sends its initial metadata first, a bidirectional call whose client awaits the response headers before writing,
/// server-sent events announced before the first event — never got its headers through the sidecars, and both ends
/// waited on each other until a timeout ended the call.
/// </summary>
/// <remarks>
/// The upstream's body is wrapped so that a read which cannot complete at once (nothing has arrived after the headers)
/// first flushes the client's response: the headers go out, then the read is awaited. A read that completes at once
/// (the body is already there, or the response is complete: an empty body, a gRPC "trailers-only" answer whose
/// HEADERS frame ended the stream) changes nothing, so those responses keep going out in one write as before — and a
/// response the upstream ended with its headers is never turned into headers + empty end-of-stream frame.
/// Responses with a <c>Content-Length</c>, upgrades (101, extended CONNECT) and responses the engine holds back for a
/// retry are not wrapped at all (no allocation).
/// </remarks>
internal static class ResponseHeadersFirst
{
    /// <summary>Wraps <paramref name="upstream"/>'s body when the response is forwarded with a body of unknown length.</summary>
    public static void Apply(HttpContext context, HttpResponseMessage upstream)
    {
        HttpContent? content = upstream.Content;
        if (content is null
            || upstream.StatusCode == HttpStatusCode.SwitchingProtocols
            || HasContentLength(content)
            || context.Response.HasStarted
            || ReferenceEquals(upstream.RequestMessage?.Method, HttpMethod.Connect)
            || HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }

        upstream.Content = new Content(content, context.Response);
    }

    /// <summary>Whether the response declared its length; the lean client's content says so without parsing the header.</summary>
    private static bool HasContentLength(HttpContent content)
        => content is LeanResponseContent lean ? lean.DeclaredLength >= 0 : content.Headers.ContentLength is not null;

    /// <summary>The upstream's content; its stream is <see cref="HeadersFirstStream"/>. Disposes the upstream's content.</summary>
    private sealed class Content(HttpContent inner, HttpResponse response) : HttpContent
    {
        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
            => new HeadersFirstStream(await inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), response);

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
            => inner.CopyToAsync(stream, context, cancellationToken);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => inner.CopyToAsync(stream, context);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>Reads the upstream's body; the first read that has to wait flushes the client's response headers first.</summary>
    private sealed class HeadersFirstStream(Stream inner, HttpResponse response) : Stream
    {
        private HttpResponse? _pending = response;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ValueTask<int> read = inner.ReadAsync(buffer, cancellationToken);
            if (_pending is not { } response || read.IsCompleted)
            {
                return read;
            }

            _pending = null;
            return StartThenReadAsync(response, read, cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        /// <summary>Sends the response headers while the upstream is quiet, then waits for its read. The read is always
        /// awaited; a failure to start the response (the client went away) is rethrown after it.</summary>
        private static async ValueTask<int> StartThenReadAsync(HttpResponse response, ValueTask<int> read, CancellationToken cancellationToken)
        {
            ExceptionDispatchInfo? failure = null;
            if (!response.HasStarted)
            {
                try
                {
                    // a flush, not StartAsync: Kestrel's StartAsync only makes the headers read-only; they are written
                    // with the next flush
                    await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
                {
                    failure = ExceptionDispatchInfo.Capture(e);
                }
            }

            int bytes = await read.ConfigureAwait(false);
            failure?.Throw();
            return bytes;
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override int Read(Span<byte> buffer) => inner.Read(buffer);

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
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        public override ValueTask DisposeAsync()
        {
            GC.SuppressFinalize(this);
            return inner.DisposeAsync();
        }
    }
}
