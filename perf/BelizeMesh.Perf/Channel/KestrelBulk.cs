using System.Buffers;
using System.Net;
using System.Net.Sockets;
using BelizeMesh.Channel;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Perf.Channel;

/// <summary>
/// Bulk throughput through the inbound face: a PqChannelStream client against Kestrel with <c>UsePqChannel</c>.
/// The connection handler echoes; the figure is the rate at which uploaded bytes come back, so both directions'
/// record work (client seal/open, server open/seal over pipelines) runs at once.
/// </summary>
internal static class KestrelBulk
{
    public static async Task<double> MeasureAsync(int megabytes, PqChannelOptions serverOptions, PqChannelOptions clientOptions, string serverId, Func<Stream, Stream, int, double> transfer)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.UsePqChannel(serverOptions);
            listen.Run(EchoAsync);
        }));
        await using var app = builder.Build();
        await app.StartAsync();
        int port = new Uri(app.Urls.First()).Port;
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        await using var client = new PqChannelStream(new NetworkStream(socket, ownsSocket: true), clientOptions);
        await client.AuthenticateAsClientAsync(serverId);

        // The echo carries the same bytes back: write on one task, read them back on another.
        transfer(client, client, 16);
        double echo = transfer(client, client, megabytes);
        await app.StopAsync();
        return echo;
    }

    private static async Task EchoAsync(ConnectionContext context)
    {
        while (true)
        {
            var result = await context.Transport.Input.ReadAsync();
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                await context.Transport.Output.WriteAsync(segment);
            }

            context.Transport.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }
    }
}
