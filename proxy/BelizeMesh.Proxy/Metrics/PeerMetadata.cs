namespace BelizeMesh.Proxy.Metrics;

/// <summary>
/// The workload metadata two sidecars exchange so that each can fill the other side's Istio labels (Envoy exchanges
/// the same facts in <c>x-envoy-peer-metadata</c>): the outbound side sends its own in the request header
/// <see cref="Header"/>, the inbound side answers with its own in the same response header. Each side reads the
/// other's only from a peer the PQ channel authenticated, and removes the header before the app sees it. The
/// namespace and principal are never taken from it: they come from the verified certificate.
/// </summary>
/// <remarks>
/// The value is <c>workload=W;app=A;version=V;service=S;revision=R;cluster=C</c>; each value is 1-63 characters of
/// <c>A-Z a-z 0-9 . _ -</c> (a Kubernetes label value), and a field that is missing or malformed is <c>unknown</c>.
/// </remarks>
internal sealed class PeerMetadata
{
    /// <summary>The request and response header (reserved: removed from what clients and apps send).</summary>
    public const string Header = BelizeMesh.Configuration.MeshNames.WorkloadHeader;

    /// <summary>A peer that sent nothing usable.</summary>
    public static readonly PeerMetadata None = new(WorkloadLabels.Unknown, WorkloadLabels.Unknown, WorkloadLabels.Unknown, WorkloadLabels.Unknown, WorkloadLabels.Unknown, WorkloadLabels.Unknown);

    private PeerMetadata(string workload, string app, string version, string canonicalService, string canonicalRevision, string cluster)
    {
        Workload = workload;
        App = app;
        Version = version;
        CanonicalService = canonicalService;
        CanonicalRevision = canonicalRevision;
        Cluster = cluster;
    }

    public string Workload { get; }

    public string App { get; }

    public string Version { get; }

    public string CanonicalService { get; }

    public string CanonicalRevision { get; }

    public string Cluster { get; }

    /// <summary>The header value describing <paramref name="local"/>.</summary>
    public static string Encode(WorkloadLabels local)
        => $"workload={local.Workload};app={local.App};version={local.Version};service={local.CanonicalService};revision={local.CanonicalRevision};cluster={local.Cluster}";

    /// <summary>Parses a header value; unknown keys are ignored, a malformed value leaves its field <c>unknown</c>.</summary>
    public static PeerMetadata Parse(string value)
    {
        string workload = WorkloadLabels.Unknown, app = WorkloadLabels.Unknown, version = WorkloadLabels.Unknown;
        string service = WorkloadLabels.Unknown, revision = WorkloadLabels.Unknown, cluster = WorkloadLabels.Unknown;
        bool any = false;
        foreach (string part in value.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !IsLabelValue(part.AsSpan(eq + 1)))
            {
                continue;
            }

            string field = part[(eq + 1)..];
            switch (part.AsSpan(0, eq))
            {
                case "workload": workload = field; any = true; break;
                case "app": app = field; any = true; break;
                case "version": version = field; any = true; break;
                case "service": service = field; any = true; break;
                case "revision": revision = field; any = true; break;
                case "cluster": cluster = field; any = true; break;
                default: break;
            }
        }

        return any ? new PeerMetadata(workload, app, version, service, revision, cluster) : None;
    }

    /// <summary>1-63 characters of <c>A-Z a-z 0-9 . _ -</c> (the characters of a Kubernetes label value).</summary>
    internal static bool IsLabelValue(ReadOnlySpan<char> value)
    {
        if (value.Length is 0 or > 63)
        {
            return false;
        }

        foreach (char c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }
}
