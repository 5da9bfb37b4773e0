using System.Globalization;
using System.Text;

namespace BelizeMesh.Injector.Controller;

/// <summary>Why a certificate was renewed (the <c>reason</c> label of <c>belizemesh_controller_certificates_renewed_total</c>).</summary>
internal enum RenewalReason
{
    /// <summary>Inside the renewal window (<c>--renew-before</c>) or expired.</summary>
    Expiring,

    /// <summary>Signed by a root that is no longer the signing root (a root rotation).</summary>
    RootRotated,

    /// <summary>The Secret's certificate, key or SPIFFE ID is unusable (malformed, mismatched, wrong identity).</summary>
    Invalid,
}

/// <summary>The watched resources (the <c>resource</c> label of the watch metrics).</summary>
internal enum WatchedResource
{
    Namespaces,
    ServiceAccounts,
    Secrets,
    RootSecret,
}

/// <summary>
/// The certificate controller's counters and gauges, exported in the Prometheus text format 0.0.4 like
/// <see cref="Server.InjectorMetrics"/> (same writer conventions; served on the controller's <c>/metrics</c>).
/// </summary>
internal sealed class ControllerMetrics
{
    private static readonly RenewalReason[] Reasons = Enum.GetValues<RenewalReason>();
    private static readonly WatchedResource[] Resources = Enum.GetValues<WatchedResource>();

    private readonly long[] _renewed = new long[Reasons.Length];
    private readonly long[] _resumed = new long[Resources.Length];
    private readonly long[] _relisted = new long[Resources.Length];
    private long _issued;
    private long _failed;
    private long _bundleUpdates;
    private long _deleted;
    private long _conflicts;
    private long _leader;
    private long _managed;
    private long _earliestExpiryUnixSeconds;

    public long Issued => Interlocked.Read(ref _issued);

    public long Failed => Interlocked.Read(ref _failed);

    public long Deleted => Interlocked.Read(ref _deleted);

    public long Conflicts => Interlocked.Read(ref _conflicts);

    public long BundleUpdates => Interlocked.Read(ref _bundleUpdates);

    public long Renewed(RenewalReason reason) => Interlocked.Read(ref _renewed[(int)reason]);

    public long Resumed(WatchedResource resource) => Interlocked.Read(ref _resumed[(int)resource]);

    public long Relisted(WatchedResource resource) => Interlocked.Read(ref _relisted[(int)resource]);

    public bool IsLeader => Interlocked.Read(ref _leader) != 0;

    /// <summary>The earliest NotAfter among the managed certificates (Unix seconds), 0 when none.</summary>
    public long EarliestExpiryUnixSeconds => Interlocked.Read(ref _earliestExpiryUnixSeconds);

    public void RecordIssued() => Interlocked.Increment(ref _issued);

    public void RecordRenewed(RenewalReason reason) => Interlocked.Increment(ref _renewed[(int)reason]);

    public void RecordFailed() => Interlocked.Increment(ref _failed);

    public void RecordBundleUpdate() => Interlocked.Increment(ref _bundleUpdates);

    public void RecordDeleted() => Interlocked.Increment(ref _deleted);

    public void RecordConflict() => Interlocked.Increment(ref _conflicts);

    public void RecordResumed(WatchedResource resource) => Interlocked.Increment(ref _resumed[(int)resource]);

    public void RecordRelisted(WatchedResource resource) => Interlocked.Increment(ref _relisted[(int)resource]);

    public void SetLeader(bool leader) => Interlocked.Exchange(ref _leader, leader ? 1 : 0);

    public void SetManaged(long count, DateTimeOffset? earliestExpiry)
    {
        Interlocked.Exchange(ref _managed, count);
        Interlocked.Exchange(ref _earliestExpiryUnixSeconds, earliestExpiry?.ToUnixTimeSeconds() ?? 0);
    }

    /// <summary>Prometheus text exposition format 0.0.4.</summary>
    public string Export()
    {
        var sb = new StringBuilder(2048);
        Counter(sb, "belizemesh_controller_certificates_issued_total", "Certificates issued for a service account that had none.", Issued);
        sb.Append("# HELP belizemesh_controller_certificates_renewed_total Certificates reissued, by reason.\n");
        sb.Append("# TYPE belizemesh_controller_certificates_renewed_total counter\n");
        foreach (RenewalReason reason in Reasons)
        {
            Line(sb, "belizemesh_controller_certificates_renewed_total", "reason", Label(reason), Renewed(reason));
        }

        Counter(sb, "belizemesh_controller_certificates_failed_total", "Issuances or renewals that failed (the Secret was left as it was).", Failed);
        Counter(sb, "belizemesh_controller_trust_bundle_updates_total", "Secrets whose ca.crt was replaced without reissuing (a root rotation's bundle).", BundleUpdates);
        Counter(sb, "belizemesh_controller_secrets_deleted_total", "Secrets deleted because their service account went away.", Deleted);
        Counter(sb, "belizemesh_controller_conflicts_total", "Writes answered 409 Conflict (re-read and retried).", Conflicts);
        sb.Append("# HELP belizemesh_controller_watch_restarts_total Watches restarted: resumed from their resourceVersion, or relisted after 410 Gone.\n");
        sb.Append("# TYPE belizemesh_controller_watch_restarts_total counter\n");
        foreach (WatchedResource resource in Resources)
        {
            sb.Append("belizemesh_controller_watch_restarts_total{resource=\"").Append(Label(resource)).Append("\",kind=\"resumed\"} ")
              .Append(Resumed(resource).ToString(CultureInfo.InvariantCulture)).Append('\n');
            sb.Append("belizemesh_controller_watch_restarts_total{resource=\"").Append(Label(resource)).Append("\",kind=\"relisted\"} ")
              .Append(Relisted(resource).ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        Gauge(sb, "belizemesh_controller_leader", "1 while this replica holds the Lease and writes, else 0.", Interlocked.Read(ref _leader));
        Gauge(sb, "belizemesh_controller_managed_certificates", "Service-account Secrets the leader keeps valid.", Interlocked.Read(ref _managed));
        Gauge(sb, "belizemesh_controller_certificate_earliest_expiry_timestamp_seconds", "Earliest NotAfter among the managed certificates, Unix seconds (0: none).", EarliestExpiryUnixSeconds);
        return sb.ToString();
    }

    internal static string Label(RenewalReason reason) => reason switch
    {
        RenewalReason.Expiring => "expiring",
        RenewalReason.RootRotated => "root_rotated",
        _ => "invalid",
    };

    internal static string Label(WatchedResource resource) => resource switch
    {
        WatchedResource.Namespaces => "namespaces",
        WatchedResource.ServiceAccounts => "serviceaccounts",
        WatchedResource.Secrets => "secrets",
        _ => "root_secret",
    };

    private static void Counter(StringBuilder sb, string name, string help, long value)
    {
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        sb.Append("# TYPE ").Append(name).Append(" counter\n");
        sb.Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }

    private static void Gauge(StringBuilder sb, string name, string help, long value)
    {
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        sb.Append("# TYPE ").Append(name).Append(" gauge\n");
        sb.Append(name).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
    }

    private static void Line(StringBuilder sb, string name, string label, string value, long count) =>
        sb.Append(name).Append('{').Append(label).Append("=\"").Append(value).Append("\"} ")
          .Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
}
