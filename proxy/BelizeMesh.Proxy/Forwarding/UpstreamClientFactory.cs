using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using BelizeMesh.Channel;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Forwarding.Http2;
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
/// which must prove the route's expected identity before a byte of HTTP is sent. Inside the channel an HTTP/2 request
/// runs as HTTP/2 (one channel carries many), an HTTP/1.x request as HTTP/1.1 (one at a time per channel, so the pool
/// holds as many channels per endpoint as requests were in flight at once) unless the route upgrades it (see
/// <see cref="UpstreamTarget.Http1Config"/>). Each pooled connection is one channel and one handshake
/// (<c>belizemesh_channel_handshakes_total{side="client"}</c>).
/// </remarks>
internal sealed class UpstreamClientFactory(ChannelSetup channel) : IDisposable
{
    /// <summary>The most HTTP/1.1 connections (channels) the pool keeps to one endpoint.</summary>
    public const int MaxHttp1ChannelsPerEndpoint = 1024;

    private static readonly TimeSpan s_connectTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan s_idleTimeout = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, HttpMessageInvoker> _clients = new(StringComparer.Ordinal);

    /// <summary>The lean HTTP/1.1 client is on unless the environment says <c>BELIZEMESH_LEAN_HTTP1=0</c>.</summary>
    internal static bool LeanHttp1Enabled { get; } = Environment.GetEnvironmentVariable("BELIZEMESH_LEAN_HTTP1") != "0";

    /// <summary>The lean HTTP/2 client (inside the PQ channel) is on unless the environment says <c>BELIZEMESH_LEAN_HTTP2=0</c>.</summary>
    internal static bool LeanHttp2Enabled { get; } = Environment.GetEnvironmentVariable("BELIZEMESH_LEAN_HTTP2") != "0";

    /// <summary>Whether the PQ channel was set up at start-up (some mode was not DISABLE); without it no route can be STRICT.</summary>
    public bool ChannelConfigured => channel.Options is not null;

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
            ConnectTimeout = s_connectTimeout,
            PooledConnectionIdleTimeout = s_idleTimeout,

            // HTTP/2 inside the PQ channel: the receive window of each response stream. The default 64 KiB, on a
            // loopback-short round trip where dynamic window sizing barely grows it, held a 500 MB download through
            // two sidecars to 100-200 MB/s with both sidecars mostly idle; 4 MiB let it reach 380-420 MB/s, CPU-bound
            // (perf compare's bulk phase). It is a credit, not an allocation: memory is used only when the app reads
            // a response more slowly than the upstream sends it (Envoy's default stream window is 256 MiB).
            InitialHttp2StreamWindowSize = 4 * 1024 * 1024,
        };

        LeanConnectCallback connect;
        int leanLimit;
        if (mode == ChannelMode.Disable)
        {
            handler.ConnectCallback = ConnectPlaintextAsync;
            connect = static (endPoint, cancellationToken) => ConnectPlaintextAsync(endPoint, cancellationToken);
            leanLimit = int.MaxValue;
        }
        else
        {
            // HTTP/1.1 channels to one endpoint: at most Envoy's default circuit-breaker limit (maxConnections 1024 per
            // cluster), since each is a PQ handshake; beyond it a request waits for a channel to come free. HTTP/2
            // connections are not counted (SocketsHttpHandler applies this limit to HTTP/1.x only). Plaintext
            // (DISABLE, and the local app) stays unlimited as before.
            handler.MaxConnectionsPerServer = MaxHttp1ChannelsPerEndpoint;
            PqChannelOptions options = channel.RequireOptions();
            string identity = expectedIdentity ?? throw new InvalidOperationException("a STRICT route needs the peer's expected identity");
            handler.ConnectCallback = (context, cancellationToken) => ConnectPqAsync(context.DnsEndPoint, options, identity, cancellationToken);
            connect = (endPoint, cancellationToken) => ConnectPqAsync(endPoint, options, identity, cancellationToken);
            leanLimit = MaxHttp1ChannelsPerEndpoint;
        }

        // HTTP/2 inside the PQ channel: the lean HTTP/2 client (plaintext HTTP/2 — h2c to a local app, DISABLE routes —
        // stays with SocketsHttpHandler, which meets servers of every kind there)
        HttpMessageHandler http2 = mode != ChannelMode.Disable && LeanHttp2Enabled
            ? new LeanHttp2Handler(handler, connect, s_connectTimeout, s_idleTimeout)
            : handler;
        if (!LeanHttp1Enabled)
        {
            return new HttpMessageInvoker(http2, disposeHandler: true);
        }

        return new HttpMessageInvoker(new LeanHttp1Handler(http2, connect, leanLimit, s_connectTimeout, s_idleTimeout), disposeHandler: true);
    }

    /// <summary>Plaintext TCP to the endpoint (mode DISABLE).</summary>
    internal static ValueTask<Stream> ConnectPlaintextAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
        => ConnectPlaintextAsync(context.DnsEndPoint, cancellationToken);

    /// <summary>Plaintext TCP to <paramref name="endPoint"/>.</summary>
    internal static async ValueTask<Stream> ConnectPlaintextAsync(DnsEndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>TCP, then the PQ channel's client handshake expecting <paramref name="expectedIdentity"/> (mode STRICT).</summary>
    internal static async ValueTask<Stream> ConnectPqAsync(DnsEndPoint endPoint, PqChannelOptions options, string expectedIdentity, CancellationToken cancellationToken)
    {
        Stream tcp = await ConnectPlaintextAsync(endPoint, cancellationToken).ConfigureAwait(false);
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
