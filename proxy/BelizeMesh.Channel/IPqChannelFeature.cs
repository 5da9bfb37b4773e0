namespace BelizeMesh.Channel;

/// <summary>
/// Published on a Kestrel connection's features once the channel handshake has succeeded: what the handshake
/// learned about the peer, for the authorization and rate-limit layers.
/// </summary>
public interface IPqChannelFeature
{
    /// <summary>The peer's SPIFFE ID, e.g. <c>spiffe://cluster.local/ns/belizechain/sa/pakit</c>.</summary>
    string PeerIdentity { get; }

    /// <summary>The peer as an Istio-style principal, e.g. <c>cluster.local/ns/belizechain/sa/pakit</c>.</summary>
    string PeerPrincipal { get; }

    /// <summary>The negotiated protocol version (1 for <c>bm1</c>).</summary>
    int ProtocolVersion { get; }

    /// <summary>How long the handshake took.</summary>
    TimeSpan HandshakeDuration { get; }
}

internal sealed class PqChannelFeature(string peerIdentity, int protocolVersion, TimeSpan handshakeDuration) : IPqChannelFeature
{
    public string PeerIdentity { get; } = peerIdentity;

    public string PeerPrincipal { get; } = ToPrincipal(peerIdentity);

    public int ProtocolVersion { get; } = protocolVersion;

    public TimeSpan HandshakeDuration { get; } = handshakeDuration;

    internal static string ToPrincipal(string spiffeId) =>
        spiffeId.StartsWith("spiffe://", StringComparison.Ordinal) ? spiffeId["spiffe://".Length..] : spiffeId;
}

/// <summary>
/// Published with <see cref="IPqChannelFeature"/> on a server connection: how the channel turns what the application
/// flushes into records.
/// </summary>
public interface IPqChannelWriteFeature
{
    /// <summary>
    /// The application batches its own writes (one flush carries the frames of every request written meanwhile): seal and
    /// send each flush on the thread that flushed. Without it, an HTTP/2 connection's flushes are first handed to the
    /// thread pool so that the frames Kestrel's HTTP/2 server writes one response at a time leave together.
    /// </summary>
    void SealOnFlush();
}
