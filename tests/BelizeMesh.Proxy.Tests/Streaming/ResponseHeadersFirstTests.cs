using System.IO.Pipelines;
using System.Net;
using System.Net.Http;
using BelizeMesh.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Tests.Streaming;

/// <summary>
/// <see cref="ResponseHeadersFirst"/>: the client's response headers are flushed when a read of the upstream's body has
/// to wait, and only then; responses of known length are left alone.
/// </summary>
public sealed class ResponseHeadersFirstTests
{
    private static readonly TimeSpan s_backstop = TimeSpan.FromSeconds(30);

    /// <summary>The client's response body: counts flushes and signals the first.</summary>
    private sealed class FlushRecorder : MemoryStream
    {
        public TaskCompletionSource Flushed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Flushes { get; private set; }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flushes++;
            Flushed.TrySetResult();
            return Task.CompletedTask;
        }
    }

    private static (DefaultHttpContext Context, FlushRecorder Body) Client(string method = "POST")
    {
        var body = new FlushRecorder();
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Response.Body = body;
        return (context, body);
    }

    private static HttpResponseMessage Upstream(HttpContent content, HttpStatusCode status = HttpStatusCode.OK)
        => new(status) { Content = content, RequestMessage = new HttpRequestMessage(HttpMethod.Post, "http://app.test/") };

    [Fact]
    public async Task Headers_are_flushed_while_a_read_waits_for_the_upstream_body()
    {
        (DefaultHttpContext context, FlushRecorder client) = Client();
        var pipe = new Pipe();
        using HttpResponseMessage upstream = Upstream(new StreamContent(pipe.Reader.AsStream()));

        ResponseHeadersFirst.Apply(context, upstream);
        await using Stream body = await upstream.Content.ReadAsStreamAsync();
        byte[] buffer = new byte[16];
        Task<int> read = body.ReadAsync(buffer).AsTask();

        await client.Flushed.Task.WaitAsync(s_backstop); // the headers went while nothing had arrived
        Assert.False(read.IsCompleted);
        await pipe.Writer.WriteAsync("data"u8.ToArray());
        Assert.Equal(4, await read.WaitAsync(s_backstop));
        Assert.Equal("data"u8.ToArray(), buffer[..4]);

        // later waits flush nothing more: the copy's own writes carry the body
        Task<int> next = body.ReadAsync(buffer).AsTask();
        await pipe.Writer.CompleteAsync();
        Assert.Equal(0, await next.WaitAsync(s_backstop));
        Assert.Equal(1, client.Flushes);
    }

    [Fact]
    public async Task Nothing_is_flushed_when_the_body_is_already_there()
    {
        (DefaultHttpContext context, FlushRecorder client) = Client();
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync("data"u8.ToArray());
        await pipe.Writer.CompleteAsync();
        using HttpResponseMessage upstream = Upstream(new StreamContent(pipe.Reader.AsStream()));

        ResponseHeadersFirst.Apply(context, upstream);
        await using Stream body = await upstream.Content.ReadAsStreamAsync();
        byte[] buffer = new byte[16];

        Assert.Equal(4, await body.ReadAsync(buffer));
        Assert.Equal(0, await body.ReadAsync(buffer));
        Assert.Equal(0, client.Flushes);
    }

    [Fact]
    public async Task An_upstream_response_that_ended_with_its_headers_is_not_flushed_early()
    {
        // a gRPC "trailers-only" answer: HEADERS with END_STREAM, so the body is empty and complete at once
        (DefaultHttpContext context, FlushRecorder client) = Client();
        using HttpResponseMessage upstream = Upstream(new StreamContent(new NonSeekable()));

        ResponseHeadersFirst.Apply(context, upstream);
        await using Stream body = await upstream.Content.ReadAsStreamAsync();

        Assert.Equal(0, await body.ReadAsync(new byte[16]));
        Assert.Equal(0, client.Flushes);
    }

    [Fact]
    public void Responses_of_known_length_upgrades_and_head_requests_are_not_wrapped()
    {
        var sized = new ByteArrayContent("data"u8.ToArray());
        using HttpResponseMessage withLength = Upstream(sized);
        ResponseHeadersFirst.Apply(Client().Context, withLength);
        Assert.Same(sized, withLength.Content);

        var upgraded = new StreamContent(new NonSeekable());
        using HttpResponseMessage switching = Upstream(upgraded, HttpStatusCode.SwitchingProtocols);
        ResponseHeadersFirst.Apply(Client().Context, switching);
        Assert.Same(upgraded, switching.Content);

        var tunnel = new StreamContent(new NonSeekable());
        using HttpResponseMessage connect = Upstream(tunnel);
        connect.RequestMessage!.Method = HttpMethod.Connect;
        ResponseHeadersFirst.Apply(Client().Context, connect);
        Assert.Same(tunnel, connect.Content);

        var headBody = new StreamContent(new NonSeekable());
        using HttpResponseMessage head = Upstream(headBody);
        ResponseHeadersFirst.Apply(Client("HEAD").Context, head);
        Assert.Same(headBody, head.Content);

        var streamed = new StreamContent(new NonSeekable());
        using HttpResponseMessage chunked = Upstream(streamed);
        ResponseHeadersFirst.Apply(Client().Context, chunked);
        Assert.NotSame(streamed, chunked.Content);
    }

    [Fact]
    public void A_lean_client_response_is_wrapped_only_when_its_head_declared_no_length()
    {
        var declared = new LeanResponseContent { Body = new NonSeekable(), DeclaredLength = 4 };
        using HttpResponseMessage withLength = Upstream(declared);
        ResponseHeadersFirst.Apply(Client().Context, withLength);
        Assert.Same(declared, withLength.Content);

        var undeclared = new LeanResponseContent { Body = new NonSeekable() };
        using HttpResponseMessage chunked = Upstream(undeclared);
        ResponseHeadersFirst.Apply(Client().Context, chunked);
        Assert.NotSame(undeclared, chunked.Content);
    }

    /// <summary>An empty body of unknown length (a seekable stream would give the content a length).</summary>
    private sealed class NonSeekable : MemoryStream
    {
        public override bool CanSeek => false;
    }
}
