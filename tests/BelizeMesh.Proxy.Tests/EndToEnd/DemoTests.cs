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
        Assert.Contains("curl -s http://127.0.0.1:", output);
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
