using System.Diagnostics;
using System.Globalization;
using System.Text;
using BelizeMesh.Injector.Admission;
using BelizeMesh.Injector.Injection;

namespace BelizeMesh.Injector.Server;

/// <summary>
/// The injector's counters and latency histogram, with a small Prometheus text-format exporter. Plain interlocked
/// counters indexed by enum keep the hot path allocation-free; the label sets are closed (enums), so there is no
/// cardinality to guard.
/// </summary>
internal sealed class InjectorMetrics
{
    /// <summary>Histogram bucket upper bounds, in seconds (admission latency is sub-millisecond when healthy).</summary>
    internal static readonly double[] Buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

    private static readonly AdmissionResult[] Results = Enum.GetValues<AdmissionResult>();
    private static readonly InjectionReason[] Reasons = Enum.GetValues<InjectionReason>();

    private readonly long[] _requests = new long[Results.Length];
    private readonly long[] _decisions = new long[Reasons.Length];
    private readonly long[] _bucketCounts = new long[Buckets.Length + 1];
    private long _durationTicksSum;
    private long _durationCount;
    private long _reloadSuccess;
    private long _reloadFailure;

    /// <summary>Counts one admission request, its decision (when it got one) and its duration.</summary>
    public void RecordRequest(AdmissionResult result, InjectionReason? reason, long elapsedTimestampTicks)
    {
        Interlocked.Increment(ref _requests[(int)result]);
        if (reason is { } r)
        {
            Interlocked.Increment(ref _decisions[(int)r]);
        }

        double seconds = (double)elapsedTimestampTicks / Stopwatch.Frequency;
        int bucket = 0;
        while (bucket < Buckets.Length && seconds > Buckets[bucket])
        {
            bucket++;
        }

        Interlocked.Increment(ref _bucketCounts[bucket]);
        Interlocked.Add(ref _durationTicksSum, elapsedTimestampTicks);
        Interlocked.Increment(ref _durationCount);
    }

    /// <summary>Counts a configuration reload.</summary>
    public void RecordReload(bool success) => Interlocked.Increment(ref success ? ref _reloadSuccess : ref _reloadFailure);

    public long Requests(AdmissionResult result) => Interlocked.Read(ref _requests[(int)result]);

    public long Decisions(InjectionReason reason) => Interlocked.Read(ref _decisions[(int)reason]);

    /// <summary>Prometheus text exposition format 0.0.4.</summary>
    public string Export()
    {
        var sb = new StringBuilder(2048);
        sb.Append("# HELP belizemesh_injector_requests_total Admission requests on /inject by result.\n");
        sb.Append("# TYPE belizemesh_injector_requests_total counter\n");
        foreach (AdmissionResult result in Results)
        {
            Line(sb, "belizemesh_injector_requests_total", "result", ResultLabel(result), Requests(result));
        }

        sb.Append("# HELP belizemesh_injector_decisions_total Injection decisions by reason.\n");
        sb.Append("# TYPE belizemesh_injector_decisions_total counter\n");
        foreach (InjectionReason reason in Reasons)
        {
            Line(sb, "belizemesh_injector_decisions_total", "reason", InjectionResult.Label(reason), Decisions(reason));
        }

        sb.Append("# HELP belizemesh_injector_config_reloads_total Configuration reloads by result.\n");
        sb.Append("# TYPE belizemesh_injector_config_reloads_total counter\n");
        Line(sb, "belizemesh_injector_config_reloads_total", "result", "success", Interlocked.Read(ref _reloadSuccess));
        Line(sb, "belizemesh_injector_config_reloads_total", "result", "failure", Interlocked.Read(ref _reloadFailure));

        sb.Append("# HELP belizemesh_injector_request_duration_seconds Time to answer an admission request.\n");
        sb.Append("# TYPE belizemesh_injector_request_duration_seconds histogram\n");
        long cumulative = 0;
        for (int i = 0; i < Buckets.Length; i++)
        {
            cumulative += Interlocked.Read(ref _bucketCounts[i]);
            Line(sb, "belizemesh_injector_request_duration_seconds_bucket", "le", Buckets[i].ToString("R", CultureInfo.InvariantCulture), cumulative);
        }

        cumulative += Interlocked.Read(ref _bucketCounts[Buckets.Length]);
        Line(sb, "belizemesh_injector_request_duration_seconds_bucket", "le", "+Inf", cumulative);
        double sum = (double)Interlocked.Read(ref _durationTicksSum) / Stopwatch.Frequency;
        sb.Append("belizemesh_injector_request_duration_seconds_sum ").Append(sum.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        sb.Append("belizemesh_injector_request_duration_seconds_count ").Append(Interlocked.Read(ref _durationCount).ToString(CultureInfo.InvariantCulture)).Append('\n');
        return sb.ToString();
    }

    internal static string ResultLabel(AdmissionResult result) => result switch
    {
        AdmissionResult.Patched => "patched",
        AdmissionResult.Allowed => "allowed",
        AdmissionResult.Denied => "denied",
        AdmissionResult.BadRequest => "bad_request",
        AdmissionResult.PayloadTooLarge => "payload_too_large",
        _ => "unsupported_media_type",
    };

    private static void Line(StringBuilder sb, string name, string label, string value, long count) =>
        sb.Append(name).Append('{').Append(label).Append("=\"").Append(value).Append("\"} ")
          .Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
}
