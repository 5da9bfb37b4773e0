using System.Diagnostics.Metrics;
using BelizeMesh.Proxy.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace BelizeMesh.Proxy.Tests.Metrics;

/// <summary>How the Istio metrics' labels are derived, and that their cardinality is bounded.</summary>
public class IstioLabelTests
{
    [Theory]
    [InlineData("reviews", "shop", "reviews.shop.svc.cluster.local", "reviews", "shop")]
    [InlineData("reviews.prod", "shop", "reviews.prod.svc.cluster.local", "reviews", "prod")]
    [InlineData("reviews.prod.svc", "shop", "reviews.prod.svc.cluster.local", "reviews", "prod")]
    [InlineData("Reviews.Prod.svc.cluster.local", "shop", "reviews.prod.svc.cluster.local", "reviews", "prod")]
    [InlineData("reviews.prod.svc.corp.internal", "shop", "reviews.prod.svc.corp.internal", "reviews", "prod")]
    [InlineData("api.example.com", "shop", "api.example.com", "api.example.com", "unknown")]
    [InlineData("10.1.2.3", "shop", "unknown", "unknown", "unknown")]
    [InlineData("", "shop", "unknown", "unknown", "unknown")]
    [InlineData("bad host", "shop", "unknown", "unknown", "unknown")]
    public void Destination_service_labels_come_from_the_host_as_kubernetes_resolves_it(string host, string ns, string service, string name, string serviceNamespace)
    {
        ServiceLabels labels = ServiceLabels.FromHost(host, ns);
        Assert.Equal((service, name, serviceNamespace), (labels.Service, labels.Name, labels.Namespace));
    }

    [Fact]
    public void Peer_metadata_round_trips_and_ignores_malformed_fields()
    {
        var local = new WorkloadLabels("reviews-v2", "shop", "spiffe://cluster.local/ns/shop/sa/reviews", "reviews", "v2", "reviews", "v2", "east");
        PeerMetadata parsed = PeerMetadata.Parse(PeerMetadata.Encode(local));
        Assert.Equal(("reviews-v2", "reviews", "v2", "reviews", "v2", "east"), (parsed.Workload, parsed.App, parsed.Version, parsed.CanonicalService, parsed.CanonicalRevision, parsed.Cluster));

        PeerMetadata hostile = PeerMetadata.Parse("workload=ok; app=has space;version=" + new string('v', 64) + ";cluster=a\"b;zzz=1");
        Assert.Equal(("ok", "unknown", "unknown", "unknown"), (hostile.Workload, hostile.App, hostile.Version, hostile.Cluster));
        Assert.Same(PeerMetadata.None, PeerMetadata.Parse("garbage"));
    }

    [Theory]
    [InlineData("spiffe://cluster.local/ns/shop/sa/reviews", "shop")]
    [InlineData("spiffe://td/ns/a-b/sa/x", "a-b")]
    [InlineData("spiffe://td/sa/x", "unknown")]
    [InlineData("https://td/ns/shop/sa/x", "unknown")]
    [InlineData(null, "unknown")]
    public void The_namespace_is_read_from_the_spiffe_id(string? spiffeId, string expected)
        => Assert.Equal(expected, WorkloadLabels.NamespaceOf(spiffeId));

    [Theory]
    [InlineData("reviews-v2-7f4669bdd9-dg7vn", "7f4669bdd9", "reviews-v2")]
    [InlineData("ratings-0", null, "ratings-0")]
    [InlineData("odd-name", "7f4669bdd9", "odd-name")]
    public void Without_a_workload_name_the_sidecar_derives_it_from_the_pod(string pod, string? hash, string expected)
        => Assert.Equal(expected, WorkloadMetadata.WorkloadFromPod(pod, hash));

    [Fact]
    public void Own_labels_come_from_the_certificate_and_the_environment_with_istios_defaults()
    {
        WorkloadLabels labels = new WorkloadMetadata("reviews-v2", "ignored", null, null, null, null, null).ToLabels("spiffe://cluster.local/ns/shop/sa/reviews", "policy-ns");
        Assert.Equal("shop", labels.Namespace); // the certificate wins over the pod's namespace
        Assert.Equal("reviews-v2", labels.CanonicalService);
        Assert.Equal("latest", labels.CanonicalRevision);
        Assert.Equal("Kubernetes", labels.Cluster);
        Assert.Equal("unknown", labels.App);
        Assert.Equal("policy-ns", WorkloadMetadata.Empty.ToLabels(null, "policy-ns").Namespace);
    }

    [Fact]
    public void Metric_names_are_extracted_from_promql()
        => Assert.Equal(["a_bucket", "b_total"], ObservabilityAssetsTests.MetricNames("histogram_quantile(0.9, sum by (le, x) (rate(a_bucket{job=~\"$job\", y=\"z_total\"}[$__rate_interval]))) / min(b_total) - time()").ToArray());

    [Fact]
    public void Alternating_callers_services_and_metadata_each_resolve_to_their_own_labels()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        var istio = new IstioRequestMetrics(exporter, WorkloadMetadata.Empty.ToLabels(null, "shop"), "shop", new ProxyMetrics(factory));
        string[] metadata = ["workload=nawal-v1;app=nawal;version=v1", "workload=pakit-v2;app=pakit;version=v2"];
        string[] callers = ["spiffe://cluster.local/ns/shop/sa/nawal", "spiffe://cluster.local/ns/prod/sa/pakit"];
        string[] hosts = ["reviews", "ledger.prod"];

        // the same values as new string instances each time, in every order: what a request's headers give
        for (int i = 0; i < 12; i++)
        {
            int m = i & 1, c = (i >> 1) & 1, h = (i / 3) & 1;
            PeerMetadata parsed = istio.Metadata(new string(metadata[m].AsSpan()));
            Assert.Equal(m == 0 ? "nawal-v1" : "pakit-v2", parsed.Workload);
            WorkloadLabels peer = istio.Peer(new string(callers[c].AsSpan()), parsed);
            Assert.Equal(callers[c], peer.Principal);
            Assert.Equal(c == 0 ? "shop" : "prod", peer.Namespace);
            Assert.Equal(parsed.App, peer.App);
            ServiceLabels service = istio.InboundService(h == 0 ? "Reviews" : new string(hosts[1].AsSpan()));
            Assert.Equal(h == 0 ? "reviews.shop.svc.cluster.local" : "ledger.prod.svc.cluster.local", service.Service);
        }

        Assert.Same(istio.Peer(callers[0], istio.Metadata(metadata[0])), istio.Peer(new string(callers[0].AsSpan()), istio.Metadata(new string(metadata[0].AsSpan()))));
    }

    [Fact]
    public void Label_sets_are_bounded_and_the_overflow_is_counted()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        IMeterFactory factory = services.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(factory);
        var proxyMetrics = new ProxyMetrics(factory);
        var istio = new IstioRequestMetrics(exporter, WorkloadMetadata.Empty.ToLabels(null, "shop"), "shop", proxyMetrics);

        // every caller a distinct principal: past MaxPeers the peer is unknown, so the label sets stop growing
        for (int i = 0; i < IstioRequestMetrics.MaxPeers * 2; i++)
        {
            WorkloadLabels peer = istio.Peer($"spiffe://cluster.local/ns/shop/sa/caller-{i}", PeerMetadata.None);
            istio.Record(Reporter.Destination, peer, istio.InboundService("reviews"), 200, "", ResponseFlag.None, grpc: false, SecurityPolicy.MutualTls, 1, 0, 0);
        }

        Assert.Equal(IstioRequestMetrics.MaxPeers + 1, istio.SeriesCount); // + the one with source "unknown"
        string text = exporter.Render();
        Assert.Contains("belizemesh_proxy_telemetry_overflow_total{bound=\"peer\"} " + IstioRequestMetrics.MaxPeers + "\n", text, StringComparison.Ordinal);

        // every request a distinct status code and service host: bounded by MaxSeries (+ one overflow set per code)
        for (int i = 0; i < IstioRequestMetrics.MaxSeries; i++)
        {
            istio.Record(Reporter.Destination, WorkloadLabels.None, istio.InboundService("svc-" + i), 100 + (i % 400), "", ResponseFlag.None, grpc: false, SecurityPolicy.None, 1, 0, 0);
        }

        Assert.True(istio.SeriesCount <= IstioRequestMetrics.MaxSeries + 400, $"{istio.SeriesCount} label sets");
    }
}
