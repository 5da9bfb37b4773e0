using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace BelizeMesh.Proxy.Inbound;

/// <summary>
/// WebSockets through the mesh. Inside the PQ channel the requests run over HTTP/2, where a WebSocket opens with an
/// extended CONNECT (RFC 8441: <c>:method CONNECT</c>, <c>:protocol websocket</c>) instead of HTTP/1.1's
/// <c>GET</c> + <c>Upgrade: websocket</c>. It is the same request: rules and rate limits see it as <c>GET</c> (as
/// Envoy's RBAC does), and the forwarder hands it to the app as an ordinary HTTP/1.1 Upgrade.
/// </summary>
internal static class WebSocketRequest
{
    /// <summary>True for an HTTP/2 extended CONNECT that opens a WebSocket.</summary>
    public static bool IsHttp2WebSocket(HttpContext context)
        => context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true, Protocol: { } protocol }
        && string.Equals(protocol, "websocket", StringComparison.OrdinalIgnoreCase);

    /// <summary>The method authorization and rate limits match: <c>GET</c> for an HTTP/2 WebSocket, else the request's.</summary>
    public static string AuthorizedMethod(HttpContext context)
        => IsHttp2WebSocket(context) ? HttpMethods.Get : context.Request.Method;
}
