using System.Diagnostics.Metrics;
using BelizeMesh.Proxy.Metrics;

namespace BelizeMesh.Proxy.Tests.Metrics;

public class PrometheusExporterTests
{
    [Fact]
    public void Exports_every_belizemesh_meter_with_prometheus_names_and_nothing_else()
    {
        using var channel = new Meter("BelizeMesh.Channel.Test" + Guid.NewGuid().ToString("N"));
        using var other = new Meter("Other.Library");
        using var exporter = new PrometheusExporter(factory: null);
        Counter<long> handshakes = channel.CreateCounter<long>("belizemesh.channel.test.handshakes", "{handshake}", "Handshakes by result.");
        Histogram<double> duration = channel.CreateHistogram<double>("belizemesh.channel.test.handshake.duration", "s", "Handshake time.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.1] });
        channel.CreateObservableGauge("belizemesh.channel.test.cert.expiry", () => 1234.5, "s", "Seconds until the certificate expires.");
        other.CreateCounter<long>("other.requests").Add(5);

        handshakes.Add(2, new KeyValuePair<string, object?>("result", "ok"));
        handshakes.Add(1, new KeyValuePair<string, object?>("result", "bad \"cert\"\\\n"));
        duration.Record(0.005);
        duration.Record(0.05);
        duration.Record(0.5);

        string text = exporter.Render();

        // prometheus-net writes a family's series in the order they were created, and a histogram's _sum and _count
        // before its buckets: the text format fixes neither order, so each line is asserted on its own.
        Assert.Contains(
            "# HELP belizemesh_channel_test_handshakes_total Handshakes by result.\n" +
            "# TYPE belizemesh_channel_test_handshakes_total counter\n",
            text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_channel_test_handshakes_total{result=\"bad \\\"cert\\\"\\\\\\n\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_channel_test_handshakes_total{result=\"ok\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE belizemesh_channel_test_handshake_duration_seconds histogram\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_channel_test_handshake_duration_seconds_bucket{le=\"0.01\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_channel_test_handshake_duration_seconds_bucket{le=\"0.1\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_channel_test_handshake_duration_seconds_bucket{le=\"+Inf\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_channel_test_handshake_duration_seconds_sum 0.555\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_channel_test_handshake_duration_seconds_count 3\n", text, StringComparison.Ordinal);
        Assert.Contains(
            "# TYPE belizemesh_channel_test_cert_expiry_seconds gauge\n" +
            "belizemesh_channel_test_cert_expiry_seconds 1234.5\n",
            text, StringComparison.Ordinal);
        Assert.DoesNotContain("other", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Label_sets_are_one_series_whatever_the_tag_order()
    {
        using var meter = new Meter("BelizeMesh.Order" + Guid.NewGuid().ToString("N"));
        using var exporter = new PrometheusExporter(factory: null);
        Counter<long> counter = meter.CreateCounter<long>("belizemesh.order.events");

        counter.Add(1, new("a", "1"), new("b", "2"));
        counter.Add(1, new("b", "2"), new("a", "1"));

        Assert.Contains("belizemesh_order_events_total{a=\"1\",b=\"2\"} 2\n", exporter.Render(), StringComparison.Ordinal);
    }

    [Fact]
    public void One_instrument_recorded_with_different_tag_names_is_one_family()
    {
        using var meter = new Meter("BelizeMesh.Sets" + Guid.NewGuid().ToString("N"));
        using var exporter = new PrometheusExporter(factory: null);
        Counter<long> counter = meter.CreateCounter<long>("belizemesh.sets.events", "{event}", "Events.");

        counter.Add(1);
        counter.Add(2, new KeyValuePair<string, object?>("kind", "a"));
        counter.Add(-5, new KeyValuePair<string, object?>("kind", "a")); // a counter never goes down: ignored, not thrown

        string text = exporter.Render();
        Assert.Single(text.Split('\n'), line => line == "# TYPE belizemesh_sets_events_total counter");
        Assert.Contains("\nbelizemesh_sets_events_total 1\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_sets_events_total{kind=\"a\"} 2\n", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1.0, "1")]
    [InlineData(0.25, "0.25")]
    // prometheus-net 8.2.1 writes infinite sample values with .NET's "g" format in text format 0.0.4 ("Infinity",
    // "-Infinity"; "+Inf" only in le labels and OpenMetrics); Prometheus parses them with Go's ParseFloat, which accepts
    // both spellings, and promtool passes them. No BelizeMesh instrument records an infinite value.
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    [InlineData(double.NaN, "NaN")]
    public void Values_use_prometheus_float_syntax(double value, string expected)
    {
        using var meter = new Meter("BelizeMesh.Float" + Guid.NewGuid().ToString("N"));
        using var exporter = new PrometheusExporter(factory: null);
        meter.CreateObservableGauge("belizemesh.float.value", () => value);

        Assert.Contains("\nbelizemesh_float_value " + expected + "\n", exporter.Render(), StringComparison.Ordinal);
    }
}
