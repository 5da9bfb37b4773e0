using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// Creates and caches the <see cref="HttpMessageInvoker"/>s the forwarder sends through, one per transport key
/// (channel mode + expected peer identity). <see cref="SocketsHttpHandler"/> pools connections per endpoint
/// (scheme/host/port) inside each invoker; caching the invokers across policy reloads keeps those pools, so a reload
/// never drops a connection.
/// </summary>
/// <remarks>
/// <see cref="ConnectPlaintextAsync"/> (the handler's <c>ConnectCallback</c>) is the single place outbound connections are made. In <see cref="ChannelMode.Disable"/>
/// it returns the TCP stream; the PQ channel's client handshake (with the route's expected identity) plugs in there.
/// </remarks>
internal sealed class UpstreamClientFactory : IDisposable
{
    private readonly ConcurrentDictionary<string, HttpMessageInvoker> _clients = new(StringComparer.Ordinal);

    public HttpMessageInvoker GetOrCreate(ChannelMode mode, string? expectedIdentity)
        => _clients.GetOrAdd(mode + " " + expectedIdentity, static (_, arg) => Create(arg.mode, arg.expectedIdentity), (mode, expectedIdentity));

    private static HttpMessageInvoker Create(ChannelMode mode, string? expectedIdentity)
    {
        _ = expectedIdentity; // used by the PQ channel handshake once it is plugged in
        var handler = new SocketsHttpHandler
        {
            // The same settings YARP's ForwarderHttpClientFactory uses: a proxy must not add behaviour of its own.
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            ConnectCallback = mode == ChannelMode.Disable ? ConnectPlaintextAsync : throw new NotSupportedException("the PQ channel is not available in this build"),
        };
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }

    /// <summary>Plaintext TCP to the endpoint (mode DISABLE).</summary>
    internal static async ValueTask<Stream> ConnectPlaintextAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (HttpMessageInvoker client in _clients.Values)
        {
            client.Dispose();
        }

        _clients.Clear();
    }
}
