using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace BelizeMesh.Channel.Tests;

/// <summary>Collects the handshake counter of one <see cref="ChannelMetrics"/> instance as "side/result/reason" strings.</summary>
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
                Interlocked.Add(ref _bytes, value);
            }
        });
        _listener.Start();
    }

    private long _bytes;

    public ConcurrentQueue<string> Handshakes { get; } = new();

    public long Bytes => Interlocked.Read(ref _bytes);

    public void Dispose() => _listener.Dispose();
}
