using BelizeMesh.Channel.Middleware;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Channel.Tests;

/// <summary>A real Kestrel server on 127.0.0.1, port 0, with <c>UsePqChannel</c> in front of a connection handler.</summary>
internal sealed class KestrelHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private KestrelHost(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public TaskCompletionSource<IPqChannelFeature?> Feature { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Starts Kestrel with the channel and a raw connection handler (default: echo until EOF, then complete);
    /// with <paramref name="poolBlockSize"/>, the transport uses <see cref="RecordSizedMemoryPoolFactory"/> blocks of that size.</summary>
    public static async Task<KestrelHost> StartAsync(PqChannelOptions options, Func<ConnectionContext, Task>? handler = null, int? poolBlockSize = null)
    {
        KestrelHost? host = null;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (poolBlockSize is { } blockSize)
        {
            builder.Services.AddPqChannelMemoryPool(blockSize);
        }

        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.UsePqChannel(options);
            listen.Run(async context =>
            {
                host!.Feature.TrySetResult(context.Features.Get<IPqChannelFeature>());
                await (handler ?? EchoAsync)(context);
            });
        }));
        var app = builder.Build();
        await app.StartAsync();
        host = new KestrelHost(app, new Uri(app.Urls.First()).Port);
        return host;
    }

    /// <summary>Starts Kestrel with the channel in front of HTTP/2 (prior knowledge) and one endpoint.</summary>
    public static async Task<KestrelHost> StartHttp2Async(PqChannelOptions options, Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            listen.UsePqChannel(options);
        }));
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return new KestrelHost(app, new Uri(app.Urls.First()).Port);
    }

    public static async Task EchoAsync(ConnectionContext context)
    {
        PipeReader input = context.Transport.Input;
        PipeWriter output = context.Transport.Output;
        while (true)
        {
            ReadResult result = await input.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                await output.WriteAsync(segment);
            }

            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        await output.CompleteAsync();
    }

    public async Task<System.Net.Sockets.NetworkStream> ConnectAsync()
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Port));
        return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
    }

    public async Task<PqChannelStream> ConnectChannelAsync(PqChannelOptions? options = null, string expected = TestPki.ServerId)
    {
        var stream = new PqChannelStream(await ConnectAsync(), options ?? TestPki.Instance.ClientOptions());
        await stream.AuthenticateAsClientAsync(expected);
        return stream;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
