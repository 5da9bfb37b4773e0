namespace BelizeMesh.Proxy.Configuration;

/// <summary>
/// Whether HTTP/1.x requests to a STRICT destination are upgraded to HTTP/2 inside the PQ channel, as Istio's
/// <c>connectionPool.http.h2UpgradePolicy</c> (DestinationRule) and mesh-wide <c>h2UpgradePolicy</c> (MeshConfig).
/// HTTP/2 requests (gRPC, h2c apps) always cross the channel as HTTP/2.
/// </summary>
public enum H2UpgradePolicy
{
    /// <summary><c>DEFAULT</c>: a route takes <c>spec.outbound.h2UpgradePolicy</c>. When that is not set either, the
    /// sidecar chooses per request: HTTP/1.1 while at most <c>UpstreamTarget.AdaptiveHttp1InFlight</c> requests are in
    /// flight to the endpoint, HTTP/2 beyond until at most <c>UpstreamTarget.AdaptiveHttp1ResumeInFlight</c> are (Istio's mesh-wide default is <c>DO_NOT_UPGRADE</c>).</summary>
    Default,

    /// <summary><c>DO_NOT_UPGRADE</c>: keep the client's protocol. HTTP/1.x requests go as HTTP/1.1, one at a time per
    /// channel, over a pool of channels per endpoint.</summary>
    DoNotUpgrade,

    /// <summary><c>UPGRADE</c>: HTTP/1.x requests go as HTTP/2, multiplexed on one channel per endpoint.</summary>
    Upgrade,
}
