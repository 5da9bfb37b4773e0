using System.Diagnostics.Metrics;

namespace BelizeMesh.Proxy.Metrics;

/// <summary>Metrics about the sidecar's own telemetry: label sets the Istio request metrics could not admit.</summary>
internal sealed partial class ProxyMetrics
{
    private Counter<long>? _telemetryOverflow;

    private Counter<long> TelemetryOverflowCounter => LazyInitializer.EnsureInitialized(ref _telemetryOverflow,
        () => Meter.CreateCounter<long>("belizemesh.proxy.telemetry.overflow", "{event}", "Requests recorded in the istio_* metrics with an unknown peer or service because a label-set bound was reached, by bound (peer, peer_metadata, service, series)."));

    /// <summary>Publishes the overflow counter at 0 for every bound, so that the first overflow is an increase.</summary>
    public void TelemetryBoundsKnown()
    {
        Counter<long> counter = TelemetryOverflowCounter;
        foreach (string bound in (ReadOnlySpan<string>)["peer", "peer_metadata", "service", "series"])
        {
            counter.Add(0, new KeyValuePair<string, object?>("bound", bound));
        }
    }

    /// <summary>A bound of <see cref="IstioRequestMetrics"/> was reached; <paramref name="bound"/> names it.</summary>
    public void TelemetryOverflow(string bound)
    {
        Counter<long> counter = TelemetryOverflowCounter;
        if (counter.Enabled)
        {
            counter.Add(1, new KeyValuePair<string, object?>("bound", bound));
        }
    }
}
