using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Channel.Tests;

/// <summary>The two faces together as the proxy uses them: YARP-style HttpClient with a ConnectCallback, Kestrel with UsePqChannel.</summary>
public sealed class KestrelIntegrationTests
{
    [Fact]
    public async Task Http2_requests_flow_through_one_channel_and_see_the_client_principal()
    {
        using var serverMetrics = new ChannelMetrics();
        using var recorder = new MetricsRecorder(serverMetrics);
        await using var host = await KestrelHost.StartHttp2Async(TestPki.Instance.ServerOptions(metrics: serverMetrics), app =>
            app.MapGet("/whoami", (HttpContext context) => context.Features.Get<IPqChannelFeature>()?.PeerPrincipal ?? "anonymous"));

        PqChannelOptions clientOptions = TestPki.Instance.ClientOptions();
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                var channel = new PqChannelStream(new NetworkStream(socket, ownsSocket: true), clientOptions);
                await channel.AuthenticateAsClientAsync(TestPki.ServerId, cancellationToken);
                return channel;
            },
        };
        using var http = new HttpClient(handler)
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        var requests = new Task<string>[20];
        for (int i = 0; i < requests.Length; i++)
        {
            requests[i] = http.GetStringAsync(new Uri($"http://127.0.0.1:{host.Port}/whoami"));
        }

        foreach (string body in await Task.WhenAll(requests))
        {
            Assert.Equal("cluster.local/ns/belizechain/sa/pakit", body);
        }

        Assert.Equal(["server/success/none"], recorder.Handshakes.ToArray());
    }

    [Fact]
    public async Task Channel_bytes_count_the_application_bytes_each_way_on_both_sides()
    {
        using var serverMetrics = new ChannelMetrics();
        using var clientMetrics = new ChannelMetrics();
        using var server = new MetricsRecorder(serverMetrics);
        using var client = new MetricsRecorder(clientMetrics);
        await using var host = await KestrelHost.StartAsync(TestPki.Instance.ServerOptions(metrics: serverMetrics), KestrelHost.EchoAsync);
        byte[] message = RandomNumberGenerator.GetBytes(100_000);
        await using (PqChannelStream channel = await host.ConnectChannelAsync(TestPki.Instance.ClientOptions(metrics: clientMetrics)))
        {
            Assert.Equal((0L, 0L), client.Bytes());
            await channel.WriteAsync(message);
            byte[] echoed = new byte[message.Length];
            await channel.ReadExactlyAsync(echoed);
            Assert.Equal(message, echoed);
        }

        Assert.Equal((message.Length, message.Length), client.Bytes());
        // the server counts what it sends before the flush that delivers it, and what it receives once it opened it
        for (int i = 0; i < 100 && server.Bytes() != (message.Length, message.Length); i++)
        {
            await Task.Delay(20);
        }

        Assert.Equal((message.Length, message.Length), server.Bytes());
    }

    [Fact]
    public async Task Kestrel_middleware_closes_a_plaintext_client_and_counts_it()
    {
        using var metrics = new ChannelMetrics();
        using var recorder = new MetricsRecorder(metrics);
        await using var host = await KestrelHost.StartAsync(TestPki.Instance.ServerOptions(metrics: metrics));
        await using NetworkStream raw = await host.ConnectAsync();
        await raw.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        Assert.Equal(0, await raw.ReadAsync(new byte[64]));
        Assert.Equal(["server/failure/NotPqChannel"], recorder.Handshakes.ToArray());
        Assert.False(host.Feature.Task.IsCompleted);
    }

    [Fact]
    public async Task Kestrel_middleware_times_out_a_stalled_handshake()
    {
        using var metrics = new ChannelMetrics();
        using var recorder = new MetricsRecorder(metrics);
        await using var host = await KestrelHost.StartAsync(TestPki.Instance.ServerOptions(timeout: TimeSpan.FromMilliseconds(300), metrics: metrics));
        await using NetworkStream raw = await host.ConnectAsync();
        await raw.WriteAsync(new byte[] { 0x01, 0x42, 0x4D, 0x06 }); // half a header, then silence
        Assert.Equal(0, await raw.ReadAsync(new byte[64]));
        Assert.Equal(["server/failure/Timeout"], recorder.Handshakes.ToArray());
    }

    [Fact]
    public async Task Kestrel_middleware_rejects_a_client_with_an_expired_certificate()
    {
        using var metrics = new ChannelMetrics();
        using var recorder = new MetricsRecorder(metrics);
        await using var host = await KestrelHost.StartAsync(TestPki.Instance.ServerOptions(metrics: metrics));
        var client = new PqChannelStream(await host.ConnectAsync(), TestPki.Instance.UncheckedOptions(TestPki.Instance.Expired));
        await using (client)
        {
            var ex = await Assert.ThrowsAsync<PqChannelException>(() => client.AuthenticateAsClientAsync(TestPki.ServerId));
            Assert.Equal(ChannelFailure.CertificateExpired, ex.Reason);
            Assert.True(ex.ReportedByPeer);
        }

        Assert.Equal(["server/failure/CertificateExpired"], recorder.Handshakes.ToArray());
    }

    [Fact]
    public async Task Permissive_listener_passes_plaintext_through_and_still_terminates_the_channel()
    {
        using var metrics = new ChannelMetrics();
        using var recorder = new MetricsRecorder(metrics);
        PqChannelOptions options = TestPki.Instance.ServerOptions(metrics: metrics);
        options.AllowPlaintext = true;
        await using var host = await KestrelHost.StartAsync(options);

        await using (NetworkStream raw = await host.ConnectAsync())
        {
            await raw.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n"));
            raw.Socket.Shutdown(SocketShutdown.Send);
            Assert.Equal("GET / HTTP/1.1\r\n", Encoding.ASCII.GetString(await KestrelMiddlewareTests.ReadToEndAsync(raw)));
        }

        Assert.Null(await host.Feature.Task);

        await using var client = await host.ConnectChannelAsync();
        await client.WriteAsync("pq"u8.ToArray());
        await client.ShutdownWriteAsync();
        Assert.Equal("pq", Encoding.ASCII.GetString(await KestrelMiddlewareTests.ReadToEndAsync(client)));
        Assert.Equal(["server/plaintext/NotPqChannel", "server/success/none"], recorder.Handshakes.ToArray());
    }
}
