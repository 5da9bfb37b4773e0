using System.Net;
using System.Net.Sockets;

namespace BelizeMesh.Channel.Tests;

/// <summary>A connected pair of TCP sockets on 127.0.0.1 with an ephemeral port.</summary>
internal static class Loopback
{
    public static async Task<(NetworkStream Client, NetworkStream Server)> ConnectAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Task connect = client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        Socket server = await listener.AcceptSocketAsync();
        await connect;
        server.NoDelay = true;
        return (new NetworkStream(client, ownsSocket: true), new NetworkStream(server, ownsSocket: true));
    }

    /// <summary>Authenticated client and server channels over a fresh loopback connection.</summary>
    public static async Task<(PqChannelStream Client, PqChannelStream Server)> ChannelPairAsync(PqChannelOptions? client = null, PqChannelOptions? server = null)
    {
        var (c, s) = await ConnectAsync();
        var clientStream = new PqChannelStream(c, client ?? TestPki.Instance.ClientOptions());
        var serverStream = new PqChannelStream(s, server ?? TestPki.Instance.ServerOptions());
        await Task.WhenAll(clientStream.AuthenticateAsClientAsync(TestPki.ServerId), serverStream.AuthenticateAsServerAsync());
        return (clientStream, serverStream);
    }
}
