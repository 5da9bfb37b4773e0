using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using System.Security.Cryptography;
using System.Text;
using BelizeMesh.Proxy.Tests.Upstream;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// client → outbound STRICT → PQ channel (HTTP/1.1 inside: <c>DO_NOT_UPGRADE</c>) → inbound STRICT → app: both
/// HTTP/1.1 hops of the sidecars go through the lean HTTP/1.1 client (<c>LeanHttp1Handler</c>): bodies of each
/// framing, responses without a body, connection reuse (one channel, one app connection), and a malformed answer.
/// </summary>
public sealed class LeanHttp1EndToEndTests : IAsyncLifetime
{
    private readonly ConcurrentDictionary<string, byte> _appConnections = new();
    private TwoSidecarMesh _mesh = null!;

    public async Task InitializeAsync()
    {
        WebApplication app = await LoopbackApp.StartAsync(HttpProtocols.Http1, HandleAsync);
        _mesh = await TwoSidecarMesh.Create()
            .Route("nawal.test", "connectionPool: { h2UpgradePolicy: DO_NOT_UPGRADE }")
            .StartAsync(app.Urls.First(), app);
    }

    public async Task DisposeAsync() => await _mesh.DisposeAsync();

    private async Task HandleAsync(HttpContext context)
    {
        _appConnections.TryAdd(context.Connection.Id, 0);
        string path = context.Request.Path.Value ?? "";
        switch (path)
        {
            case "/echo":
            {
                // the body as received, and how it was framed; the answer goes chunked (no length set)
                using var buffer = new MemoryStream();
                await context.Request.Body.CopyToAsync(buffer);
                context.Response.Headers["x-request-framing"] = context.Request.Headers.TransferEncoding.Count > 0 ? "chunked" : "length " + context.Request.ContentLength;
                await context.Response.Body.WriteAsync(buffer.ToArray());
                return;
            }

            case "/digest":
            {
                using var buffer = new MemoryStream();
                await context.Request.Body.CopyToAsync(buffer);
                byte[] answer = Encoding.ASCII.GetBytes(buffer.Length + " " + Convert.ToHexString(SHA256.HashData(buffer.ToArray())));
                context.Response.ContentLength = answer.Length;
                await context.Response.Body.WriteAsync(answer);
                return;
            }

            case "/no-content":
                context.Response.StatusCode = StatusCodes.Status204NoContent;
                return;

            case "/not-modified":
                context.Response.StatusCode = StatusCodes.Status304NotModified;
                context.Response.Headers.ETag = "\"v1\"";
                return;

            case "/close":
                context.Response.Headers.Connection = "close";
                await context.Response.WriteAsync("closing");
                return;

            default:
                context.Response.ContentLength = 5;
                context.Response.Headers["x-app"] = "yes";
                await context.Response.WriteAsync("hello");
                return;
        }
    }

    [Fact]
    public async Task A_chunked_request_body_and_a_chunked_response_cross_both_sidecars()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version11);
        byte[] body = RandomNumberGenerator.GetBytes(200_000);
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://nawal.test/echo") { Content = new StreamContent(new UnseekableStream(body)) };
        request.Headers.TransferEncodingChunked = true;

        using HttpResponseMessage response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("chunked", Assert.Single(response.Headers.GetValues("x-request-framing")));
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_content_length_body_arrives_whole()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version11);
        byte[] body = RandomNumberGenerator.GetBytes(1_000_000);

        using HttpResponseMessage response = await http.PostAsync("http://nawal.test/digest", new ByteArrayContent(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body.Length + " " + Convert.ToHexString(SHA256.HashData(body)), await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Head_204_and_304_come_back_without_a_body_and_sequential_requests_share_one_channel_and_one_app_connection()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version11);
        for (int i = 0; i < 5; i++)
        {
            using (HttpResponseMessage head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "http://nawal.test/")))
            {
                Assert.Equal(HttpStatusCode.OK, head.StatusCode);
                Assert.Equal(5, head.Content.Headers.ContentLength);
                Assert.Empty(await head.Content.ReadAsByteArrayAsync());
            }

            using (HttpResponseMessage noContent = await http.GetAsync("http://nawal.test/no-content"))
            {
                Assert.Equal(HttpStatusCode.NoContent, noContent.StatusCode);
            }

            using (HttpResponseMessage notModified = await http.GetAsync("http://nawal.test/not-modified"))
            {
                Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
                Assert.Equal("\"v1\"", notModified.Headers.ETag?.Tag);
            }

            using (HttpResponseMessage get = await http.GetAsync("http://nawal.test/"))
            {
                Assert.Equal("hello", await get.Content.ReadAsStringAsync());
                Assert.Equal("yes", Assert.Single(get.Headers.GetValues("x-app")));
            }
        }

        Assert.Equal(1, await _mesh.Nawal.ServerHandshakesAsync());
        Assert.Single(_appConnections);
    }

    [Fact]
    public async Task After_the_app_says_connection_close_the_next_request_opens_a_new_app_connection()
    {
        using HttpClient http = _mesh.Pakit.CreateOutboundClient(HttpVersion.Version11);
        Assert.Equal("closing", await http.GetStringAsync("http://nawal.test/close"));
        Assert.Equal("hello", await http.GetStringAsync("http://nawal.test/"));
        Assert.Equal(2, _appConnections.Count);
    }

    /// <summary>Hides the length of a body, so the client sends it chunked.</summary>
    private sealed class UnseekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}

/// <summary>An app that answers with a malformed HTTP/1.1 response: the client gets the inbound sidecar's 502.</summary>
public sealed class LeanHttp1MalformedAppTests
{
    [Fact]
    public async Task A_malformed_app_response_becomes_a_502()
    {
        var app = new RawServer
        {
            OnConnection = async conn =>
            {
                while (await conn.ReadHeadAsync() is not null)
                {
                    await conn.WriteAsync("HTTP/1.1 200 OK\r\nbroken header line\r\n\r\n");
                }
            },
        };
        await using TwoSidecarMesh mesh = await TwoSidecarMesh.Create()
            .Route("nawal.test", "connectionPool: { h2UpgradePolicy: DO_NOT_UPGRADE }")
            .StartAsync($"http://127.0.0.1:{app.Port}", app);
        using HttpClient http = mesh.Pakit.CreateOutboundClient(HttpVersion.Version11);

        using HttpResponseMessage response = await http.GetAsync("http://nawal.test/");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(1, app.Accepted);
    }
}
