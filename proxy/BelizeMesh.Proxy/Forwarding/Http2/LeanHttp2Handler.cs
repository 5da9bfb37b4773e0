using System.Buffers;
using System.Net;
using System.Net.Http;

namespace BelizeMesh.Proxy.Forwarding.Http2;

/// <summary>
/// A lean HTTP/2 client for the forwarder's requests inside the PQ channel (prior knowledge, RFC 9113 §3.3): the header
/// block is written straight from the headers YARP copied, frames of concurrent requests leave in one write, responses
/// are decoded on the connection's read loop — without <c>SocketsHttpHandler</c>'s connection-pool, header-validation
/// and writer-task layers (about a tenth of the sidecar pair's CPU at 64 connections, session 20's profile).
/// </summary>
/// <remarks>
/// It takes HTTP/2 requests (<see cref="HttpVersionPolicy.RequestVersionExact"/> or <c>OrHigher</c>) to <c>http</c> URIs,
/// not CONNECT (nor extended CONNECT: WebSockets over HTTP/2), no <c>Expect</c>, header values in Latin-1 without control
/// characters (<see cref="LeanHttp2RequestWriter"/>); everything else goes to the inner handler unchanged. Connections
/// per endpoint: as many as the peer's SETTINGS_MAX_CONCURRENT_STREAMS requires (a new one opens when every open one is
/// full, like <c>EnableMultipleHttp2Connections</c>; a new one whose SETTINGS allow no stream fails the requests waiting
/// for it instead); each is one connect step (the PQ handshake proving the route's
/// identity) and closes after <c>idleTimeout</c> without a stream. A request the peer refused unprocessed
/// (REFUSED_STREAM, GOAWAY) is sent again on another connection when it has no body, up to <see cref="MaxAttempts"/>
/// times in all.
/// </remarks>
internal sealed class LeanHttp2Handler : LeanHandler<LeanHttp2Pool>
{
    /// <summary>How many times a request without a body is sent when the peer refuses it unprocessed.</summary>
    public const int MaxAttempts = 3;

    public LeanHttp2Handler(HttpMessageHandler inner, LeanConnectCallback connect, TimeSpan connectTimeout, TimeSpan idleTimeout)
        : base(inner, connect, connectTimeout, idleTimeout)
    {
    }

    protected override LeanHttp2Pool CreatePool(string authority, Uri uri) => new(this, new DnsEndPoint(uri.IdnHost, uri.Port), authority);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Uri? uri = request.RequestUri;
        if (IsDisposed || uri is null || !uri.IsAbsoluteUri || !string.Equals(uri.Scheme, Uri.UriSchemeHttp, StringComparison.Ordinal)
            || request.Version != HttpVersion.Version20 || request.VersionPolicy == HttpVersionPolicy.RequestVersionOrLower
            || request.Headers.Protocol is not null || IsConnect(request))
        {
            return Delegate(request, cancellationToken);
        }

        LeanHttp2Pool pool = PoolFor(uri);
        byte[] block = ArrayPool<byte>.Shared.Rent(1024);
        int length;
        try
        {
            if (!LeanHttp2RequestWriter.TryWrite(request, pool.Authority, ref block, out length))
            {
                ArrayPool<byte>.Shared.Return(block);
                return Delegate(request, cancellationToken);
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(block);
            throw;
        }

        Interlocked.Increment(ref LeanRequests);
        return SendLeanAsync(pool, request, block, length, cancellationToken);
    }

    /// <summary>Takes a stream on a connection with room, sends the header block (and starts the body), and waits for
    /// the response headers: one state machine per request.</summary>
    private static async Task<HttpResponseMessage> SendLeanAsync(LeanHttp2Pool pool, HttpRequestMessage request, byte[] block, int length, CancellationToken cancellationToken)
    {
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                ValueTask<LeanHttp2Connection> acquire = pool.AcquireAsync(cancellationToken);
                LeanHttp2Connection connection = acquire.IsCompletedSuccessfully ? acquire.Result : await acquire.ConfigureAwait(false);
                HttpContent? content = request.Content;
                LeanHttp2Stream stream;
                try
                {
                    stream = connection.Open(request, block.AsSpan(0, length), endStream: content is null);
                }
                catch (HttpProtocolException) when (attempt < MaxAttempts)
                {
                    continue; // the connection went away between taking the slot and opening the stream
                }

                _ = connection.FlushAsync();
                if (content is not null)
                {
                    _ = stream.SendBodyAsync(content, cancellationToken);
                }

                try
                {
                    ValueTask<HttpResponseMessage> response = stream.ResponseAsync;
                    if (response.IsCompletedSuccessfully)
                    {
                        return response.Result;
                    }

                    using (cancellationToken.UnsafeRegister(static (state, token) => ((LeanHttp2Stream)state!).Cancel(token), stream))
                    {
                        return await response.ConfigureAwait(false);
                    }
                }
                catch (HttpProtocolException ex) when (ex.ErrorCode == (long)Http2ErrorCode.RefusedStream && content is null && attempt < MaxAttempts && !cancellationToken.IsCancellationRequested)
                {
                    // not processed by the peer (RFC 9113 §8.7): send it again
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }
}

/// <summary>The HTTP/2 connections of one endpoint.</summary>
internal sealed class LeanHttp2Pool(LeanHttp2Handler handler, DnsEndPoint endPoint, string authority) : ILeanPool
{
    private readonly object _lock = new();
    private LeanHttp2Connection[] _connections = [];
    private Task<LeanHttp2Connection>? _connecting;

    /// <summary>The endpoint's authority (<c>host:port</c>), the <c>:authority</c> of a request without a Host.</summary>
    public string Authority { get; } = authority;

    public int Open => Volatile.Read(ref _connections).Length;

    /// <summary>A connection with a stream slot taken for the caller; opens one when none has room.</summary>
    public ValueTask<LeanHttp2Connection> AcquireAsync(CancellationToken cancellationToken)
    {
        LeanHttp2Connection[] connections = Volatile.Read(ref _connections);
        foreach (LeanHttp2Connection connection in connections)
        {
            if (connection.TryReserve())
            {
                return new ValueTask<LeanHttp2Connection>(connection);
            }
        }

        return AcquireSlowAsync(cancellationToken);
    }

    private async ValueTask<LeanHttp2Connection> AcquireSlowAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task<LeanHttp2Connection> connecting;
            lock (_lock)
            {
                foreach (LeanHttp2Connection connection in _connections)
                {
                    if (connection.TryReserve())
                    {
                        return connection;
                    }
                }

                // one connection attempt at a time, shared by everyone waiting; not cancelled by any one request
                connecting = _connecting ??= Task.Run(ConnectAsync);
            }

            await connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<LeanHttp2Connection> ConnectAsync()
    {
        try
        {
            Stream stream = await LeanConnect.OpenAsync(handler.Connect, endPoint, handler.ConnectTimeout, CancellationToken.None).ConfigureAwait(false);
            var connection = new LeanHttp2Connection(this, stream);
            await connection.StartAsync(handler.ConnectTimeout).ConfigureAwait(false);
            if (connection.Failure is { } failure)
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError, $"The HTTP/2 connection to {endPoint.Host}:{endPoint.Port} failed as it started: {failure.Message}", failure);
            }

            if (!connection.AllowsStreams)
            {
                // A new connection that takes no stream: the next would likely say the same, and the waiting requests
                // would open connection after connection (a handshake each) for as long as they wait.
                connection.TryCloseIdle(0, 0, all: true);
                throw new HttpRequestException(HttpRequestError.ConnectionError, $"The upstream at {endPoint.Host}:{endPoint.Port} allows no HTTP/2 stream on a new connection (SETTINGS_MAX_CONCURRENT_STREAMS 0).");
            }

            lock (_lock)
            {
                _connections = [.. _connections, connection];
            }

            return connection;
        }
        finally
        {
            lock (_lock)
            {
                _connecting = null;
            }
        }
    }

    /// <summary>A connection is closing or failed: no new stream goes to it.</summary>
    public void Remove(LeanHttp2Connection connection)
    {
        lock (_lock)
        {
            int index = Array.IndexOf(_connections, connection);
            if (index >= 0)
            {
                LeanHttp2Connection[] fewer = new LeanHttp2Connection[_connections.Length - 1];
                Array.Copy(_connections, fewer, index);
                Array.Copy(_connections, index + 1, fewer, index, fewer.Length - index);
                _connections = fewer;
            }
        }
    }

    /// <summary>Closes the connections without a stream for the idle timeout (all of them when <paramref name="all"/>).</summary>
    public void CloseIdle(bool all)
    {
        long now = Environment.TickCount64;
        long limit = (long)handler.IdleTimeout.TotalMilliseconds;
        foreach (LeanHttp2Connection connection in Volatile.Read(ref _connections))
        {
            if (connection.TryCloseIdle(now, limit, all))
            {
                Remove(connection);
            }
        }
    }
}
