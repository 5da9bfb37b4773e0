using System.Collections.Concurrent;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// Issue 14 item 3: every listener bounds the time before the first HTTP byte (sniff) and its connection count, and
/// counts each refusal by listener and reason. The deadline timer is fired by the test, not waited for.
/// </summary>
public sealed class ListenerLimitsTests
{
    private static readonly TimeSpan Sniff = TimeSpan.FromSeconds(7);

    private static string Limits(int maxConnections = 0) =>
        $"    limits: {{ sniffTimeout: 7s, maxConnections: {maxConnections} }}\n";

    private static string Policy(TestApp app, string inboundMode = "DISABLE", int maxConnections = 0)
        => Sidecar.Policy(app.Url, inboundExtra: Limits(maxConnections))
            .Replace("mode: DISABLE", "mode: " + inboundMode, StringComparison.Ordinal)
            .Replace("  outbound:\n    listen: \"127.0.0.1:0\"\n", "  outbound:\n    listen: \"127.0.0.1:0\"\n" + Limits(maxConnections), StringComparison.Ordinal);

    [Fact]
    public async Task Outbound_connection_that_sends_an_ambiguous_first_byte_is_closed_at_the_sniff_deadline()
    {
        var timers = new DeadlineTimers(Sniff);
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app), timers);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(sidecar.Host.OutboundEndPoint);
        await socket.SendAsync("P"u8.ToArray()); // "PRI * HTTP/2.0" or "POST": the sniff deadline starts here

        await timers.FireAsync(1);

        Assert.Equal(0, await ReceiveUntilClosedAsync(socket));
        Assert.Contains("belizemesh_proxy_listener_rejections_total{listener=\"outbound\",reason=\"sniff_timeout\"} 1\n", await MetricsAsync(sidecar), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Permissive_inbound_connection_that_sends_one_byte_is_closed_at_the_sniff_deadline()
    {
        var timers = new DeadlineTimers(Sniff);
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app, "PERMISSIVE"), timers, certs: TestMesh.Instance.NawalCerts);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(sidecar.Host.InboundEndPoint);
        // plaintext to the channel sniffer; "PRI * HTTP/2.0" or "POST" to the h2c peek, which waited for a second byte for ever
        await socket.SendAsync("P"u8.ToArray());

        await timers.FireAsync(1);

        Assert.Equal(0, await ReceiveUntilClosedAsync(socket));
        Assert.Contains("belizemesh_proxy_listener_rejections_total{listener=\"inbound\",reason=\"sniff_timeout\"} 1\n", await MetricsAsync(sidecar), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deadline_stops_once_HTTP_begins_so_a_keep_alive_connection_survives_it()
    {
        var timers = new DeadlineTimers(Sniff);
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app), timers);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(sidecar.Host.InboundEndPoint);
        await using var stream = new NetworkStream(socket);

        Assert.StartsWith("HTTP/1.1 200", await RoundTripAsync(stream), StringComparison.Ordinal);
        await timers.FireAsync(1);
        Assert.StartsWith("HTTP/1.1 200", await RoundTripAsync(stream), StringComparison.Ordinal);
        Assert.DoesNotContain("reason=\"sniff_timeout\"", await MetricsAsync(sidecar), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_over_maxConnections_are_closed_at_once_and_counted()
    {
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app, maxConnections: 2), new DeadlineTimers(Sniff));
        using var first = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var second = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await first.ConnectAsync(sidecar.Host.OutboundEndPoint);
        await second.ConnectAsync(sidecar.Host.OutboundEndPoint);
        await WaitForAsync(() => sidecar.Host.ConnectionCount("outbound") == 2);

        using var third = new Socket(SocketType.Stream, ProtocolType.Tcp);
        Assert.Equal(0, await ConnectAndReceiveUntilClosedAsync(third, sidecar.Host.OutboundEndPoint));
        Assert.Contains("belizemesh_proxy_listener_rejections_total{listener=\"outbound\",reason=\"max_connections\"} 1\n", await MetricsAsync(sidecar), StringComparison.Ordinal);

        first.Close();
        await WaitForAsync(() => sidecar.Host.ConnectionCount("outbound") == 1);
        using var fourth = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await fourth.ConnectAsync(sidecar.Host.OutboundEndPoint);
        await using var stream = new NetworkStream(fourth);
        Assert.StartsWith("HTTP/1.1 404", await RoundTripAsync(stream), StringComparison.Ordinal);
    }

    [Fact]
    public async Task One_source_cannot_hold_more_than_maxPendingPerSource_connections_before_HTTP()
    {
        await using TestApp app = await TestApp.StartAsync();
        string policy = Sidecar.Policy(app.Url, inboundExtra: "    limits: { sniffTimeout: 7s, maxPendingPerSource: 2 }\n");
        await using Sidecar sidecar = await Sidecar.StartAsync(policy, new DeadlineTimers(Sniff));
        using var first = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var second = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await first.ConnectAsync(sidecar.Host.InboundEndPoint);
        await second.ConnectAsync(sidecar.Host.InboundEndPoint);
        await WaitForAsync(() => sidecar.Host.PendingFrom("inbound", System.Net.IPAddress.Loopback) == 2);

        // Two half-open connections from 127.0.0.1: a third from the same source is closed at once, before any work.
        using var third = new Socket(SocketType.Stream, ProtocolType.Tcp);
        Assert.Equal(0, await ConnectAndReceiveUntilClosedAsync(third, sidecar.Host.InboundEndPoint));
        Assert.Contains("belizemesh_proxy_listener_rejections_total{listener=\"inbound\",reason=\"max_pending_per_source\"} 1\n", await MetricsAsync(sidecar), StringComparison.Ordinal);

        // Once one of them starts HTTP it no longer counts as pending, and the source may open another.
        await using var stream = new NetworkStream(first);
        Assert.StartsWith("HTTP/1.1 200", await RoundTripAsync(stream), StringComparison.Ordinal);
        await WaitForAsync(() => sidecar.Host.PendingFrom("inbound", System.Net.IPAddress.Loopback) == 1);
        using var fourth = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await fourth.ConnectAsync(sidecar.Host.InboundEndPoint);
        await using var fourthStream = new NetworkStream(fourth);
        Assert.StartsWith("HTTP/1.1 200", await RoundTripAsync(fourthStream), StringComparison.Ordinal);
        await WaitForAsync(() => sidecar.Host.PendingFrom("inbound", System.Net.IPAddress.Loopback) == 1); // second only
    }

    private static string RealTimePolicy(TestApp app, string inboundMode, string outboundLimits)
        => Sidecar.Policy(app.Url, inboundExtra: "    limits: { sniffTimeout: 1s }\n")
            .Replace("mode: DISABLE", "mode: " + inboundMode, StringComparison.Ordinal)
            .Replace("  outbound:\n    listen: \"127.0.0.1:0\"\n", "  outbound:\n    listen: \"127.0.0.1:0\"\n    limits: " + outboundLimits + "\n", StringComparison.Ordinal);

    [Fact]
    public async Task Outbound_connection_that_sends_nothing_outlives_the_sniff_timeout_and_then_serves_a_request()
    {
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(RealTimePolicy(app, "DISABLE", "{ sniffTimeout: 1s }"));
        using var idle = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await idle.ConnectAsync(sidecar.Host.OutboundEndPoint);
        await WaitForAsync(() => sidecar.Host.ConnectionCount("outbound") == 1);

        // Opened after the idle one and closed at its 1 s sniff deadline: the idle one has been open longer than that.
        using var ambiguous = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await ambiguous.ConnectAsync(sidecar.Host.OutboundEndPoint);
        await ambiguous.SendAsync("P"u8.ToArray());
        Assert.Equal(0, await ReceiveUntilClosedAsync(ambiguous));

        await using var stream = new NetworkStream(idle);
        Assert.StartsWith("HTTP/1.1 404", await RoundTripAsync(stream), StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_listener_rejections_total{listener=\"outbound\",reason=\"sniff_timeout\"} 1\n", await MetricsAsync(sidecar), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Outbound_connection_that_sends_nothing_is_closed_at_the_idle_timeout_not_counted_as_a_refusal()
    {
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(RealTimePolicy(app, "DISABLE", "{ sniffTimeout: 60s, idleTimeout: 1s }"));
        using var idle = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await idle.ConnectAsync(sidecar.Host.OutboundEndPoint);

        Assert.Equal(0, await ReceiveUntilClosedAsync(idle));
        Assert.DoesNotContain("listener=\"outbound\",reason=\"sniff_timeout\"", await MetricsAsync(sidecar), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Outbound_connection_that_sends_a_partial_h2c_preface_is_closed_at_the_sniff_deadline_while_a_silent_one_stays_open()
    {
        var timers = new DeadlineTimers(Sniff);
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app), timers);
        using var silent = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await silent.ConnectAsync(sidecar.Host.OutboundEndPoint);
        await WaitForAsync(() => sidecar.Host.ConnectionCount("outbound") == 1);

        // Opened after the silent one; its first 10 preface bytes leave h2c undecided, so its sniff deadline starts. The
        // silent one is still idle: the only deadline armed (and fired) is the partial preface's.
        using var partial = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await partial.ConnectAsync(sidecar.Host.OutboundEndPoint);
        await partial.SendAsync("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8[..10].ToArray());

        await timers.FireAsync(1);

        Assert.Equal(0, await ReceiveUntilClosedAsync(partial));
        Assert.Contains("belizemesh_proxy_listener_rejections_total{listener=\"outbound\",reason=\"sniff_timeout\"} 1\n", await MetricsAsync(sidecar), StringComparison.Ordinal);
        await using var stream = new NetworkStream(silent);
        Assert.StartsWith("HTTP/1.1 404", await RoundTripAsync(stream), StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_listener_rejections_total{listener=\"outbound\",reason=\"sniff_timeout\"} 1\n", await MetricsAsync(sidecar), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Outbound_sniffTimeout_0_sets_no_deadline_for_a_silent_or_an_ambiguous_connection()
    {
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(RealTimePolicy(app, "DISABLE", "{ sniffTimeout: 0 }"));
        using var silent = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await silent.ConnectAsync(sidecar.Host.OutboundEndPoint);
        using var ambiguous = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await ambiguous.ConnectAsync(sidecar.Host.OutboundEndPoint);
        await ambiguous.SendAsync("P"u8.ToArray()); // "PRI * HTTP/2.0" or "POST": undecided, and no deadline to start
        await WaitForAsync(() => sidecar.Host.ConnectionCount("outbound") == 2);

        // Opened after both on the inbound listener (sniffTimeout 1s from accept) and closed at its deadline: both
        // outbound connections have been open longer than that.
        using var comparison = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await comparison.ConnectAsync(sidecar.Host.InboundEndPoint);
        Assert.Equal(0, await ReceiveUntilClosedAsync(comparison));
        Assert.Contains("belizemesh_proxy_listener_rejections_total{listener=\"inbound\",reason=\"sniff_timeout\"} 1\n", await MetricsAsync(sidecar), StringComparison.Ordinal);

        // Still open: the ambiguous one completes its "P" into a POST, the silent one sends a request; both are served.
        await ambiguous.SendAsync("OST /echo HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\n\r\n"u8.ToArray());
        var buffer = new byte[4096];
        var response = new StringBuilder();
        while (response.Length < "HTTP/1.1 404".Length)
        {
            int read = await ambiguous.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.NotEqual(0, read);
            response.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        Assert.StartsWith("HTTP/1.1 404", response.ToString(), StringComparison.Ordinal);
        await using var stream = new NetworkStream(silent);
        Assert.StartsWith("HTTP/1.1 404", await RoundTripAsync(stream), StringComparison.Ordinal);
        Assert.DoesNotContain("listener=\"outbound\",reason=\"sniff_timeout\"", await MetricsAsync(sidecar), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Permissive_inbound_connection_that_sends_nothing_is_still_closed_at_the_sniff_timeout()
    {
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(RealTimePolicy(app, "PERMISSIVE", "{ sniffTimeout: 60s }"), certs: TestMesh.Instance.NawalCerts);
        using var idle = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await idle.ConnectAsync(sidecar.Host.InboundEndPoint);

        Assert.Equal(0, await ReceiveUntilClosedAsync(idle));
        Assert.Contains("belizemesh_proxy_listener_rejections_total{listener=\"inbound\",reason=\"sniff_timeout\"} 1\n", await MetricsAsync(sidecar), StringComparison.Ordinal);
    }

    private static async Task<string> RoundTripAsync(NetworkStream stream)
    {
        await stream.WriteAsync("GET /echo HTTP/1.1\r\nHost: app.test\r\n\r\n"u8.ToArray());
        var buffer = new byte[4096];
        var text = new StringBuilder();
        while (true)
        {
            int read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.NotEqual(0, read);
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
            string s = text.ToString();
            int headerEnd = s.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            int lengthAt = s.IndexOf("Content-Length: ", StringComparison.OrdinalIgnoreCase);
            if (headerEnd > 0 && lengthAt > 0)
            {
                int lengthEnd = s.IndexOf('\r', lengthAt);
                int length = int.Parse(s.AsSpan(lengthAt + 16, lengthEnd - lengthAt - 16), System.Globalization.CultureInfo.InvariantCulture);
                if (s.Length >= headerEnd + 4 + length)
                {
                    return s;
                }
            }
            else if (headerEnd > 0 && s.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase) && s.EndsWith("0\r\n\r\n", StringComparison.Ordinal))
            {
                return s;
            }
        }
    }

    /// <summary>Connects and reads until the server closes; a refusal so quick that the connect itself sees the reset
    /// (the server accepts and aborts before the client's connect completes) counts as closed too.</summary>
    private static async Task<int> ConnectAndReceiveUntilClosedAsync(Socket socket, System.Net.EndPoint endPoint)
    {
        try
        {
            await socket.ConnectAsync(endPoint);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return 0;
        }

        return await ReceiveUntilClosedAsync(socket);
    }

    /// <summary>Reads until the server closes (0) or resets (also 0); fails if it stays open.</summary>
    private static async Task<int> ReceiveUntilClosedAsync(Socket socket)
    {
        var buffer = new byte[256];
        try
        {
            while (true)
            {
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(30));
                if (read == 0)
                {
                    return 0;
                }
            }
        }
        catch (SocketException)
        {
            return 0;
        }
    }

    private static async Task<string> MetricsAsync(Sidecar sidecar)
    {
        using HttpClient admin = sidecar.CreateAdminClient();
        return await admin.GetStringAsync("/metrics");
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(10, cts.Token);
        }
    }

    /// <summary>System time, except that timers due after <c>sniffTimeout</c> are held for the test to fire.</summary>
    private sealed class DeadlineTimers(TimeSpan due) : TimeProvider
    {
        private readonly ConcurrentQueue<(TimerCallback Callback, object? State)> _held = new();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            if (dueTime != due)
            {
                return base.CreateTimer(callback, state, dueTime, period);
            }

            _held.Enqueue((callback, state));
            return new HeldTimer();
        }

        /// <summary>Waits until <paramref name="count"/> deadlines were armed, then fires them all.</summary>
        public async Task FireAsync(int count)
        {
            await WaitForAsync(() => _held.Count >= count);
            foreach ((TimerCallback callback, object? state) in _held)
            {
                callback(state);
            }
        }

        private sealed class HeldTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}

public sealed class ListenerLimitsParserTests
{
    private const string Policy = """
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        spec:
          inbound:
            app: "http://127.0.0.1:8080"
            mode: DISABLE
            limits: { maxConnections: 500, sniffTimeout: 2s, headerTimeout: 5s, idleTimeout: 0 }
          outbound:
            limits: { sniffTimeout: 3s }

        """;

    [Fact]
    public void Limits_are_read_per_listener_with_defaults_for_what_is_left_out()
    {
        PolicyParseResult result = PolicyParser.Parse(Policy, "policy.yaml", new PolicyParserOptions { PqChannelAvailable = true });

        Assert.Empty(result.Errors);
        Assert.Equal(new ListenerLimitsSpec(500, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), TimeSpan.Zero) { MaxPendingPerSource = 64, HandshakesPerSecondPerSource = 50, HandshakeBurstPerSource = 100 }, result.Policy!.Spec.Inbound.Limits);
        Assert.Equal(ListenerLimitsSpec.Default with { SniffTimeout = TimeSpan.FromSeconds(3) }, result.Policy.Spec.Outbound.Limits);
        Assert.Equal(0, result.Policy.Spec.Outbound.Limits.MaxPendingPerSource); // the app is the outbound listener's only source
    }

    [Fact]
    public void Negative_maxConnections_and_unknown_fields_are_errors_with_their_position()
    {
        string yaml = Policy.Replace("maxConnections: 500", "maxConnections: -1", StringComparison.Ordinal)
            .Replace("{ sniffTimeout: 3s }", "{ sniffTimout: 3s }", StringComparison.Ordinal);

        PolicyParseResult result = PolicyParser.Parse(yaml, "policy.yaml", new PolicyParserOptions { PqChannelAvailable = true });

        Assert.Equal(2, result.Errors.Count);
        Assert.Equal("spec.inbound.limits.maxConnections: -1 is negative; use 0 for no cap", result.Errors[0].Message);
        Assert.Equal((7, 31), (result.Errors[0].Line, result.Errors[0].Column));
        Assert.Contains("unknown field \"sniffTimout\"; did you mean \"sniffTimeout\"?", result.Errors[1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Handshake_rate_is_read_on_the_inbound_with_a_burst_of_twice_the_rate_by_default()
    {
        string yaml = Policy.Replace("idleTimeout: 0 }", "idleTimeout: 0, handshakesPerSecondPerSource: 7 }", StringComparison.Ordinal);

        PolicyParseResult result = PolicyParser.Parse(yaml, "policy.yaml", new PolicyParserOptions { PqChannelAvailable = true });

        Assert.Empty(result.Errors);
        Assert.Equal((7, 14), (result.Policy!.Spec.Inbound.Limits.HandshakesPerSecondPerSource, result.Policy.Spec.Inbound.Limits.HandshakeBurstPerSource));

        yaml = Policy.Replace("idleTimeout: 0 }", "idleTimeout: 0, handshakesPerSecondPerSource: 0, handshakeBurstPerSource: 0 }", StringComparison.Ordinal);
        Assert.Equal(0, PolicyParser.Parse(yaml, "policy.yaml", new PolicyParserOptions { PqChannelAvailable = true }).Policy!.Spec.Inbound.Limits.HandshakesPerSecondPerSource);
    }

    [Fact]
    public void Handshake_rate_on_the_outbound_or_a_zero_burst_is_an_error_with_its_position()
    {
        string yaml = Policy.Replace("{ sniffTimeout: 3s }", "{ handshakesPerSecondPerSource: 5 }", StringComparison.Ordinal)
            .Replace("idleTimeout: 0 }", "idleTimeout: 0, handshakesPerSecondPerSource: 5, handshakeBurstPerSource: 0 }", StringComparison.Ordinal);

        PolicyParseResult result = PolicyParser.Parse(yaml, "policy.yaml", new PolicyParserOptions { PqChannelAvailable = true });

        Assert.Equal(2, result.Errors.Count);
        Assert.StartsWith("spec.inbound.limits.handshakeBurstPerSource: 0 would refuse every handshake", result.Errors[0].Message, StringComparison.Ordinal);
        Assert.Equal(7, result.Errors[0].Line);
        Assert.Equal("spec.outbound.limits.handshakesPerSecondPerSource: the outbound listener runs no channel handshakes as a server; set it under spec.inbound.limits", result.Errors[1].Message);
        Assert.Equal(9, result.Errors[1].Line);
    }
}
