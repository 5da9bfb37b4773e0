using BelizeMesh.Proxy.Demo;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>`belizemesh-proxy demo` is the README's first command: it must work on a fresh machine.</summary>
public sealed class DemoTests
{
    [Fact]
    public async Task Demo_shows_an_allowed_a_denied_and_a_rate_limited_request_through_the_pq_channel()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        int exit = await DemoCommand.RunAsync(new DemoOptions { OutboundPort = 0, CheckOnly = true }, stdout, stderr, timeout.Token);

        string output = stdout.ToString();
        Assert.True(exit == 0, $"exit {exit}\n{output}\n{stderr}");
        Assert.Contains("ok   GET /api/hello    -> 200 hello from the demo app: GET /api/hello, caller spiffe://cluster.local/ns/demo/sa/frontend", output);
        Assert.Contains("ok   GET /admin/secret -> 403", output);
        Assert.Contains("ok   GET /api/burst x8 -> 200 200 200 200 200 429", output);
        Assert.Matches(@"frontend admin     127\.0\.0\.1:\d+  \(/metrics, /healthz/ready\)", output);
        // --check closes every listener as it returns: no curl commands for ports that are gone.
        Assert.DoesNotContain("curl ", output, StringComparison.Ordinal);
        Assert.Contains("--check: the demo stops now. Run it without --check to keep it up and try it yourself with curl.", output);
    }

    [Fact]
    public async Task Demo_without_check_stays_up_and_prints_curl_commands_for_its_live_ports()
    {
        using var text = new StringWriter();
        TextWriter stdout = TextWriter.Synchronized(text);
        using var stderr = new StringWriter();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        Task<int> demo = DemoCommand.RunAsync(new DemoOptions { OutboundPort = 0 }, stdout, TextWriter.Synchronized(stderr), stop.Token);
        // The synchronized writer locks on itself (MethodImplOptions.Synchronized): read the text under that lock.
        string Output()
        {
            lock (stdout)
            {
                return text.ToString();
            }
        }

        while (!Output().Contains("Press Ctrl+C", StringComparison.Ordinal) && !demo.IsCompleted)
        {
            await Task.Delay(20);
        }

        string output = Output();
        System.Text.RegularExpressions.Match outbound = System.Text.RegularExpressions.Regex.Match(output, @"frontend outbound  (127\.0\.0\.1:\d+)");
        Assert.True(outbound.Success, output);
        using (var http = new HttpClient())
        {
            // The printed command works while the demo is up.
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{outbound.Groups[1].Value}/api/hello");
            request.Headers.Host = DemoMesh.BackendHost;
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);
        }

        Assert.Contains($"curl -s http://{outbound.Groups[1].Value}/api/hello", output, StringComparison.Ordinal);
        await stop.CancelAsync();
        Assert.Equal(0, await demo);
    }

    [Fact]
    public async Task Demo_reports_a_busy_outbound_port_with_a_fix()
    {
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        int exit = await DemoCommand.RunAsync(new DemoOptions { OutboundPort = port, CheckOnly = true }, stdout, stderr, CancellationToken.None);

        Assert.Equal(1, exit);
        Assert.Contains($"Is port {port} in use? Pick another with --outbound-port PORT, or 0 for any free port.", stderr.ToString());
    }
}
