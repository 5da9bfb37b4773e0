using System.Security.Cryptography;
using System.Text;

namespace BelizeMesh.Channel.Tests;

public sealed class KestrelMiddlewareTests
{
    [Fact]
    public async Task Kestrel_middleware_publishes_the_client_identity_and_echoes_data()
    {
        await using var host = await KestrelHost.StartAsync(TestPki.Instance.ServerOptions());
        await using var client = await host.ConnectChannelAsync();
        Assert.Equal(TestPki.ServerId, client.PeerIdentity);

        await client.WriteAsync("ping"u8.ToArray());
        byte[] buffer = new byte[16];
        int n = await client.ReadAsync(buffer);
        Assert.Equal("ping", Encoding.ASCII.GetString(buffer, 0, n));

        IPqChannelFeature? feature = await host.Feature.Task;
        Assert.NotNull(feature);
        Assert.Equal(TestPki.ClientId, feature.PeerIdentity);
        Assert.Equal("cluster.local/ns/belizechain/sa/pakit", feature.PeerPrincipal);
        Assert.Equal(1, feature.ProtocolVersion);
    }

    [Theory]
    [InlineData(null)]      // Kestrel's own 4 KiB blocks: every record spans segments
    [InlineData(32 * 1024)] // the sidecar's record-sized blocks
    [InlineData(5000)]      // blocks smaller than a record: records straddle blocks and sealing cuts records to fit
    public async Task Kestrel_middleware_carries_megabytes_while_reading_and_writing_concurrently(int? poolBlockSize)
    {
        await using var host = await KestrelHost.StartAsync(TestPki.Instance.ServerOptions(), poolBlockSize: poolBlockSize);
        await using var client = await host.ConnectChannelAsync();
        byte[] payload = RandomNumberGenerator.GetBytes(8 * 1024 * 1024 + 123);

        Task writer = Task.Run(async () =>
        {
            for (int offset = 0; offset < payload.Length; offset += 100_000)
            {
                await client.WriteAsync(payload.AsMemory(offset, Math.Min(100_000, payload.Length - offset)));
            }

            await client.ShutdownWriteAsync();
        });
        byte[] echoed = await ReadToEndAsync(client);
        await writer;
        Assert.Equal(payload.Length, echoed.Length);
        Assert.True(payload.AsSpan().SequenceEqual(echoed));
    }

    [Fact]
    public async Task Kestrel_middleware_handles_many_small_writes()
    {
        await using var host = await KestrelHost.StartAsync(TestPki.Instance.ServerOptions());
        await using var client = await host.ConnectChannelAsync();
        Task writer = Task.Run(async () =>
        {
            for (int i = 0; i < 5000; i++)
            {
                await client.WriteAsync(Encoding.ASCII.GetBytes($"{i:D6};"));
            }

            await client.ShutdownWriteAsync();
        });
        byte[] echoed = await ReadToEndAsync(client);
        await writer;
        var expected = new StringBuilder();
        for (int i = 0; i < 5000; i++)
        {
            expected.Append($"{i:D6};");
        }

        Assert.Equal(expected.ToString(), Encoding.ASCII.GetString(echoed));
    }

    [Fact]
    public async Task Half_close_lets_the_server_finish_sending_after_the_client_stops_writing()
    {
        await using var host = await KestrelHost.StartAsync(TestPki.Instance.ServerOptions(), async context =>
        {
            // Read everything until the client's close_notify, then answer with the byte count.
            long total = 0;
            while (true)
            {
                var result = await context.Transport.Input.ReadAsync();
                total += result.Buffer.Length;
                context.Transport.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }

            await context.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes($"got {total}"));
            await context.Transport.Output.CompleteAsync();
        });
        await using var client = await host.ConnectChannelAsync();
        await client.WriteAsync(new byte[40_000]);
        await client.ShutdownWriteAsync();
        byte[] answer = await ReadToEndAsync(client);
        Assert.Equal("got 40000", Encoding.ASCII.GetString(answer));
    }

    internal static async Task<byte[]> ReadToEndAsync(Stream stream)
    {
        var all = new MemoryStream();
        byte[] buffer = new byte[64 * 1024];
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0)
        {
            all.Write(buffer, 0, n);
        }

        return all.ToArray();
    }
}
