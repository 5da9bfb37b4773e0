using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>Tests that measure process-wide allocation run alone: another test's allocations would be counted.</summary>
[CollectionDefinition(nameof(AllocationMeasuring), DisableParallelization = true)]
public sealed class AllocationMeasuring;

/// <summary>client → outbound sidecar → inbound sidecar → app, all plaintext (mode DISABLE) over real loopback sockets.</summary>
[Collection(nameof(AllocationMeasuring))]
public sealed class DataPathTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private TestApp _app = null!;
    private Sidecar _server = null!;
    private Sidecar _client = null!;

    public async Task InitializeAsync()
    {
        _app = await TestApp.StartAsync();
        _server = await Sidecar.StartAsync(Sidecar.Policy(_app.Url));
        _client = await Sidecar.StartAsync(Sidecar.Policy("http://127.0.0.1:1", outboundRoutes:
            Sidecar.Route("nawal.test", $"\"{_server.InboundEndpoint}\"") +
            Sidecar.Route("slow.test", $"\"{_server.InboundEndpoint}\"", "        timeout: 300ms")));
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
        await _app.DisposeAsync();
    }

    private static Dictionary<string, string> Lines(string text)
        => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(": ", 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task Request_flows_through_both_hops_over_http1_and_h2c(string version)
    {
        using HttpClient http = _client.CreateOutboundClient(Version.Parse(version));

        using HttpResponseMessage response = await http.GetAsync("http://nawal.test/api/v1/things?x=1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Version.Parse(version), response.Version);
        Dictionary<string, string> echo = Lines(await response.Content.ReadAsStringAsync());
        Assert.Equal("GET", echo["method"]);
        Assert.Equal("/api/v1/things?x=1", echo["target"]);
        Assert.Equal("nawal.test", echo["host"]);
        Assert.Equal("(none)", echo["identity"]);
    }

    [Fact]
    public async Task Client_sent_identity_header_never_reaches_the_app()
    {
        using HttpClient http = _client.CreateOutboundClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://nawal.test/echo");
        request.Headers.Add("X-BelizeMesh-Peer-Identity", "spiffe://cluster.local/ns/belizechain/sa/admin");

        using HttpResponseMessage response = await http.SendAsync(request);
        Assert.Equal("(none)", Lines(await response.Content.ReadAsStringAsync())["identity"]);

        // and straight at the inbound listener, bypassing the outbound side
        (int status, string text) = await _server.RawInboundAsync("/echo", "x-belizemesh-peer-identity: spiffe://cluster.local/ns/x/sa/y\r\n");
        Assert.Equal(200, status);
        Assert.Contains("identity: (none)\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_host_gets_404_with_a_clear_body()
    {
        using HttpClient http = _client.CreateOutboundClient();

        using HttpResponseMessage response = await http.GetAsync("http://unknown.test/x");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("belizemesh: no outbound route for host 'unknown.test' and path /x; add it to spec.outbound.routes\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Large_upload_streams_through_both_hops_without_buffering()
    {
        const long size = 50L * 1024 * 1024;
        using HttpClient http = _client.CreateOutboundClient();
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);

        using var content = new StreamContent(new PatternStream(size), 64 * 1024);
        using HttpResponseMessage response = await http.PostAsync("http://nawal.test/upload", content);

        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(size.ToString(System.Globalization.CultureInfo.InvariantCulture), await response.Content.ReadAsStringAsync());
        // Everything (client, two sidecars, app) runs in this process; a buffered copy of the body anywhere would
        // allocate at least 50 MB. Pooled buffers keep it far below.
        Assert.True(allocated < size / 4, $"allocated {allocated / 1024 / 1024} MB while streaming {size / 1024 / 1024} MB");
        output.WriteLine($"upload: {size / 1024 / 1024} MB through two hops, {allocated / 1024.0 / 1024:F1} MB allocated in the whole process");
    }

    [Fact]
    public async Task Large_download_streams_through_both_hops_without_buffering()
    {
        const long size = 50L * 1024 * 1024;
        using HttpClient http = _client.CreateOutboundClient();
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);

        using HttpResponseMessage response = await http.GetAsync($"http://nawal.test/download?size={size}", HttpCompletionOption.ResponseHeadersRead);
        await using Stream body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64 * 1024];
        long total = 0;
        int read;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            total += read;
        }

        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        Assert.Equal(size, total);
        Assert.True(allocated < size / 4, $"allocated {allocated / 1024 / 1024} MB while streaming {size / 1024 / 1024} MB");
        output.WriteLine($"download: {size / 1024 / 1024} MB through two hops, {allocated / 1024.0 / 1024:F1} MB allocated in the whole process");
    }

    [Fact]
    public async Task WebSocket_upgrade_passes_through_both_hops()
    {
        using var invoker = new HttpMessageInvoker(_client.CreateOutboundHandler());
        using var ws = new ClientWebSocket();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        await ws.ConnectAsync(new Uri("ws://nawal.test/ws"), invoker, cts.Token);
        var received = new byte[1024];
        for (int i = 0; i < 3; i++)
        {
            byte[] message = Encoding.UTF8.GetBytes($"hello {i}");
            await ws.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, cts.Token);
            WebSocketReceiveResult result = await ws.ReceiveAsync(received, cts.Token);
            Assert.Equal($"hello {i}", Encoding.UTF8.GetString(received, 0, result.Count));
        }

        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cts.Token);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
    }

    [Fact]
    public async Task Route_timeout_answers_504_when_the_upstream_stays_silent()
    {
        using HttpClient http = _client.CreateOutboundClient();

        using HttpResponseMessage response = await http.GetAsync("http://slow.test/slow");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal($"belizemesh: upstream {_server.InboundEndpoint} of route slow.test timed out (no activity within the route's timeout)\n", await response.Content.ReadAsStringAsync());
    }

    /// <summary>A read-only stream of <c>length</c> bytes that allocates nothing per read.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = (int)Math.Min(buffer.Length, length - _position);
            buffer[..n].Fill(0x5A);
            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer, offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
