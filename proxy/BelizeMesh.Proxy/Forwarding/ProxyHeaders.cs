namespace BelizeMesh.Proxy.Forwarding;

/// <summary>Headers the proxy owns.</summary>
public static class ProxyHeaders
{
    /// <summary>
    /// <c>x-belizemesh-peer-identity</c>: the caller's verified SPIFFE ID (<c>spiffe://td/ns/x/sa/y</c>), set by the
    /// inbound side on requests to the local app when the caller came through the PQ channel. The proxy removes any
    /// copy a client sent, inbound and outbound, so the app can trust it: present means verified, absent means the
    /// caller is unauthenticated (plaintext).
    /// </summary>
    public const string PeerIdentity = "x-belizemesh-peer-identity";
}
