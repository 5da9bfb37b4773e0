using System.Net;
using System.Net.Http;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// A quiet gRPC stream through the inbound: an app entry with <c>appProtocol: grpc</c> and no written <c>timeout</c>
/// has no idle timeout, while an <c>http2</c> entry without one, and a grpc entry that writes one, are cut after it.
/// The sidecar's default is shortened to 1 s (<see cref="PolicyParserOptions.DefaultTimeout"/>) so nothing waits 60 s;
/// the gRPC stream is shown quiet for longer than that by the cut of a stream started after its last byte.
/// </summary>
public sealed class GrpcStreamIdleTimeoutTests : IAsyncLifetime
{
    private static readonly TimeSpan s_backstop = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_shortDefault = TimeSpan.FromSeconds(1);

    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly WarningLogs _logs = new();
    private WebApplication _app = null!;
    private ProxyHost _sidecar = null!;
    private string _directory = null!;

    public async Task InitializeAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        _app = builder.Build();
        _app.Run(WatchAsync);
        await _app.StartAsync();
        string app = _app.Urls.First();

        _directory = Directory.CreateTempSubdirectory("belizemesh-grpc-idle-").FullName;
        string path = Path.Combine(_directory, "policy.yaml");
        await File.WriteAllTextAsync(path, $"""
            apiVersion: belizemesh.io/v1alpha1
            kind: SidecarPolicy
            metadata: {"{"} name: test, namespace: test {"}"}
            spec:
              admin: {"{"} listen: "127.0.0.1:0" {"}"}
              accessLog: false
              inbound:
                listen: "127.0.0.1:0"
                app: "{app}"
                mode: DISABLE
                appProtocol: grpc
                apps:
                  - port: 9945
                    app: "{app}"
                    appProtocol: http2
                  - port: 9946
                    app: "{app}"
                    timeout: 1s
              outbound:
                listen: "127.0.0.1:0"
                routes: []
            """);
        _sidecar = ProxyHost.Create(
            new ProxyHostOptions
            {
                PolicyPath = path,
                CertsPath = _directory,
                WatchPolicy = false,
                ParserOptions = new PolicyParserOptions { DefaultTimeout = s_shortDefault },
                ConfigureLogging = logging =>
                {
                    logging.SetMinimumLevel(LogLevel.Warning);
                    logging.AddProvider(_logs);
                },
            },
            out IReadOnlyList<PolicyError> errors)!;
        Assert.True(_sidecar is not null, "policy rejected:\n" + string.Join("\n", errors));
        await _sidecar.StartAsync();
    }

    public async Task DisposeAsync()
    {
        _release.TrySetResult();
        await _sidecar.DisposeAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>A server-streaming call: the response headers at once, then nothing until the test releases the
    /// stream (or the call is cut), then one message and <c>grpc-status: 0</c>.</summary>
    private async Task WatchAsync(HttpContext context)
    {
        await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
        context.Response.ContentType = "application/grpc";
        await context.Response.StartAsync(context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
        await _release.Task.WaitAsync(s_backstop, context.RequestAborted);
        await context.Response.Body.WriteAsync(Frame([42]), context.RequestAborted);
        context.Response.AppendTrailer("grpc-status", "0");
    }

    private static byte[] Frame(byte[] payload)
    {
        byte[] frame = new byte[5 + payload.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), payload.Length);
        payload.CopyTo(frame, 5);
        return frame;
    }

    private HttpClient CreateClient() => new(new SocketsHttpHandler { UseProxy = false })
    {
        Timeout = Timeout.InfiniteTimeSpan, // the backstops below bound each wait
    };

    /// <summary>A server-streaming call to the app entry for <paramref name="port"/> (null: <c>inbound.app</c>),
    /// returned once its response headers are in.</summary>
    private async Task<HttpResponseMessage> StartWatchAsync(HttpClient client, int? port)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{_sidecar.InboundEndPoint.Port}/watch.Watcher/Watch")
        {
            Content = new ByteArrayContent(Frame([1])),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.Host = port is { } p ? $"nawal.test:{p}" : "nawal.test";
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(s_backstop);
    }

    /// <summary>Waits for the sidecar to end a quiet stream: a 504 if its headers had not left yet, else the response
    /// body broken off (an HTTP/2 reset) before the app's message.</summary>
    private async Task AssertCutAsync(HttpResponseMessage response)
    {
        if (response.StatusCode == HttpStatusCode.GatewayTimeout)
        {
            return;
        }

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}\n" + string.Join("\n", _logs.Entries));
        try
        {
            byte[] body = await response.Content.ReadAsByteArrayAsync().WaitAsync(s_backstop);
            Assert.Fail($"the quiet stream was not cut: {body.Length} bytes arrived and it ended normally");
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            // reset by the sidecar (HttpClient reports it as either, depending on where the read was)
        }
    }

    [Fact]
    public async Task A_grpc_stream_quiet_longer_than_the_default_timeout_is_not_cut_when_its_entry_writes_no_timeout()
    {
        using HttpClient client = CreateClient();

        // the gRPC stream's last byte (its response headers) has passed: it is quiet from here on
        using HttpResponseMessage grpc = await StartWatchAsync(client, port: null);
        Assert.True(grpc.StatusCode == HttpStatusCode.OK, $"{grpc.StatusCode}\n" + string.Join("\n", _logs.Entries));

        // an http2 entry without a timeout has the (short) default: its stream, started later, is cut — so the gRPC
        // stream has now been quiet for longer than the default too
        using HttpResponseMessage http2 = await StartWatchAsync(client, port: 9945);
        await AssertCutAsync(http2);

        // the gRPC stream is still open: the app's message and status arrive once it sends them
        _release.TrySetResult();
        byte[] body = await grpc.Content.ReadAsByteArrayAsync().WaitAsync(s_backstop);
        Assert.Equal(Frame([42]), body);
        Assert.Equal(["0"], grpc.TrailingHeaders.GetValues("grpc-status"));
    }

    [Fact]
    public async Task A_grpc_stream_is_cut_after_a_timeout_written_on_its_entry()
    {
        using HttpClient client = CreateClient();
        using HttpResponseMessage grpc = await StartWatchAsync(client, port: 9946);
        await AssertCutAsync(grpc);
    }
}
