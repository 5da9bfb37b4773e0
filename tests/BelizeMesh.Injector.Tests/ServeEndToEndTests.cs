using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Injection;
using BelizeMesh.Injector.Server;
using BelizeMesh.Injector.Tests.Support;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Injector.Tests;

/// <summary><c>serve</c> end to end: real HTTPS on 127.0.0.1 port 0, configuration files swapped the Kubernetes way.</summary>
public sealed class ServeEndToEndTests : IDisposable
{
    private readonly TestCertificates _certs = new();
    private readonly string _configDir;

    public ServeEndToEndTests()
    {
        _configDir = Path.Combine(_certs.Directory, "config");
        Directory.CreateDirectory(_configDir);
    }

    public void Dispose() => _certs.Dispose();

    [Fact]
    public async Task Serve_injects_over_https_with_http1_and_http2_and_counts_metrics()
    {
        await using InjectorServer server = await Start(null);
        foreach (Version version in new[] { HttpVersion.Version11, HttpVersion.Version20 })
        {
            using HttpClient client = ServerFixture.CreateClient(server.Endpoint.Port, _certs, version);
            JsonObject pod = Reviews.Pod(annotations: new JsonObject { ["team/owner~x"] = "ledger" });
            var (status, _, response) = await ServerFixture.PostAsync(client, Reviews.Review(pod.DeepClone()));
            Assert.Equal(HttpStatusCode.OK, status);

            // The patch applies to the pod the API server holds and gives an injected pod.
            JsonArray patch = ServerFixture.Patch(response!)!;
            JsonNode patched = pod.DeepClone();
            JsonPatch.Apply(patched, patch.Select(op => new PatchOperation(op!["op"]!.GetValue<string>(), op["path"]!.GetValue<string>(), op["value"]?.DeepClone())).ToList());
            Assert.Equal("belizemesh-proxy", patched["spec"]!["containers"]![1]!["name"]!.GetValue<string>());
            Assert.Equal("ledger", patched["metadata"]!["annotations"]!["team/owner~x"]!.GetValue<string>());
            Assert.Contains(patch, op => op!["path"]!.GetValue<string>() == "/metadata/annotations/traffic.sidecar.istio.io~1excludeInboundPorts");
        }

        using HttpClient plain = ServerFixture.CreateClient(server.Endpoint.Port, _certs);
        await ServerFixture.PostAsync(plain, Reviews.Review(Reviews.Pod(ns: "kube-system"), ns: "kube-system"));
        using (var bad = new StringContent("{", System.Text.Encoding.UTF8, "application/json"))
        {
            await plain.PostAsync("/inject", bad);
        }

        using HttpResponseMessage metrics = await plain.GetAsync("/metrics");
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", metrics.Content.Headers.ContentType!.ToString());
        string text = await metrics.Content.ReadAsStringAsync();
        Assert.Contains("belizemesh_injector_requests_total{result=\"patched\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_injector_requests_total{result=\"allowed\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_injector_requests_total{result=\"bad_request\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_injector_decisions_total{reason=\"injected\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_injector_decisions_total{reason=\"ignored_namespace\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_injector_request_duration_seconds_bucket{le=\"+Inf\"} 4\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_injector_request_duration_seconds_count 4\n", text, StringComparison.Ordinal);
    }

    [PromtoolFact]
    public async Task Metrics_pass_promtool_check()
    {
        await using InjectorServer server = await Start(null);
        using HttpClient client = ServerFixture.CreateClient(server.Endpoint.Port, _certs);
        await ServerFixture.PostAsync(client, Reviews.Review(Reviews.Pod()));
        await Promtool.CheckAsync(await client.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task Configuration_swapped_through_data_symlink_takes_effect_and_bad_one_keeps_last_good()
    {
        string configPath = WriteKubernetesVolume("..2026_11_23_a", "image: registry.example/proxy:1.0.0\n");
        await using InjectorServer server = await Start(configPath);
        using HttpClient client = ServerFixture.CreateClient(server.Endpoint.Port, _certs);
        Assert.Equal("registry.example/proxy:1.0.0", await InjectedImage(client));

        // A good update, published the way the kubelet does it: new directory, then an atomic ..data symlink swap.
        Task<bool> reloaded = NextReload(server.Config);
        SwapKubernetesVolume("..2026_11_23_b", "image: registry.example/proxy:2.0.0\nnativeSidecar: true\n");
        Assert.True(await reloaded.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal("registry.example/proxy:2.0.0", server.Config.Current.Config.Image);
        var (_, _, response) = await ServerFixture.PostAsync(client, Reviews.Review(Reviews.Pod()));
        Assert.Equal("/spec/initContainers", ServerFixture.Patch(response!)![0]!["path"]!.GetValue<string>());

        // A bad update is refused; the last good configuration stays in force.
        Task<bool> refused = NextReload(server.Config);
        SwapKubernetesVolume("..2026_11_23_c", "image: registry.example/proxy:3.0.0\nrunAsUser: 1337\n");
        Assert.False(await refused.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal("registry.example/proxy:2.0.0", await InjectedImage(client, native: true));
        string metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("belizemesh_injector_config_reloads_total{result=\"success\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("belizemesh_injector_config_reloads_total{result=\"failure\"} 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rotated_serving_certificate_is_used_for_new_connections_and_a_broken_pair_is_ignored()
    {
        await using InjectorServer server = await Start(null);
        using var rotated = new TestCertificates();

        // A broken pair (new certificate, old key) is refused; the current certificate keeps serving.
        Task<bool> refused = NextCertificateReload(server.Certificate, false);
        File.WriteAllText(_certs.CertPath, rotated.CertPem);
        Assert.False(await refused.WaitAsync(TimeSpan.FromSeconds(20)));
        using (HttpClient old = ServerFixture.CreateClient(server.Endpoint.Port, _certs))
        {
            Assert.Equal("ok\n", await old.GetStringAsync("/healthz"));
        }

        // The matching key arrives: the new pair takes effect for new handshakes.
        Task<bool> accepted = NextCertificateReload(server.Certificate, true);
        File.WriteAllText(_certs.KeyPath, rotated.KeyPem);
        Assert.True(await accepted.WaitAsync(TimeSpan.FromSeconds(20)));
        using HttpClient client = ServerFixture.CreateClient(server.Endpoint.Port, rotated);
        Assert.Equal("ok\n", await client.GetStringAsync("/healthz"));
    }

    [Fact]
    public async Task Metrics_say_whether_each_watched_input_is_in_force_and_count_certificate_reloads()
    {
        string configPath = Path.Combine(_configDir, "config.yaml");
        const string good = "image: registry.example/proxy:1.0.0\n";
        File.WriteAllText(configPath, good);
        await using InjectorServer server = await Start(configPath);
        using HttpClient client = ServerFixture.CreateClient(server.Endpoint.Port, _certs);
        string metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("belizemesh_injector_config_last_reload_successful 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("belizemesh_injector_certificate_last_reload_successful 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("belizemesh_injector_certificate_reloads_total{result=\"failure\"} 0\n", metrics, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"(?m)^belizemesh_injector_exclusions_last_reload_successful ", metrics); // no exclusions file: no sample

        // A rejected configuration and a broken pair (new certificate, old key): 0 for as long as the files stay so.
        File.WriteAllText(configPath, "image: registry.example/proxy:2.0.0\nrunAsUser: 1337\n");
        server.Config.Reload();
        using var rotated = new TestCertificates();
        File.WriteAllText(_certs.CertPath, rotated.CertPem);
        server.Certificate.Reload();
        metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("belizemesh_injector_config_last_reload_successful 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("belizemesh_injector_certificate_last_reload_successful 0\n", metrics, StringComparison.Ordinal);
        Assert.True(Sample(metrics, "belizemesh_injector_certificate_reloads_total{result=\"failure\"}") >= 1); // (the watcher may also have caught a half-written file)
        server.Config.Reload(); // looked at again: still rejected, not counted again
        Assert.Contains("belizemesh_injector_config_last_reload_successful 0\n", await client.GetStringAsync("/metrics"), StringComparison.Ordinal);

        // The rejected edit undone and the matching key arrived: back to 1; the new pair counted as a success.
        File.WriteAllText(configPath, good);
        server.Config.Reload();
        File.WriteAllText(_certs.KeyPath, rotated.KeyPem);
        server.Certificate.Reload();
        metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("belizemesh_injector_config_last_reload_successful 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("belizemesh_injector_certificate_last_reload_successful 1\n", metrics, StringComparison.Ordinal);
        Assert.True(Sample(metrics, "belizemesh_injector_certificate_reloads_total{result=\"success\"}") >= 1);
    }

    /// <summary>The value of one series in Prometheus text (the directory watcher runs too, so counts are lower bounds).</summary>
    private static double Sample(string metrics, string series)
    {
        foreach (string line in metrics.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return double.Parse(line.AsSpan(series.Length + 1), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        Assert.Fail($"no series {series} in /metrics");
        return 0;
    }

    /// <summary>Completes on the next reload with the wanted outcome (a file write can raise several events).</summary>
    private static Task<bool> NextCertificateReload(ServerCertificate certificate, bool wanted)
    {
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Handler(bool ok)
        {
            if (ok != wanted)
            {
                return;
            }

            certificate.Reloaded -= Handler;
            done.TrySetResult(ok);
        }

        certificate.Reloaded += Handler;
        return done.Task;
    }

    [Fact]
    public async Task Bad_configuration_at_startup_is_a_clear_error()
    {
        string path = Path.Combine(_configDir, "bad.yaml");
        File.WriteAllText(path, "image: ok:1\nports:\n  inbound: 15006\n");
        var e = await Assert.ThrowsAsync<ConfigException>(() => Start(path));
        Assert.Equal($"{path}:3:12: ports.inbound: 15006 is reserved by Istio (15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090): choose another port", e.Message);
    }

    [Fact]
    public async Task Serve_command_exits_1_with_message_on_bad_configuration()
    {
        string path = Path.Combine(_configDir, "bad.yaml");
        File.WriteAllText(path, "failurePolicy: Sometimes\n");
        var stderr = new StringWriter();
        int code = await Program.BuildRootCommand(TextWriter.Null, stderr, TextReader.Null)
            .Parse(["serve", "--listen", "127.0.0.1:0", "--tls-cert", _certs.CertPath, "--tls-key", _certs.KeyPath, "--config", path])
            .InvokeAsync();
        Assert.Equal(1, code);
        Assert.Equal($"belizemesh-injector: invalid configuration:{Environment.NewLine}{path}:1:16: failurePolicy: expected one of Fail, Ignore, got \"Sometimes\"{Environment.NewLine}", stderr.ToString());
    }

    [Fact]
    public async Task Serve_command_exits_1_when_the_key_does_not_match_a_certificate_file()
    {
        string missing = Path.Combine(_certs.Directory, "missing.key");
        var stderr = new StringWriter();
        int code = await Program.BuildRootCommand(TextWriter.Null, stderr, TextReader.Null)
            .Parse(["serve", "--listen", "127.0.0.1:0", "--tls-cert", _certs.CertPath, "--tls-key", missing])
            .InvokeAsync();
        Assert.Equal(1, code);
        Assert.StartsWith($"belizemesh-injector: cannot load the TLS certificate {_certs.CertPath} with key {missing}: ", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("Pass a PEM certificate (--tls-cert) and its matching PEM private key (--tls-key)", stderr.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("8443")]
    [InlineData("0.0.0.0")]
    [InlineData("host.example:8443")]
    [InlineData("127.0.0.1:99999")]
    [InlineData("::1:8443")]
    public async Task Serve_command_rejects_listen_address_that_is_not_addr_port(string listen)
    {
        var stderr = new StringWriter();
        int code = await Program.BuildRootCommand(TextWriter.Null, stderr, TextReader.Null)
            .Parse(["serve", "--listen", listen, "--tls-cert", _certs.CertPath, "--tls-key", _certs.KeyPath])
            .InvokeAsync();
        Assert.Equal(1, code);
        Assert.Equal($"belizemesh-injector: --listen '{listen}' is not ADDR:PORT: use e.g. 0.0.0.0:8443, 127.0.0.1:9443 or [::]:8443{Environment.NewLine}", stderr.ToString());
    }

    [Theory]
    [InlineData("0.0.0.0:8443", "0.0.0.0:8443")]
    [InlineData("[::]:9443", "[::]:9443")]
    [InlineData("localhost:1", "127.0.0.1:1")]
    public void Listen_address_parses(string text, string expected)
    {
        Assert.True(Program.TryParseEndpoint(text, out IPEndPoint? endpoint, out _));
        Assert.Equal(expected, endpoint.ToString());
    }

    private Task<InjectorServer> Start(string? configPath) =>
        InjectorServer.StartAsync(
            new ServeOptions(new IPEndPoint(IPAddress.Loopback, 0), _certs.CertPath, _certs.KeyPath, configPath) { ReloadSettle = TimeSpan.FromMilliseconds(50) },
            configureLogging: _ => { });

    private static Task<bool> NextReload(ConfigStore store)
    {
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Handler(bool ok)
        {
            store.Reloaded -= Handler;
            done.TrySetResult(ok);
        }

        store.Reloaded += Handler;
        return done.Task;
    }

    private static async Task<string> InjectedImage(HttpClient client, bool native = false)
    {
        var (_, _, response) = await ServerFixture.PostAsync(client, Reviews.Review(Reviews.Pod()));
        JsonNode container = ServerFixture.Patch(response!)![0]!["value"]!;
        return (native ? container[0]! : container)["image"]!.GetValue<string>();
    }

    /// <summary>Lays out a ConfigMap volume as the kubelet does: DIR/..TS/config.yaml, ..data → ..TS, config.yaml → ..data/config.yaml.</summary>
    private string WriteKubernetesVolume(string timestamped, string content)
    {
        Directory.CreateDirectory(Path.Combine(_configDir, timestamped));
        File.WriteAllText(Path.Combine(_configDir, timestamped, "config.yaml"), content);
        File.CreateSymbolicLink(Path.Combine(_configDir, "..data"), timestamped);
        string path = Path.Combine(_configDir, "config.yaml");
        File.CreateSymbolicLink(path, Path.Combine("..data", "config.yaml"));
        return path;
    }

    private void SwapKubernetesVolume(string timestamped, string content)
    {
        Directory.CreateDirectory(Path.Combine(_configDir, timestamped));
        File.WriteAllText(Path.Combine(_configDir, timestamped, "config.yaml"), content);
        string temp = Path.Combine(_configDir, "..data_tmp");
        File.CreateSymbolicLink(temp, timestamped);
        // rename(2) replaces the old symlink atomically; File.Move would follow the link to the directory.
        Assert.Equal(0, Rename(temp, Path.Combine(_configDir, "..data")));
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string oldPath,
        [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string newPath);
}
