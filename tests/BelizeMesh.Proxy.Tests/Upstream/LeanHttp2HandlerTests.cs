using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text;
using BelizeMesh.Proxy.Forwarding;
using BelizeMesh.Proxy.Forwarding.Http2;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using static BelizeMesh.Proxy.Tests.Upstream.BodyPattern;

namespace BelizeMesh.Proxy.Tests.Upstream;

/// <summary>
/// <see cref="LeanHttp2Handler"/> over cleartext HTTP/2 with prior knowledge: against a real Kestrel speaking only HTTP/2
/// (what a workload behind the peer sidecar does), and against a frame-level server on 127.0.0.1 that writes hand-made
/// frames for the protocol behaviour Kestrel never shows (CONTINUATION, padding, 1xx, Huffman and the dynamic table,
/// REFUSED_STREAM, GOAWAY, protocol violations, PING, flow control from zero, malformed responses).
/// </summary>
public sealed class LeanHttp2HandlerTests : IAsyncDisposable
{
    private static readonly TimeSpan s_backstop = TimeSpan.FromSeconds(30);

    private readonly MarkerHandler _inner = new();
    private readonly List<IAsyncDisposable> _servers = [];

    public async ValueTask DisposeAsync()
    {
        foreach (IAsyncDisposable server in _servers)
        {
            await server.DisposeAsync();
        }
    }

    private HttpMessageInvoker Client(out LeanHttp2Handler handler, TimeSpan? idleTimeout = null)
    {
        handler = new LeanHttp2Handler(_inner, static (endPoint, ct) => UpstreamClientFactory.ConnectPlaintextAsync(endPoint, ct), TimeSpan.FromSeconds(10), idleTimeout ?? TimeSpan.FromMinutes(1));
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    private static HttpRequestMessage Request(HttpMethod method, int port, string path = "/", HttpContent? content = null)
        => new(method, $"http://127.0.0.1:{port}{path}") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Content = content };

    private async Task<KestrelApp> KestrelAsync(RequestDelegate app, Action<KestrelServerOptions>? configure = null)
    {
        KestrelApp kestrel = await KestrelApp.StartAsync(app, configure);
        _servers.Add(kestrel);
        return kestrel;
    }

    private FrameServer Frames(Func<FrameConnection, int, Task> onConnection, params (ushort Id, int Value)[]? settings)
    {
        var server = new FrameServer { OnConnection = onConnection, Settings = settings };
        _servers.Add(server);
        return server;
    }

    private static async Task<string> BodyAsync(HttpResponseMessage response)
    {
        using Stream body = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(body, Encoding.Latin1);
        return await reader.ReadToEndAsync().WaitAsync(s_backstop);
    }

    /// <summary>The value once it has stopped changing for 300 ms (at most 10 s).</summary>
    private static async Task<long> SettledAsync(Func<long> read)
    {
        // settled = unchanged over three readings 300 ms apart (one unchanged interval can be a starved machine)
        var stopwatch = Stopwatch.StartNew();
        long value = read();
        int unchanged = 0;
        while (stopwatch.Elapsed < TimeSpan.FromSeconds(15))
        {
            await Task.Delay(300);
            long next = read();
            unchanged = next == value && next > 0 ? unchanged + 1 : 0;
            if (unchanged == 3)
            {
                break;
            }

            value = next;
        }

        return value;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // A. Kestrel, HTTP/2 only over cleartext
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task A_get_round_trips_status_headers_and_body_and_the_server_sees_the_host_header_as_authority()
    {
        var seen = new ConcurrentQueue<(string Host, string Multi, string? Custom, string Protocol)>();
        KestrelApp app = await KestrelAsync(async ctx =>
        {
            seen.Enqueue((ctx.Request.Host.Value ?? "", string.Join("|", ctx.Request.Headers["x-multi-req"].ToArray()), ctx.Request.Headers["X-Custom"].ToString(), ctx.Request.Protocol));
            ctx.Response.StatusCode = 203;
            ctx.Response.Headers.Append("X-Multi", new StringValues(["a", "b"]));
            ctx.Response.Headers["X-Reply"] = "one";
            ctx.Response.ContentType = "text/plain";
            ctx.Response.ContentLength = 8;
            await ctx.Response.WriteAsync("hello h2");
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);

        using (HttpRequestMessage request = Request(HttpMethod.Get, app.Port, "/first"))
        {
            request.Headers.Host = "svc.example:8080";
            request.Headers.TryAddWithoutValidation("X-Multi-Req", ["one", "two"]);
            request.Headers.TryAddWithoutValidation("X-Custom", "Mixed-Case Value");
            using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
            Assert.Equal(HttpStatusCode.NonAuthoritativeInformation, response.StatusCode);
            Assert.Equal(HttpVersion.Version20, response.Version);
            Assert.Equal(["a", "b"], response.Headers.GetValues("X-Multi"));
            Assert.Equal("one", Assert.Single(response.Headers.GetValues("X-Reply")));
            Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(8, response.Content.Headers.ContentLength);
            Assert.Equal(8, ((LeanResponseContent)response.Content).DeclaredLength);
            Assert.Same(request, response.RequestMessage);
            Assert.Equal("hello h2", await BodyAsync(response));
        }

        using (HttpRequestMessage request = Request(HttpMethod.Get, app.Port, "/second"))
        {
            using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
            Assert.Equal("hello h2", await BodyAsync(response));
        }

        (string Host, string Multi, string? Custom, string Protocol)[] requests = [.. seen];
        Assert.Equal(2, requests.Length);
        Assert.Equal("svc.example:8080", requests[0].Host);
        Assert.Equal("one|two", requests[0].Multi); // two fields, two values
        Assert.Equal("Mixed-Case Value", requests[0].Custom);
        Assert.Equal("HTTP/2", requests[0].Protocol);
        Assert.Equal(app.Authority, requests[1].Host);
        Assert.Equal(2, handler.LeanRequests);
        Assert.Equal(0, handler.DelegatedRequests);
        Assert.Equal(1, handler.OpenConnections(app.Authority));
    }

    [Fact]
    public async Task Connection_specific_request_headers_are_not_sent_and_te_trailers_is()
    {
        var seen = new TaskCompletionSource<IHeaderDictionary>(TaskCreationOptions.RunContinuationsAsynchronously);
        KestrelApp app = await KestrelAsync(ctx =>
        {
            seen.TrySetResult(new HeaderDictionary(ctx.Request.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase)));
            return ctx.Response.WriteAsync("accepted");
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        using HttpRequestMessage request = Request(HttpMethod.Get, app.Port);
        request.Headers.TryAddWithoutValidation("Connection", "keep-alive, X-Hop");
        request.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
        request.Headers.TryAddWithoutValidation("Transfer-Encoding", "chunked");
        request.Headers.TryAddWithoutValidation("Upgrade", "h2c");
        request.Headers.TryAddWithoutValidation("Proxy-Connection", "keep-alive");
        request.Headers.TryAddWithoutValidation("TE", "trailers");
        request.Headers.TryAddWithoutValidation("X-Kept", "yes");

        // Kestrel resets a stream that carries any connection-specific field (RFC 9113 §8.2.2): the request would fail
        using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("accepted", await BodyAsync(response));
        IHeaderDictionary headers = await seen.Task.WaitAsync(s_backstop);
        Assert.Equal("trailers", headers["TE"].ToString());
        Assert.Equal("yes", headers["X-Kept"].ToString());
        Assert.False(headers.ContainsKey("Connection"));
        Assert.False(headers.ContainsKey("Keep-Alive"));
        Assert.False(headers.ContainsKey("Transfer-Encoding"));
        Assert.False(headers.ContainsKey("Upgrade"));
        Assert.False(headers.ContainsKey("Proxy-Connection"));
        Assert.Equal(1, handler.LeanRequests);
    }

    [Fact]
    public async Task Two_hundred_concurrent_requests_complete_over_at_most_two_connections()
    {
        var connections = new ConcurrentDictionary<string, bool>();
        KestrelApp app = await KestrelAsync(async ctx =>
        {
            connections.TryAdd(ctx.Connection.Id, true);
            ctx.Response.ContentType = "application/octet-stream";
            await ctx.Request.Body.CopyToAsync(ctx.Response.Body);
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        Task[] requests = [.. Enumerable.Range(0, 200).Select(async i =>
        {
            byte[] body = Pattern(50 + (int)((long)i * ((64 * 1024) - 50) / 199), seed: i);
            using HttpRequestMessage request = Request(HttpMethod.Post, app.Port, $"/echo/{i}", new ByteArrayContent(body));
            using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            byte[] echoed = await response.Content.ReadAsByteArrayAsync();
            Assert.True(body.AsSpan().SequenceEqual(echoed), $"request {i}: {body.Length} bytes sent, {echoed.Length} different bytes echoed");
        })];
        await Task.WhenAll(requests).WaitAsync(s_backstop);

        Assert.Equal(200, handler.LeanRequests);
        Assert.InRange(handler.OpenConnections(app.Authority), 1, 2);
        Assert.InRange(connections.Count, 1, 2);
    }

    [Fact]
    public async Task Beyond_the_servers_stream_limit_more_connections_open_and_every_request_succeeds()
    {
        const int Concurrent = 50;
        var connections = new ConcurrentDictionary<string, bool>();
        int arrived = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        KestrelApp app = await KestrelAsync(
            async ctx =>
            {
                connections.TryAdd(ctx.Connection.Id, true);
                if (Interlocked.Increment(ref arrived) == Concurrent)
                {
                    allArrived.TrySetResult();
                }

                // every request is held until all of them are in flight at once: 10 streams a connection cannot hold them
                await allArrived.Task.WaitAsync(TimeSpan.FromSeconds(10));
                await ctx.Response.WriteAsync("ok");
            },
            k => k.Limits.Http2.MaxStreamsPerConnection = 10);
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        Task<string>[] requests = [.. Enumerable.Range(0, Concurrent).Select(async i =>
        {
            using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, app.Port, $"/slow/{i}"), CancellationToken.None);
            return $"{(int)response.StatusCode} {await BodyAsync(response)}";
        })];
        string[] results = await Task.WhenAll(requests).WaitAsync(s_backstop);

        Assert.All(results, result => Assert.Equal("200 ok", result));
        Assert.True(connections.Count >= Concurrent / 10, $"{connections.Count} connections");
        Assert.True(handler.OpenConnections(app.Authority) >= Concurrent / 10, $"{handler.OpenConnections(app.Authority)} open connections");
    }

    [Fact]
    public async Task A_small_post_with_a_content_length_arrives_whole()
    {
        var seen = new TaskCompletionSource<(long? Length, string? Type, string Body)>(TaskCreationOptions.RunContinuationsAsynchronously);
        KestrelApp app = await KestrelAsync(async ctx =>
        {
            using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
            string body = await reader.ReadToEndAsync();
            seen.TrySetResult((ctx.Request.ContentLength, ctx.Request.ContentType, body));
            await ctx.Response.WriteAsync($"got {body.Length}");
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpRequestMessage request = Request(HttpMethod.Post, app.Port, "/small", new StringContent("small body", Encoding.UTF8, "text/plain"));
        using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
        Assert.Equal("got 10", await BodyAsync(response));
        (long? length, string? type, string body) = await seen.Task.WaitAsync(s_backstop);
        Assert.Equal(10, length);
        Assert.Equal("text/plain; charset=utf-8", type);
        Assert.Equal("small body", body);
    }

    [Fact]
    public async Task A_large_post_of_unknown_length_is_streamed_within_the_flow_control_windows()
    {
        const int Size = 5 * 1024 * 1024;
        var declared = new TaskCompletionSource<long?>(TaskCreationOptions.RunContinuationsAsynchronously);
        KestrelApp app = await KestrelAsync(
            async ctx =>
            {
                declared.TrySetResult(ctx.Request.ContentLength);
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                byte[] buffer = new byte[32 * 1024];
                long total = 0;
                int n;
                while ((n = await ctx.Request.Body.ReadAsync(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    total += n;
                }

                await ctx.Response.WriteAsync($"{total} {Convert.ToHexString(hash.GetHashAndReset())}");
            },
            k =>
            {
                // the smallest windows Kestrel allows: the body is 80 times the window
                k.Limits.Http2.InitialStreamWindowSize = Http2Frame.DefaultWindow;
                k.Limits.Http2.InitialConnectionWindowSize = Http2Frame.DefaultWindow;
            });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        using HttpRequestMessage request = Request(HttpMethod.Post, app.Port, "/upload", new PatternContent(Size, piece: 100_000, knownLength: false));
        using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None).WaitAsync(s_backstop);
        Assert.Equal($"{Size} {Convert.ToHexString(SHA256.HashData(Pattern(Size)))}", await BodyAsync(response));
        Assert.Null(await declared.Task.WaitAsync(s_backstop));
        Assert.Equal(1, handler.LeanRequests);
    }

    [Fact]
    public async Task A_large_response_read_slowly_arrives_byte_exact_and_flow_control_holds_the_server_back()
    {
        const int Size = 20 * 1024 * 1024;
        long written = 0;
        KestrelApp app = await KestrelAsync(async ctx =>
        {
            ctx.Response.ContentLength = Size;
            byte[] chunk = new byte[64 * 1024];
            for (long sent = 0; sent < Size;)
            {
                int n = (int)Math.Min(chunk.Length, Size - sent);
                FillPattern(chunk.AsSpan(0, n), sent);
                await ctx.Response.Body.WriteAsync(chunk.AsMemory(0, n));
                sent += n;
                Interlocked.Exchange(ref written, sent);
            }
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, app.Port, "/big"), CancellationToken.None);
        Assert.Equal(Size, response.Content.Headers.ContentLength);
        using Stream body = await response.Content.ReadAsStreamAsync();
        byte[] buffer = new byte[50_000];
        byte[] expected = new byte[buffer.Length];
        long read = 0;
        int reads = 0;
        while (true)
        {
            int n = await body.ReadAsync(buffer).AsTask().WaitAsync(s_backstop);
            if (n == 0)
            {
                break;
            }

            FillPattern(expected.AsSpan(0, n), read);
            if (!buffer.AsSpan(0, n).SequenceEqual(expected.AsSpan(0, n)))
            {
                Assert.Fail($"the body differs in the {n} bytes from offset {read}");
            }

            read += n;
            if (++reads == 1)
            {
                // while nothing is read the server is held at the stream's window (4 MiB): it writes that much, no more
                long held = await SettledAsync(() => Interlocked.Read(ref written));
                Assert.InRange(held, LeanHttp2Connection.StreamReceiveWindow - (256 * 1024), LeanHttp2Connection.StreamReceiveWindow + (512 * 1024));
            }
            else if (reads % 40 == 0)
            {
                await Task.Delay(10);
            }
        }

        Assert.Equal(Size, read);
    }

    [Fact]
    public async Task Response_trailers_appear_after_the_body_is_read_to_the_end()
    {
        KestrelApp app = await KestrelAsync(async ctx =>
        {
            ctx.Response.DeclareTrailer("grpc-status");
            ctx.Response.ContentType = "application/grpc";
            await ctx.Response.WriteAsync("payload");
            await ctx.Response.Body.FlushAsync();
            ctx.Response.AppendTrailer("grpc-status", "0");
            ctx.Response.AppendTrailer("grpc-message", "fine");
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpRequestMessage request = Request(HttpMethod.Post, app.Port, "/svc/Method", new ByteArrayContent([0, 0, 0, 0, 0]));
        request.Headers.TryAddWithoutValidation("TE", "trailers");
        using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("payload", await BodyAsync(response));
        Assert.Equal("0", Assert.Single(response.TrailingHeaders.GetValues("grpc-status")));
        Assert.Equal("fine", Assert.Single(response.TrailingHeaders.GetValues("grpc-message")));
        Assert.False(response.Headers.Contains("grpc-status"));
    }

    [Fact]
    public async Task Cancelling_before_the_response_resets_the_stream_and_keeps_the_connection()
    {
        var arrived = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        KestrelApp app = await KestrelAsync(async ctx =>
        {
            if (ctx.Request.Path == "/slow")
            {
                arrived.TrySetResult(ctx.Connection.Id);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(10), ctx.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    aborted.TrySetResult();
                }

                return;
            }

            await ctx.Response.WriteAsync("next on " + ctx.Connection.Id);
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        var stopwatch = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.SendAsync(Request(HttpMethod.Get, app.Port, "/slow"), cts.Token).WaitAsync(s_backstop));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"cancelled after {stopwatch.Elapsed}");
        string connection = await arrived.Task.WaitAsync(s_backstop);
        await aborted.Task.WaitAsync(s_backstop); // RST_STREAM reached Kestrel: RequestAborted fired

        using HttpResponseMessage next = await client.SendAsync(Request(HttpMethod.Get, app.Port, "/next"), CancellationToken.None);
        Assert.Equal("next on " + connection, await BodyAsync(next));
        Assert.Equal(1, handler.OpenConnections(app.Authority));
    }

    [Fact]
    public async Task Disposing_a_response_whose_body_is_streaming_resets_the_stream_and_the_next_request_succeeds()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        KestrelApp app = await KestrelAsync(async ctx =>
        {
            if (ctx.Request.Path == "/forever")
            {
                byte[] chunk = new byte[16 * 1024];
                try
                {
                    // held by flow control once the client stops reading: only a reset of the stream ends this loop
                    while (!ctx.RequestAborted.IsCancellationRequested)
                    {
                        await ctx.Response.Body.WriteAsync(chunk, ctx.RequestAborted);
                    }
                }
                catch (Exception)
                {
                    // The stream was reset. Kestrel fails the pending write and cancels RequestAborted from a queued work
                    // item, which it skips once the app has returned: either one is the reset reaching the server.
                }

                aborted.TrySetResult();
                return;
            }

            await ctx.Response.WriteAsync("after on " + ctx.Connection.Id);
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, app.Port, "/forever"), CancellationToken.None);
        Stream body = await response.Content.ReadAsStreamAsync();
        byte[] buffer = new byte[100_000];
        Assert.Equal(buffer.Length, await body.ReadAtLeastAsync(buffer, buffer.Length).AsTask().WaitAsync(s_backstop));
        response.Dispose();
        await aborted.Task.WaitAsync(s_backstop);

        using HttpResponseMessage next = await client.SendAsync(Request(HttpMethod.Get, app.Port, "/after"), CancellationToken.None);
        Assert.StartsWith("after on ", await BodyAsync(next), StringComparison.Ordinal);
        Assert.Equal(1, handler.OpenConnections(app.Authority));
    }

    [Fact]
    public async Task An_idle_connection_closes_after_the_idle_timeout_and_the_next_request_opens_another()
    {
        KestrelApp app = await KestrelAsync(ctx => ctx.Response.WriteAsync(ctx.Connection.Id));
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler, idleTimeout: TimeSpan.FromMilliseconds(200));
        string first;
        using (HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, app.Port), CancellationToken.None))
        {
            first = await BodyAsync(response);
        }

        Assert.Equal(1, handler.OpenConnections(app.Authority));
        var stopwatch = Stopwatch.StartNew();
        while (handler.OpenConnections(app.Authority) > 0 && stopwatch.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, handler.OpenConnections(app.Authority));
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromMilliseconds(100), $"closed after {stopwatch.Elapsed}, before the idle timeout");
        using (HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, app.Port), CancellationToken.None))
        {
            Assert.NotEqual(first, await BodyAsync(response));
        }

        Assert.Equal(1, handler.OpenConnections(app.Authority));
    }

    [Fact]
    public async Task A_server_reset_before_the_response_fails_the_request()
    {
        KestrelApp app = await KestrelAsync(ctx =>
        {
            ctx.Abort();
            return Task.CompletedTask;
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        HttpProtocolException error = await Assert.ThrowsAsync<HttpProtocolException>(() => client.SendAsync(Request(HttpMethod.Get, app.Port), CancellationToken.None).WaitAsync(s_backstop));
        Assert.Equal((long)Http2ErrorCode.InternalError, error.ErrorCode); // Kestrel resets an aborted stream with INTERNAL_ERROR
        Assert.Equal(1, handler.LeanRequests); // not sent again: only REFUSED_STREAM is safe to retry
    }

    [Fact]
    public async Task A_server_reset_in_the_middle_of_the_body_fails_the_read()
    {
        KestrelApp app = await KestrelAsync(async ctx =>
        {
            await ctx.Response.WriteAsync("partial");
            await ctx.Response.Body.FlushAsync();
            await Task.Delay(100);
            ctx.Abort();
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, app.Port), CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using Stream body = await response.Content.ReadAsStreamAsync();
        HttpProtocolException error = await Assert.ThrowsAsync<HttpProtocolException>(() => ReadToEndAsync(body));
        Assert.Equal((long)Http2ErrorCode.InternalError, error.ErrorCode);
    }

    [Fact]
    public async Task A_graceful_server_shutdown_completes_the_request_in_flight_and_then_new_requests_fail_to_connect()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        KestrelApp app = await KestrelAsync(async ctx =>
        {
            arrived.TrySetResult();
            await release.Task.WaitAsync(s_backstop);
            await ctx.Response.WriteAsync("finished");
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        Task<HttpResponseMessage> inFlight = client.SendAsync(Request(HttpMethod.Get, app.Port, "/slow"), CancellationToken.None);
        await arrived.Task.WaitAsync(s_backstop);
        Task stopping = app.StopAsync();
        await Task.Delay(200);
        Assert.False(stopping.IsCompleted); // Kestrel waits for the request in flight

        release.SetResult();
        using (HttpResponseMessage response = await inFlight.WaitAsync(s_backstop))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("finished", await BodyAsync(response));
        }

        await stopping.WaitAsync(s_backstop);
        var stopwatch = Stopwatch.StartNew();
        HttpRequestException error = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Request(HttpMethod.Get, app.Port, "/after"), CancellationToken.None).WaitAsync(s_backstop));
        Assert.Equal(HttpRequestError.ConnectionError, error.HttpRequestError);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"failed after {stopwatch.Elapsed}");
        Assert.Equal(0, handler.OpenConnections(app.Authority));
    }

    [Fact]
    public async Task Requests_the_lean_client_does_not_take_go_to_the_inner_handler()
    {
        FrameServer server = Frames((_, _) => Task.CompletedTask);
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        string url = $"http://127.0.0.1:{server.Port}/x";
        using var http11 = new HttpRequestMessage(HttpMethod.Get, url) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var orLower = new HttpRequestMessage(HttpMethod.Get, url) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower };
        using var https = new HttpRequestMessage(HttpMethod.Get, $"https://127.0.0.1:{server.Port}/x") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using HttpRequestMessage connect = Request(HttpMethod.Connect, server.Port, "/x");
        using HttpRequestMessage expect = Request(HttpMethod.Post, server.Port, "/x", new StringContent("x"));
        expect.Headers.ExpectContinue = true;
        using HttpRequestMessage nonLatin1 = Request(HttpMethod.Get, server.Port, "/x");
        nonLatin1.Headers.TryAddWithoutValidation("X-Name", "\u03a9mega");
        HttpRequestMessage[] declined = [http11, orLower, https, connect, expect, nonLatin1];
        foreach (HttpRequestMessage request in declined)
        {
            using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode); // the marker
        }

        Assert.Equal(declined.Length, _inner.Calls);
        Assert.Equal(declined.Length, handler.DelegatedRequests);
        Assert.Equal(0, handler.LeanRequests);
        Assert.Equal(0, server.Accepted);
    }

    [Fact]
    public async Task A_percent_encoded_path_and_query_arrive_intact()
    {
        const string Target = "/a%20b/c%2Fd/%C3%A9t%C3%A9?q=x%20y%26z&r=%2B1&empty=";
        var seen = new TaskCompletionSource<(string RawTarget, string? Path, string? Query)>(TaskCreationOptions.RunContinuationsAsynchronously);
        KestrelApp app = await KestrelAsync(ctx =>
        {
            seen.TrySetResult((ctx.Features.Get<IHttpRequestFeature>()!.RawTarget, ctx.Request.Path.Value, ctx.Request.QueryString.Value));
            return ctx.Response.WriteAsync(ctx.Request.Query["q"].ToString() + "|" + ctx.Request.Query["r"]);
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, app.Port, Target), CancellationToken.None);
        Assert.Equal("x y&z|+1", await BodyAsync(response));
        (string rawTarget, string? path, string? query) = await seen.Task.WaitAsync(s_backstop);
        Assert.Equal(Target, rawTarget);
        Assert.Equal("/a b/c%2Fd/\u00e9t\u00e9", path);
        Assert.Equal("?q=x%20y%26z&r=%2B1&empty=", query);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // B. A frame-level server
    // ---------------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task The_client_starts_with_the_preface_and_its_settings_and_sends_lower_case_fields_pseudo_headers_first()
    {
        var frames = new TaskCompletionSource<(bool Preface, RawFrame Settings, RawFrame Update, H2Request Request)>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            RawFrame settings = await conn.NextFrameAsync("the client's SETTINGS");
            RawFrame update = await conn.NextFrameAsync("the client's WINDOW_UPDATE");
            H2Request request = await conn.ReadRequestAsync();
            frames.TrySetResult((conn.PrefaceReceived, settings, update, request));
            await conn.RespondAsync(request.StreamId, 200, "ok");
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpRequestMessage message = Request(HttpMethod.Get, server.Port, "/x?y=1");
        message.Headers.TryAddWithoutValidation("X-Custom", "A");
        message.Headers.TryAddWithoutValidation("Accept", "text/plain");
        message.Headers.TryAddWithoutValidation("X-Multi", ["1", "2"]);
        message.Headers.TryAddWithoutValidation("X-Latin", "caf\u00e9");
        using HttpResponseMessage response = await client.SendAsync(message, CancellationToken.None);
        Assert.Equal("ok", await BodyAsync(response));

        (bool preface, RawFrame settings, RawFrame update, H2Request request) = await frames.Task.WaitAsync(s_backstop);
        Assert.True(preface);
        Assert.Equal(Http2FrameType.Settings, settings.Type);
        Assert.Equal(0, settings.Flags);
        Assert.Equal(0, settings.StreamId);
        Dictionary<ushort, uint> values = [];
        for (int i = 0; i + 6 <= settings.Payload.Length; i += 6)
        {
            values[BinaryPrimitives.ReadUInt16BigEndian(settings.Payload.AsSpan(i))] = BinaryPrimitives.ReadUInt32BigEndian(settings.Payload.AsSpan(i + 2));
        }

        Assert.Equal(0u, values[Http2Frame.SettingEnablePush]);
        Assert.Equal((uint)LeanHttp2Connection.StreamReceiveWindow, values[Http2Frame.SettingInitialWindowSize]);
        Assert.True(values.ContainsKey(Http2Frame.SettingMaxHeaderListSize));
        Assert.Equal(Http2FrameType.WindowUpdate, update.Type);
        Assert.Equal(0, update.StreamId);
        Assert.Equal(LeanHttp2Connection.ConnectionReceiveWindow - Http2Frame.DefaultWindow, BinaryPrimitives.ReadInt32BigEndian(update.Payload));

        Assert.Equal(1, request.StreamId);
        Assert.True(request.EndStream);
        Assert.Equal(
            [(":method", "GET"), (":scheme", "http"), (":authority", server.Authority), (":path", "/x?y=1")],
            request.Fields.Take(4));
        (string Name, string Value)[] regular = [.. request.Fields.Skip(4)];
        Assert.All(regular, field => Assert.False(field.Name.StartsWith(':') || field.Name.Any(char.IsAsciiLetterUpper), field.Name));
        Assert.Contains(("x-custom", "A"), regular);
        Assert.Contains(("accept", "text/plain"), regular);
        Assert.Contains(("x-latin", "caf\u00e9"), regular);
        Assert.Equal(["1", "2"], regular.Where(f => f.Name == "x-multi").Select(f => f.Value));
        Assert.DoesNotContain(regular, f => f.Name is "host" or "content-length");
    }

    [Fact]
    public async Task A_header_block_split_over_headers_and_continuation_frames_is_decoded()
    {
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request request = await conn.ReadRequestAsync();
            byte[] block = new HeaderBlock().Status(200).Field("x-first", "1").Field("x-long", new string('s', 300)).Field("content-type", "text/plain").ToArray();
            await conn.WriteAsync(
                FrameServer.Frame(Http2FrameType.Headers, 0, request.StreamId, block[..5]),
                FrameServer.Frame(Http2FrameType.Continuation, 0, request.StreamId, block[5..40]),
                FrameServer.Frame(Http2FrameType.Continuation, Http2Frame.FlagEndHeaders, request.StreamId, block[40..]),
                FrameServer.Frame(Http2FrameType.Data, Http2Frame.FlagEndStream, request.StreamId, "joined"u8.ToArray()));
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port), CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("1", Assert.Single(response.Headers.GetValues("x-first")));
        Assert.Equal(new string('s', 300), Assert.Single(response.Headers.GetValues("x-long")));
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("joined", await BodyAsync(response));
    }

    [Fact]
    public async Task Padded_headers_and_padded_data_frames_are_unpadded()
    {
        FrameServer server = Frames(async (conn, _) =>
        {
            for (int i = 0; i < 2; i++)
            {
                H2Request request = await conn.ReadRequestAsync();
                byte[] block = new HeaderBlock().Status(200).Field("x-padded", "yes").ToArray();

                // pad length, the PRIORITY fields (5 bytes), the fragment, 7 bytes of padding
                byte[] headers = [7, 0, 0, 0, 0, 16, .. block, 0, 0, 0, 0, 0, 0, 0];
                await conn.WriteAsync(
                    FrameServer.Frame(Http2FrameType.Headers, Http2Frame.FlagEndHeaders | Http2Frame.FlagPadded | Http2Frame.FlagPriority, request.StreamId, headers),
                    FrameServer.Frame(Http2FrameType.Data, Http2Frame.FlagPadded, request.StreamId, [5, .. "padded "u8, 0, 0, 0, 0, 0]),
                    FrameServer.Frame(Http2FrameType.Data, Http2Frame.FlagPadded, request.StreamId, [3, 0, 0, 0]),
                    FrameServer.Frame(Http2FrameType.Data, Http2Frame.FlagPadded | Http2Frame.FlagEndStream, request.StreamId, [0, .. "body"u8]));
            }

            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        for (int i = 0; i < 2; i++)
        {
            using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port), CancellationToken.None);
            Assert.Equal("yes", Assert.Single(response.Headers.GetValues("x-padded")));
            Assert.Equal("padded body", await BodyAsync(response));
        }

        Assert.Equal(1, server.Accepted);
    }

    [Fact]
    public async Task An_informational_103_before_the_final_response_is_skipped()
    {
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request request = await conn.ReadRequestAsync();
            await conn.WriteHeadersAsync(request.StreamId, new HeaderBlock().Status(103).Field("link", "</style.css>; rel=preload").ToArray(), endStream: false);
            await conn.WriteHeadersAsync(request.StreamId, new HeaderBlock().Status(200).Field("x-final", "1").ToArray(), endStream: false);
            await conn.WriteDataAsync(request.StreamId, "final", endStream: true);
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port), CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("1", Assert.Single(response.Headers.GetValues("x-final")));
        Assert.False(response.Headers.Contains("link"));
        Assert.Equal("final", await BodyAsync(response));
    }

    [Fact]
    public async Task Huffman_coded_fields_and_dynamic_table_entries_are_decoded_across_responses()
    {
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request first = await conn.ReadRequestAsync();
            byte[] block = new HeaderBlock()
                .Status(200)
                .Huffman("x-huffman", "a value coded with the HPACK Huffman code: 0123456789", huffmanName: false)
                .Huffman("x-huffman-name", "www.example.com", huffmanName: true)
                .Indexing("x-dyn", "value-one") // dynamic entry 62, then 63 after the next
                .IndexingStaticName(24, "private") // cache-control: private, dynamic entry 62
                .ToArray();
            await conn.WriteHeadersAsync(first.StreamId, block, endStream: false);
            await conn.WriteDataAsync(first.StreamId, "first", endStream: true);

            H2Request second = await conn.ReadRequestAsync();
            await conn.WriteHeadersAsync(second.StreamId, new HeaderBlock().Status(200).Indexed(62).Indexed(63).ToArray(), endStream: false);
            await conn.WriteDataAsync(second.StreamId, "second", endStream: true);
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        using (HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port, "/1"), CancellationToken.None))
        {
            Assert.Equal("a value coded with the HPACK Huffman code: 0123456789", Assert.Single(response.Headers.GetValues("x-huffman")));
            Assert.Equal("www.example.com", Assert.Single(response.Headers.GetValues("x-huffman-name")));
            Assert.Equal("value-one", Assert.Single(response.Headers.GetValues("x-dyn")));
            Assert.Equal("private", response.Headers.CacheControl?.ToString());
            Assert.Equal("first", await BodyAsync(response));
        }

        using (HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port, "/2"), CancellationToken.None))
        {
            Assert.Equal("private", response.Headers.CacheControl?.ToString());
            Assert.Equal("value-one", Assert.Single(response.Headers.GetValues("x-dyn")));
            Assert.False(response.Headers.Contains("x-huffman"));
            Assert.Equal("second", await BodyAsync(response));
        }

        Assert.Equal(1, server.Accepted);
    }

    [Fact]
    public async Task A_refused_stream_is_sent_again_and_the_second_answer_is_returned()
    {
        var streams = new ConcurrentQueue<int>();
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request first = await conn.ReadRequestAsync();
            streams.Enqueue(first.StreamId);
            await conn.ResetAsync(first.StreamId, Http2ErrorCode.RefusedStream);
            H2Request second = await conn.ReadRequestAsync();
            streams.Enqueue(second.StreamId);
            await conn.RespondAsync(second.StreamId, 200, "second attempt " + second.Value(":path"));
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port, "/again"), CancellationToken.None).WaitAsync(s_backstop);
        Assert.Equal("second attempt /again", await BodyAsync(response));
        Assert.Equal([1, 3], streams);
        Assert.Equal(1, server.Accepted);
        Assert.Equal(1, handler.LeanRequests);
    }

    [Fact]
    public async Task A_goaway_before_the_answer_sends_the_request_again_on_a_new_connection()
    {
        var firstClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, index) =>
        {
            H2Request request = await conn.ReadRequestAsync();
            if (index == 0)
            {
                await conn.GoAwayAsync(0, Http2ErrorCode.NoError);
                await conn.WaitClosedAsync();
                firstClosed.TrySetResult();
                return;
            }

            await conn.RespondAsync(request.StreamId, 200, $"connection {index} stream {request.StreamId}");
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port), CancellationToken.None).WaitAsync(s_backstop);
        Assert.Equal("connection 1 stream 1", await BodyAsync(response));
        await firstClosed.Task.WaitAsync(s_backstop); // the client closed the connection that went away
        Assert.Equal(2, server.Accepted);
        Assert.Equal(1, handler.OpenConnections(server.Authority));
    }

    [Theory]
    [InlineData("data-on-stream-0", (int)Http2ErrorCode.ProtocolError)]
    [InlineData("push-promise", (int)Http2ErrorCode.ProtocolError)]
    [InlineData("headers-on-a-stream-never-opened", (int)Http2ErrorCode.ProtocolError)]
    [InlineData("continuation-without-headers", (int)Http2ErrorCode.ProtocolError)]
    [InlineData("window-update-of-0-on-the-connection", (int)Http2ErrorCode.ProtocolError)]
    [InlineData("frame-above-max-frame-size", (int)Http2ErrorCode.FrameSizeError)]
    [InlineData("priority-on-stream-0", (int)Http2ErrorCode.ProtocolError)]
    [InlineData("window-update-on-a-stream-never-opened", (int)Http2ErrorCode.ProtocolError)]
    [InlineData("data-on-a-server-numbered-stream", (int)Http2ErrorCode.ProtocolError)]
    [InlineData("rst-stream-on-a-server-numbered-stream", (int)Http2ErrorCode.ProtocolError)]
    [InlineData("settings-enable-push-1-from-the-server", (int)Http2ErrorCode.ProtocolError)]
    public async Task A_protocol_violation_ends_the_connection_with_goaway_and_fails_the_request(string violation, int expectedCode)
    {
        var expected = (Http2ErrorCode)expectedCode;
        var goAway = new TaskCompletionSource<(int LastStream, Http2ErrorCode Code)>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request request = await conn.ReadRequestAsync();
            byte[] frame = violation switch
            {
                "data-on-stream-0" => FrameServer.Frame(Http2FrameType.Data, 0, 0, "x"u8.ToArray()),
                "push-promise" => FrameServer.Frame(Http2FrameType.PushPromise, Http2Frame.FlagEndHeaders, request.StreamId, [0, 0, 0, 2, .. new HeaderBlock().Indexed(HPackStaticTable.MethodGet).Indexed(HPackStaticTable.SchemeHttp).Indexed(HPackStaticTable.PathRoot).Field(":authority", "x").ToArray()]),
                "headers-on-a-stream-never-opened" => FrameServer.Frame(Http2FrameType.Headers, Http2Frame.FlagEndHeaders, request.StreamId + 2, new HeaderBlock().Status(200).ToArray()),
                "continuation-without-headers" => FrameServer.Frame(Http2FrameType.Continuation, Http2Frame.FlagEndHeaders, request.StreamId, new HeaderBlock().Status(200).ToArray()),
                "window-update-of-0-on-the-connection" => FrameServer.Frame(Http2FrameType.WindowUpdate, 0, 0, [0, 0, 0, 0]),
                "settings-enable-push-1-from-the-server" => FrameServer.Frame(Http2FrameType.Settings, 0, 0, [0, (byte)Http2Frame.SettingEnablePush, 0, 0, 0, 1]),
                "window-update-on-a-stream-never-opened" => FrameServer.Frame(Http2FrameType.WindowUpdate, 0, request.StreamId + 2, [0, 0, 0, 1]),
                "data-on-a-server-numbered-stream" => FrameServer.Frame(Http2FrameType.Data, 0, request.StreamId + 1, "x"u8.ToArray()), // even: idle for ever (no push)
                "rst-stream-on-a-server-numbered-stream" => FrameServer.Frame(Http2FrameType.RstStream, 0, request.StreamId + 1, [0, 0, 0, (byte)Http2ErrorCode.Cancel]),
                "priority-on-stream-0" => FrameServer.Frame(Http2FrameType.Priority, 0, 0, [0, 0, 0, 1, 15]),
                _ => FrameServer.Frame(Http2FrameType.Data, 0, request.StreamId, new byte[Http2Frame.DefaultMaxFrameSize + 1]),
            };
            await conn.WriteAsync(frame);
            RawFrame reply = await conn.NextFrameAsync(f => f.Type == Http2FrameType.GoAway, "the client's GOAWAY");
            goAway.TrySetResult((BinaryPrimitives.ReadInt32BigEndian(reply.Payload), (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(reply.Payload.AsSpan(4))));
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        HttpProtocolException error = await Assert.ThrowsAsync<HttpProtocolException>(() => client.SendAsync(Request(HttpMethod.Get, server.Port), CancellationToken.None).WaitAsync(s_backstop));
        Assert.Equal((long)expected, error.ErrorCode);
        (int lastStream, Http2ErrorCode code) = await goAway.Task.WaitAsync(s_backstop);
        Assert.Equal(expected, code);
        Assert.Equal(0, lastStream);
        Assert.Equal(0, handler.OpenConnections(server.Authority));
    }

    [Fact]
    public async Task A_response_decoded_in_the_same_read_as_a_protocol_violation_is_delivered_and_its_body_fails()
    {
        // The read loop delivers a decoded response only after the frames of its read: a violation later in that read
        // must not leave the request waiting for ever.
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request request = await conn.ReadRequestAsync();
            byte[] headers = FrameServer.Frame(Http2FrameType.Headers, Http2Frame.FlagEndHeaders, request.StreamId, new HeaderBlock().Status(200).ToArray());
            byte[] data = FrameServer.Frame(Http2FrameType.Data, 0, request.StreamId, "partial"u8.ToArray());
            byte[] violation = FrameServer.Frame(Http2FrameType.Data, 0, 0, "x"u8.ToArray());
            await conn.WriteAsync([.. headers, .. data, .. violation]); // one write: one read on the client's side
            await conn.NextFrameAsync(f => f.Type == Http2FrameType.GoAway, "the client's GOAWAY");
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port), CancellationToken.None).WaitAsync(s_backstop);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using Stream body = await response.Content.ReadAsStreamAsync();
        HttpProtocolException error = await Assert.ThrowsAsync<HttpProtocolException>(() => ReadToEndAsync(body));
        Assert.Equal((long)Http2ErrorCode.ProtocolError, error.ErrorCode);
    }

    [Fact]
    public async Task A_ping_from_the_server_is_answered_with_an_ack_carrying_the_same_bytes()
    {
        byte[] opaque = [1, 2, 3, 4, 250, 251, 252, 253];
        var ack = new TaskCompletionSource<RawFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request request = await conn.ReadRequestAsync();
            await conn.WriteAsync(FrameServer.Frame(Http2FrameType.Ping, 0, 0, opaque));
            ack.TrySetResult(await conn.NextFrameAsync(f => f.Type == Http2FrameType.Ping, "the PING ACK"));
            await conn.RespondAsync(request.StreamId, 200, "pong");
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port), CancellationToken.None).WaitAsync(s_backstop);
        Assert.Equal("pong", await BodyAsync(response));
        RawFrame reply = await ack.Task.WaitAsync(s_backstop);
        Assert.Equal(Http2Frame.FlagAck, reply.Flags);
        Assert.Equal(0, reply.StreamId);
        Assert.Equal(opaque, reply.Payload);
    }

    [Fact]
    public async Task A_server_flooding_pings_without_reading_the_acks_gets_enhance_your_calm_and_the_request_fails()
    {
        FrameServer server = Frames(async (conn, _) =>
        {
            await conn.ReadRequestAsync();
            conn.PauseReading(); // the acknowledgements pile up in the socket buffers, then in the client's output
            byte[] ping = FrameServer.Frame(Http2FrameType.Ping, 0, 0, new byte[8]);
            byte[] batch = new byte[1000 * ping.Length];
            for (int i = 0; i < 1000; i++)
            {
                ping.CopyTo(batch, i * ping.Length);
            }

            try
            {
                for (long sent = 0; sent < 64L * 1024 * 1024; sent += batch.Length)
                {
                    await conn.WriteAsync(batch);
                }
            }
            catch (IOException)
            {
                // the client closed the connection
            }

            conn.ResumeReading();
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        HttpProtocolException error = await Assert.ThrowsAsync<HttpProtocolException>(() => client.SendAsync(Request(HttpMethod.Get, server.Port), CancellationToken.None).WaitAsync(s_backstop));
        Assert.Equal((long)Http2ErrorCode.EnhanceYourCalm, error.ErrorCode);
        Assert.Equal(0, handler.OpenConnections(server.Authority));
    }

    [Fact]
    public async Task A_zero_initial_window_holds_the_request_body_until_window_updates_open_it()
    {
        const int Size = 100_000; // above the connection's 65,535-byte send window as well
        var log = new ConcurrentQueue<string>();
        var received = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            await conn.WriteSettingsAsync((Http2Frame.SettingInitialWindowSize, 0));
            H2Request warm = await conn.ReadRequestAsync();
            await conn.RespondAsync(warm.StreamId, 200, "warm"); // after the SETTINGS: the client has applied them

            H2Request post = await conn.ReadRequestAsync();
            Assert.False(post.EndStream);
            log.Enqueue("headers");
            await conn.ExpectNoDataAsync(TimeSpan.FromMilliseconds(300));
            log.Enqueue("no data at window 0");

            await conn.WindowUpdateAsync(post.StreamId, 10);
            RawFrame first = await conn.NextFrameAsync(f => f.Type == Http2FrameType.Data, "the first DATA");
            log.Enqueue($"data {first.Payload.Length}");
            await conn.ExpectNoDataAsync(TimeSpan.FromMilliseconds(200));
            log.Enqueue("no data beyond 10");

            await conn.WindowUpdateAsync(post.StreamId, 1_000_000);
            await conn.WindowUpdateAsync(0, 1_000_000);
            var body = new List<byte>(first.Payload);
            while (true)
            {
                RawFrame data = await conn.NextFrameAsync(f => f.Type == Http2FrameType.Data, "the rest of the body");
                body.AddRange(data.Payload);
                if ((data.Flags & Http2Frame.FlagEndStream) != 0)
                {
                    break;
                }
            }

            received.TrySetResult([.. body]);
            await conn.RespondAsync(post.StreamId, 200, $"got {body.Count}");
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        using (HttpResponseMessage warm = await client.SendAsync(Request(HttpMethod.Get, server.Port, "/warm"), CancellationToken.None))
        {
            Assert.Equal("warm", await BodyAsync(warm));
        }

        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Post, server.Port, "/up", new ByteArrayContent(Pattern(Size))), CancellationToken.None).WaitAsync(s_backstop);
        Assert.Equal($"got {Size}", await BodyAsync(response));
        Assert.Equal(["headers", "no data at window 0", "data 10", "no data beyond 10"], log);
        byte[] body = await received.Task.WaitAsync(s_backstop);
        Assert.True(Pattern(Size).AsSpan().SequenceEqual(body));
    }

    [Theory]
    [InlineData("upper-case-name")]
    [InlineData("no-status")]
    [InlineData("connection-specific-header")]
    [InlineData("pseudo-header-after-a-regular-one")]
    [InlineData("line-feed-in-a-value")]
    [InlineData("nul-in-a-value")]
    [InlineData("leading-space-in-a-value")]
    [InlineData("space-in-a-name")]
    [InlineData("status-below-100")]
    public async Task A_malformed_response_resets_only_its_stream_and_another_stream_on_the_connection_succeeds(string malformation)
    {
        var reset = new TaskCompletionSource<Http2ErrorCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request a = await conn.ReadRequestAsync();
            H2Request b = await conn.ReadRequestAsync();
            (H2Request bad, H2Request good) = a.Value(":path") == "/bad" ? (a, b) : (b, a);
            byte[] block = malformation switch
            {
                "upper-case-name" => new HeaderBlock().Status(200).Field("X-Upper", "1").ToArray(),
                "no-status" => new HeaderBlock().Field("x-only", "1").ToArray(),
                "connection-specific-header" => new HeaderBlock().Status(200).Field("connection", "close").ToArray(),
                "line-feed-in-a-value" => new HeaderBlock().Status(200).Field("x-split", "a\r\nx-injected: 1").ToArray(),
                "nul-in-a-value" => new HeaderBlock().Status(200).Field("x-nul", "a\0b").ToArray(),
                "leading-space-in-a-value" => new HeaderBlock().Status(200).Field("x-padded", " 1").ToArray(),
                "space-in-a-name" => new HeaderBlock().Status(200).Field("x bad", "1").ToArray(),
                "status-below-100" => new HeaderBlock().Field(":status", "099").ToArray(),
                _ => new HeaderBlock().Field("x-first", "1").Status(200).ToArray(),
            };
            await conn.WriteHeadersAsync(bad.StreamId, block, endStream: true);
            RawFrame rst = await conn.NextFrameAsync(f => f.Type == Http2FrameType.RstStream, "the client's RST_STREAM");
            Assert.Equal(bad.StreamId, rst.StreamId);
            reset.TrySetResult((Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(rst.Payload));
            await conn.RespondAsync(good.StreamId, 200, "good");
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        Task<HttpResponseMessage> bad = client.SendAsync(Request(HttpMethod.Get, server.Port, "/bad"), CancellationToken.None);
        Task<HttpResponseMessage> good = client.SendAsync(Request(HttpMethod.Get, server.Port, "/good"), CancellationToken.None);
        HttpProtocolException error = await Assert.ThrowsAsync<HttpProtocolException>(() => bad.WaitAsync(s_backstop));
        Assert.Equal((long)Http2ErrorCode.ProtocolError, error.ErrorCode);
        Assert.Equal(Http2ErrorCode.ProtocolError, await reset.Task.WaitAsync(s_backstop));
        using HttpResponseMessage response = await good.WaitAsync(s_backstop);
        Assert.Equal("good", await BodyAsync(response));
        Assert.Equal(1, server.Accepted);
        Assert.Equal(1, handler.OpenConnections(server.Authority));
    }

    [Theory]
    [InlineData("longer")]
    [InlineData("shorter")]
    [InlineData("headers-only")]
    public async Task A_body_that_disagrees_with_its_content_length_resets_the_stream_with_protocol_error(string mismatch)
    {
        var reset = new TaskCompletionSource<Http2ErrorCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request request = await conn.ReadRequestAsync();
            byte[] block = new HeaderBlock().Status(200).Field("content-length", "5").ToArray();
            await conn.WriteHeadersAsync(request.StreamId, block, endStream: mismatch == "headers-only");
            if (mismatch != "headers-only")
            {
                await conn.WriteDataAsync(request.StreamId, mismatch == "longer" ? "hello world" : "hey", endStream: true);
            }

            RawFrame rst = await conn.NextFrameAsync(f => f.Type == Http2FrameType.RstStream, "the client's RST_STREAM");
            reset.TrySetResult((Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(rst.Payload));
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        Exception error = await Record.ExceptionAsync(async () =>
        {
            using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port, "/length"), CancellationToken.None).WaitAsync(s_backstop);
            await BodyAsync(response).WaitAsync(s_backstop);
        });
        HttpProtocolException protocol = Assert.IsType<HttpProtocolException>(error);
        Assert.Equal((long)Http2ErrorCode.ProtocolError, protocol.ErrorCode);
        Assert.Contains("content-length", protocol.Message, StringComparison.Ordinal);
        Assert.Equal(Http2ErrorCode.ProtocolError, await reset.Task.WaitAsync(s_backstop));
    }

    [Fact]
    public async Task A_head_response_may_declare_a_content_length_without_a_body()
    {
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request request = await conn.ReadRequestAsync();
            await conn.WriteHeadersAsync(request.StreamId, new HeaderBlock().Status(200).Field("content-length", "1234").ToArray(), endStream: true);
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Head, server.Port, "/head"), CancellationToken.None).WaitAsync(s_backstop);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1234, response.Content.Headers.ContentLength);
        Assert.Equal(string.Empty, await BodyAsync(response));
    }

    [Fact]
    public async Task A_request_header_block_larger_than_a_frame_goes_out_as_headers_and_continuation_frames()
    {
        string big = string.Concat(Enumerable.Range(0, 4000).Select(i => (char)('a' + (i % 26)) + "123456789"));
        var seen = new TaskCompletionSource<H2Request>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request request = await conn.ReadRequestAsync();
            seen.TrySetResult(request);
            await conn.RespondAsync(request.StreamId, 200, "big");
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        using HttpRequestMessage message = Request(HttpMethod.Get, server.Port, "/big-header");
        message.Headers.TryAddWithoutValidation("X-Big", big);
        using HttpResponseMessage response = await client.SendAsync(message, CancellationToken.None);
        Assert.Equal("big", await BodyAsync(response));
        H2Request request = await seen.Task.WaitAsync(s_backstop);
        Assert.Equal(big, request.Value("x-big"));
        Assert.Equal("/big-header", request.Value(":path"));
        Assert.True(request.FrameCount >= 3, $"{big.Length} bytes of header in {request.FrameCount} frames");
    }

    [Fact]
    public async Task Client_sends_table_size_update_after_server_lowers_header_table_size()
    {
        var blocks = new TaskCompletionSource<byte[][]>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request first = await conn.ReadRequestAsync();
            await conn.WriteSettingsAsync((Http2Frame.SettingHeaderTableSize, 100), (Http2Frame.SettingHeaderTableSize, 0));
            await conn.NextFrameAsync(f => f.Type == Http2FrameType.Settings && (f.Flags & Http2Frame.FlagAck) != 0, "the client's SETTINGS ACK");
            await conn.RespondAsync(first.StreamId, 200, "first");
            H2Request second = await conn.ReadRequestAsync();
            await conn.RespondAsync(second.StreamId, 200, "second");
            H2Request third = await conn.ReadRequestAsync();
            await conn.RespondAsync(third.StreamId, 200, "third");
            blocks.TrySetResult([first.Block, second.Block, third.Block]);
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        foreach (string path in (string[])["/first", "/second", "/third"])
        {
            using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port, path), CancellationToken.None).WaitAsync(s_backstop);
            Assert.Equal(path[1..], await BodyAsync(response));
        }

        byte[][] sent = await blocks.Task.WaitAsync(s_backstop);
        Assert.NotEqual(0x20, sent[0][0] & 0xE0); // nothing lowered yet: no update
        Assert.Equal(0x20, sent[1][0]); // RFC 7541 §6.3: 001, then the smallest size set since the last block (0)
        Assert.NotEqual(0x20, sent[1][1] & 0xE0); // one update: a field follows
        Assert.NotEqual(0x20, sent[2][0] & 0xE0); // announced once
        Assert.Equal(1, server.Accepted);
    }

    [Fact]
    public async Task A_response_header_list_over_the_clients_limit_fails_only_its_stream_and_keeps_the_dynamic_table_in_step()
    {
        var reset = new TaskCompletionSource<Http2ErrorCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request a = await conn.ReadRequestAsync();
            H2Request b = await conn.ReadRequestAsync();
            (H2Request big, H2Request next) = a.Value(":path") == "/big" ? (a, b) : (b, a);

            // Over LeanHttp2Connection.MaxHeaderListSize (64 KiB) in a block under twice that: a Huffman value longer than
            // the limit alone, a raw one, then an entry added to the dynamic table after the limit was passed.
            byte[] block = new HeaderBlock()
                .Status(200)
                .Huffman("x-huge", new string('a', 70_000), huffmanName: false)
                .Field("x-more", new string('b', 1_000))
                .Indexing("x-dyn", "added after the limit")
                .ToArray();
            Assert.InRange(block.Length, 40_000, 2 * LeanHttp2Connection.MaxHeaderListSize);
            var frames = new List<byte[]>();
            for (int offset = 0; offset < block.Length; offset += Http2Frame.DefaultMaxFrameSize)
            {
                int length = Math.Min(Http2Frame.DefaultMaxFrameSize, block.Length - offset);
                bool last = offset + length == block.Length;
                frames.Add(FrameServer.Frame(
                    offset == 0 ? Http2FrameType.Headers : Http2FrameType.Continuation,
                    (byte)((offset == 0 ? Http2Frame.FlagEndStream : 0) | (last ? Http2Frame.FlagEndHeaders : 0)),
                    big.StreamId,
                    block.AsSpan(offset, length)));
            }

            await conn.WriteAsync([.. frames]);
            RawFrame rst = await conn.NextFrameAsync(f => f.Type == Http2FrameType.RstStream, "the client's RST_STREAM");
            Assert.Equal(big.StreamId, rst.StreamId);
            reset.TrySetResult((Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(rst.Payload));

            // the entry the oversized block added is the newest in the client's table too
            await conn.WriteHeadersAsync(next.StreamId, new HeaderBlock().Status(200).Indexed(62).ToArray(), endStream: false);
            await conn.WriteDataAsync(next.StreamId, "next", endStream: true);
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        Task<HttpResponseMessage> big = client.SendAsync(Request(HttpMethod.Get, server.Port, "/big"), CancellationToken.None);
        Task<HttpResponseMessage> next = client.SendAsync(Request(HttpMethod.Get, server.Port, "/next"), CancellationToken.None);
        HttpRequestException error = await Assert.ThrowsAsync<HttpRequestException>(() => big.WaitAsync(s_backstop));
        Assert.Equal(HttpRequestError.ConfigurationLimitExceeded, error.HttpRequestError);
        Assert.Contains("larger than the limit", error.Message, StringComparison.Ordinal);
        Assert.Equal(Http2ErrorCode.ProtocolError, await reset.Task.WaitAsync(s_backstop));
        using HttpResponseMessage response = await next.WaitAsync(s_backstop);
        Assert.Equal("added after the limit", Assert.Single(response.Headers.GetValues("x-dyn")));
        Assert.Equal("next", await BodyAsync(response));
        Assert.Equal(1, server.Accepted);
        Assert.Equal(1, handler.OpenConnections(server.Authority));
    }

    [Fact]
    public async Task A_stream_the_server_makes_depend_on_itself_is_reset_with_protocol_error_and_the_connection_goes_on()
    {
        var resets = new ConcurrentQueue<(int Stream, Http2ErrorCode Code)>();
        FrameServer server = Frames(async (conn, _) =>
        {
            // RFC 9113 §5.3.1: a PRIORITY frame naming its own stream
            H2Request first = await conn.ReadRequestAsync();
            await conn.WriteAsync(FrameServer.Frame(Http2FrameType.Priority, 0, first.StreamId, [0, 0, 0, (byte)first.StreamId, 16]));
            RawFrame rst = await conn.NextFrameAsync(f => f.Type == Http2FrameType.RstStream, "the client's RST_STREAM");
            resets.Enqueue((rst.StreamId, (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(rst.Payload)));

            // response HEADERS whose priority fields do the same
            H2Request second = await conn.ReadRequestAsync();
            await conn.WriteAsync(FrameServer.Frame(Http2FrameType.Headers, Http2Frame.FlagEndHeaders | Http2Frame.FlagEndStream | Http2Frame.FlagPriority, second.StreamId, [0, 0, 0, (byte)second.StreamId, 16, .. new HeaderBlock().Status(200).ToArray()]));
            rst = await conn.NextFrameAsync(f => f.Type == Http2FrameType.RstStream, "the client's RST_STREAM");
            resets.Enqueue((rst.StreamId, (Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(rst.Payload)));

            H2Request third = await conn.ReadRequestAsync();
            await conn.RespondAsync(third.StreamId, 200, "third");
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        foreach (string path in (string[])["/priority", "/headers"])
        {
            HttpProtocolException error = await Assert.ThrowsAsync<HttpProtocolException>(() => client.SendAsync(Request(HttpMethod.Get, server.Port, path), CancellationToken.None).WaitAsync(s_backstop));
            Assert.Equal((long)Http2ErrorCode.ProtocolError, error.ErrorCode);
            Assert.Contains("depend on itself", error.Message, StringComparison.Ordinal);
        }

        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port, "/third"), CancellationToken.None).WaitAsync(s_backstop);
        Assert.Equal("third", await BodyAsync(response));
        Assert.Equal([(1, Http2ErrorCode.ProtocolError), (3, Http2ErrorCode.ProtocolError)], resets);
        Assert.Equal(1, server.Accepted);
        Assert.Equal(1, handler.OpenConnections(server.Authority));
    }

    [Fact]
    public async Task A_response_to_a_stream_the_client_reset_still_updates_the_dynamic_table()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reset = new TaskCompletionSource<Http2ErrorCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request first = await conn.ReadRequestAsync();
            cancelled.TrySetResult();
            RawFrame rst = await conn.NextFrameAsync(f => f.Type == Http2FrameType.RstStream && f.StreamId == first.StreamId, "the client's RST_STREAM");
            reset.TrySetResult((Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(rst.Payload));

            // the answer crosses the reset: the client must still decode it, for the table is the connection's
            await conn.WriteHeadersAsync(first.StreamId, new HeaderBlock().Status(200).Indexing("x-dyn", "from the reset stream").ToArray(), endStream: false);
            await conn.WriteDataAsync(first.StreamId, "dropped", endStream: true);

            H2Request second = await conn.ReadRequestAsync();
            await conn.WriteHeadersAsync(second.StreamId, new HeaderBlock().Status(200).Indexed(62).ToArray(), endStream: false);
            await conn.WriteDataAsync(second.StreamId, "second", endStream: true);
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        using var cts = new CancellationTokenSource();
        Task<HttpResponseMessage> first = client.SendAsync(Request(HttpMethod.Get, server.Port, "/cancelled"), cts.Token);
        await cancelled.Task.WaitAsync(s_backstop);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first.WaitAsync(s_backstop));
        Assert.Equal(Http2ErrorCode.Cancel, await reset.Task.WaitAsync(s_backstop));

        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port, "/second"), CancellationToken.None).WaitAsync(s_backstop);
        Assert.Equal("from the reset stream", Assert.Single(response.Headers.GetValues("x-dyn")));
        Assert.Equal("second", await BodyAsync(response));
        Assert.Equal(1, server.Accepted);
        Assert.Equal(1, handler.OpenConnections(server.Authority));
    }

    [Fact]
    public async Task A_complete_response_then_rst_stream_no_error_keeps_the_response_and_stops_the_request_body()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var afterReset = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request post = await conn.ReadRequestAsync();
            RawFrame part = await conn.NextFrameAsync(f => f.Type == Http2FrameType.Data, "the first part of the body");
            await conn.WriteHeadersAsync(post.StreamId, new HeaderBlock().Status(413).ToArray(), endStream: false);
            await conn.WriteDataAsync(post.StreamId, "too large after " + Encoding.ASCII.GetString(part.Payload), endStream: true);
            await conn.ResetAsync(post.StreamId, Http2ErrorCode.NoError); // RFC 9113 §8.1: no more of the body, please

            H2Request next = await conn.ReadRequestAsync(); // skips whatever came before it
            afterReset.TrySetResult($"next on stream {next.StreamId}");
            await conn.ExpectNoDataAsync(TimeSpan.FromMilliseconds(300)); // the rest of the first body never comes
            await conn.RespondAsync(next.StreamId, 200, "next");
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        var content = new GatedContent(release.Task, "first part", "second part");
        using (HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Post, server.Port, "/upload", content), CancellationToken.None).WaitAsync(s_backstop))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
            Assert.Equal("too large after first part", await BodyAsync(response));
        }

        release.SetResult();
        await content.Done.WaitAsync(s_backstop); // the body's copy ends without an error surfacing anywhere
        using (HttpResponseMessage next = await client.SendAsync(Request(HttpMethod.Get, server.Port, "/next"), CancellationToken.None).WaitAsync(s_backstop))
        {
            Assert.Equal("next", await BodyAsync(next));
        }

        Assert.Equal("next on stream 3", await afterReset.Task.WaitAsync(s_backstop));
        Assert.Equal(1, server.Accepted);
        Assert.Equal(1, handler.OpenConnections(server.Authority));
    }

    [Fact]
    public async Task A_server_whose_settings_allow_no_streams_fails_the_request_instead_of_opening_connection_after_connection()
    {
        FrameServer server = Frames(static (conn, _) => conn.WaitClosedAsync(), (Http2Frame.SettingMaxConcurrentStreams, 0));
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        HttpRequestException error = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Request(HttpMethod.Get, server.Port), CancellationToken.None).WaitAsync(s_backstop));
        Assert.Contains("SETTINGS_MAX_CONCURRENT_STREAMS", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.Accepted);
        Assert.Equal(0, handler.OpenConnections(server.Authority));
    }

    [Theory]
    [InlineData("HEAD", 200)]
    [InlineData("GET", 204)]
    [InlineData("GET", 304)]
    public async Task Data_in_a_response_that_has_no_content_resets_the_stream_with_protocol_error(string method, int status)
    {
        var reset = new TaskCompletionSource<Http2ErrorCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request request = await conn.ReadRequestAsync();
            await conn.WriteHeadersAsync(request.StreamId, new HeaderBlock().Status(status).Field("content-length", "7").ToArray(), endStream: false);
            await conn.WriteDataAsync(request.StreamId, "content", endStream: true);
            RawFrame rst = await conn.NextFrameAsync(f => f.Type == Http2FrameType.RstStream, "the client's RST_STREAM");
            reset.TrySetResult((Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(rst.Payload));
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        Exception? error = await Record.ExceptionAsync(async () =>
        {
            using HttpResponseMessage response = await client.SendAsync(Request(method == "HEAD" ? HttpMethod.Head : HttpMethod.Get, server.Port, "/no-content"), CancellationToken.None).WaitAsync(s_backstop);
            Assert.Equal(status, (int)response.StatusCode);
            await BodyAsync(response).WaitAsync(s_backstop);
        });
        HttpProtocolException protocol = Assert.IsType<HttpProtocolException>(error);
        Assert.Equal((long)Http2ErrorCode.ProtocolError, protocol.ErrorCode);
        Assert.Equal(Http2ErrorCode.ProtocolError, await reset.Task.WaitAsync(s_backstop));
    }

    [Fact]
    public async Task A_request_refused_on_opening_after_a_goaway_leaves_no_slot_and_the_connection_closes()
    {
        var sendGoAway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var goAwaySeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            await sendGoAway.Task.WaitAsync(s_backstop);
            await conn.GoAwayAsync(0, Http2ErrorCode.NoError);
            await conn.WriteAsync(FrameServer.Frame(Http2FrameType.Ping, 0, 0, new byte[8]));
            await conn.NextFrameAsync(f => f.Type == Http2FrameType.Ping && (f.Flags & Http2Frame.FlagAck) != 0, "the PING ACK after the GOAWAY");
            goAwaySeen.TrySetResult();
            await conn.WaitClosedAsync();
            closed.TrySetResult();
        });
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        var pool = new LeanHttp2Pool(handler, new DnsEndPoint("127.0.0.1", server.Port), server.Authority);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, server.Port);
        var connection = new LeanHttp2Connection(pool, tcp.GetStream());
        await connection.StartAsync(s_backstop);

        Assert.True(connection.TryReserve()); // a request takes the connection's slot...
        sendGoAway.SetResult();
        await goAwaySeen.Task.WaitAsync(s_backstop); // ...the GOAWAY is handled before it opens its stream...
        using HttpRequestMessage request = Request(HttpMethod.Get, server.Port);
        HttpProtocolException refused = Assert.Throws<HttpProtocolException>(() => connection.Open(request, new HeaderBlock().Status(200).ToArray(), endStream: true));
        Assert.Equal((long)Http2ErrorCode.RefusedStream, refused.ErrorCode);
        await closed.Task.WaitAsync(s_backstop); // ...and giving the slot back leaves nothing open: the connection closes
    }

    [Fact]
    public async Task Headers_after_the_response_ended_reset_the_stream_with_stream_closed_and_add_no_trailers()
    {
        var bodyRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reset = new TaskCompletionSource<Http2ErrorCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            H2Request post = await conn.ReadRequestAsync();
            await conn.NextFrameAsync(f => f.Type == Http2FrameType.Data, "the first part of the body"); // the rest waits
            await conn.WriteHeadersAsync(post.StreamId, new HeaderBlock().Status(200).ToArray(), endStream: false);
            await conn.WriteDataAsync(post.StreamId, "done", endStream: true);
            await bodyRead.Task.WaitAsync(s_backstop);

            // the stream is half-closed (remote): HEADERS on it now are a stream error (RFC 9113 §5.1)
            await conn.WriteHeadersAsync(post.StreamId, new HeaderBlock().Field("x-late", "1").ToArray(), endStream: true);
            RawFrame rst = await conn.NextFrameAsync(f => f.Type == Http2FrameType.RstStream, "the client's RST_STREAM");
            Assert.Equal(post.StreamId, rst.StreamId);
            reset.TrySetResult((Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(rst.Payload));
            await conn.WaitClosedAsync();
        });
        using HttpMessageInvoker client = Client(out _);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var content = new GatedContent(release.Task, "first part", "second part");
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Post, server.Port, "/late", content), CancellationToken.None).WaitAsync(s_backstop);
        using (var reader = new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.Latin1, false, 1024, leaveOpen: true))
        {
            Assert.Equal("done", await reader.ReadToEndAsync().WaitAsync(s_backstop)); // to its end, the body not disposed
        }

        bodyRead.SetResult();
        Assert.Equal(Http2ErrorCode.StreamClosed, await reset.Task.WaitAsync(s_backstop));
        Assert.False(response.TrailingHeaders.Contains("x-late"));
        release.SetResult();
        await Assert.ThrowsAnyAsync<IOException>(() => content.Done.WaitAsync(s_backstop)); // the reset ends the request body
    }

    [Fact]
    public async Task A_server_whose_first_frame_is_not_settings_fails_the_connection_with_protocol_error()
    {
        var goAway = new TaskCompletionSource<Http2ErrorCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        FrameServer server = Frames(async (conn, _) =>
        {
            await conn.WriteAsync(FrameServer.Frame(Http2FrameType.Ping, 0, 0, new byte[8])); // not the server preface (RFC 9113 §3.4)
            await conn.WriteSettingsAsync();
            RawFrame frame = await conn.NextFrameAsync(f => f.Type is Http2FrameType.GoAway or Http2FrameType.Headers, "the client's GOAWAY");
            if (frame.Type == Http2FrameType.Headers)
            {
                await conn.RespondAsync(frame.StreamId, 200, "answered");
                goAway.TrySetResult(Http2ErrorCode.NoError);
            }
            else
            {
                goAway.TrySetResult((Http2ErrorCode)BinaryPrimitives.ReadUInt32BigEndian(frame.Payload.AsSpan(4)));
            }

            await conn.WaitClosedAsync();
        }, null);
        using HttpMessageInvoker client = Client(out LeanHttp2Handler handler);
        Exception? error = await Record.ExceptionAsync(async () =>
        {
            using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get, server.Port), CancellationToken.None).WaitAsync(s_backstop);
        });
        Assert.IsType<HttpRequestException>(error);
        Assert.Equal(Http2ErrorCode.ProtocolError, await goAway.Task.WaitAsync(s_backstop));
        Assert.Equal(0, handler.OpenConnections(server.Authority));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Helpers
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>Stands for SocketsHttpHandler: answers 202 without a connection.</summary>
    /// <summary>Reads <paramref name="body"/> to its end (or its failure), each read bounded by the backstop.</summary>
    private static async Task ReadToEndAsync(Stream body)
    {
        byte[] buffer = new byte[1024];
        while (await body.ReadAsync(buffer).AsTask().WaitAsync(s_backstop) > 0)
        {
        }
    }

    private sealed class MarkerHandler : HttpMessageHandler
    {
        public int Calls;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.Accepted));
        }
    }

    /// <summary>A body of a known or unknown length written in pieces of the test pattern.</summary>
    private sealed class PatternContent(long length, int piece, bool knownLength) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            byte[] buffer = new byte[piece];
            for (long sent = 0; sent < length;)
            {
                int n = (int)Math.Min(piece, length - sent);
                FillPattern(buffer.AsSpan(0, n), sent);
                await stream.WriteAsync(buffer.AsMemory(0, n));
                sent += n;
            }
        }

        protected override bool TryComputeLength(out long computed)
        {
            computed = length;
            return knownLength;
        }
    }

    /// <summary>A body of unknown length in pieces, waiting for a gate before the last one.</summary>
    private sealed class GatedContent(Task beforeLast, params string[] pieces) : HttpContent
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Done => _done.Task;

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            try
            {
                for (int i = 0; i < pieces.Length; i++)
                {
                    if (i == pieces.Length - 1)
                    {
                        await stream.FlushAsync();
                        await beforeLast;
                    }

                    await stream.WriteAsync(Encoding.ASCII.GetBytes(pieces[i]));
                }

                _done.TrySetResult();
            }
            catch (Exception ex)
            {
                _done.TrySetException(ex);
                throw;
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }

    /// <summary>A Kestrel app on 127.0.0.1 speaking only HTTP/2 over cleartext (prior knowledge).</summary>
    private sealed class KestrelApp : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private KestrelApp(WebApplication app, int port)
        {
            _app = app;
            Port = port;
        }

        public int Port { get; }

        public string Authority => $"127.0.0.1:{Port}";

        public static async Task<KestrelApp> StartAsync(RequestDelegate handler, Action<KestrelServerOptions>? configure)
        {
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.Limits.MaxRequestBodySize = null;
                configure?.Invoke(k);
                k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2);
            });
            WebApplication app = builder.Build();
            app.Run(handler);
            await app.StartAsync();
            string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new KestrelApp(app, new Uri(address).Port);
        }

        public Task StopAsync() => _app.StopAsync();

        public ValueTask DisposeAsync() => _app.DisposeAsync();
    }

    /// <summary>Builds a response header block by hand: every HPACK representation a server may choose.</summary>
    private sealed class HeaderBlock
    {
        private readonly byte[] _bytes = new byte[160 * 1024];
        private int _length;

        private Span<byte> Rest => _bytes.AsSpan(_length);

        public HeaderBlock Status(int status)
        {
            _length += status == 200
                ? HPackEncoder.WriteIndexed(HPackStaticTable.Status200, Rest)
                : HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.Status200, Encoding.ASCII.GetBytes(status.ToString(CultureInfo.InvariantCulture)), Rest);
            return this;
        }

        /// <summary>A literal without indexing, the name as given (not lower-cased).</summary>
        public HeaderBlock Field(string name, string value)
        {
            _length += HPackEncoder.WriteLiteralWithoutIndexingNewName(Encoding.Latin1.GetBytes(name), Encoding.Latin1.GetBytes(value), Rest);
            return this;
        }

        public HeaderBlock Indexed(int index)
        {
            _length += HPackEncoder.WriteIndexed(index, Rest);
            return this;
        }

        /// <summary>A literal with incremental indexing and a literal name (RFC 7541 §6.2.1).</summary>
        public HeaderBlock Indexing(string name, string value)
        {
            _bytes[_length++] = 0x40;
            String(name, huffman: false);
            String(value, huffman: false);
            return this;
        }

        /// <summary>A literal with incremental indexing whose name is a static entry.</summary>
        public HeaderBlock IndexingStaticName(int nameIndex, string value)
        {
            _length += HPackEncoder.WriteInteger(nameIndex, 6, 0x40, Rest);
            String(value, huffman: false);
            return this;
        }

        /// <summary>A literal without indexing whose value (and optionally name) is Huffman-coded (H bit set).</summary>
        public HeaderBlock Huffman(string name, string value, bool huffmanName)
        {
            _bytes[_length++] = 0x00;
            String(name, huffmanName);
            String(value, huffman: true);
            return this;
        }

        private void String(string text, bool huffman)
        {
            byte[] raw = Encoding.Latin1.GetBytes(text);
            if (huffman)
            {
                _length += HPackEncoder.WriteInteger(HPackHuffman.GetEncodedLength(raw), 7, 0x80, Rest);
                _length += HPackHuffman.Encode(raw, Rest);
            }
            else
            {
                _length += HPackEncoder.WriteInteger(raw.Length, 7, 0x00, Rest);
                raw.CopyTo(Rest);
                _length += raw.Length;
            }
        }

        public byte[] ToArray() => _bytes[.._length];
    }

    private sealed record RawFrame(Http2FrameType Type, byte Flags, int StreamId, byte[] Payload);

    private sealed record H2Request(int StreamId, bool EndStream, List<(string Name, string Value)> Fields, int FrameCount, byte[] Block)
    {
        public string? Value(string name)
        {
            foreach ((string Name, string Value) field in Fields)
            {
                if (field.Name == name)
                {
                    return field.Value;
                }
            }

            return null;
        }
    }

    private sealed class FieldList : IHPackHeaderSink
    {
        public List<(string Name, string Value)> Fields { get; } = [];

        public void OnHeader(int staticIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
            => Fields.Add((Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
    }

    /// <summary>An HTTP/2 server on 127.0.0.1 that speaks in hand-made frames: each connection gets a SETTINGS with
    /// <see cref="Settings"/>, then <see cref="OnConnection"/> (with the connection's index, 0 for the first).</summary>
    private sealed class FrameServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<Task> _handlers = [];
        private readonly List<FrameConnection> _connections = [];
        private readonly Task _accepting;
        private int _accepted;

        public FrameServer()
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _accepting = AcceptAsync();
        }

        public int Port { get; }

        public string Authority => $"127.0.0.1:{Port}";

        public int Accepted => Volatile.Read(ref _accepted);

        public Func<FrameConnection, int, Task> OnConnection { get; init; } = (_, _) => Task.CompletedTask;

        /// <summary>What each connection's first SETTINGS carries (empty unless set); null: no SETTINGS is written first.</summary>
        public (ushort Id, int Value)[]? Settings { get; init; } = [];

        public static byte[] Frame(Http2FrameType type, byte flags, int streamId, ReadOnlySpan<byte> payload)
        {
            byte[] frame = new byte[Http2Frame.HeaderLength + payload.Length];
            Http2Frame.WriteHeader(frame, payload.Length, type, flags, streamId);
            payload.CopyTo(frame.AsSpan(Http2Frame.HeaderLength));
            return frame;
        }

        private async Task AcceptAsync()
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception)
                {
                    return;
                }

                int index = Interlocked.Increment(ref _accepted) - 1;
                var connection = new FrameConnection(socket);
                lock (_handlers)
                {
                    _connections.Add(connection);
                    _handlers.Add(Task.Run(async () =>
                    {
                        try
                        {
                            if (Settings is not null)
                            {
                                await connection.WriteSettingsAsync(Settings);
                            }

                            await OnConnection(connection, index);
                        }
                        finally
                        {
                            await connection.DisposeAsync();
                        }
                    }));
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            await _accepting;
            Task[] handlers;
            FrameConnection[] connections;
            lock (_handlers)
            {
                handlers = [.. _handlers];
                connections = [.. _connections];
            }

            try
            {
                await Task.WhenAll(handlers).WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception)
            {
                // a handler still waiting, or one that failed: looked at below
            }

            foreach (FrameConnection connection in connections)
            {
                await connection.DisposeAsync();
            }

            foreach (Task handler in handlers)
            {
                if (handler.Exception?.InnerException is Xunit.Sdk.XunitException failure)
                {
                    ExceptionDispatchInfo.Throw(failure); // an assertion on the server's side
                }
            }
        }
    }

    /// <summary>One accepted connection: a pump reads the preface and every frame into a queue; writes are whole frames.</summary>
    private sealed class FrameConnection : IAsyncDisposable
    {
        private readonly NetworkStream _stream;
        private readonly System.Threading.Channels.Channel<RawFrame> _frames = System.Threading.Channels.Channel.CreateUnbounded<RawFrame>();
        private readonly SemaphoreSlim _writeLock = new(1, 1);
        private readonly HPackDecoder _decoder = new();
        private readonly Task _pump;
        private volatile TaskCompletionSource? _paused;

        public FrameConnection(Socket socket)
        {
            _stream = new NetworkStream(socket, ownsSocket: true);
            _pump = Task.Run(PumpAsync);
        }

        public bool PrefaceReceived { get; private set; }

        private async Task PumpAsync()
        {
            try
            {
                byte[] preface = new byte[Http2Frame.ClientPreface.Length];
                await _stream.ReadExactlyAsync(preface);
                PrefaceReceived = Http2Frame.ClientPreface.SequenceEqual(preface);
                if (!PrefaceReceived)
                {
                    return;
                }

                byte[] header = new byte[Http2Frame.HeaderLength];
                while (true)
                {
                    if (_paused is { } paused)
                    {
                        await paused.Task;
                    }

                    await _stream.ReadExactlyAsync(header);
                    Http2Frame.ReadHeader(header, out int length, out Http2FrameType type, out byte flags, out int streamId);
                    byte[] payload = new byte[length];
                    await _stream.ReadExactlyAsync(payload);
                    _frames.Writer.TryWrite(new RawFrame(type, flags, streamId, payload));
                }
            }
            catch (Exception)
            {
                // the client closed (end of stream) or reset the connection
            }
            finally
            {
                _frames.Writer.TryComplete();
            }
        }

        /// <summary>Stops reading from the socket (after the frame being read, if any): what the client writes then fills
        /// the socket buffers until <see cref="ResumeReading"/>.</summary>
        public void PauseReading() => _paused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void ResumeReading() => Interlocked.Exchange(ref _paused, null)?.TrySetResult();

        /// <summary>The next frame, null when the client closed; throws <see cref="TimeoutException"/> after <paramref name="within"/>.</summary>
        public async Task<RawFrame?> TryNextFrameAsync(TimeSpan? within = null)
        {
            using var timeout = new CancellationTokenSource(within ?? s_backstop);
            try
            {
                while (await _frames.Reader.WaitToReadAsync(timeout.Token))
                {
                    if (_frames.Reader.TryRead(out RawFrame? frame))
                    {
                        return frame;
                    }
                }

                return null;
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no frame from the client within {within ?? s_backstop}");
            }
        }

        public Task<RawFrame> NextFrameAsync(string what) => NextFrameAsync(static _ => true, what);

        /// <summary>The next frame that matches, skipping the others.</summary>
        public async Task<RawFrame> NextFrameAsync(Func<RawFrame, bool> match, string what)
        {
            while (true)
            {
                RawFrame? frame = await TryNextFrameAsync();
                if (frame is null)
                {
                    throw new Xunit.Sdk.XunitException($"The client closed the connection before {what}.");
                }

                if (match(frame))
                {
                    return frame;
                }
            }
        }

        /// <summary>Reads frames for <paramref name="period"/>; fails on DATA.</summary>
        public async Task ExpectNoDataAsync(TimeSpan period)
        {
            var stopwatch = Stopwatch.StartNew();
            while (stopwatch.Elapsed < period)
            {
                RawFrame? frame;
                try
                {
                    frame = await TryNextFrameAsync(period - stopwatch.Elapsed);
                }
                catch (TimeoutException)
                {
                    return;
                }

                if (frame is null)
                {
                    throw new Xunit.Sdk.XunitException("The client closed the connection.");
                }

                if (frame.Type == Http2FrameType.Data)
                {
                    throw new Xunit.Sdk.XunitException($"The client sent {frame.Payload.Length} bytes of DATA on stream {frame.StreamId} beyond its flow-control window.");
                }
            }
        }

        /// <summary>The next request's HEADERS (and CONTINUATIONs), decoded.</summary>
        public async Task<H2Request> ReadRequestAsync()
        {
            RawFrame headers = await NextFrameAsync(f => f.Type == Http2FrameType.Headers, "a request's HEADERS");
            Assert.Equal(0, headers.Flags & (Http2Frame.FlagPadded | Http2Frame.FlagPriority));
            byte[] block = headers.Payload;
            int frameCount = 1;
            bool endHeaders = (headers.Flags & Http2Frame.FlagEndHeaders) != 0;
            while (!endHeaders)
            {
                RawFrame continuation = await NextFrameAsync("a CONTINUATION");
                frameCount++;
                Assert.InRange(continuation.Payload.Length, 0, Http2Frame.DefaultMaxFrameSize);
                Assert.Equal(Http2FrameType.Continuation, continuation.Type);
                Assert.Equal(headers.StreamId, continuation.StreamId);
                block = [.. block, .. continuation.Payload];
                endHeaders = (continuation.Flags & Http2Frame.FlagEndHeaders) != 0;
            }

            var fields = new FieldList();
            _decoder.Decode(block, fields);
            return new H2Request(headers.StreamId, (headers.Flags & Http2Frame.FlagEndStream) != 0, fields.Fields, frameCount, block);
        }

        public async Task WriteAsync(params byte[][] frames)
        {
            await _writeLock.WaitAsync();
            try
            {
                foreach (byte[] frame in frames)
                {
                    await _stream.WriteAsync(frame);
                }
            }
            finally
            {
                _writeLock.Release();
            }
        }

        public Task WriteSettingsAsync(params (ushort Id, int Value)[] settings)
        {
            byte[] payload = new byte[settings.Length * 6];
            for (int i = 0; i < settings.Length; i++)
            {
                BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(i * 6), settings[i].Id);
                BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan((i * 6) + 2), settings[i].Value);
            }

            return WriteAsync(FrameServer.Frame(Http2FrameType.Settings, 0, 0, payload));
        }

        public Task WriteHeadersAsync(int streamId, byte[] block, bool endStream)
            => WriteAsync(FrameServer.Frame(Http2FrameType.Headers, (byte)(Http2Frame.FlagEndHeaders | (endStream ? Http2Frame.FlagEndStream : 0)), streamId, block));

        public Task WriteDataAsync(int streamId, string text, bool endStream)
            => WriteAsync(FrameServer.Frame(Http2FrameType.Data, endStream ? Http2Frame.FlagEndStream : (byte)0, streamId, Encoding.Latin1.GetBytes(text)));

        public Task RespondAsync(int streamId, int status, string body)
            => WriteAsync(
                FrameServer.Frame(Http2FrameType.Headers, Http2Frame.FlagEndHeaders, streamId, new HeaderBlock().Status(status).ToArray()),
                FrameServer.Frame(Http2FrameType.Data, Http2Frame.FlagEndStream, streamId, Encoding.Latin1.GetBytes(body)));

        public Task ResetAsync(int streamId, Http2ErrorCode code)
        {
            byte[] payload = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)code);
            return WriteAsync(FrameServer.Frame(Http2FrameType.RstStream, 0, streamId, payload));
        }

        public Task GoAwayAsync(int lastStreamId, Http2ErrorCode code)
        {
            byte[] payload = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(payload, lastStreamId);
            BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(4), (uint)code);
            return WriteAsync(FrameServer.Frame(Http2FrameType.GoAway, 0, 0, payload));
        }

        public Task WindowUpdateAsync(int streamId, int increment)
        {
            byte[] payload = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(payload, increment);
            return WriteAsync(FrameServer.Frame(Http2FrameType.WindowUpdate, 0, streamId, payload));
        }

        /// <summary>Reads (and drops) frames until the client closes the connection.</summary>
        public async Task WaitClosedAsync()
        {
            while (await TryNextFrameAsync() is not null)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stream.DisposeAsync();
            ResumeReading();
            await _pump;
        }
    }
}
