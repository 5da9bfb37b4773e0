using System.Diagnostics;
using System.Globalization;
using System.IO.Enumeration;
using System.Reflection;
using Prometheus;

namespace BelizeMesh.Proxy.Metrics;

/// <summary>
/// The process metrics every Prometheus client library exports under the same names (so generic dashboards and alerts
/// work unchanged): <c>process_cpu_seconds_total</c>, <c>process_resident_memory_bytes</c>,
/// <c>process_open_fds</c>, <c>process_max_fds</c>, <c>process_start_time_seconds</c>. Read when scraped, from
/// <see cref="Environment.CpuUsage"/>, <see cref="Environment.WorkingSet"/> and <c>/proc/self</c> (Linux; elsewhere the
/// file-descriptor gauges are absent). .NET's own <c>System.Runtime</c> meter adds the runtime's view (GC, thread
/// pool, ...) through <see cref="PrometheusExporter"/>.
/// </summary>
/// <remarks>
/// Why not prometheus-net's <c>DotNetStats</c>: it refreshes a <see cref="Process"/> on every scrape, which reads
/// several <c>/proc</c> files and enumerates every thread (a <see cref="ProcessThread"/> object each), and its
/// default companions run an <c>EventListener</c> in the background; this reads the process's CPU time and working set and lists
/// <c>/proc/self/fd</c> once per scrape, and does nothing in between.
/// </remarks>
internal sealed class ProcessMetrics
{
    private const string FdDirectory = "/proc/self/fd";

    private readonly Prometheus.Counter _cpu;
    private readonly Prometheus.Gauge _rss;
    private readonly Prometheus.Gauge? _openFds;

    public ProcessMetrics(PrometheusExporter exporter)
    {
        MetricFactory factory = exporter.Factory;
        _cpu = factory.CreateCounter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
        _rss = factory.CreateGauge("process_resident_memory_bytes", "Resident memory size in bytes.");
        factory.CreateGauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
            .Set(new DateTimeOffset(Process.GetCurrentProcess().StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0);
        if (Directory.Exists(FdDirectory))
        {
            _openFds = factory.CreateGauge("process_open_fds", "Number of open file descriptors.");
            if (MaxOpenFiles() is { } max)
            {
                factory.CreateGauge("process_max_fds", "Maximum number of open file descriptors.").Set(max);
            }
        }

        // Always present, one series: dashboards find the jobs that scrape BelizeMesh sidecars by it.
        string version = typeof(ProcessMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion is { } informational
            ? informational.Split('+')[0]
            : "unknown";
        factory.CreateGauge("belizemesh_build_info", "Always 1: the sidecar's version (a BelizeMesh sidecar exports it).", "version").WithLabels(version).Set(1);

        Collect();
        exporter.BeforeCollect(Collect);
    }

    private void Collect()
    {
        _cpu.IncTo(Environment.CpuUsage.TotalTime.TotalSeconds);
        _rss.Set(Environment.WorkingSet);
        if (_openFds is not null)
        {
            try
            {
                int count = 0;
                var entries = new FileSystemEnumerable<bool>(FdDirectory, static (ref FileSystemEntry _) => true);
                foreach (bool _ in entries)
                {
                    count++;
                }

                _openFds.Set(count);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // /proc unreadable (hardened runtime): the gauge keeps its last value
            }
        }
    }

    /// <summary>The soft limit on open files from <c>/proc/self/limits</c>; null when unknown or unlimited.</summary>
    private static long? MaxOpenFiles()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    string[] fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return fields.Length > 0 && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out long soft) ? soft : null;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }
}
