using BelizeMesh.Proxy.Forwarding;
using BelizeMesh.Proxy.Hosting;
using BelizeMesh.Proxy.Metrics;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Outbound;

/// <summary>
/// The outbound side: the local app calls another service through the sidecar (HTTP/1.1 or h2c on
/// <c>spec.outbound.listen</c>). Steps: (1) find the route by <c>Host</c> and path prefix — an unknown host is a 404,
/// never a pass-through; (2) forward to one of its endpoints (through the PQ channel when it is plugged in). A client
/// cannot assert an identity: <see cref="ProxyHeaders.PeerIdentity"/> is stripped by the transformer.
/// </summary>
internal sealed class OutboundHandler(ForwardingEngine forwarding)
{
    public async ValueTask<string> HandleAsync(HttpContext context, ProxySnapshot snapshot)
    {
        if (HttpMethods.IsConnect(context.Request.Method) && !Inbound.WebSocketRequest.IsHttp2WebSocket(context))
        {
            // (An h2c app's WebSocket, an extended CONNECT, is a request like any other and goes on.)
            // A tunnel would carry bytes the sidecar cannot route, authorize or put on the PQ channel per request; an
            // HTTPS_PROXY client asks for one. Say so instead of failing upstream (it was a 502).
            await ProxyResponses.WriteAsync(context, StatusCodes.Status501NotImplemented,
                "CONNECT tunnels are not supported by the outbound listener; send plain HTTP to mesh services (as HTTP_PROXY clients do, absolute-form works) and leave HTTPS destinations out of the proxy (NO_PROXY)").ConfigureAwait(false);
            return "connect";
        }

        // Origin-form (Host header) and absolute-form (http://host/path, as HTTP_PROXY clients send) route alike:
        // Kestrel puts the URI's authority in Host and refuses a request whose Host header disagrees with it (400).
        string host = context.Request.Host.Host;
        UpstreamTarget? target = snapshot.Outbound.Find(host, context.Request.Path.Value ?? "/");
        if (target is null)
        {
            await ProxyResponses.WriteAsync(context, StatusCodes.Status404NotFound,
                $"no outbound route for host '{host}'{(string.IsNullOrEmpty(host) ? "" : " and path " + context.Request.Path)}; add it to spec.outbound.routes").ConfigureAwait(false);
            return "unknown";
        }

        // the target goes upstream as received: the peer's inbound normalizes and authorizes it (and rejects %2F)
        if (RequestTarget.TrySplit(context, out string path, out string query))
        {
            context.Features.Set(new ForwardedTargetFeature(query.Length == 0 ? path : path + query));
        }

        if (target.AppPort is { } appPort)
        {
            context.Features.Set(appPort); // the peer's app port this route is for (x-belizemesh-app-port)
        }

        await forwarding.ForwardAsync(context, target, Direction.Outbound).ConfigureAwait(false);
        return target.RouteId;
    }
}
