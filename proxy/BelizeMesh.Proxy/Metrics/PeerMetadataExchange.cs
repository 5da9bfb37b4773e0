using BelizeMesh.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace BelizeMesh.Proxy.Metrics;

/// <summary>
/// The forwarding transformer's part of the <see cref="PeerMetadata"/> exchange. Outbound on a STRICT route: send
/// ours with the request, read the peer's from the response (then remove it). Inbound from a channel peer: read the
/// caller's from the request (at record time, from <see cref="HttpRequest.Headers"/>), remove it from what the app
/// gets, and answer with ours. Every other request and response has the header removed and nothing added.
/// </summary>
internal static class PeerMetadataExchange
{
    /// <summary>After the request headers were copied to <paramref name="proxyRequest"/> and a copied
    /// <see cref="PeerMetadata.Header"/> was removed (with the reserved headers, in one pass over them).</summary>
    public static void OnRequest(RequestState state, HttpRequestMessage proxyRequest)
    {
        if (state.Destination is { Secured: true })
        {
            proxyRequest.Headers.TryAddWithoutValidation(PeerMetadata.Header, state.Local.HeaderValue);
        }
    }

    /// <summary>After the response headers were copied to <see cref="HttpContext.Response"/>, before they are sent.
    /// <paramref name="state"/> null (a request the dispatcher did not start): the header is only removed.</summary>
    public static void OnResponse(HttpContext context, RequestState? state)
    {
        IHeaderDictionary headers = context.Response.Headers;
        StringValues peer = headers[PeerMetadata.Header];
        if (peer.Count > 0)
        {
            headers.Remove(PeerMetadata.Header);
        }

        if (state is null)
        {
            return;
        }

        LocalWorkloadFeature local = state.Local;
        local.Metrics.ResponseStarting(context, state); // a body without Content-Length is counted from here

        if (state.Destination is { Secured: true })
        {
            if (peer.Count == 1)
            {
                state.PeerMetadata = local.Metrics.Metadata(peer[0]!);
            }
        }
        else if (state.Peer is not null)
        {
            headers[PeerMetadata.Header] = local.HeaderValue;
        }
    }
}
