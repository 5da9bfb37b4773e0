using BelizeMesh.Channel;
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
    /// <remarks><paramref name="outbound"/> false: the request cannot carry a <see cref="DestinationTelemetry"/> (the
    /// inbound side sets none), whose lookup is then skipped.</remarks>
    public static void OnRequest(HttpContext context, HttpRequestMessage proxyRequest, bool outbound = true)
    {
        if (outbound && context.Features.Get<DestinationTelemetry>() is { Secured: true } && context.Features.Get<LocalWorkloadFeature>() is { } local)
        {
            proxyRequest.Headers.TryAddWithoutValidation(PeerMetadata.Header, local.HeaderValue);
        }
    }

    /// <summary>After the response headers were copied to <see cref="HttpContext.Response"/>, before they are sent.</summary>
    /// <remarks><paramref name="outbound"/> false: the request cannot carry a <see cref="DestinationTelemetry"/>.</remarks>
    public static void OnResponse(HttpContext context, bool outbound = true)
    {
        IHeaderDictionary headers = context.Response.Headers;
        StringValues peer = headers[PeerMetadata.Header];
        if (peer.Count > 0)
        {
            headers.Remove(PeerMetadata.Header);
        }

        if (context.Features.Get<LocalWorkloadFeature>() is not { } local)
        {
            return;
        }

        local.Metrics.ResponseStarting(context); // a body without Content-Length is counted from here

        if (outbound && context.Features.Get<DestinationTelemetry>() is { Secured: true })
        {
            if (peer.Count == 1)
            {
                context.Features.Set(local.Metrics.Metadata(peer[0]!));
            }
        }
        else if (context.Features.Get<IPqChannelFeature>() is not null)
        {
            headers[PeerMetadata.Header] = local.HeaderValue;
        }
    }
}
