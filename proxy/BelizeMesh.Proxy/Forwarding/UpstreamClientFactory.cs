using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using BelizeMesh.Channel;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Hosting;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// Creates and caches the <see cref="HttpMessageInvoker"/>s the forwarder sends through, one per transport key
/// (channel mode + expected peer identity). <see cref="SocketsHttpHandler"/> pools connections per endpoint
/// (scheme/host/port) inside each invoker; caching the invokers across policy reloads keeps those pools, so a reload
/// never drops a connection.
/// </summary>
/// <remarks>
/// The handler's <c>ConnectCallback</c> is the single place outbound connections are made: plaintext TCP in
/// <see cref="ChannelMode.Disable"/>; in <see cref="ChannelMode.Strict"/> TCP plus the PQ channel's client handshake,
/// which must prove the route's expected identity before a byte of HTTP is sent. HTTP/2 then runs inside the
/// channel (see <see cref="UpstreamTarget.CreateConfig"/>), so one channel carries many requests.
/// </remarks>
internal sealed class UpstreamClientFactory(ChannelSetup channel) : IDisposable
{
    private readonly ConcurrentDictionary<string, HttpMessageInvoker> _clients = new(StringComparer.Ordinal);

    public HttpMessageInvoker GetOrCreate(ChannelMode mode, string? expectedIdentity)
        => _clients.GetOrAdd(mode + " " + expectedIdentity, static (_, arg) => arg.self.Create(arg.mode, arg.expectedIdentity), (self: this, mode, expectedIdentity));

    private HttpMessageInvoker Create(ChannelMode mode, string? expectedIdentity)
    {
        var handler = new SocketsHttpHandler
        {
            // The same settings YARP's ForwarderHttpClientFactory uses: a proxy must not add behaviour of its own.
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null, // YARP would put its own span id in traceparent: ours pass it on as received (TraceContext)
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),

            // HTTP/2 inside the PQ channel: the receive window of each response stream. The default 64 KiB, on a
            // loopback-short round trip where dynamic window sizing barely grows it, held a 500 MB download through
            // two sidecars to 100-200 MB/s with both sidecars mostly idle; 4 MiB let it reach 380-420 MB/s, CPU-bound
            // (perf compare's bulk phase). It is a credit, not an allocation: memory is used only when the app reads
            // a response more slowly than the upstream sends it (Envoy's default stream window is 256 MiB).
            InitialHttp2StreamWindowSize = 4 * 1024 * 1024,
        };

        if (mode == ChannelMode.Disable)
        {
            handler.ConnectCallback = ConnectPlaintextAsync;
        }
        else
        {
            PqChannelOptions options = channel.RequireOptions();
            string identity = expectedIdentity ?? throw new InvalidOperationException("a STRICT route needs the peer's expected identity");
            handler.ConnectCallback = (context, cancellationToken) => ConnectPqAsync(context, options, identity, cancellationToken);
        }

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

    /// <summary>TCP, then the PQ channel's client handshake expecting <paramref name="expectedIdentity"/> (mode STRICT).</summary>
    internal static async ValueTask<Stream> ConnectPqAsync(SocketsHttpConnectionContext context, PqChannelOptions options, string expectedIdentity, CancellationToken cancellationToken)
    {
        Stream tcp = await ConnectPlaintextAsync(context, cancellationToken).ConfigureAwait(false);
        var channel = new PqChannelStream(tcp, options);
        try
        {
            await channel.AuthenticateAsClientAsync(expectedIdentity, cancellationToken).ConfigureAwait(false);
            return channel;
        }
        catch
        {
            await channel.DisposeAsync().ConfigureAwait(false);
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
