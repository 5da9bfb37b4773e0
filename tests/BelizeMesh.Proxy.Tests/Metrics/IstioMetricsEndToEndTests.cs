using System.Net;
using System.Net.Http;
using BelizeMesh.Proxy.Metrics;
using BelizeMesh.Proxy.Tests.EndToEnd;
using BelizeMesh.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Tests.Metrics;

/// <summary>
/// client → pakit's sidecar (outbound, reporter="source") → PQ channel → nawal's sidecar (inbound,
/// reporter="destination") → app: both sidecars export <c>istio_requests_total</c> and its histograms with Istio's
/// label set, each side's workload labels learned from the other through the metadata exchange.
/// </summary>
public sealed class IstioMetricsEndToEndTests : IAsyncLifetime
{
    private const string Nawal = "spiffe://cluster.local/ns/belizechain/sa/nawal";
    private const string Pakit = "spiffe://cluster.local/ns/belizechain/sa/pakit";
    private const string Host = "nawal.belizechain.svc.cluster.local";

    private TwoSidecarMesh _mesh = null!;

    public async Task InitializeAsync()
    {
        TestApp app = await TestApp.StartAsync("nawal-app");
        _mesh = await TwoSidecarMesh.Create()
            .Route(Host)
            .Workloads(
                nawal: new WorkloadMetadata("nawal-v1", null, "nawal", "v1", null, null, null),
                pakit: new WorkloadMetadata("pakit-v2", null, "pakit", "v2", "pakit", "v2", "east"))
            .StartAsync(app.Url, app);
    }

    public Task DisposeAsync() => _mesh.DisposeAsync().AsTask();

    private static readonly Dictionary<string, string> s_expected = new(StringComparer.Ordinal)
    {
        ["source_workload"] = "pakit-v2",
        ["source_canonical_service"] = "pakit",
        ["source_canonical_revision"] = "v2",
        ["source_workload_namespace"] = "belizechain",
        ["source_principal"] = Pakit,
        ["source_app"] = "pakit",
        ["source_version"] = "v2",
        ["source_cluster"] = "east",
        ["destination_workload"] = "nawal-v1",
        ["destination_workload_namespace"] = "belizechain",
        ["destination_principal"] = Nawal,
        ["destination_app"] = "nawal",
        ["destination_version"] = "v1",
        ["destination_service"] = Host,
        ["destination_canonical_service"] = "nawal-v1", // not set: Istio's default, the workload name
        ["destination_canonical_revision"] = "latest",
        ["destination_service_name"] = "nawal",
        ["destination_service_namespace"] = "belizechain",
        ["destination_cluster"] = "Kubernetes",
        ["request_protocol"] = "http",
        ["response_code"] = "200",
        ["grpc_response_status"] = "",
        ["response_flags"] = "-",
        ["connection_security_policy"] = "mutual_tls",
    };

    private static bool Has(IReadOnlyList<PromSample> samples, string name, string reporter, string code)
        => samples.Any(s => s.Name == name && s.Labels.GetValueOrDefault("reporter") == reporter && s.Labels.GetValueOrDefault("response_code") == code);

    [Fact]
    public async Task Both_reporters_label_a_pq_channel_request_with_both_workloads()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();
        using HttpResponseMessage response = await http.PostAsync($"http://{Host}/echo", new ByteArrayContent(new byte[1234]));
        string body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("sidecar-headers: x-belizemesh-peer-identity\n", body, StringComparison.Ordinal); // the exchange header never reaches the app
        Assert.False(response.Headers.Contains(PeerMetadata.Header), "the peer's metadata header must not reach the calling app");

        using HttpClient pakitAdmin = _mesh.Pakit.CreateAdminClient();
        using HttpClient nawalAdmin = _mesh.Nawal.CreateAdminClient();
        IReadOnlyList<PromSample> source = await PromText.ScrapeUntilAsync(pakitAdmin, s => Has(s, "istio_requests_total", "source", "200"));
        IReadOnlyList<PromSample> destination = await PromText.ScrapeUntilAsync(nawalAdmin, s => Has(s, "istio_requests_total", "destination", "200"));

        PromSample sourceCount = Assert.Single(source, s => s.Name == "istio_requests_total" && s["reporter"] == "source");
        PromSample destinationCount = Assert.Single(destination, s => s.Name == "istio_requests_total" && s["reporter"] == "destination");
        foreach ((string label, string value) in s_expected)
        {
            Assert.True(value == sourceCount[label], $"reporter=source {label}: expected '{value}', got '{sourceCount[label]}'");
            Assert.True(value == destinationCount[label], $"reporter=destination {label}: expected '{value}', got '{destinationCount[label]}'");
        }

        Assert.Equal(IstioRequestMetrics.LabelNames.Length, sourceCount.Labels.Count);
        Assert.Equal(1, sourceCount.Value);
        Assert.Equal(1, destinationCount.Value);

        foreach (IReadOnlyList<PromSample> samples in new[] { source, destination })
        {
            Assert.Equal(1, Assert.Single(samples, s => s.Name == "istio_request_duration_milliseconds_count").Value);
            Assert.Equal(1234, Assert.Single(samples, s => s.Name == "istio_request_bytes_sum").Value);
            Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(body), Assert.Single(samples, s => s.Name == "istio_response_bytes_sum").Value); // the app's chunked echo, counted
            Assert.Contains(samples, s => s.Name == "istio_request_duration_milliseconds_bucket" && s["le"] == "0.025");
        }
    }

    [Fact]
    public async Task Bodies_without_content_length_are_counted_on_both_sides()
    {
        const int size = 300_000;
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();
        var content = new StreamContent(new MemoryStream(new byte[size]));
        content.Headers.ContentLength = null; // chunked upload
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://{Host}/upload") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using HttpResponseMessage response = await http.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        Assert.Equal(size.ToString(System.Globalization.CultureInfo.InvariantCulture), body); // the app got every byte

        foreach ((Sidecar sidecar, string reporter) in new[] { (_mesh.Pakit, "source"), (_mesh.Nawal, "destination") })
        {
            using HttpClient admin = sidecar.CreateAdminClient();
            IReadOnlyList<PromSample> samples = await PromText.ScrapeUntilAsync(admin, s => Has(s, "istio_requests_total", reporter, "200"));
            Assert.Equal(size, Assert.Single(samples, s => s.Name == "istio_request_bytes_sum").Value);
            Assert.Equal(body.Length, Assert.Single(samples, s => s.Name == "istio_response_bytes_sum").Value);
            Assert.Equal(1, Assert.Single(samples, s => s.Name == "istio_response_bytes_count").Value);
        }
    }

    [Fact]
    public async Task A_request_without_a_route_is_reported_by_the_source_with_flag_NR()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();
        using HttpResponseMessage response = await http.GetAsync("http://nowhere.test/");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);

        using HttpClient admin = _mesh.Pakit.CreateAdminClient();
        IReadOnlyList<PromSample> samples = await PromText.ScrapeUntilAsync(admin, s => Has(s, "istio_requests_total", "source", "404"));
        PromSample series = Assert.Single(samples, s => s.Name == "istio_requests_total" && s["response_code"] == "404");
        Assert.Equal("NR", series["response_flags"]);
        Assert.Equal("unknown", series["destination_service"]);
        Assert.Equal("unknown", series["destination_principal"]);
        Assert.Equal("unknown", series["connection_security_policy"]);
        Assert.Equal("pakit-v2", series["source_workload"]);
    }

    [PromtoolFact]
    public async Task A_scrape_with_istio_and_runtime_metrics_passes_promtool()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient();
        using (HttpResponseMessage response = await http.GetAsync($"http://{Host}/echo"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using HttpClient admin = _mesh.Pakit.CreateAdminClient();
        await PromText.ScrapeUntilAsync(admin, s => Has(s, "istio_requests_total", "source", "200"));
        string text = await admin.GetStringAsync("/metrics");
        Assert.Contains("\nprocess_cpu_seconds_total ", text, StringComparison.Ordinal);
        Assert.Contains("\ndotnet_gc_collections_total{", text, StringComparison.Ordinal);
        Assert.Contains("\ndotnet_thread_pool_threads ", text, StringComparison.Ordinal);

        // Istio's name for the duration family is fixed (Kiali and Istio's dashboards query it): the one finding accepted.
        await Promtool.CheckAsync(text, Promtool.IstioStandardNames);
    }
}

/// <summary>A plaintext (DISABLE) sidecar: no identities, <c>connection_security_policy="none"</c>, a caller's
/// self-asserted workload header is not believed; gRPC requests carry their protocol and status.</summary>
public sealed class IstioMetricsPlaintextTests
{
    [Fact]
    public async Task A_plaintext_caller_is_unknown_and_its_workload_header_is_ignored()
    {
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar server = await Sidecar.StartAsync(Sidecar.Policy(app.Url), workload: new WorkloadMetadata("nawal-v1", null, "nawal", "v1", null, null, null));
        (int status, string text) = await server.RawInboundAsync("/echo", "x-belizemesh-workload: workload=spoofed;app=spoofed\r\n");
        Assert.Equal(200, status);
        Assert.Contains("sidecar-headers: \n", text, StringComparison.Ordinal);

        using HttpClient admin = server.CreateAdminClient();
        IReadOnlyList<PromSample> samples = await PromText.ScrapeUntilAsync(admin, s => s.Any(x => x.Name == "istio_requests_total"));
        PromSample series = Assert.Single(samples, s => s.Name == "istio_requests_total");
        Assert.Equal("destination", series["reporter"]);
        Assert.Equal("unknown", series["source_workload"]);
        Assert.Equal("unknown", series["source_principal"]);
        Assert.Equal("none", series["connection_security_policy"]);
        Assert.Equal("nawal-v1", series["destination_workload"]);
        Assert.Equal("test", series["destination_workload_namespace"]); // no certificate: the policy's namespace
        Assert.Equal("app.test.svc.cluster.local", series["destination_service"]); // the Host the caller used, read as <name>.<namespace>
    }

    [Fact]
    public async Task A_grpc_request_is_labelled_grpc_with_its_status()
    {
        // a gRPC server answering "trailers-only" (grpc-status in the headers, no body): NOT_FOUND
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using WebApplication grpc = builder.Build();
        grpc.Run(context =>
        {
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = "5";
            return Task.CompletedTask;
        });
        await grpc.StartAsync();
        await using Sidecar server = await Sidecar.StartAsync(Sidecar.Policy(grpc.Urls.First()));
        (int status, _) = await server.RawInboundAsync("/pkg.Service/Get", "Content-Type: application/grpc\r\nTE: trailers\r\n", method: "POST");
        Assert.Equal(200, status);

        using HttpClient admin = server.CreateAdminClient();
        IReadOnlyList<PromSample> samples = await PromText.ScrapeUntilAsync(admin, s => s.Any(x => x.Name == "istio_requests_total"));
        PromSample series = Assert.Single(samples, s => s.Name == "istio_requests_total");
        Assert.Equal("grpc", series["request_protocol"]);
        Assert.Equal("5", series["grpc_response_status"]);
        Assert.Equal("200", series["response_code"]);
        Assert.Equal(0, Assert.Single(samples, s => s.Name == "istio_response_bytes_sum").Value);
    }
}
