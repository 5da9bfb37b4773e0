using BelizeMesh.Channel;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Inbound;

/// <summary>A caller's verified identity.</summary>
/// <param name="SpiffeId">The SPIFFE ID, <c>spiffe://td/ns/x/sa/y</c> (what the app receives).</param>
/// <param name="Principal">The Istio principal, <c>td/ns/x/sa/y</c> (what authorization rules name).</param>
internal readonly record struct PeerIdentity(string SpiffeId, string Principal);

/// <summary>
/// The one seam through which the inbound side learns who is calling. Plaintext (DISABLE) connections have no
/// identity.
/// </summary>
internal interface IPeerIdentityAccessor
{
    /// <summary>The verified caller, or false for an unauthenticated (plaintext) connection.</summary>
    bool TryGetPeer(HttpContext context, out PeerIdentity peer);
}

/// <summary>Reads the PQ channel's <see cref="IPqChannelFeature"/>, which its Kestrel connection middleware publishes
/// on the connection once the handshake authenticated the peer (Kestrel exposes connection features through
/// <see cref="HttpContext.Features"/>, as it does for TLS). Plaintext connections have no such feature.</summary>
internal sealed class PqChannelPeerIdentityAccessor : IPeerIdentityAccessor
{
    public bool TryGetPeer(HttpContext context, out PeerIdentity peer)
    {
        if (context.Features.Get<IPqChannelFeature>() is { } channel)
        {
            peer = new PeerIdentity(channel.PeerIdentity, channel.PeerPrincipal);
            return true;
        }

        peer = default;
        return false;
    }
}
