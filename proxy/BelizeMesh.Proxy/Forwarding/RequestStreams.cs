using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// A request body of unknown length (HTTP/1.1 chunked, HTTP/2 without <c>content-length</c>) is a stream that may pause
/// for as long as its caller likes: a gRPC or other bidirectional stream whose next message comes minutes later, a
/// chunked upload fed as data appears. Kestrel's minimum request body rate (240 B/s after a 5 s grace) would end such a
/// request after 5 quiet seconds; YARP lifts it only for gRPC over HTTP/2 on both legs. Envoy has no minimum rate: a
/// quiet stream is bounded by its timeouts, as the route's idle <c>timeout</c> bounds it here once forwarding started.
/// </summary>
/// <remarks>
/// Bodies with a <c>Content-Length</c> keep Kestrel's minimum (they are the ones a retry policy buffers before
/// forwarding, where no idle timeout runs yet), and so do requests without a body: for them this is one header read.
/// </remarks>
internal static class RequestStreams
{
    /// <summary>Lifts the minimum body rate when the forwarded request has a body of unknown length.</summary>
    public static void AllowPauses(HttpContext context, HttpRequestMessage proxyRequest)
    {
        if (proxyRequest.Content is not null
            && context.Request.ContentLength is null
            && context.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate)
        {
            rate.MinDataRate = null;
        }
    }
}
