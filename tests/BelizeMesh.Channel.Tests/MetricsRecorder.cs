using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace BelizeMesh.Channel.Tests;

/// <summary>Collects the handshake counter of one <see cref="ChannelMetrics"/> instance as "side/result/reason" strings,
/// and reads its byte totals.</summary>
internal sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();

    public MetricsRecorder(ChannelMetrics metrics)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == "belizemesh.channel.handshakes")
            {
                var d = new Dictionary<string, object?>();
                foreach (var tag in tags)
                {
                    d[tag.Key] = tag.Value;
                }

                Handshakes.Enqueue($"{d["side"]}/{d["result"]}/{d["reason"]}");
            }
            else if (instrument.Name == "belizemesh.channel.bytes")
            {
                // an observable counter: each observation is the running total of its direction
                foreach (var tag in tags)
                {
                    if (tag.Key == "direction")
                    {
                        _bytes[(string)tag.Value!] = value;
                    }
                }
            }
        });
        _listener.Start();
    }

    private readonly ConcurrentDictionary<string, long> _bytes = new();

    public ConcurrentQueue<string> Handshakes { get; } = new();

    /// <summary>The application bytes counted so far: (sent, received), as a collection would read them.</summary>
    public (long Sent, long Received) Bytes()
    {
        _listener.RecordObservableInstruments();
        return (_bytes.GetValueOrDefault("sent"), _bytes.GetValueOrDefault("received"));
    }

    public void Dispose() => _listener.Dispose();
}
