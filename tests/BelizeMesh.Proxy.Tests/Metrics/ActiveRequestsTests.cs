using System.Diagnostics;
using System.Diagnostics.Metrics;
using BelizeMesh.Proxy.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace BelizeMesh.Proxy.Tests.Metrics;

public class ActiveRequestsTests
{
    [Fact]
    public void Active_requests_count_requests_in_flight_per_direction_from_the_first_request_of_that_direction()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        var metrics = new ProxyMetrics(factory);

        Assert.DoesNotContain("belizemesh_proxy_active_requests{", exporter.Render(), StringComparison.Ordinal);

        metrics.RequestStarted(Direction.Outbound);
        metrics.RequestStarted(Direction.Outbound);
        string text = exporter.Render();
        Assert.Contains("# TYPE belizemesh_proxy_active_requests gauge\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_proxy_active_requests{direction=\"outbound\"} 2\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("belizemesh_proxy_active_requests{direction=\"inbound\"}", text, StringComparison.Ordinal);

        metrics.RequestStarted(Direction.Inbound);
        metrics.RequestCompleted(Direction.Outbound, "nawal.test", 200, Stopwatch.GetTimestamp());
        text = exporter.Render();
        Assert.Contains("\nbelizemesh_proxy_active_requests{direction=\"outbound\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_proxy_active_requests{direction=\"inbound\"} 1\n", text, StringComparison.Ordinal);

        metrics.RequestCompleted(Direction.Outbound, "nawal.test", 200, Stopwatch.GetTimestamp());
        metrics.RequestCompleted(Direction.Inbound, "inbound", 503, Stopwatch.GetTimestamp());
        text = exporter.Render();
        Assert.Contains("\nbelizemesh_proxy_active_requests{direction=\"outbound\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_proxy_active_requests{direction=\"inbound\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_proxy_requests_total{direction=\"outbound\",route=\"nawal.test\",status=\"200\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_proxy_requests_total{direction=\"inbound\",route=\"inbound\",status=\"503\"} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requests_are_counted_once_per_label_set_from_many_threads_and_route_ids_equal_by_value()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        var metrics = new ProxyMetrics(factory);
        string route = "nawal.test";
        string reloaded = new([.. route]); // a later policy snapshot's id: equal text, another instance

        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < 5_000; i++)
            {
                metrics.RequestStarted(Direction.Outbound);
                metrics.RequestCompleted(Direction.Outbound, (i & 1) == 0 ? route : reloaded, i % 10 == 0 ? 503 : 200, Stopwatch.GetTimestamp());
            }
        })));

        string text = exporter.Render();
        Assert.Contains("# TYPE belizemesh_proxy_requests_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_proxy_requests_total{direction=\"outbound\",route=\"nawal.test\",status=\"200\"} 18000\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_proxy_requests_total{direction=\"outbound\",route=\"nawal.test\",status=\"503\"} 2000\n", text, StringComparison.Ordinal);
        Assert.Contains("\nbelizemesh_proxy_request_duration_seconds_count{direction=\"outbound\",route=\"nawal.test\",status=\"200\"} 18000\n", text, StringComparison.Ordinal);
        Assert.Single(text.Split('\n'), line => line.StartsWith("belizemesh_proxy_requests_total{direction=\"outbound\",route=\"nawal.test\",status=\"200\"}", StringComparison.Ordinal));

        metrics.RequestCompleted(Direction.Outbound, route, 200, Stopwatch.GetTimestamp());
        Assert.Contains("\nbelizemesh_proxy_requests_total{direction=\"outbound\",route=\"nawal.test\",status=\"200\"} 18001\n", exporter.Render(), StringComparison.Ordinal);
    }
}
