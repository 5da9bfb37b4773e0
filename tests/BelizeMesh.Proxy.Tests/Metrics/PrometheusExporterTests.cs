using System.Diagnostics.Metrics;
using BelizeMesh.Proxy.Metrics;
using Microsoft.Extensions.DependencyInjection;

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
        // A meter of this test's own factory: unscoped "BelizeMesh.*" meters are exported by every sidecar host in the
        // process, so a concurrent end-to-end test would see these series in its own /metrics.
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        Meter meter = factory.Create("BelizeMesh.Order");
        Counter<long> counter = meter.CreateCounter<long>("belizemesh.order.events");

        counter.Add(1, new("a", "1"), new("b", "2"));
        counter.Add(1, new("b", "2"), new("a", "1"));

        Assert.Contains("belizemesh_order_events_total{a=\"1\",b=\"2\"} 2\n", exporter.Render(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_label_set_is_one_series_whether_its_values_are_the_same_strings_or_equal_copies()
    {
        // A meter of this test's own factory: unscoped "BelizeMesh.*" meters are exported by every sidecar host in the
        // process, so a concurrent end-to-end test would see these series in its own /metrics.
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        Meter meter = factory.Create("BelizeMesh.Children");
        Counter<long> counter = meter.CreateCounter<long>("belizemesh.children.events");
        Histogram<double> histogram = meter.CreateHistogram<double>("belizemesh.children.duration", "s", null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1] });
        const string route = "nawal.test";

        for (int i = 0; i < 3; i++)
        {
            counter.Add(1, new("route", route), new("status", "200"));
            counter.Add(1, new("route", new string(route.AsSpan())), new("status", 200)); // a copy, a boxed number
            histogram.Record(0.5, new KeyValuePair<string, object?>("route", route));
            histogram.Record(2, new KeyValuePair<string, object?>("route", new string(route.AsSpan())));
        }

        string text = exporter.Render();
        Assert.Contains("\nbelizemesh_children_events_total{route=\"nawal.test\",status=\"200\"} 6\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_children_duration_seconds_bucket{route=\"nawal.test\",le=\"1\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_children_duration_seconds_count{route=\"nawal.test\"} 6\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_label_set_counts_right_past_the_number_remembered_by_reference()
    {
        // A meter of this test's own factory: unscoped "BelizeMesh.*" meters are exported by every sidecar host in the
        // process, so a concurrent end-to-end test would see these series in its own /metrics.
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        Meter meter = factory.Create("BelizeMesh.Many");
        Counter<long> counter = meter.CreateCounter<long>("belizemesh.many.events");
        string[] routes = new string[700]; // more than the remembered children: the table starts over, twice
        for (int i = 0; i < routes.Length; i++)
        {
            routes[i] = "r" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        for (int round = 0; round < 3; round++)
        {
            foreach (string route in routes)
            {
                counter.Add(1, new KeyValuePair<string, object?>("route", route));
            }
        }

        string text = exporter.Render();
        foreach (string route in routes)
        {
            Assert.Contains($"\nbelizemesh_many_events_total{{route=\"{route}\"}} 3\n", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void One_instrument_recorded_with_different_tag_names_is_one_family()
    {
        // A meter of this test's own factory: unscoped "BelizeMesh.*" meters are exported by every sidecar host in the
        // process, so a concurrent end-to-end test would see these series in its own /metrics.
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        Meter meter = factory.Create("BelizeMesh.Sets");
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
        // A meter of this test's own factory: unscoped "BelizeMesh.*" meters are exported by every sidecar host in the
        // process, so a concurrent end-to-end test would see these series in its own /metrics.
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        Meter meter = factory.Create("BelizeMesh.Float");
        meter.CreateObservableGauge("belizemesh.float.value", () => value);

        Assert.Contains("\nbelizemesh_float_value " + expected + "\n", exporter.Render(), StringComparison.Ordinal);
    }
}
