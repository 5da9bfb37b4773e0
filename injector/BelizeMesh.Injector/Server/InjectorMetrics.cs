using System.Diagnostics;
using System.Text;
using BelizeMesh.Injector.Admission;
using BelizeMesh.Injector.Injection;
using Prometheus;

namespace BelizeMesh.Injector.Server;

/// <summary>
/// The injector's counters and latency histogram, on prometheus-net collectors in a registry of their own (no
/// process-wide default metrics), whose serializer writes the text exposition format 0.0.4. Every labelled child is
/// created up front and indexed by enum, so recording is one lookup-free update; the label sets are closed (enums),
/// so there is no cardinality to guard, and every series is exported from the start at 0.
/// </summary>
internal sealed class InjectorMetrics
{
    /// <summary>Histogram bucket upper bounds, in seconds (admission latency is sub-millisecond when healthy).</summary>
    internal static readonly double[] Buckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

    private static readonly AdmissionResult[] Results = Enum.GetValues<AdmissionResult>();
    private static readonly InjectionReason[] Reasons = Enum.GetValues<InjectionReason>();

    private readonly CollectorRegistry _registry = Prometheus.Metrics.NewCustomRegistry();
    private readonly Counter.Child[] _requests = new Counter.Child[Results.Length];
    private readonly Counter.Child[] _decisions = new Counter.Child[Reasons.Length];
    private readonly Counter.Child _reloadSuccess;
    private readonly Counter.Child _reloadFailure;
    private readonly Counter.Child _certificateReloadSuccess;
    private readonly Counter.Child _certificateReloadFailure;
    private readonly Histogram _duration;
    private Func<bool>? _configFileInForce;
    private Func<bool>? _exclusionsFileInForce;
    private Func<bool>? _certificateFilesInForce;

    public InjectorMetrics()
    {
        MetricFactory metrics = Prometheus.Metrics.WithCustomRegistry(_registry);
        metrics.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        Counter requests = metrics.CreateCounter("belizemesh_injector_requests_total", "Admission requests on /inject by result.", "result");
        foreach (AdmissionResult result in Results)
        {
            _requests[(int)result] = requests.WithLabels(ResultLabel(result));
        }

        Counter decisions = metrics.CreateCounter("belizemesh_injector_decisions_total", "Injection decisions by reason.", "reason");
        foreach (InjectionReason reason in Reasons)
        {
            _decisions[(int)reason] = decisions.WithLabels(InjectionResult.Label(reason));
        }

        Counter reloads = metrics.CreateCounter("belizemesh_injector_config_reloads_total", "Configuration reloads by result.", "result");
        _reloadSuccess = reloads.WithLabels("success");
        _reloadFailure = reloads.WithLabels("failure");
        Counter certificateReloads = metrics.CreateCounter("belizemesh_injector_certificate_reloads_total", "Serving certificate reloads by result.", "result");
        _certificateReloadSuccess = certificateReloads.WithLabels("success");
        _certificateReloadFailure = certificateReloads.WithLabels("failure");

        // Whether each watched input is the one in force, read at each scrape; no sample for an input not in use.
        var inForce = new GaugeConfiguration { SuppressInitialValue = true };
        Gauge configInForce = metrics.CreateGauge("belizemesh_injector_config_last_reload_successful",
            "1 when the configuration file's content is the configuration in force; 0 while the file holds a configuration the injector rejected, or cannot be read, and the last good one stays in force.", inForce);
        Gauge exclusionsInForce = metrics.CreateGauge("belizemesh_injector_exclusions_last_reload_successful",
            "1 when the exclusions file's content is the exclusion list in force; 0 while it is rejected, or cannot be read, and the last good list stays in force.", inForce);
        Gauge certificateInForce = metrics.CreateGauge("belizemesh_injector_certificate_last_reload_successful",
            "1 when the serving certificate files are the pair in force; 0 while they are rejected, or cannot be read, and the last good pair keeps serving.", inForce);
        _registry.AddBeforeCollectCallback(() =>
        {
            Observe(configInForce, Volatile.Read(ref _configFileInForce));
            Observe(exclusionsInForce, Volatile.Read(ref _exclusionsFileInForce));
            Observe(certificateInForce, Volatile.Read(ref _certificateFilesInForce));
        });
        _duration = metrics.CreateHistogram("belizemesh_injector_request_duration_seconds", "Time to answer an admission request.",
            new HistogramConfiguration { Buckets = Buckets });
    }

    /// <summary>Counts one admission request, its decision (when it got one) and its duration.</summary>
    public void RecordRequest(AdmissionResult result, InjectionReason? reason, long elapsedTimestampTicks)
    {
        _requests[(int)result].Inc();
        if (reason is { } r)
        {
            _decisions[(int)r].Inc();
        }

        _duration.Observe((double)elapsedTimestampTicks / Stopwatch.Frequency);
    }

    /// <summary>Counts a configuration reload.</summary>
    public void RecordReload(bool success) => (success ? _reloadSuccess : _reloadFailure).Inc();

    /// <summary>Counts a serving certificate reload.</summary>
    public void RecordCertificateReload(bool success) => (success ? _certificateReloadSuccess : _certificateReloadFailure).Inc();

    /// <summary>Where <c>belizemesh_injector_config_last_reload_successful</c> reads whether the configuration file's
    /// content is in force (<c>WatchedStore.InputInForce</c>); not called when no file is used (no sample).</summary>
    public void ObserveConfigFileInForce(Func<bool> inForce) => Volatile.Write(ref _configFileInForce, inForce);

    /// <summary>The same for the exclusions file (<c>belizemesh_injector_exclusions_last_reload_successful</c>).</summary>
    public void ObserveExclusionsFileInForce(Func<bool> inForce) => Volatile.Write(ref _exclusionsFileInForce, inForce);

    /// <summary>The same for the serving certificate files (<c>belizemesh_injector_certificate_last_reload_successful</c>).</summary>
    public void ObserveCertificateFilesInForce(Func<bool> inForce) => Volatile.Write(ref _certificateFilesInForce, inForce);

    private static void Observe(Gauge gauge, Func<bool>? inForce)
    {
        if (inForce is not null)
        {
            gauge.Set(inForce() ? 1 : 0);
        }
    }

    public long Requests(AdmissionResult result) => (long)_requests[(int)result].Value;

    public long Decisions(InjectionReason reason) => (long)_decisions[(int)reason].Value;

    /// <summary>Writes every series to <paramref name="stream"/> (UTF-8 text format 0.0.4).</summary>
    public Task WriteAsync(Stream stream, CancellationToken cancel) => _registry.CollectAndExportAsTextAsync(stream, cancel);

    /// <summary>Prometheus text exposition format 0.0.4.</summary>
    public string Export()
    {
        using var buffer = new MemoryStream();
        WriteAsync(buffer, CancellationToken.None).GetAwaiter().GetResult();
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
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
}
