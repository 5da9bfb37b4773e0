using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Inbound;

/// <summary>A caller's verified identity, published as a connection feature by the channel that authenticated it.</summary>
internal interface IPeerIdentityFeature
{
    /// <summary>The SPIFFE ID, <c>spiffe://td/ns/x/sa/y</c>.</summary>
    string SpiffeId { get; }

    /// <summary>The Istio principal, <c>td/ns/x/sa/y</c> (what authorization rules name).</summary>
    string Principal { get; }
}

/// <summary>
/// The one seam through which the inbound side learns who is calling. Plaintext (DISABLE) connections have no
/// identity. When the PQ channel is plugged in, its connection feature (<c>IPqChannelFeature</c>) is read here and
/// nowhere else.
/// </summary>
internal interface IPeerIdentityAccessor
{
    /// <summary>The verified caller, or null for an unauthenticated (plaintext) connection.</summary>
    IPeerIdentityFeature? GetPeer(HttpContext context);
}

/// <summary>Reads <see cref="IPeerIdentityFeature"/> from the connection's features (Kestrel exposes connection features
/// through <see cref="HttpContext.Features"/>, as it does for TLS).</summary>
internal sealed class ConnectionFeaturePeerIdentityAccessor : IPeerIdentityAccessor
{
    public IPeerIdentityFeature? GetPeer(HttpContext context) => context.Features.Get<IPeerIdentityFeature>();
}
