namespace BelizeMesh.Channel.Tests;

public sealed class StreamHandshakeTests
{
    [Fact]
    public async Task Handshake_authenticates_both_sides_with_mesh_certificates()
    {
        var (client, server) = await Loopback.ChannelPairAsync();
        await using (client)
        await using (server)
        {
            Assert.Equal(TestPki.ServerId, client.PeerIdentity);
            Assert.Equal(TestPki.ClientId, server.PeerIdentity);
            Assert.True(client.IsAuthenticated);
            Assert.True(server.IsAuthenticated);
        }
    }

    [Fact]
    public async Task Data_flows_both_ways_after_the_handshake()
    {
        var (client, server) = await Loopback.ChannelPairAsync();
        await using (client)
        await using (server)
        {
            await client.WriteAsync("hello server"u8.ToArray());
            byte[] buffer = new byte[64];
            int n = await server.ReadAsync(buffer);
            Assert.Equal("hello server", System.Text.Encoding.UTF8.GetString(buffer, 0, n));
            await server.WriteAsync("hello client"u8.ToArray());
            n = await client.ReadAsync(buffer);
            Assert.Equal("hello client", System.Text.Encoding.UTF8.GetString(buffer, 0, n));
        }
    }
}
