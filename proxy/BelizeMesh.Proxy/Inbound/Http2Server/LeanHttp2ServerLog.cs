using BelizeMesh.Proxy.Forwarding.Http2;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Inbound.Http2Server;

/// <summary>Source-generated log messages of the lean HTTP/2 server (event IDs 700–719). Client-caused failures are
/// Debug; nothing is logged per request except an application's unhandled exception.</summary>
internal static partial class LeanHttp2ServerLog
{
    [LoggerMessage(700, LogLevel.Debug, "Connection {ConnectionId}: HTTP/2 connection error {Code}: {Reason}.", EventName = "Http2ConnectionError")]
    public static partial void ConnectionError(ILogger logger, string connectionId, Http2ErrorCode code, string reason);

    [LoggerMessage(701, LogLevel.Debug, "Connection {ConnectionId}: HTTP/2 connection closed ({Reason}).", EventName = "Http2ConnectionClosed")]
    public static partial void ConnectionClosed(ILogger logger, string connectionId, string reason);

    [LoggerMessage(702, LogLevel.Warning, "Connection {ConnectionId}, stream {StreamId}: the application threw an unhandled exception.", EventName = "Http2ApplicationError")]
    public static partial void ApplicationError(ILogger logger, string connectionId, int streamId, Exception exception);

    [LoggerMessage(703, LogLevel.Debug, "Connection {ConnectionId}: the HTTP/2 connection failed while reading or writing.", EventName = "Http2TransportFailed")]
    public static partial void TransportFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(704, LogLevel.Debug, "Connection {ConnectionId}, stream {StreamId}: response body length does not match its content-length {ContentLength} ({Written} bytes written); stream reset.", EventName = "Http2ResponseLengthMismatch")]
    public static partial void ResponseLengthMismatch(ILogger logger, string connectionId, int streamId, long contentLength, long written);
}
