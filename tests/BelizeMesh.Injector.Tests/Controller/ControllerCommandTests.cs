using System.Net;
using BelizeMesh.Injector.Controller;

namespace BelizeMesh.Injector.Tests.Controller;

/// <summary><c>belizemesh-injector controller</c>: its options, and the host with a kubeconfig and its endpoints.</summary>
public sealed class ControllerCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bm-ctrl-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Stderr) Run(params string[] args)
    {
        var stderr = new StringWriter();
        int code = Program.Run(args, new StringWriter(), stderr, new StringReader(""));
        return (code, stderr.ToString());
    }

    [Theory]
    [InlineData("--cert-validity", "90", "--cert-validity '90' is not a duration")]
    [InlineData("--renew-before", "-5d", "--renew-before '-5d' is not a duration")]
    [InlineData("--renew-before", "91d", "--renew-before 91d must be positive and shorter than --cert-validity 90d")]
    [InlineData("--namespace-selector", "belizemesh-injection", "--namespace-selector 'belizemesh-injection' is not KEY=VALUE")]
    [InlineData("--root-secret-namespace", "Bad_NS", "--root-secret-namespace 'Bad_NS' is not a DNS label")]
    [InlineData("--lease-duration", "5s", "lease timings must satisfy --lease-duration (5s) > --renew-deadline (10s)")]
    [InlineData("--listen", "nowhere", "--listen 'nowhere' is not ADDR:PORT")]
    public void Bad_options_exit_1_naming_the_flag(string flag, string value, string message)
    {
        var (code, stderr) = Run("controller", flag, value);
        Assert.Equal(1, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_kubeconfig_outside_a_cluster_it_exits_1_saying_what_to_pass()
    {
        Assert.False(k8s.KubernetesClientConfiguration.IsInCluster());
        var (code, stderr) = Run("controller", "--listen", "127.0.0.1:0");
        Assert.Equal(1, code);
        Assert.Contains("pass --kubeconfig FILE", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("90d", 90 * 24 * 60)]
    [InlineData("1h", 60)]
    [InlineData("20m", 20)]
    [InlineData("90s", 1.5)]
    public void Durations_take_a_unit(string text, double minutes)
    {
        Assert.True(ControllerOptions.TryParseDuration(text, out TimeSpan duration));
        Assert.Equal(TimeSpan.FromMinutes(minutes), duration);
    }

    [Fact]
    public async Task Host_reads_a_kubeconfig_issues_and_serves_metrics_and_readiness()
    {
        await using var h = await ControllerHarness.StartAsync();
        h.Api.AddNamespace("shop", optedIn: true);
        h.Api.AddServiceAccount("shop", "cart");
        string kubeconfig = Path.Combine(_dir, "kubeconfig");
        File.WriteAllText(kubeconfig, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: fake
              cluster:
                server: {h.Api.Uri.ToString().TrimEnd('/')}
            users:
            - name: tester
              user:
                token: not-a-real-token
            contexts:
            - name: fake
              context:
                cluster: fake
                user: tester
            current-context: fake
            """);
        var options = new ControllerOptions { RootSecretNamespace = ControllerHarness.SystemNamespace, LeaseNamespace = ControllerHarness.SystemNamespace, Identity = "host" };

        await using ControllerHost host = await ControllerHost.StartAsync(options, ControllerHost.LoadClientConfiguration(kubeconfig),
            new IPEndPoint(IPAddress.Loopback, 0), configureLogging: _ => { });
        await h.Api.WaitForAsync(() => h.Serial("shop", "cart") is not null, "issued through the kubeconfig's server");

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{host.Endpoint.Port}") };
        Assert.Equal("ok\n", await http.GetStringAsync("/healthz"));
        Assert.Equal("ok\n", await http.GetStringAsync("/readyz"));
        await h.Api.WaitForAsync(() => host.Controller.Metrics.Issued == 1, "the issuance counted");
        string metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("belizemesh_controller_certificates_issued_total 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("belizemesh_controller_leader 1\n", metrics, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/other")).StatusCode);
    }

    [Fact]
    public void A_missing_kubeconfig_is_named()
    {
        var e = Assert.Throws<k8s.Exceptions.KubeConfigException>(() => ControllerHost.LoadClientConfiguration(Path.Combine(_dir, "absent")));
        Assert.Contains("absent: file not found", e.Message, StringComparison.Ordinal);
    }
}
