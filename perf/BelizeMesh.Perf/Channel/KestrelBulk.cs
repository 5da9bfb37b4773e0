using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using BelizeMesh.Channel;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Perf.Channel;

/// <summary>
/// Bulk throughput through the inbound face: a <see cref="PqChannelStream"/> client against Kestrel with
/// <c>UsePqChannel</c>, one direction at a time so the figures compare with the Stream face's. The connection handler
/// speaks a tiny protocol over the decrypted pipe: 'U' + length → it drains that many bytes and answers one byte;
/// 'D' + length → it writes that many bytes. Client→server is timed from the first byte written to the answer,
/// server→client from the request to the last byte read.
/// </summary>
internal sealed class KestrelBulk : IAsyncDisposable
{
    private const int Chunk = 64 * 1024;
    private readonly WebApplication _app;
    private readonly PqChannelStream _client;
    private readonly byte[] _chunk = RandomNumberGenerator.GetBytes(Chunk);
    private readonly byte[] _buffer = new byte[Chunk];

    private KestrelBulk(WebApplication app, PqChannelStream client)
    {
        _app = app;
        _client = client;
    }

    public static async Task<KestrelBulk> StartAsync(PqChannelOptions serverOptions, PqChannelOptions clientOptions, string serverId)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddPqChannelMemoryPool();     // as the sidecar does
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.UsePqChannel(serverOptions);
            listen.Run(ServeAsync);
        }));
        WebApplication app = builder.Build();
        await app.StartAsync();
        int port = new Uri(app.Urls.First()).Port;
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var client = new PqChannelStream(new NetworkStream(socket, ownsSocket: true), clientOptions);
        await client.AuthenticateAsClientAsync(serverId);
        return new KestrelBulk(app, client);
    }

    /// <summary>Client → Kestrel, timed until the server has read every byte.</summary>
    public async Task<ChannelBenchmark.BulkRun> UploadAsync(int megabytes)
    {
        long total = (long)megabytes * 1024 * 1024;
        TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        long t0 = Stopwatch.GetTimestamp();
        await SendCommandAsync((byte)'U', total);
        for (long sent = 0; sent < total; sent += Chunk)
        {
            await _client.WriteAsync(_chunk.AsMemory(0, (int)Math.Min(Chunk, total - sent)));
        }

        await _client.ReadExactlyAsync(_buffer.AsMemory(0, 1));
        return ChannelBenchmark.BulkRun.Measure(total, t0, cpu0);
    }

    /// <summary>Kestrel → client, timed until the client has read every byte.</summary>
    public async Task<ChannelBenchmark.BulkRun> DownloadAsync(int megabytes)
    {
        long total = (long)megabytes * 1024 * 1024;
        TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        long t0 = Stopwatch.GetTimestamp();
        await SendCommandAsync((byte)'D', total);
        await ChannelBenchmark.DrainAsync(_client, _buffer, total);

        return ChannelBenchmark.BulkRun.Measure(total, t0, cpu0);
    }

    private async Task SendCommandAsync(byte op, long length)
    {
        byte[] command = new byte[9];
        command[0] = op;
        BinaryPrimitives.WriteInt64BigEndian(command.AsSpan(1), length);
        await _client.WriteAsync(command);
    }

    private static async Task ServeAsync(ConnectionContext context)
    {
        PipeReader input = context.Transport.Input;
        PipeWriter output = context.Transport.Output;
        while (true)
        {
            ReadResult result = await input.ReadAtLeastAsync(9);
            if (result.Buffer.Length < 9)
            {
                return;
            }

            byte[] command = result.Buffer.Slice(0, 9).ToArray();
            input.AdvanceTo(result.Buffer.GetPosition(9));
            long remaining = BinaryPrimitives.ReadInt64BigEndian(command.AsSpan(1));
            if (command[0] == (byte)'U')
            {
                while (remaining > 0)
                {
                    result = await input.ReadAsync();
                    long take = Math.Min(remaining, result.Buffer.Length);
                    remaining -= take;
                    input.AdvanceTo(result.Buffer.GetPosition(take));
                    if (result.IsCompleted && remaining > 0)
                    {
                        return;
                    }
                }

                output.GetSpan(1)[0] = 1;
                output.Advance(1);
                await output.FlushAsync();
            }
            else
            {
                while (remaining > 0)
                {
                    int n = (int)Math.Min(remaining, Chunk);
                    output.GetSpan(n)[..n].Fill(0x5A);
                    output.Advance(n);
                    remaining -= n;
                    FlushResult flush = await output.FlushAsync();
                    if (flush.IsCompleted)
                    {
                        return;
                    }
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _client.DisposeAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
