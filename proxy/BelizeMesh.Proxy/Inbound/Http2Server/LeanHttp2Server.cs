using BelizeMesh.Proxy.Hosting;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BelizeMesh.Proxy.Inbound.Http2Server;

/// <summary>
/// The sidecar's own HTTP/2 server (RFC 9113, server side) for connections that arrive through the PQ channel: one read
/// loop per connection parses frames straight from the channel's pipe and runs each request's application inline, up to
/// its first await, on that loop; responses are framed into one output buffer per connection and written in batches.
/// It replaces Kestrel's HTTP/2 layer there, which hands every stream to the thread pool and writes through a frame
/// writer loop and per-stream pipes.
/// </summary>
/// <remarks>
/// Supported: HEADERS/CONTINUATION (padded, priority flags; PRIORITY frames ignored), request bodies and trailers,
/// flow control both ways, response trailers, SETTINGS, PING, GOAWAY both ways and graceful shutdown
/// (<see cref="Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature"/>), RST_STREAM both
/// ways, abuse limits (rapid reset, SETTINGS/PING floods, CONTINUATION floods, empty DATA floods), keep-alive and header
/// timeouts, extended CONNECT (RFC 8441, WebSockets over HTTP/2) when <see cref="LeanHttp2ServerOptions.EnableExtendedConnect"/>
/// is set (the sidecar sets it; otherwise <c>:protocol</c> is refused and SETTINGS_ENABLE_CONNECT_PROTOCOL not
/// advertised). Not supported: server push (never sent), plain CONNECT (answered 501), the dynamic table on the encoding
/// side (responses are encoded without indexing), and a dynamic table size other than 4,096 on the decoding side.
/// </remarks>
internal static class LeanHttp2Server
{
    /// <summary>
    /// Kestrel connection middleware: a connection whose first 24 bytes are the HTTP/2 client preface is served here
    /// (each request runs <paramref name="application"/>); any other connection goes to <c>next</c> with its bytes
    /// unconsumed.
    /// </summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware(RequestDelegate application, LeanHttp2ServerOptions options, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(application);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ILogger logger = (loggers ?? NullLoggerFactory.Instance).CreateLogger("BelizeMesh.Proxy.Inbound.Http2Server");
        return next => connection => ServeAsync(connection, next, application, options, logger);
    }

    private static async Task ServeAsync(ConnectionContext connection, ConnectionDelegate next, RequestDelegate application, LeanHttp2ServerOptions options, ILogger logger)
    {
        bool http2;
        if (options.RequestHeadersTimeout == Timeout.InfiniteTimeSpan)
        {
            http2 = await H2cPriorKnowledge.StartsWithPrefaceAsync(connection.Transport.Input, connection.ConnectionClosed).ConfigureAwait(false);
        }
        else
        {
            // Behind the sidecar's own sniffing the preface is already buffered and this returns at once; alone (tests,
            // other hosts) the peek is bounded like the rest of the preface.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
            timeout.CancelAfter(options.RequestHeadersTimeout);
            http2 = await H2cPriorKnowledge.StartsWithPrefaceAsync(connection.Transport.Input, timeout.Token).ConfigureAwait(false);
        }

        if (!http2)
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        var server = new LeanHttp2ServerConnection(connection, application, options, logger);
        await server.RunAsync().ConfigureAwait(false);
    }
}
