using System.Globalization;
using BelizeMesh.Proxy.Hosting;

namespace BelizeMesh.Proxy.Admin;

/// <summary>
/// What <c>GET /healthz/ready</c> reports: ready only once the policy is loaded and every listener is bound, no longer
/// once shutdown has begun (so the kubelet stops sending traffic while in-flight requests drain), and not while the
/// certificate in force has expired. A failed certificate reload keeps the last good set in force and the sidecar
/// ready; but once that set's notAfter has passed, every peer rejects its handshakes, so it reports not ready (the pod
/// leaves its Service's endpoints and the reason is visible in <c>kubectl describe pod</c>) until a valid set arrives.
/// </summary>
internal sealed class Readiness(TimeProvider time)
{
    private volatile bool _policyLoaded;
    private volatile bool _listenersBound;
    private volatile bool _stopping;
    private volatile Func<CertificateSet>? _certificate;

    public void PolicyLoaded() => _policyLoaded = true;

    public void ListenersBound() => _listenersBound = true;

    public void Stopping() => _stopping = true;

    /// <summary>Makes readiness follow the expiry of the certificate in force (read on every probe, so a rotation counts at once).</summary>
    public void TrackCertificate(Func<CertificateSet> current) => _certificate = current;

    /// <summary>Null when ready, else why not.</summary>
    public string? NotReadyReason => _stopping ? "shutting down"
        : !_policyLoaded ? "policy not loaded"
        : !_listenersBound ? "listeners not bound"
        : CertificateProblem();

    private string? CertificateProblem()
    {
        if (_certificate is not { } current)
        {
            return null;
        }

        CertificateSet set = current(); // one read: a rotation swaps the whole set
        DateTimeOffset notAfter = set.Certificate.NotAfter;
        return time.GetUtcNow() <= notAfter ? null : string.Create(CultureInfo.InvariantCulture,
            $"the certificate of {set.Identity} expired at {notAfter.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}; peers reject it. Put a renewed tls.crt/tls.key in the certificates directory (belizemesh certs issue, or the Secret's rotation) and it is taken without a restart");
    }
}
