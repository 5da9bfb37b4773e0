namespace BelizeMesh.Proxy.Admin;

/// <summary>
/// What <c>GET /healthz/ready</c> reports: ready only once the policy is loaded and every listener is bound, and no
/// longer once shutdown has begun (so the kubelet stops sending traffic while in-flight requests drain).
/// Certificates are not a condition of their own: the sidecar does not start without a valid set, and a failed reload
/// keeps the last good set in force, so it stays ready.
/// </summary>
internal sealed class Readiness
{
    private volatile bool _policyLoaded;
    private volatile bool _listenersBound;
    private volatile bool _stopping;

    public void PolicyLoaded() => _policyLoaded = true;

    public void ListenersBound() => _listenersBound = true;

    public void Stopping() => _stopping = true;

    /// <summary>Null when ready, else why not.</summary>
    public string? NotReadyReason => _stopping ? "shutting down"
        : !_policyLoaded ? "policy not loaded"
        : !_listenersBound ? "listeners not bound"
        : null;
}
