using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using BelizeMesh.Proxy.Forwarding;

namespace BelizeMesh.Proxy.Tests.Upstream;

/// <summary>
/// <see cref="LeanHttp1Handler"/> against a raw socket server on 127.0.0.1: what it writes, how it reads each kind of
/// response body, when it reuses a connection, and which requests it leaves to the inner handler.
/// </summary>
public sealed class LeanHttp1HandlerTests : IAsyncDisposable
{
    private static readonly TimeSpan s_backstop = TimeSpan.FromSeconds(30);

    private readonly RawServer _server = new();
    private readonly MarkerHandler _inner = new();

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    /// <param name="wrap">Wraps each connection's stream (to watch or steer what the client reads).</param>
    private HttpMessageInvoker Client(out LeanHttp1Handler handler, int maxConnections = int.MaxValue, Func<Stream, Stream>? wrap = null)
    {
        LeanConnectCallback connect = wrap is null
            ? static (endPoint, ct) => UpstreamClientFactory.ConnectPlaintextAsync(endPoint, ct)
            : async (endPoint, ct) => wrap(await UpstreamClientFactory.ConnectPlaintextAsync(endPoint, ct));
        handler = new LeanHttp1Handler(_inner, connect, maxConnections, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1));
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    private HttpRequestMessage Request(HttpMethod method, string path = "/x", HttpContent? content = null)
        => new(method, $"http://127.0.0.1:{_server.Port}{path}") { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower, Content = content };

    private static async Task<string> BodyAsync(HttpResponseMessage response)
    {
        using Stream body = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(body, Encoding.Latin1);
        return await reader.ReadToEndAsync();
    }

    [Fact]
    public async Task Content_length_responses_reuse_one_connection_and_the_head_carries_the_request_headers()
    {
        var heads = new List<string>();
        _server.OnConnection = async conn =>
        {
            while (await conn.ReadHeadAsync() is { } head)
            {
                lock (heads)
                {
                    heads.Add(head);
                }

                await conn.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Reply: one\r\nContent-Type: text/plain\r\n\r\nhello");
            }
        };
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler);
        for (int i = 0; i < 3; i++)
        {
            using HttpRequestMessage request = Request(HttpMethod.Get);
            request.Headers.TryAddWithoutValidation("X-Multi", ["a", "b"]);
            using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("one", Assert.Single(response.Headers.GetValues("X-Reply")));
            Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("hello", await BodyAsync(response));
        }

        Assert.Equal(1, _server.Accepted);
        Assert.Equal(3, handler.LeanRequests);
        Assert.Equal(0, handler.DelegatedRequests);
        Assert.StartsWith("GET /x HTTP/1.1\r\n", heads[0], StringComparison.Ordinal);
        Assert.Contains($"\r\nHost: 127.0.0.1:{_server.Port}\r\n", heads[0], StringComparison.Ordinal);
        Assert.Contains("\r\nX-Multi: a, b\r\n", heads[0], StringComparison.Ordinal);
        Assert.DoesNotContain("Content-Length", heads[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_host_header_of_the_request_is_sent_and_a_post_without_content_says_content_length_0()
    {
        string? head = null;
        _server.OnConnection = async conn =>
        {
            head = await conn.ReadHeadAsync();
            await conn.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        };
        using HttpMessageInvoker client = Client(out _);
        using HttpRequestMessage request = Request(HttpMethod.Post, "/p?q=1");
        request.Headers.TryAddWithoutValidation("Host", "nawal.test");
        using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
        Assert.Equal("", await BodyAsync(response));
        Assert.StartsWith("POST /p?q=1 HTTP/1.1\r\nHost: nawal.test\r\n", head, StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Length: 0\r\n", head, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", head, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_ipv6_endpoint_gets_a_bracketed_host_header()
    {
        await using var server = new RawServer(IPAddress.IPv6Loopback);
        string? head = null;
        server.OnConnection = async conn =>
        {
            head = await conn.ReadHeadAsync();
            await conn.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6");
        };
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://[::1]:{server.Port}/six") { Version = HttpVersion.Version11 };
        using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
        Assert.Equal("v6", await BodyAsync(response));
        Assert.Contains($"\r\nHost: [::1]:{server.Port}\r\n", head, StringComparison.Ordinal);
        Assert.Equal(1, handler.LeanRequests);
    }

    [Fact]
    public async Task A_body_of_unknown_length_goes_chunked_and_a_chunked_response_gives_its_trailers()
    {
        var bodies = new List<string>();
        string? firstHead = null;
        _server.OnConnection = async conn =>
        {
            while (await conn.ReadHeadAsync() is { } head)
            {
                firstHead ??= head;
                string body = await conn.ReadChunkedBodyAsync();
                lock (bodies)
                {
                    bodies.Add(body);
                }

                await conn.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nfoo\r\n4;ext=1\r\nbar!\r\n0\r\nX-Trailer: t1\r\nX-Other: t2\r\n\r\n");
            }
        };
        using HttpMessageInvoker client = Client(out _);
        for (int i = 0; i < 2; i++)
        {
            using HttpRequestMessage request = Request(HttpMethod.Post, content: new PiecesContent("abc", "", "defgh"));
            using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
            Assert.Equal("foobar!", await BodyAsync(response));
            Assert.Equal("t1", Assert.Single(response.TrailingHeaders.GetValues("X-Trailer")));
            Assert.Equal("t2", Assert.Single(response.TrailingHeaders.GetValues("X-Other")));
        }

        Assert.Equal(["abcdefgh", "abcdefgh"], bodies);
        Assert.Contains("\r\nTransfer-Encoding: chunked\r\n", firstHead, StringComparison.Ordinal);
        Assert.Equal(1, _server.Accepted);
    }

    [Fact]
    public async Task A_body_with_a_copied_content_length_is_sent_as_is()
    {
        string? head = null;
        string? body = null;
        _server.OnConnection = async conn =>
        {
            head = await conn.ReadHeadAsync();
            body = await conn.ReadExactAsync(10);
            await conn.WriteAsync("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
        };
        using HttpMessageInvoker client = Client(out _);
        var content = new PiecesContent("01234", "56789");
        content.Headers.TryAddWithoutValidation("Content-Length", "10"); // as YARP copies it
        using HttpRequestMessage request = Request(HttpMethod.Put, content: content);
        using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("ok", await BodyAsync(response));
        Assert.Equal("0123456789", body);
        Assert.Contains("\r\nContent-Length: 10\r\n", head, StringComparison.Ordinal);
        Assert.DoesNotContain("Transfer-Encoding", head, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_shorter_than_its_content_length_fails_the_request_and_closes_the_connection()
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            await conn.DrainUntilClosedAsync();
            closed.TrySetResult();
        };
        using HttpMessageInvoker client = Client(out _);
        var content = new PiecesContent("0123");
        content.Headers.TryAddWithoutValidation("Content-Length", "10");
        using HttpRequestMessage request = Request(HttpMethod.Put, content: content);
        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(request, CancellationToken.None));
        await closed.Task.WaitAsync(s_backstop);
    }

    [Fact]
    public async Task A_close_delimited_response_is_read_to_the_end_and_its_connection_is_not_reused()
    {
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            await conn.WriteAsync("HTTP/1.1 200 OK\r\nServer: old\r\n\r\nuntil the end");
            conn.Close();
        };
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler);
        for (int i = 0; i < 2; i++)
        {
            using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
            Assert.Equal("until the end", await BodyAsync(response));
        }

        Assert.Equal(2, _server.Accepted);
        Assert.Equal(0, handler.OpenConnections($"127.0.0.1:{_server.Port}"));
    }

    [Fact]
    public async Task Head_204_and_304_responses_have_no_body_and_keep_the_connection()
    {
        string[] replies =
        [
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: \"e\"\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast",
        ];
        _server.OnConnection = async conn =>
        {
            int i = 0;
            while (await conn.ReadHeadAsync() is not null && i < replies.Length)
            {
                await conn.WriteAsync(replies[i++]);
            }
        };
        using HttpMessageInvoker client = Client(out _);
        using (HttpResponseMessage head = await client.SendAsync(Request(HttpMethod.Head), CancellationToken.None))
        {
            Assert.Equal("", await BodyAsync(head));
            Assert.Equal(100, head.Content.Headers.ContentLength);
            Assert.Equal(100, ((LeanResponseContent)head.Content).DeclaredLength); // as the head said, body or not
        }

        using (HttpResponseMessage noContent = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None))
        {
            Assert.Equal(HttpStatusCode.NoContent, noContent.StatusCode);
            Assert.Equal("", await BodyAsync(noContent));
            Assert.Equal(-1, ((LeanResponseContent)noContent.Content).DeclaredLength); // no Content-Length
        }

        using (HttpResponseMessage notModified = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None))
        {
            Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
            Assert.Equal("", await BodyAsync(notModified));
        }

        using (HttpResponseMessage last = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None))
        {
            Assert.Equal("last", await BodyAsync(last));
        }

        Assert.Equal(1, _server.Accepted);
    }

    [Fact]
    public async Task Interim_1xx_responses_are_skipped()
    {
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            await conn.WriteAsync("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
        };
        using HttpMessageInvoker client = Client(out _);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hi", await BodyAsync(response));
    }

    [Fact]
    public async Task A_response_that_arrives_before_the_body_is_sent_is_returned_at_once()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            await conn.WriteAsync("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig");
            await conn.DrainUntilClosedAsync();
        };
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler);
        var content = new PiecesContent(release.Task, "first part ", "second part");
        using HttpRequestMessage request = Request(HttpMethod.Post, content: content);
        using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None).WaitAsync(s_backstop);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("big", await BodyAsync(response));
        Assert.False(content.Finished); // the body is still waiting for its second part
        release.SetResult();
        await content.Done.WaitAsync(s_backstop);

        // Connection: close: the next request opens another connection
        using HttpResponseMessage next = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, next.StatusCode);
        Assert.Equal(2, _server.Accepted);
    }

    [Theory]
    [InlineData("HTTP/1.1 abc OK\r\n\r\n")]
    [InlineData("SPDY/3 200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\n folded: header\r\n\r\n")]
    [InlineData("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nX-Bad: a\0b\r\nContent-Length: 0\r\n\r\n")] // a NUL or a bare CR in a field value or the reason phrase (RFC 9110 5.5)
    [InlineData("HTTP/1.1 200 OK\r\nX-Bad: a\rSet-Cookie: injected=1\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n")]
    public async Task A_malformed_response_head_fails_with_an_invalid_response_error(string reply)
    {
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            await conn.WriteAsync(reply);
            await conn.DrainUntilClosedAsync();
        };
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler);
        HttpRequestException error = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Request(HttpMethod.Get), CancellationToken.None));
        Assert.Equal(HttpRequestError.InvalidResponse, error.HttpRequestError);
        Assert.Contains("malformed HTTP/1.1 response", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, handler.OpenConnections($"127.0.0.1:{_server.Port}"));
    }

    [Fact]
    public async Task A_response_with_both_transfer_encoding_and_content_length_is_read_chunked_without_its_content_length_and_not_reused()
    {
        _server.OnConnection = async conn =>
        {
            while (await conn.ReadHeadAsync() is not null)
            {
                await conn.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
            }
        };
        using HttpMessageInvoker client = Client(out _);
        for (int i = 0; i < 2; i++)
        {
            using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
            Assert.Equal("hello", await BodyAsync(response));

            // Transfer-Encoding overrides Content-Length, which must not be forwarded (RFC 9112 6.3)
            Assert.Null(response.Content.Headers.ContentLength);
            Assert.False(response.Content.Headers.Contains("Content-Length"));
            Assert.Equal(-1, ((LeanResponseContent)response.Content).DeclaredLength);
        }

        Assert.Equal(2, _server.Accepted);
    }

    [Fact]
    public async Task A_response_head_larger_than_64_KiB_is_refused()
    {
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            await conn.WriteAsync("HTTP/1.1 200 OK\r\nX-Big: " + new string('a', 70 * 1024) + "\r\n\r\n");
            await conn.DrainUntilClosedAsync();
        };
        using HttpMessageInvoker client = Client(out _);
        HttpRequestException error = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Request(HttpMethod.Get), CancellationToken.None));
        Assert.Equal(HttpRequestError.InvalidResponse, error.HttpRequestError);
        Assert.Contains("64 KiB", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\r\n")]
    [InlineData("\n")] // bare LF line ends (RFC 9112 2.2 lets a recipient accept them)
    public async Task A_response_delivered_one_byte_per_read_is_parsed_after_its_interim_heads(string eol)
    {
        // one byte per read: every boundary of the heads, the trailers and their empty lines falls between two reads
        string reply = $"HTTP/1.1 100 Continue{eol}{eol}HTTP/1.1 103 Early Hints{eol}Link: </a>{eol}{eol}"
            + $"HTTP/1.1 200 OK{eol}X-Reply: one{eol}Transfer-Encoding: chunked{eol}{eol}"
            + $"5{eol}hello{eol}0{eol}X-Trailer: t1{eol}{eol}";
        _server.OnConnection = async conn =>
        {
            while (await conn.ReadHeadAsync() is not null)
            {
                await conn.WriteAsync(reply);
            }
        };
        using HttpMessageInvoker client = Client(out _, wrap: inner => new SteeredStream(inner, maxRead: 1));
        for (int i = 0; i < 2; i++)
        {
            using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("one", Assert.Single(response.Headers.GetValues("X-Reply")));
            Assert.False(response.Headers.Contains("Link")); // the interim head's, not the final one's
            Assert.Equal("hello", await BodyAsync(response));
            Assert.Equal("t1", Assert.Single(response.TrailingHeaders.GetValues("X-Trailer")));
        }

        Assert.Equal(1, _server.Accepted);
    }

    [Fact]
    public async Task A_head_chunk_lines_and_trailers_trickled_one_byte_per_read_are_each_scanned_a_bounded_number_of_times()
    {
        // near 64 KiB of short lines in the head and in the trailers, and chunk-size lines near their 4 KiB limit:
        // searching the whole buffer again at each read would examine some 3.5 GB in all; resuming where the last
        // search stopped examines each byte a few times
        var reply = new StringBuilder("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n");
        for (int i = 0; i < 6000; i++)
        {
            reply.Append(CultureInfo.InvariantCulture, $"H{i}: v\r\n");
        }

        reply.Append("\r\n");
        for (int i = 0; i < 4; i++)
        {
            reply.Append("1;ext=").Append('x', 4000).Append("\r\nk\r\n");
        }

        reply.Append("2\r\nok\r\n0\r\n");
        for (int i = 0; i < 6000; i++)
        {
            reply.Append(CultureInfo.InvariantCulture, $"T{i}: v\r\n");
        }

        reply.Append("\r\n");
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            await conn.WriteAsync(reply.ToString());
            await conn.DrainUntilClosedAsync();
        };
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler, wrap: inner => new SteeredStream(inner, maxRead: 1));
        using (HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None))
        {
            Assert.Equal("v", Assert.Single(response.Headers.GetValues("H5999")));
            Assert.Equal("kkkkok", await BodyAsync(response));
            Assert.Equal(6000, response.TrailingHeaders.Count());
            Assert.Equal("v", Assert.Single(response.TrailingHeaders.GetValues("T5999")));
        }

        // the body's end returned the connection to the pool: its count covers the whole exchange
        long scanned = handler.PoolOf($"127.0.0.1:{_server.Port}")!.IdleFramingBytesScanned();
        Assert.InRange(scanned, reply.Length / 2, 3L * reply.Length);
    }

    [Theory]
    [InlineData("3\r\nfoo\r\nzz\r\n")] // a chunk size that is not hexadecimal
    [InlineData("2\r\nok\r\n0\r\nX-Trailer: a\0b\r\n\r\n")] // a NUL in a trailer's value (RFC 9110 5.5)
    public async Task A_malformed_chunked_body_fails_the_body_read(string body)
    {
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            await conn.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
            await conn.DrainUntilClosedAsync();
        };
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
        HttpIOException error = await Assert.ThrowsAsync<HttpIOException>(() => BodyAsync(response));
        Assert.Equal(HttpRequestError.InvalidResponse, error.HttpRequestError);
        Assert.Equal(0, handler.OpenConnections($"127.0.0.1:{_server.Port}"));
    }

    [Theory]
    [InlineData("Connection: close")] // the server closes after this response
    [InlineData("Keep-Alive: timeout=1, max=100")] // one second or less: not worth waiting for
    public async Task A_response_that_ends_keep_alive_is_not_reused(string header)
    {
        _server.OnConnection = async conn =>
        {
            while (await conn.ReadHeadAsync() is not null)
            {
                await conn.WriteAsync($"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{header}\r\n\r\nok");
            }
        };
        using HttpMessageInvoker client = Client(out _);
        for (int i = 0; i < 2; i++)
        {
            using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
            Assert.Equal("ok", await BodyAsync(response));
        }

        Assert.Equal(2, _server.Accepted);
    }

    [Fact]
    public async Task A_connection_the_server_closed_while_idle_is_replaced()
    {
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            await conn.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            conn.Close(); // no Connection: close: the client learns it from the socket
        };
        using HttpMessageInvoker client = Client(out _);
        for (int i = 0; i < 3; i++)
        {
            using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
            Assert.Equal("ok", await BodyAsync(response));
        }

        Assert.Equal(3, _server.Accepted);
    }

    [Fact]
    public async Task Cancelling_in_the_middle_of_the_body_closes_the_connection()
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int connections = 0;
        _server.OnConnection = async conn =>
        {
            if (Interlocked.Increment(ref connections) == 1)
            {
                await conn.ReadHeadAsync();
                await conn.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
                await conn.DrainUntilClosedAsync();
                closed.TrySetResult();
                return;
            }

            await conn.ReadHeadAsync();
            await conn.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        };
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler);
        using (HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None))
        {
            Stream body = await response.Content.ReadAsStreamAsync();
            byte[] buffer = new byte[100];
            int read = 0;
            while (read < 10)
            {
                read += await body.ReadAsync(buffer.AsMemory(read));
            }

            using var cts = new CancellationTokenSource();
            Task<int> blocked = body.ReadAsync(buffer.AsMemory(read), cts.Token).AsTask();
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked);
            Assert.Equal(0, handler.OpenConnections($"127.0.0.1:{_server.Port}"));
            await Assert.ThrowsAsync<HttpIOException>(() => body.ReadAsync(buffer.AsMemory(read)).AsTask()); // not a clean end
        }

        await closed.Task.WaitAsync(s_backstop);
        using HttpResponseMessage next = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
        Assert.Equal("ok", await BodyAsync(next));
        Assert.Equal(2, _server.Accepted);
    }

    [Fact]
    public async Task A_body_the_upstream_cut_short_keeps_failing_when_read_again_instead_of_ending_as_complete()
    {
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            await conn.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel");
            conn.Close();
        };
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler);
        using HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
        Stream body = await response.Content.ReadAsStreamAsync();
        byte[] buffer = new byte[100];
        HttpIOException error = await Assert.ThrowsAsync<HttpIOException>(async () =>
        {
            while (await body.ReadAsync(buffer) > 0)
            {
            }
        });
        Assert.Equal(HttpRequestError.ResponseEnded, error.HttpRequestError);

        // 7 bytes were still due: a second read must not report a clean end of the body
        HttpIOException again = await Assert.ThrowsAsync<HttpIOException>(() => body.ReadAsync(buffer).AsTask());
        Assert.Equal(HttpRequestError.ResponseEnded, again.HttpRequestError);
        Assert.Equal(0, handler.OpenConnections($"127.0.0.1:{_server.Port}"));
    }

    [Fact]
    public async Task Disposing_a_response_before_its_body_was_read_closes_the_connection()
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            await conn.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
            await conn.DrainUntilClosedAsync();
            closed.TrySetResult();
        };
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler);
        HttpResponseMessage response = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
        response.Dispose();
        await closed.Task.WaitAsync(s_backstop);
        Assert.Equal(0, handler.OpenConnections($"127.0.0.1:{_server.Port}"));
    }

    [Fact]
    public async Task Cancelling_while_waiting_for_the_response_head_closes_the_connection()
    {
        var headRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.OnConnection = async conn =>
        {
            await conn.ReadHeadAsync();
            headRead.TrySetResult();
            await conn.DrainUntilClosedAsync();
            closed.TrySetResult();
        };
        using HttpMessageInvoker client = Client(out _);
        using var cts = new CancellationTokenSource();
        Task<HttpResponseMessage> send = client.SendAsync(Request(HttpMethod.Get), cts.Token);
        await headRead.Task.WaitAsync(s_backstop);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
        await closed.Task.WaitAsync(s_backstop);
    }

    [Theory]
    [InlineData("HTTP/1.1 204 No Content\r\n\r\n", "")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "hello")]
    public async Task Cancelling_after_the_response_head_arrived_throws_TaskCanceledException_and_frees_the_connection_slot(string reply, string body)
    {
        _server.OnConnection = async conn =>
        {
            while (await conn.ReadHeadAsync() is not null)
            {
                await conn.WriteAsync(reply);
            }
        };

        // the token is cancelled inside the read that completes the response head: the cancellation aborts the
        // connection after the head was received and before the send gives up its registration
        using var cts = new CancellationTokenSource();
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler, maxConnections: 1, wrap: inner => new SteeredStream(inner, onHead: cts.Cancel));
        TaskCanceledException error = await Assert.ThrowsAsync<TaskCanceledException>(() => client.SendAsync(Request(HttpMethod.Get), cts.Token).WaitAsync(s_backstop));
        Assert.Equal(cts.Token, error.CancellationToken);
        Assert.Equal(0, handler.OpenConnections($"127.0.0.1:{_server.Port}")); // closed, its slot freed once

        // the only slot is free again: the next request gets a new connection
        using (HttpResponseMessage next = await client.SendAsync(Request(HttpMethod.Get), CancellationToken.None).WaitAsync(s_backstop))
        {
            Assert.Equal(body, await BodyAsync(next));
        }

        Assert.Equal(2, _server.Accepted);
        Assert.Equal(1, handler.OpenConnections($"127.0.0.1:{_server.Port}"));
    }

    [Fact]
    public async Task At_the_per_endpoint_limit_a_request_waits_for_a_connection_to_come_free()
    {
        var firstHeld = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _server.OnConnection = async conn =>
        {
            int n = 0;
            while (await conn.ReadHeadAsync() is not null)
            {
                if (++n == 1)
                {
                    firstHeld.TrySetResult();
                    await releaseFirst.Task;
                }

                await conn.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" + n);
            }
        };
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler, maxConnections: 1);
        Task<HttpResponseMessage> first = client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
        await firstHeld.Task.WaitAsync(s_backstop);

        // a waiter that gives up leaves the queue; the one behind it still gets the connection
        using var cts = new CancellationTokenSource();
        Task<HttpResponseMessage> cancelled = client.SendAsync(Request(HttpMethod.Get), cts.Token);
        Task<HttpResponseMessage> second = client.SendAsync(Request(HttpMethod.Get), CancellationToken.None);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.False(second.IsCompleted);

        releaseFirst.SetResult();
        using (HttpResponseMessage r1 = await first.WaitAsync(s_backstop))
        {
            Assert.Equal("1", await BodyAsync(r1));
        }

        using (HttpResponseMessage r2 = await second.WaitAsync(s_backstop))
        {
            Assert.Equal("2", await BodyAsync(r2));
        }

        Assert.Equal(1, _server.Accepted);
        Assert.Equal(1, handler.OpenConnections($"127.0.0.1:{_server.Port}"));
    }

    [Fact]
    public async Task A_refused_connection_is_a_connection_error()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using HttpMessageInvoker client = Client(out _);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/") { Version = HttpVersion.Version11 };
        HttpRequestException error = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(request, CancellationToken.None));
        Assert.Equal(HttpRequestError.ConnectionError, error.HttpRequestError);
    }

    [Fact]
    public async Task Http2_upgrade_expect_and_connect_requests_go_to_the_inner_handler()
    {
        using HttpMessageInvoker client = Client(out LeanHttp1Handler handler);
        using HttpRequestMessage h2 = Request(HttpMethod.Get);
        h2.Version = HttpVersion.Version20;
        h2.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        using HttpRequestMessage upgrade = Request(HttpMethod.Get);
        upgrade.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        upgrade.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        using HttpRequestMessage expect = Request(HttpMethod.Post, content: new PiecesContent("x"));
        expect.Headers.ExpectContinue = true;
        using HttpRequestMessage newline = Request(HttpMethod.Get);
        newline.Headers.TryAddWithoutValidation("X-Bad", "a\u0100b");
        foreach (HttpRequestMessage request in new[] { h2, upgrade, expect, newline })
        {
            using HttpResponseMessage response = await client.SendAsync(request, CancellationToken.None);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode); // the marker
        }

        Assert.Equal(4, _inner.Calls);
        Assert.Equal(4, handler.DelegatedRequests);
        Assert.Equal(0, handler.LeanRequests);
        Assert.Equal(0, _server.Accepted);
    }

    /// <summary>Stands for SocketsHttpHandler: answers 202 without a connection.</summary>
    private sealed class MarkerHandler : HttpMessageHandler
    {
        public int Calls;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.Accepted));
        }
    }

    /// <summary>A body of unknown length written in pieces, optionally pausing before the last one.</summary>
    private sealed class PiecesContent : HttpContent
    {
        private readonly Task? _beforeLast;
        private readonly string[] _pieces;
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public PiecesContent(params string[] pieces) => _pieces = pieces;

        public PiecesContent(Task beforeLast, params string[] pieces)
        {
            _beforeLast = beforeLast;
            _pieces = pieces;
        }

        public bool Finished => _done.Task.IsCompleted;

        public Task Done => _done.Task;

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            try
            {
                for (int i = 0; i < _pieces.Length; i++)
                {
                    if (i == _pieces.Length - 1 && _beforeLast is not null)
                    {
                        await stream.FlushAsync();
                        await _beforeLast;
                    }

                    await stream.WriteAsync(Encoding.ASCII.GetBytes(_pieces[i]));
                }
            }
            finally
            {
                _done.TrySetResult();
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }
}

/// <summary>A connection's stream that steers the client's reads: each returns at most <paramref name="maxRead"/> bytes,
/// and <paramref name="onHead"/> is called inside the read that completes the first response head (the first CRLFCRLF),
/// before that read returns its bytes.</summary>
internal sealed class SteeredStream(Stream inner, int maxRead = int.MaxValue, Action? onHead = null) : Stream
{
    private readonly MemoryStream _seen = new();
    private bool _fired = onHead is null;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await inner.ReadAsync(buffer[..Math.Min(buffer.Length, maxRead)], cancellationToken);
        if (!_fired)
        {
            _seen.Write(buffer.Span[..n]);
            if (_seen.GetBuffer().AsSpan(0, (int)_seen.Length).IndexOf("\r\n\r\n"u8) >= 0)
            {
                _fired = true;
                onHead!();
            }
        }

        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        => inner.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            _seen.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>A TCP server on 127.0.0.1 that hands each accepted connection to <see cref="OnConnection"/>.</summary>
internal sealed class RawServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private readonly Task _accepting;
    private int _accepted;

    public RawServer(IPAddress? address = null)
    {
        _listener = new TcpListener(address ?? IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    public int Accepted => Volatile.Read(ref _accepted);

    public Func<RawConnection, Task> OnConnection { get; set; } = _ => Task.CompletedTask;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
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

            Interlocked.Increment(ref _accepted);
            var connection = new RawConnection(socket);
            lock (_connections)
            {
                _connections.Add(Task.Run(async () =>
                {
                    try
                    {
                        await OnConnection(connection);
                    }
                    catch (Exception)
                    {
                        // the client went away
                    }
                    finally
                    {
                        connection.Close();
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
        Task[] all;
        lock (_connections)
        {
            all = [.. _connections];
        }

        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(30));
    }
}

/// <summary>One accepted connection: reads request heads and bodies, writes raw bytes.</summary>
internal sealed class RawConnection(Socket socket)
{
    private readonly NetworkStream _stream = new(socket, ownsSocket: true);
    private readonly byte[] _buffer = new byte[256 * 1024];
    private int _start;
    private int _end;

    /// <summary>The next request head (up to and including the empty line), or null when the client closed.</summary>
    public async Task<string?> ReadHeadAsync()
    {
        while (true)
        {
            int end = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                string head = Encoding.Latin1.GetString(_buffer, _start, end + 4);
                _start += end + 4;
                return head;
            }

            if (!await FillAsync())
            {
                return null;
            }
        }
    }

    public async Task<string> ReadExactAsync(int count)
    {
        while (_end - _start < count)
        {
            if (!await FillAsync())
            {
                throw new EndOfStreamException();
            }
        }

        string text = Encoding.Latin1.GetString(_buffer, _start, count);
        _start += count;
        return text;
    }

    public async Task<string> ReadChunkedBodyAsync()
    {
        var body = new StringBuilder();
        while (true)
        {
            string line = await ReadLineAsync();
            int size = Convert.ToInt32(line.Split(';')[0], 16);
            if (size == 0)
            {
                while ((await ReadLineAsync()).Length > 0)
                {
                }

                return body.ToString();
            }

            body.Append(await ReadExactAsync(size));
            if (await ReadLineAsync() != "")
            {
                throw new InvalidDataException("chunk data not followed by CRLF");
            }
        }
    }

    private async Task<string> ReadLineAsync()
    {
        while (true)
        {
            int lf = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8);
            if (lf >= 0)
            {
                string line = Encoding.Latin1.GetString(_buffer, _start, lf);
                _start += lf + 2;
                return line;
            }

            if (!await FillAsync())
            {
                throw new EndOfStreamException();
            }
        }
    }

    /// <summary>Reads and discards until the client closes (or resets) the connection.</summary>
    public async Task DrainUntilClosedAsync()
    {
        try
        {
            while (await _stream.ReadAsync(_buffer) > 0)
            {
            }
        }
        catch (IOException)
        {
            // reset: closed as well
        }
    }

    private async Task<bool> FillAsync()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }

        int n = await _stream.ReadAsync(_buffer.AsMemory(_end));
        _end += n;
        return n > 0;
    }

    public Task WriteAsync(string text) => _stream.WriteAsync(Encoding.Latin1.GetBytes(text)).AsTask();

    public void Close() => _stream.Dispose();
}
