using System.Diagnostics;
using System.Diagnostics.Metrics;
using BelizeMesh.Proxy.Metrics;
using BelizeMesh.Proxy.Tests.EndToEnd;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BelizeMesh.Proxy.Tests.Metrics;

/// <summary>
/// Allocation of the metrics path, printed rather than asserted (the machine is shared; numbers are for
/// docs/architecture.md). Runs only with <c>BELIZEMESH_MEASURE=1</c>:
/// <c>BELIZEMESH_MEASURE=1 dotnet test tests/BelizeMesh.Proxy.Tests -c Release --filter MetricsAllocationReport --logger "console;verbosity=detailed"</c>.
/// </summary>
public sealed class MetricsAllocationReport(ITestOutputHelper output)
{
    private const int Requests = 20_000;

    [MeasurementFact]
    public void Recording_and_scraping_allocation_in_process()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        var metrics = new ProxyMetrics(factory);
        string[] routes = ["a.test", "b.test", "c.test", "d.test"];

        void Run(int n)
        {
            for (int i = 0; i < n; i++)
            {
                Direction direction = (i & 1) == 0 ? Direction.Inbound : Direction.Outbound;
                metrics.RequestStarted(direction);
                metrics.RequestCompleted(direction, routes[i & 3], (i % 7) == 0 ? 503 : 200, Stopwatch.GetTimestamp());
            }
        }

        Run(1_000); // create every series first
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(Requests);
        long perRequest = (GC.GetAllocatedBytesForCurrentThread() - before) / Requests;

        exporter.Render();
        before = GC.GetAllocatedBytesForCurrentThread();
        string text = exporter.Render();
        long perScrape = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"recording: {perRequest} B/request (RequestStarted + RequestCompleted, 16 series); scrape: {perScrape} B for {text.Length} chars");
    }

    [MeasurementFact]
    public void Istio_request_metrics_recording_allocation_in_process()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        var istio = new IstioRequestMetrics(exporter, new WorkloadMetadata("pakit-v1", null, "pakit", "v1", null, null, null).ToLabels("spiffe://cluster.local/ns/shop/sa/pakit", "shop"), "shop", new ProxyMetrics(factory));
        const string metadata = "workload=nawal-v1;app=nawal;version=v1;service=nawal;revision=v1;cluster=Kubernetes";
        string[] peers = ["spiffe://cluster.local/ns/shop/sa/a", "spiffe://cluster.local/ns/shop/sa/b", "spiffe://cluster.local/ns/shop/sa/c", "spiffe://cluster.local/ns/shop/sa/d"];
        string[] hosts = ["nawal", "pakit.shop", "ledger.shop.svc.cluster.local", "api.example.com"];

        void Run(int n)
        {
            for (int i = 0; i < n; i++)
            {
                // what RecordRequest does per request: resolve the peer (interned), the service (interned), record
                WorkloadLabels peer = istio.Peer(peers[i & 3], istio.Metadata(metadata));
                ServiceLabels service = istio.InboundService(hosts[(i >> 2) & 3]);
                istio.Record((i & 1) == 0 ? Reporter.Destination : Reporter.Source, peer, service, (i % 7) == 0 ? 503 : 200, "", ResponseFlag.None, grpc: false,
                    SecurityPolicy.MutualTls, 0.3 + (i & 15), 120, (i & 1) == 0 ? 4096 : -1);
            }
        }

        Run(1_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(Requests);
        long perRequest = (GC.GetAllocatedBytesForCurrentThread() - before) / Requests;
        exporter.Render();
        before = GC.GetAllocatedBytesForCurrentThread();
        string text = exporter.Render();
        long perScrape = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"istio recording: {perRequest} B/request ({istio.SeriesCount} label sets, 4 families); scrape: {perScrape} B for {text.Length} chars");
    }

    [MeasurementFact]
    public void Runtime_metrics_scrape_cost_ours_and_prometheus_nets()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var exporter = new PrometheusExporter(services.GetRequiredService<IMeterFactory>());
        _ = new ProcessMetrics(exporter);
        Prometheus.CollectorRegistry theirs = Prometheus.Metrics.NewCustomRegistry();
        Prometheus.DotNetStats.Register(theirs);

        string Scrape(Prometheus.CollectorRegistry registry)
        {
            using var buffer = new MemoryStream();
            registry.CollectAndExportAsTextAsync(buffer).GetAwaiter().GetResult();
            return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
        }

        (long Bytes, int Chars) Measure(Func<string> scrape)
        {
            scrape();
            long before = GC.GetAllocatedBytesForCurrentThread();
            int chars = 0;
            for (int i = 0; i < 50; i++)
            {
                chars = scrape().Length;
            }

            return ((GC.GetAllocatedBytesForCurrentThread() - before) / 50, chars);
        }

        var ours = Measure(exporter.Render); // System.Runtime meter + process_* (+ build info)
        var dotNetStats = Measure(() => Scrape(theirs));
        output.WriteLine($"ours (System.Runtime + process_*): {ours.Bytes} B for {ours.Chars} chars per scrape; prometheus-net DotNetStats: {dotNetStats.Bytes} B for {dotNetStats.Chars} chars per scrape (threads in process: {Process.GetCurrentProcess().Threads.Count})");
    }

    [MeasurementFact]
    public async Task Allocation_per_forwarded_request_through_a_disable_mode_pair()
    {
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar server = await Sidecar.StartAsync(Sidecar.Policy(app.Url), watch: false);
        await using Sidecar client = await Sidecar.StartAsync(Sidecar.Policy("http://127.0.0.1:1", outboundRoutes:
            Sidecar.Route("nawal.test", $"\"{server.InboundEndpoint}\"")), watch: false);
        using HttpClient http = client.CreateOutboundClient();
        using HttpClient admin = client.CreateAdminClient();

        async Task SendAsync(int n)
        {
            for (int i = 0; i < n; i++)
            {
                using HttpResponseMessage response = await http.GetAsync("http://nawal.test/echo");
                Assert.True(response.IsSuccessStatusCode);
            }
        }

        await SendAsync(1_000);
        (await admin.GetStringAsync("/metrics")).ToString();
        long before = GC.GetTotalAllocatedBytes(true);
        await SendAsync(Requests);
        long perRequest = (GC.GetTotalAllocatedBytes(true) - before) / Requests;

        before = GC.GetTotalAllocatedBytes(true);
        const int scrapes = 100;
        for (int i = 0; i < scrapes; i++)
        {
            await admin.GetStringAsync("/metrics");
        }

        long perScrape = (GC.GetTotalAllocatedBytes(true) - before) / scrapes;
        output.WriteLine($"process: {perRequest} B/request (client + 2 sidecars + app, N={Requests}); {perScrape} B per /metrics GET (incl. HttpClient)");
    }
}

/// <summary>A fact that runs only when <c>BELIZEMESH_MEASURE=1</c> (measurements, not checks).</summary>
public sealed class MeasurementFactAttribute : FactAttribute
{
    public MeasurementFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("BELIZEMESH_MEASURE") != "1")
        {
            Skip = "a measurement that prints numbers: set BELIZEMESH_MEASURE=1 to run it";
        }
    }
}
