namespace BelizeMesh.Proxy.Forwarding;

/// <summary>Headers the proxy owns.</summary>
public static class ProxyHeaders
{
    /// <summary>
    /// <c>x-belizemesh-peer-identity</c>: the caller's verified SPIFFE ID (<c>spiffe://td/ns/x/sa/y</c>), set by the
    /// inbound side on requests to the local app when the caller came through the PQ channel. The proxy removes any
    /// copy a client sent, inbound and outbound — in every spelling that normalises to this name (any case, <c>_</c>
    /// for <c>-</c>: CGI, WSGI and PHP expose <c>x_belizemesh_peer_identity</c> and <c>x-belizemesh-peer-identity</c>
    /// as the same variable) — so the app can trust it: present means verified, absent means the caller is
    /// unauthenticated (plaintext).
    /// </summary>
    public const string PeerIdentity = MeshNames.PeerIdentityHeader;

    /// <summary>
    /// <c>x-belizemesh-app-port</c>: the app port a request is for, set by the outbound side from the route's
    /// <c>appPort</c> and read by the peer's inbound, which forwards to that port's app (<c>spec.inbound.apps</c>)
    /// whatever port <c>Host</c> names. Like <see cref="PeerIdentity"/> it is reserved: removed from what a client
    /// sends and from what the app receives, in every spelling.
    /// </summary>
    public const string AppPort = MeshNames.AppPortHeader;

    /// <summary>
    /// <c>x-forwarded-client-cert</c> (XFCC): where Istio's sidecars hand the app the caller's verified certificate
    /// (sanitized outbound, the peer appended inbound), so apps moved from Istio may read the caller from it. The
    /// sidecar does not produce it (the verified caller is <see cref="PeerIdentity"/>), so any copy came from a client
    /// and is removed, inbound and outbound, in every spelling, as <see cref="PeerIdentity"/> is.
    /// </summary>
    public const string ForwardedClientCert = "x-forwarded-client-cert";

    /// <summary>
    /// True when <paramref name="name"/> is a spelling of the reserved request header <paramref name="reserved"/>
    /// (lower-case, <c>-</c>-separated): equal after ASCII case folding and mapping <c>_</c> to <c>-</c>.
    /// </summary>
    public static bool IsSpellingOf(string name, string reserved)
    {
        if (name.Length != reserved.Length)
        {
            return false;
        }

        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            c = c == '_' ? '-' : char.ToLowerInvariant(c);
            if (c != reserved[i])
            {
                return false;
            }
        }

        return true;
    }
}
