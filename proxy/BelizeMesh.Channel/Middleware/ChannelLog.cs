using Microsoft.Extensions.Logging;

namespace BelizeMesh.Channel.Middleware;

/// <summary>Source-generated log messages of the inbound channel middleware (event IDs 1–99). Client-caused failures are Debug.</summary>
internal static partial class ChannelLog
{
    [LoggerMessage(1, LogLevel.Debug, "Connection {ConnectionId}: PQ channel established with {PeerIdentity} in {ElapsedMilliseconds:0.0} ms.", EventName = "HandshakeSucceeded")]
    public static partial void HandshakeSucceeded(ILogger logger, string connectionId, string peerIdentity, double elapsedMilliseconds);

    [LoggerMessage(2, LogLevel.Debug, "Connection {ConnectionId}: PQ channel handshake failed ({Reason}): {Detail}", EventName = "HandshakeFailed")]
    public static partial void HandshakeFailed(ILogger logger, string connectionId, ChannelFailure reason, string detail);

    [LoggerMessage(3, LogLevel.Debug, "Connection {ConnectionId}: PQ channel handshake timed out after {Timeout}.", EventName = "HandshakeTimedOut")]
    public static partial void HandshakeTimedOut(ILogger logger, string connectionId, TimeSpan timeout);

    [LoggerMessage(4, LogLevel.Debug, "Connection {ConnectionId}: the transport failed during the PQ channel handshake.", EventName = "HandshakeTransportFailed")]
    public static partial void HandshakeTransportFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(6, LogLevel.Debug, "Connection {ConnectionId}: not a PQ channel; passed on in plaintext (permissive).", EventName = "PlaintextAccepted")]
    public static partial void PlaintextAccepted(ILogger logger, string connectionId);

    [LoggerMessage(5, LogLevel.Debug, "Connection {ConnectionId}: PQ channel closed ({Reason}): {Detail}", EventName = "ChannelFailed")]
    public static partial void ChannelFailed(ILogger logger, string connectionId, ChannelFailure reason, string detail);
}
