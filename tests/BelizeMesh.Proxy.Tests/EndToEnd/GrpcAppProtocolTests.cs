using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading.Channels;
using BelizeMesh.Proxy.Tests.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// An h2c-only app (Kestrel HTTP/2 on cleartext, as a gRPC server) behind an inbound with <c>appProtocol: grpc</c>:
/// client → pakit's outbound → PQ channel (STRICT) → nawal's inbound → the app over HTTP/2 with prior knowledge. gRPC
/// statuses in trailers, and a request/response stream, cross end to end; an HTTP/1.1 caller is forwarded to the app
/// as HTTP/2; an <c>apps[]</c> entry inherits the top-level protocol unless it sets <c>appProtocol: http</c>. Stream
/// headers cross at once both ways: a call reaches the app before its first message, and response headers sent before
/// the body reach the caller while the app waits (for the caller, or for the test's signal).
/// </summary>
public sealed class GrpcAppProtocolTests : IAsyncLifetime
{
    private static readonly TimeSpan s_backstop = TimeSpan.FromSeconds(30);

    private readonly WarningLogs _logs = new();
    private readonly TaskCompletionSource _firstEvent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _requestArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TwoSidecarMesh _mesh = null!;

    public async Task InitializeAsync()
    {
        WebApplication h2cApp = await LoopbackApp.StartAsync(HttpProtocols.Http2, HandleAsync);
        WebApplication http1App = await LoopbackApp.StartAsync(HttpProtocols.Http1, HandleHttp1Async);
        _mesh = await TwoSidecarMesh.Create()
            .Inbound(extra: $"""
                    appProtocol: grpc
                    apps:
                      - port: 9944
                        app: "{h2cApp.Urls.First()}"
                      - port: 9933
                        app: "{http1App.Urls.First()}"
                        appProtocol: http
                """)
            .Logs(_logs)
            .Route("nawal.test", "timeout: 0")
            .StartAsync(h2cApp.Urls.First(), h2cApp, http1App);
    }

    public Task DisposeAsync() => _mesh.DisposeAsync().AsTask();

    /// <summary>The HTTP/1.1 app: <c>/events</c> announces an event stream (chunked) and sends its first event only when
    /// the test says so; anything else echoes the protocol.</summary>
    private async Task HandleHttp1Async(HttpContext context)
    {
        if (context.Request.Path.Value == "/upload")
        {
            // a chunked upload whose body starts only once the app has seen the request
            _requestArrived.TrySetResult();
            byte[] received = await ReadAllAsync(context.Request.Body);
            await context.Response.WriteAsync($"{received.Length} bytes over {context.Request.Protocol}");
            return;
        }

        if (context.Request.Path.Value != "/events")
        {
            await EchoProtocolAsync(context);
            return;
        }

        context.Response.ContentType = "text/event-stream";
        await context.Response.Body.FlushAsync(); // the headers now, the body later
        await _firstEvent.Task.WaitAsync(s_backstop, context.RequestAborted);
        await context.Response.WriteAsync("data: first\n\n");
    }

    private static Task EchoProtocolAsync(HttpContext context)
        => context.Response.WriteAsync($"protocol: {context.Request.Protocol}\n");

    private async Task HandleAsync(HttpContext context)
    {
        string path = context.Request.Path.Value ?? "";
        if (path == "/grpc.Greeter/Hello")
        {
            // unary: one length-prefixed message back, the status in trailers (not trailers-only)
            byte[] request = await ReadAllAsync(context.Request.Body);
            context.Response.ContentType = "application/grpc";
            byte[] payload = Encoding.ASCII.GetBytes($"hello {request.Length} bytes over {context.Request.Protocol}");
            await context.Response.Body.WriteAsync(Frame(payload));
            context.Response.AppendTrailer("grpc-status", "7");
            context.Response.AppendTrailer("grpc-message", "caller not allowed");
            return;
        }

        if (path == "/grpc.Greeter/Late")
        {
            // a stream whose first message comes late: the call is seen (headers only) before any message is sent
            _requestArrived.TrySetResult();
            context.Response.ContentType = "application/grpc";
            byte[] header = new byte[5];
            await context.Request.Body.ReadExactlyAsync(header);
            byte[] message = new byte[5 + System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1))];
            header.CopyTo(message, 0);
            await context.Request.Body.ReadExactlyAsync(message.AsMemory(5));
            await context.Response.Body.WriteAsync(message);
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.AppendTrailer("grpc-status", "0");
            return;
        }

        if (path == "/grpc.Greeter/Chat")
        {
            // bidirectional stream: each chunk read is echoed at once, before the request ends
            context.Response.ContentType = "application/grpc";
            await context.Response.StartAsync();
            await context.Response.Body.FlushAsync();
            byte[] buffer = new byte[4096];
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
            {
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, read));
                await context.Response.Body.FlushAsync();
            }

            context.Response.AppendTrailer("grpc-status", "0");
            context.Response.AppendTrailer("grpc-message", "stream done");
            return;
        }

        await EchoProtocolAsync(context);
    }

    private static byte[] Frame(byte[] payload)
    {
        byte[] frame = new byte[5 + payload.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private static HttpRequestMessage GrpcRequest(string path, HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "http://nawal.test" + path)
        {
            Content = content,
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        return request;
    }

    [Fact]
    public async Task Grpc_status_in_trailers_from_an_h2c_only_app_reaches_the_caller()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version20);
        using HttpRequestMessage request = GrpcRequest("/grpc.Greeter/Hello", new ByteArrayContent(Frame(Encoding.ASCII.GetBytes("nawal"))));

        using HttpResponseMessage response = await http.SendAsync(request).WaitAsync(s_backstop);
        byte[] body = await response.Content.ReadAsByteArrayAsync();

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}\n" + string.Join("\n", _logs.Entries));
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Frame(Encoding.ASCII.GetBytes("hello 10 bytes over HTTP/2")), body);
        Assert.False(response.Headers.Contains("grpc-status"), "the status came in the headers, not in trailers");
        Assert.Equal(["7"], response.TrailingHeaders.GetValues("grpc-status"));
        Assert.Equal(["caller not allowed"], response.TrailingHeaders.GetValues("grpc-message"));
    }

    [Fact]
    public async Task Grpc_status_in_trailers_is_counted_in_the_istio_request_metrics_of_both_sidecars()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version20);
        using HttpRequestMessage request = GrpcRequest("/grpc.Greeter/Hello", new ByteArrayContent(Frame([1, 2, 3])));
        using HttpResponseMessage response = await http.SendAsync(request).WaitAsync(s_backstop);
        await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(["7"], response.TrailingHeaders.GetValues("grpc-status"));

        foreach ((Sidecar sidecar, string reporter) in new[] { (_mesh.Nawal, "destination"), (_mesh.Pakit, "source") })
        {
            using HttpClient admin = sidecar.CreateAdminClient();
            IReadOnlyList<PromSample> samples = await PromText.ScrapeUntilAsync(
                admin, s => s.Any(x => x.Name == "istio_requests_total" && x.Labels.TryGetValue("request_protocol", out string? p) && p == "grpc"));
            PromSample series = Assert.Single(samples, s => s.Name == "istio_requests_total" && s["request_protocol"] == "grpc");
            Assert.Equal(reporter, series["reporter"]);
            Assert.Equal("7", series["grpc_response_status"]);
            Assert.Equal("200", series["response_code"]);
        }
    }

    [Fact]
    public async Task Request_and_response_streams_cross_message_by_message()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version20);
        var outgoing = System.Threading.Channels.Channel.CreateUnbounded<byte[]>();
        using HttpRequestMessage request = GrpcRequest("/grpc.Greeter/Chat", new ChannelContent(outgoing.Reader));
        static byte[] Message(int i) => Frame(Encoding.ASCII.GetBytes($"message {i}"));

        // the first message goes with the request, as gRPC clients send it (a request whose body has not started is
        // not sent on by HttpClient's HTTP/2 duplex content: see docs/policy.md appProtocol)
        await outgoing.Writer.WriteAsync(Message(0));
        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(s_backstop);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}\n" + string.Join("\n", _logs.Entries));
        await using Stream incoming = await response.Content.ReadAsStreamAsync();

        // each message comes back before the next one is sent: the request is still open while the answer streams
        for (int i = 0; i < 3; i++)
        {
            byte[] message = Message(i);
            if (i > 0)
            {
                await outgoing.Writer.WriteAsync(message);
            }

            byte[] echoed = new byte[message.Length];
            await incoming.ReadExactlyAsync(echoed).AsTask().WaitAsync(s_backstop);
            Assert.Equal(message, echoed);
        }

        outgoing.Writer.Complete();
        Assert.Equal(0, await incoming.ReadAsync(new byte[1]).AsTask().WaitAsync(s_backstop));
        Assert.Equal(["0"], response.TrailingHeaders.GetValues("grpc-status"));
        Assert.Equal(["stream done"], response.TrailingHeaders.GetValues("grpc-message"));
    }

    [Fact]
    public async Task Bidi_call_whose_client_waits_for_the_response_headers_before_sending_is_served()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version20);
        var outgoing = System.Threading.Channels.Channel.CreateUnbounded<byte[]>();
        using HttpRequestMessage request = GrpcRequest("/grpc.Greeter/Chat", new ChannelContent(outgoing.Reader, flushHeadersFirst: true));

        // nothing is written before the response headers arrive: the request headers alone must reach the app
        using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(s_backstop);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}\n" + string.Join("\n", _logs.Entries));
        await using Stream incoming = await response.Content.ReadAsStreamAsync();

        byte[] message = Frame(Encoding.ASCII.GetBytes("first message after the headers"));
        await outgoing.Writer.WriteAsync(message);
        byte[] echoed = new byte[message.Length];
        await incoming.ReadExactlyAsync(echoed).AsTask().WaitAsync(s_backstop);
        Assert.Equal(message, echoed);

        outgoing.Writer.Complete();
        Assert.Equal(0, await incoming.ReadAsync(new byte[1]).AsTask().WaitAsync(s_backstop));
        Assert.Equal(["0"], response.TrailingHeaders.GetValues("grpc-status"));
    }

    [Fact]
    public async Task Grpc_call_reaches_the_app_before_its_first_message_is_sent()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version20);
        var outgoing = System.Threading.Channels.Channel.CreateUnbounded<byte[]>();
        using HttpRequestMessage request = GrpcRequest("/grpc.Greeter/Late", new ChannelContent(outgoing.Reader, flushHeadersFirst: true));
        Task<HttpResponseMessage> sending = http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        // the request headers alone cross both sidecars: the app sees the call while no message has been written
        await _requestArrived.Task.WaitAsync(s_backstop);
        byte[] message = Frame(Encoding.ASCII.GetBytes("late first message"));
        await outgoing.Writer.WriteAsync(message);
        using HttpResponseMessage response = await sending.WaitAsync(s_backstop);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}\n" + string.Join("\n", _logs.Entries));
        await using Stream incoming = await response.Content.ReadAsStreamAsync();
        byte[] echoed = new byte[message.Length];
        await incoming.ReadExactlyAsync(echoed).AsTask().WaitAsync(s_backstop);
        Assert.Equal(message, echoed);

        outgoing.Writer.Complete();
        Assert.Equal(0, await incoming.ReadAsync(new byte[1]).AsTask().WaitAsync(s_backstop));
        Assert.Equal(["0"], response.TrailingHeaders.GetValues("grpc-status"));
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task Chunked_upload_reaches_an_http1_app_before_its_body_starts(string version)
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(Version.Parse(version));
        var outgoing = System.Threading.Channels.Channel.CreateUnbounded<byte[]>();
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://nawal.test:9933/upload")
        {
            Content = new ChannelContent(outgoing.Reader, flushHeadersFirst: true),
        };
        Task<HttpResponseMessage> sending = http.SendAsync(request);

        await _requestArrived.Task.WaitAsync(s_backstop);
        await outgoing.Writer.WriteAsync(new byte[100]);
        await outgoing.Writer.WriteAsync(new byte[23]);
        outgoing.Writer.Complete();
        using HttpResponseMessage response = await sending.WaitAsync(s_backstop);

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}\n" + string.Join("\n", _logs.Entries));
        Assert.Equal("123 bytes over HTTP/1.1", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task Response_headers_an_http1_app_sends_before_its_body_reach_the_caller_at_once(string version)
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(Version.Parse(version));

        // the app holds its first event until the caller has seen the headers: without them passed on at once, this
        // waits until the backstop
        using HttpResponseMessage response = await http.GetAsync("http://nawal.test:9933/events", HttpCompletionOption.ResponseHeadersRead).WaitAsync(s_backstop);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}\n" + string.Join("\n", _logs.Entries));
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);

        _firstEvent.SetResult();
        Assert.Equal("data: first\n\n", await response.Content.ReadAsStringAsync().WaitAsync(s_backstop));
    }

    [Theory]
    [InlineData("http://nawal.test/echo")]
    [InlineData("http://nawal.test:9944/echo")]
    public async Task Http1_caller_reaches_the_h2c_only_app_as_http2(string url)
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version11);

        using HttpResponseMessage response = await http.GetAsync(url).WaitAsync(s_backstop);

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}\n" + string.Join("\n", _logs.Entries));
        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Equal("protocol: HTTP/2\n", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task App_entry_with_app_protocol_http_is_reached_over_http1_even_from_an_http2_caller()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version20);

        using HttpResponseMessage response = await http.GetAsync("http://nawal.test:9933/echo").WaitAsync(s_backstop);

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}\n" + string.Join("\n", _logs.Entries));
        Assert.Equal("protocol: HTTP/1.1\n", await response.Content.ReadAsStringAsync());
    }

    /// <summary>A request body written message by message, each flushed as it is taken from the channel.</summary>
    private sealed class ChannelContent(ChannelReader<byte[]> messages, bool flushHeadersFirst = false) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            if (flushHeadersFirst)
            {
                await stream.FlushAsync(); // sends the request headers now, as gRPC clients do (grpc-dotnet's PushStreamContent)
            }

            await foreach (byte[] message in messages.ReadAllAsync())
            {
                await stream.WriteAsync(message);
                await stream.FlushAsync();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
