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
}
