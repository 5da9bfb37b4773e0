using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Text.RegularExpressions;
using BelizeMesh.TestSupport;
using BelizeMesh.Proxy.Admin;
using BelizeMesh.Proxy.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Primitives;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>Start-up, policy reloads, readiness, metrics and draining.</summary>
public sealed partial class LifecycleTests : IAsyncLifetime
{
    // rename(2) replaces the ..data symlink atomically; File.Move follows the link to the directory.
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "rename", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int Rename(string oldPath, string newPath);

    private TestApp _app = null!;

    public async Task InitializeAsync() => _app = await TestApp.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private const string DenyAll = "    authorization:\n      rules: []\n";

    [Fact]
    public void Invalid_policy_at_start_exits_1_with_every_error_located()
    {
        string directory = Directory.CreateTempSubdirectory("belizemesh-proxy-test-").FullName;
        string path = Path.Combine(directory, "policy.yaml");
        File.WriteAllText(path, Sidecar.Policy(_app.Url).Replace("mode: DISABLE", "mode: SOMETIMES", StringComparison.Ordinal) + "\n  drainTimeout: forever\n");
        var stderr = new StringWriter();

        int exit = Program.BuildCommand(stderr).Parse(["run", "--policy", path, "--certs", directory]).Invoke();

        Assert.Equal(1, exit);
        Assert.Equal(
            $"{path}:11:11: spec.inbound.mode: expected one of STRICT, PERMISSIVE, DISABLE, got \"SOMETIMES\"\n" +
            $"{path}:17:17: spec.drainTimeout: \"forever\" is not a duration; expected a number with unit h, m, s or ms, e.g. 300s, 5m, 1h, 100ms (0 means none)\n" +
            $"belizemesh-proxy: 2 error(s) in {path}; not started.\n",
            stderr.ToString().ReplaceLineEndings("\n"));
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void Strict_mode_without_certificates_exits_1_naming_the_directory()
    {
        string directory = Directory.CreateTempSubdirectory("belizemesh-proxy-test-").FullName;
        string path = Path.Combine(directory, "policy.yaml");
        File.WriteAllText(path, Sidecar.Policy(_app.Url).Replace("mode: DISABLE", "mode: STRICT", StringComparison.Ordinal));
        var stderr = new StringWriter();

        int exit = Program.BuildCommand(stderr).Parse(["run", "--policy", path, "--certs", directory]).Invoke();

        Assert.Equal(1, exit);
        Assert.StartsWith($"{directory}: cannot load the certificates (tls.crt, tls.key, ca.crt) the PQ channel needs: ", stderr.ToString(), StringComparison.Ordinal);
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void Missing_policy_file_exits_1()
    {
        var stderr = new StringWriter();
        int exit = Program.BuildCommand(stderr).Parse(["run", "--policy", "/nonexistent/policy.yaml", "--certs", "/nonexistent"]).Invoke();

        Assert.Equal(1, exit);
        Assert.StartsWith("/nonexistent/policy.yaml:1:1: cannot read the policy file: ", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Valid_change_is_applied_by_the_watcher_through_a_configmap_style_symlink_swap()
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url));
        await sidecar.Host.WatchersStarted; // this test is about the watcher's events, not its first look
        // Lay the file out as a ConfigMap volume does: policy.yaml -> ..data/policy.yaml, ..data -> ..v1
        string dir = sidecar.Directory;
        string v1 = Path.Combine(dir, "..v1"), v2 = Path.Combine(dir, "..v2");
        Directory.CreateDirectory(v1);
        Directory.CreateDirectory(v2);
        File.Copy(sidecar.PolicyPath, Path.Combine(v1, "policy.yaml"));
        File.WriteAllText(Path.Combine(v2, "policy.yaml"), Sidecar.Policy(_app.Url, inboundExtra: DenyAll));
        File.CreateSymbolicLink(Path.Combine(dir, "..data"), "..v1");
        File.Delete(sidecar.PolicyPath);
        File.CreateSymbolicLink(sidecar.PolicyPath, "..data/policy.yaml");
        Assert.Equal(ReloadResult.Unchanged, await sidecar.Host.Policy.ReloadAsync());

        using HttpClient http = new();
        string url = $"http://{sidecar.InboundEndpoint}/echo";
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(url)).StatusCode);

        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using IDisposable registration = ChangeToken.OnChange(sidecar.Host.Policy.GetChangeToken, () => changed.TrySetResult());

        // atomic swap of ..data, as the kubelet does
        string tmp = Path.Combine(dir, "..data_tmp");
        File.CreateSymbolicLink(tmp, "..v2");
        Assert.Equal(0, Rename(tmp, Path.Combine(dir, "..data")));

        await changed.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(url)).StatusCode);
    }

    [Fact]
    public async Task Ready_before_the_watchers_start_and_a_change_made_meanwhile_is_applied_when_they_start()
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url));
        using HttpClient admin = sidecar.CreateAdminClient();
        using HttpClient http = new();
        string url = $"http://{sidecar.InboundEndpoint}/echo";

        Assert.False(sidecar.Host.WatchersStarted.IsCompleted, "the watchers start after the sidecar is ready");
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz/ready")).StatusCode);
        await File.WriteAllTextAsync(sidecar.PolicyPath, Sidecar.Policy(_app.Url, inboundExtra: DenyAll));
        Assert.False(sidecar.Host.WatchersStarted.IsCompleted, "written before the watcher existed");

        await sidecar.Host.WatchersStarted.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(url)).StatusCode);
        Assert.Contains("belizemesh_policy_reloads_total{result=\"success\"} 1\n", await admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_before_the_watchers_start_leaves_none_running()
    {
        Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url));
        await sidecar.DisposeAsync();

        await sidecar.Host.WatchersStarted.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.False(sidecar.Host.IsWatching, "a watcher started after the host stopped");
    }

    [Fact]
    public async Task A_policy_file_caught_half_written_is_not_applied_and_the_finished_file_is()
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url), watch: false);
        string first = Sidecar.Route("a.test", $"\"{sidecar.InboundEndpoint}\"");
        string full = Sidecar.Policy(_app.Url, outboundRoutes: first + Sidecar.Route("b.test", $"\"{sidecar.InboundEndpoint}\""));
        // The writer (truncate, then write in pieces) has written up to the end of the first route: on its own a valid,
        // smaller policy that silently lacks b.test. It writes the rest while the reload is at work.
        string prefix = full[..(full.IndexOf(first, StringComparison.Ordinal) + first.Length)];
        Assert.True(BelizeMesh.Proxy.Configuration.PolicyParser.Parse(prefix, "prefix").Succeeded);
        await File.WriteAllTextAsync(sidecar.PolicyPath, prefix);
        int reads = 0;
        sidecar.Host.Policy.AfterRead = () =>
        {
            if (++reads == 1)
            {
                File.WriteAllText(sidecar.PolicyPath, full);
            }
        };

        Assert.Equal(ReloadResult.Unchanged, await sidecar.Host.Policy.ReloadAsync()); // the file moved under the read: its own change event follows
        Assert.Empty(sidecar.Host.Policy.Current.Policy.Spec.Outbound.Routes);

        Assert.Equal(ReloadResult.Applied, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal(["a.test", "b.test"], sidecar.Host.Policy.Current.Policy.Spec.Outbound.Routes.Select(r => r.Host));
    }

    [Fact]
    public async Task Turning_on_outbound_strict_in_a_sidecar_started_without_the_channel_is_rejected_with_the_fix()
    {
        var logs = new CapturedLogs();
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url), watch: false, logs: logs);
        using HttpClient admin = sidecar.CreateAdminClient();

        // Every mode was DISABLE at start-up, so no certificates were loaded: there is nothing to open a PQ channel with.
        string strict = Sidecar.Policy(_app.Url, outboundRoutes: Sidecar.Route("nawal.test", "\"127.0.0.1:1\"", "        identity: spiffe://cluster.local/ns/belizechain/sa/nawal"))
            .Replace("  outbound:\n", "  outbound:\n    mode: STRICT\n", StringComparison.Ordinal);
        await File.WriteAllTextAsync(sidecar.PolicyPath, strict);
        Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal(ReloadResult.Unchanged, await sidecar.Host.Policy.ReloadAsync()); // reported once, not at every poll

        Assert.Empty(sidecar.Host.Policy.Current.Policy.Spec.Outbound.Routes);
        Assert.Contains("belizemesh_policy_reloads_total{result=\"failure\"} 1\n", await admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
        string error = Assert.Single(logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error).Message;
        Assert.Contains($"{sidecar.PolicyPath}:", error, StringComparison.Ordinal);
        Assert.Contains("spec.outbound.mode changed from Disable to Strict", error, StringComparison.Ordinal);
        Assert.Contains("restart the sidecar", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rejected_policy_file_deleted_and_written_again_is_reported_again()
    {
        var logs = new CapturedLogs();
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url), watch: false, logs: logs);
        string bad = Sidecar.Policy(_app.Url).Replace("mode: DISABLE", "mode: SOMETIMES", StringComparison.Ordinal);

        await File.WriteAllTextAsync(sidecar.PolicyPath, bad);
        Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());
        File.Delete(sidecar.PolicyPath); // an editor that deletes, then creates
        Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());

        // The last thing reported was "cannot read the policy file": the same bad content back is news again.
        await File.WriteAllTextAsync(sidecar.PolicyPath, bad);
        Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal(ReloadResult.Unchanged, await sidecar.Host.Policy.ReloadAsync());
        string[] errors = [.. logs.Entries.Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error).Select(e => e.Message)];
        Assert.Equal(3, errors.Length);
        Assert.Contains("spec.inbound.mode", errors[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_change_keeps_the_last_good_policy_and_is_counted()
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url), watch: false);
        using HttpClient http = new();
        using HttpClient admin = sidecar.CreateAdminClient();
        string url = $"http://{sidecar.InboundEndpoint}/echo";

        await File.WriteAllTextAsync(sidecar.PolicyPath, Sidecar.Policy(_app.Url, inboundExtra: DenyAll).Replace("burst", "x", StringComparison.Ordinal) + "  bogus: 1\n");
        Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal(ReloadResult.Unchanged, await sidecar.Host.Policy.ReloadAsync()); // reported once, not at every poll
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(url)).StatusCode);

        // moving a listener needs a restart: also rejected
        await File.WriteAllTextAsync(sidecar.PolicyPath, Sidecar.Policy(_app.Url).Replace("\"127.0.0.1:0\" }", "\"127.0.0.1:1\" }", StringComparison.Ordinal));
        Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());

        string metrics = await admin.GetStringAsync("/metrics");
        Assert.Contains("belizemesh_policy_reloads_total{result=\"failure\"} 2\n", metrics, StringComparison.Ordinal);

        await File.WriteAllTextAsync(sidecar.PolicyPath, Sidecar.Policy(_app.Url, inboundExtra: DenyAll));
        Assert.Equal(ReloadResult.Applied, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(url)).StatusCode);
        Assert.Contains("belizemesh_policy_reloads_total{result=\"success\"} 1\n", await admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Last_reload_successful_reads_0_for_as_long_as_the_policy_file_holds_what_was_rejected()
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url), watch: false);
        using HttpClient admin = sidecar.CreateAdminClient();
        async Task<string> Gauge() => Regex.Match(await admin.GetStringAsync("/metrics"), @"(?m)^belizemesh_policy_last_reload_successful (\S+)$").Groups[1].Value;
        string good = await File.ReadAllTextAsync(sidecar.PolicyPath);

        Assert.Equal("1", await Gauge());
        await File.WriteAllTextAsync(sidecar.PolicyPath, good + "  bogus: 1\n");
        Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal(ReloadResult.Unchanged, await sidecar.Host.Policy.ReloadAsync()); // counted once...
        Assert.Equal("0", await Gauge()); // ...but still not in force

        await File.WriteAllTextAsync(sidecar.PolicyPath, good); // the edit undone: the file holds the policy in force
        Assert.Equal(ReloadResult.Unchanged, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal("1", await Gauge());

        File.Delete(sidecar.PolicyPath);
        Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal("0", await Gauge());

        await File.WriteAllTextAsync(sidecar.PolicyPath, Sidecar.Policy(_app.Url, inboundExtra: DenyAll));
        Assert.Equal(ReloadResult.Applied, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal("1", await Gauge());
    }

    [Fact]
    public async Task A_rejected_policy_edit_undone_and_made_again_is_reported_again()
    {
        var logs = new CapturedLogs();
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url), watch: false, logs: logs);
        using HttpClient admin = sidecar.CreateAdminClient();
        async Task<string> Gauge() => Regex.Match(await admin.GetStringAsync("/metrics"), @"(?m)^belizemesh_policy_last_reload_successful (\S+)$").Groups[1].Value;
        string good = await File.ReadAllTextAsync(sidecar.PolicyPath);
        string bad = good.Replace("mode: DISABLE", "mode: SOMETIMES", StringComparison.Ordinal);

        await File.WriteAllTextAsync(sidecar.PolicyPath, bad);
        Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());
        await File.WriteAllTextAsync(sidecar.PolicyPath, good); // undone
        Assert.Equal(ReloadResult.Unchanged, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal("1", await Gauge());

        // The same edit again: the file no longer holds the policy in force, and that is reported and counted again.
        await File.WriteAllTextAsync(sidecar.PolicyPath, bad);
        Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal("0", await Gauge());
        Assert.Contains("belizemesh_policy_reloads_total{result=\"failure\"} 2\n", await admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
        string[] errors = [.. logs.Entries.Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error).Select(e => e.Message)];
        Assert.Equal(2, errors.Length);
        Assert.All(errors, e => Assert.Contains("spec.inbound.mode", e, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reloads_while_requests_flow_fail_no_request()
    {
        await using Sidecar server = await Sidecar.StartAsync(Sidecar.Policy(_app.Url), watch: false);
        string Client(int timeoutSeconds) => Sidecar.Policy("http://127.0.0.1:1", outboundRoutes:
            Sidecar.Route("nawal.test", $"\"{server.InboundEndpoint}\"", $"        timeout: {timeoutSeconds}s"));
        await using Sidecar client = await Sidecar.StartAsync(Client(30), watch: false);
        using HttpClient http = client.CreateOutboundClient();

        using var stop = new CancellationTokenSource();
        var failures = new List<string>();
        int completed = 0;
        async Task LoopAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                using HttpResponseMessage response = await http.GetAsync("http://nawal.test/echo");
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    lock (failures)
                    {
                        failures.Add(response.StatusCode.ToString());
                    }
                }

                Interlocked.Increment(ref completed);
            }
        }

        Task[] loops = [LoopAsync(), LoopAsync(), LoopAsync(), LoopAsync()];
        for (int i = 0; i < 20; i++)
        {
            await File.WriteAllTextAsync(client.PolicyPath, Client(31 + i));
            Assert.Equal(ReloadResult.Applied, await client.Host.Policy.ReloadAsync());
            await File.WriteAllTextAsync(server.PolicyPath, Sidecar.Policy(_app.Url, specExtra: $"  drainTimeout: {10 + i}s"));
            Assert.Equal(ReloadResult.Applied, await server.Host.Policy.ReloadAsync());
        }

        stop.Cancel();
        await Task.WhenAll(loops);
        Assert.Empty(failures);
        Assert.True(completed > 0);
    }

    [Fact]
    public async Task Stop_drains_in_flight_requests()
    {
        await using Sidecar server = await Sidecar.StartAsync(Sidecar.Policy(_app.Url, specExtra: "  drainTimeout: 20s"));
        using HttpClient http = new();

        Task<HttpResponseMessage> inFlight = http.GetAsync($"http://{server.InboundEndpoint}/slow");
        await _app.SlowArrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Task stopping = server.Host.StopAsync();
        Readiness readiness = server.Host.Services.GetRequiredService<Readiness>();
        Assert.Equal("shutting down", readiness.NotReadyReason);
        Assert.False(stopping.IsCompleted);

        _app.Gate.SetResult();
        using HttpResponseMessage response = await inFlight.WaitAsync(TimeSpan.FromSeconds(10));
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Ready_once_started()
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url));
        using HttpClient admin = sidecar.CreateAdminClient();

        using HttpResponseMessage response = await admin.GetAsync("/healthz/ready");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ready\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Status_listener_answers_readiness_on_every_address_while_admin_stays_on_loopback()
    {
        // The injected sidecar runs with --status-listen 0.0.0.0:16021 and the kubelet probes the pod IP there: a
        // hand-written policy may keep spec.admin.listen on 127.0.0.1 and still become ready.
        await using Sidecar sidecar = await Sidecar.StartAsync(
            Sidecar.Policy(_app.Url), statusListen: new BelizeMesh.Proxy.Configuration.ListenAddress(IPAddress.Any, 0));
        Assert.True(IPAddress.IsLoopback(sidecar.Host.AdminEndPoint.Address));
        IPEndPoint status = sidecar.Host.StatusEndPoint!;
        Assert.Equal(IPAddress.Any, status.Address);
        Assert.NotEqual(sidecar.Host.AdminEndPoint.Port, status.Port);

        using HttpClient http = new() { BaseAddress = new Uri($"http://127.0.0.1:{status.Port}"), Timeout = TimeSpan.FromSeconds(10) };
        using HttpResponseMessage ready = await http.GetAsync("/healthz/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("ready\n", await ready.Content.ReadAsStringAsync());

        // Only readiness: metrics stay on the admin listener, where the policy put them.
        using HttpResponseMessage metrics = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.NotFound, metrics.StatusCode);
        Assert.Contains("only GET /healthz/ready", await metrics.Content.ReadAsStringAsync());
        using HttpResponseMessage post = await http.PostAsync("/healthz/ready", new StringContent(""));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);

        await sidecar.Host.StopAsync();
        Assert.Equal("shutting down", sidecar.Host.Services.GetRequiredService<Readiness>().NotReadyReason);
    }

    [Fact]
    public void Run_refuses_a_status_listen_that_is_not_an_address()
    {
        var stderr = new StringWriter();
        int code = Program.BuildCommand(stderr).Parse(["run", "--policy", "p.yaml", "--certs", ".", "--status-listen", "16021"]).Invoke();
        Assert.Equal(Program.ConfigurationError, code);
        Assert.Contains("--status-listen '16021' is not an IP:PORT listen address (e.g. 0.0.0.0:16021", stderr.ToString());
    }

    [Fact]
    public void Readiness_requires_policy_and_listeners_and_ends_at_shutdown()
    {
        var readiness = new Readiness(TimeProvider.System);
        Assert.Equal("policy not loaded", readiness.NotReadyReason);
        readiness.PolicyLoaded();
        Assert.Equal("listeners not bound", readiness.NotReadyReason);
        readiness.ListenersBound();
        Assert.Null(readiness.NotReadyReason);
        readiness.Stopping();
        Assert.Equal("shutting down", readiness.NotReadyReason);
    }

    [Fact]
    public async Task Metrics_endpoint_serves_valid_prometheus_text()
    {
        await using Sidecar server = await Sidecar.StartAsync(Sidecar.Policy(_app.Url, inboundExtra: "    authorization:\n      rules:\n        - to: { paths: [\"/echo\"] }\n"));
        await using Sidecar client = await Sidecar.StartAsync(Sidecar.Policy("http://127.0.0.1:1", outboundRoutes:
            Sidecar.Route("nawal.test", $"\"{server.InboundEndpoint}\"")));
        using HttpClient http = client.CreateOutboundClient();
        for (int i = 0; i < 3; i++)
        {
            (await http.GetAsync("http://nawal.test/echo")).Dispose();
        }

        (await http.GetAsync("http://nawal.test/forbidden")).Dispose();
        (await http.GetAsync("http://unknown.test/")).Dispose();

        using HttpClient admin = client.CreateAdminClient();
        using HttpResponseMessage response = await admin.GetAsync("/metrics");
        string text = await response.Content.ReadAsStringAsync();
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.Contains("# TYPE belizemesh_proxy_requests_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_requests_total{direction=\"outbound\",route=\"nawal.test\",status=\"200\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_requests_total{direction=\"outbound\",route=\"nawal.test\",status=\"403\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_requests_total{direction=\"outbound\",route=\"unknown\",status=\"404\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE belizemesh_proxy_request_duration_seconds histogram\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_request_duration_seconds_bucket{direction=\"outbound\",route=\"nawal.test\",status=\"200\",le=\"+Inf\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_request_duration_seconds_count{direction=\"outbound\",route=\"nawal.test\",status=\"200\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_active_requests{direction=\"outbound\"} 0\n", text, StringComparison.Ordinal);

        string serverText = await server.CreateAdminClient().GetStringAsync("/metrics");
        Assert.Contains("belizemesh_proxy_authorization_denials_total{reason=\"unauthenticated\"} 1\n", serverText, StringComparison.Ordinal);
        Assert.DoesNotContain("route=\"nawal.test\"", serverText, StringComparison.Ordinal); // each host exports its own meter

    }

    [PromtoolFact]
    public async Task Metrics_of_both_sidecars_pass_promtool_check()
    {
        await using Sidecar server = await Sidecar.StartAsync(Sidecar.Policy(_app.Url, inboundExtra: "    authorization:\n      rules:\n        - to: { paths: [\"/echo\"] }\n"));
        await using Sidecar client = await Sidecar.StartAsync(Sidecar.Policy("http://127.0.0.1:1", outboundRoutes:
            Sidecar.Route("nawal.test", $"\"{server.InboundEndpoint}\"")));
        using HttpClient http = client.CreateOutboundClient();
        (await http.GetAsync("http://nawal.test/echo")).Dispose();
        (await http.GetAsync("http://nawal.test/forbidden")).Dispose();
        (await http.GetAsync("http://unknown.test/")).Dispose();

        await Promtool.CheckAsync(await client.CreateAdminClient().GetStringAsync("/metrics"));
        await Promtool.CheckAsync(await server.CreateAdminClient().GetStringAsync("/metrics"));
    }
}
