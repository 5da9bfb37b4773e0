using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// YARP's default header copying plus the proxy's two rules: the original <c>Host</c> is kept (as Envoy does, so the
/// app sees the name it was called by), and <see cref="ProxyHeaders.PeerIdentity"/> is removed, then set from the
/// verified identity when there is one.
/// </summary>
internal sealed class ForwardingTransformer : HttpTransformer
{
    public static readonly ForwardingTransformer Instance = new();

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        proxyRequest.Headers.Remove(ProxyHeaders.PeerIdentity);
        if (httpContext.Features.Get<ForwardedIdentityFeature>() is { SpiffeId: { } identity })
        {
            proxyRequest.Headers.TryAddWithoutValidation(ProxyHeaders.PeerIdentity, identity);
        }

        if (httpContext.Request.Host.HasValue)
        {
            proxyRequest.Headers.Host = httpContext.Request.Host.Value;
        }
    }
}

/// <summary>Set by the inbound side: the verified identity to hand to the app.</summary>
internal sealed class ForwardedIdentityFeature(string spiffeId)
{
    public string SpiffeId { get; } = spiffeId;
}
