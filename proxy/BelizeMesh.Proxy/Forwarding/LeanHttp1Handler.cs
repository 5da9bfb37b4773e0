using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>Opens one connection to an endpoint: plaintext TCP, or TCP plus the PQ channel's client handshake.</summary>
internal delegate ValueTask<Stream> LeanConnectCallback(DnsEndPoint endPoint, CancellationToken cancellationToken);

/// <summary>The connect step of the lean clients: the callback within the connect timeout, failures as
/// <see cref="HttpRequestError.ConnectionError"/> (what the forwarder reports as a connect failure, and retries).</summary>
internal static class LeanConnect
{
    public static async Task<Stream> OpenAsync(LeanConnectCallback connect, DnsEndPoint endPoint, TimeSpan connectTimeout, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(connectTimeout);
        try
        {
            return await connect(endPoint, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            throw new HttpRequestException(HttpRequestError.ConnectionError, $"Connection to {endPoint.Host}:{endPoint.Port} timed out after {connectTimeout.TotalSeconds:0.###} s.", ex);
        }
        catch (Exception ex) when (ex is not HttpRequestException)
        {
            throw new HttpRequestException(HttpRequestError.ConnectionError, $"{ex.Message} ({endPoint.Host}:{endPoint.Port})", ex);
        }
    }
}

/// <summary>
/// A lean HTTP/1.1 client for the forwarder's pooled connections (PQ channels to the peer sidecar, plaintext TCP to
/// the local app and DISABLE routes): it writes the request head from the headers YARP copied straight into a pooled
/// buffer and parses the response head once, without HttpClient's header validation and connection-pool layers.
/// </summary>
/// <remarks>
/// It takes only HTTP/1.1 requests it fully understands: <c>http</c> URIs, not CONNECT, no <c>Upgrade</c> (WebSockets),
/// no <c>Expect</c>, header values in Latin-1 without control characters, a body with a known Content-Length, none, or
/// of unknown length (sent chunked). Every other request, and every HTTP/2 request, goes to the inner
/// <see cref="SocketsHttpHandler"/> unchanged. Connections come from the same connect step (the PQ handshake proving the
/// route's expected identity), at most <c>maxConnectionsPerEndpoint</c> per endpoint (a request waits for one to come
/// free beyond it), and close after <c>idleTimeout</c> unused. One request at a time per connection; a connection is
/// reused only when the request and the response were both completed cleanly and neither side said
/// <c>Connection: close</c>. A request that fails on a reused connection before any byte of the response arrived and
/// before its body was started is sent again on a new connection (the server may have closed the idle connection as
/// it was taken), as SocketsHttpHandler does.
/// </remarks>
internal sealed class LeanHttp1Handler : LeanHandler<LeanHttp1Pool>
{
    /// <summary>The most bytes a response head (status line and headers) or trailer section may take (Kestrel's default).</summary>
    public const int MaxHeadBytes = 64 * 1024;

    public LeanHttp1Handler(HttpMessageHandler inner, LeanConnectCallback connect, int maxConnectionsPerEndpoint, TimeSpan connectTimeout, TimeSpan idleTimeout)
        : base(inner, connect, connectTimeout, idleTimeout)
    {
        MaxConnectionsPerEndpoint = maxConnectionsPerEndpoint;
    }

    internal int MaxConnectionsPerEndpoint { get; }

    protected override LeanHttp1Pool CreatePool(string authority, Uri uri) => new(this, uri.IdnHost, uri.Port);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Uri? uri = request.RequestUri;
        if (IsDisposed || uri is null || !uri.IsAbsoluteUri || !string.Equals(uri.Scheme, Uri.UriSchemeHttp, StringComparison.Ordinal)
            || request.Version != HttpVersion.Version11 || request.VersionPolicy == HttpVersionPolicy.RequestVersionOrHigher
            || IsConnect(request))
        {
            return Delegate(request, cancellationToken);
        }

        LeanHttp1Pool pool = PoolFor(uri);
        byte[] head = ArrayPool<byte>.Shared.Rent(4096);
        LeanRequestHead parsed;
        try
        {
            if (!LeanHttp1RequestWriter.TryWrite(request, pool.HostHeaderLine, ref head, out parsed))
            {
                ArrayPool<byte>.Shared.Return(head);
                return Delegate(request, cancellationToken);
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(head);
            throw;
        }

        Interlocked.Increment(ref LeanRequests);
        return SendLeanAsync(pool, request, head, parsed, cancellationToken);
    }

    /// <summary>The whole of a lean request up to its response head, in one async method (one state machine per
    /// request): take a connection, write the head, start the body, read and parse the response head.</summary>
    private static async Task<HttpResponseMessage> SendLeanAsync(LeanHttp1Pool pool, HttpRequestMessage request, byte[] head, LeanRequestHead parsed, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                ValueTask<(LeanHttp1Connection Connection, bool Reused)> acquire = pool.AcquireAsync(cancellationToken);
                (LeanHttp1Connection connection, bool reused) = acquire.IsCompletedSuccessfully ? acquire.Result : await acquire.ConfigureAwait(false);
                CancellationTokenRegistration registration = connection.Begin(parsed, cancellationToken);
                bool bodyStarted = false;
                HttpResponseMessage? response;
                try
                {
                    await connection.Stream.WriteAsync(head.AsMemory(0, parsed.Length), cancellationToken).ConfigureAwait(false);
                    if (request.Content is { } content)
                    {
                        bodyStarted = true;
                        connection.StartBody(content, parsed, cancellationToken);
                    }

                    while ((response = connection.TryParseResponse(request, parsed.IsHead)) is null)
                    {
                        int n = connection.HasReadAhead
                            ? await connection.ReadAhead.ConfigureAwait(false)
                            : await connection.Stream.ReadAsync(connection.ReadSpace(), cancellationToken).ConfigureAwait(false);
                        connection.HeadBytesRead(n);
                    }
                }
                catch (Exception ex)
                {
                    bool retry = connection.Fail(ex, reused, bodyStarted, cancellationToken, out Exception translated);
                    registration.Dispose();
                    if (retry)
                    {
                        continue; // a reused connection the server had closed: nothing of this request was consumed
                    }

                    if (ReferenceEquals(translated, ex))
                    {
                        throw;
                    }

                    throw translated;
                }

                // after the registration is gone, so that a cancellation cannot abort the connection once the pool has
                // handed it to another request
                registration.Dispose();
                if (connection.AbortedByCancellation)
                {
                    // cancelled after the head arrived but while still registered: the cancellation aborted the
                    // connection, so the request was cancelled (as SocketsHttpHandler reports it), not answered. The
                    // response part ends here (Fail), not when the discarded response is disposed.
                    ((LeanResponseContent)response.Content).Body = Stream.Null;
                    response.Dispose();
                    connection.Fail(new OperationCanceledException(cancellationToken), reused, bodyStarted, cancellationToken, out Exception canceled);
                    throw canceled;
                }

                if (((LeanResponseContent)response.Content).Body == Stream.Null)
                {
                    connection.CompletePart(clean: true); // no body: the response part is over
                }

                return response;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(head);
        }
    }
}

/// <summary>The connections of one endpoint: idle ones (most recently used first), the open count and the waiters.</summary>
internal sealed class LeanHttp1Pool : ILeanPool
{
    private readonly LeanHttp1Handler _handler;
    private readonly DnsEndPoint _endPoint;
    private readonly object _lock = new();
    private readonly LinkedList<TaskCompletionSource<LeanHttp1Connection?>> _waiters = new();
    private LeanHttp1Connection[] _idle = new LeanHttp1Connection[4];
    private int _idleCount;
    private int _open;

    public LeanHttp1Pool(LeanHttp1Handler handler, string host, int port)
    {
        _handler = handler;
        _endPoint = new DnsEndPoint(host, port);
        string authority = host.Contains(':', StringComparison.Ordinal) ? "[" + host + "]" : host;
        HostHeaderLine = System.Text.Encoding.ASCII.GetBytes("Host: " + authority + (port == 80 ? "" : ":" + port.ToString(System.Globalization.CultureInfo.InvariantCulture)) + "\r\n");
    }

    /// <summary><c>Host: authority\r\n</c> for a request whose headers carry no Host.</summary>
    public byte[] HostHeaderLine { get; }

    public int Open => Volatile.Read(ref _open);

    public TimeSpan IdleTimeout => _handler.IdleTimeout;

    public async ValueTask<(LeanHttp1Connection Connection, bool Reused)> AcquireAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            LeanHttp1Connection? idle = null;
            TaskCompletionSource<LeanHttp1Connection?>? waiter = null;
            lock (_lock)
            {
                if (_idleCount > 0)
                {
                    idle = _idle[--_idleCount];
                    _idle[_idleCount] = null!;
                }
                else if (_open < _handler.MaxConnectionsPerEndpoint)
                {
                    _open++;
                }
                else
                {
                    waiter = new TaskCompletionSource<LeanHttp1Connection?>(TaskCreationOptions.RunContinuationsAsynchronously);
                    _waiters.AddLast(waiter);
                }
            }

            if (idle is not null)
            {
                if (idle.TryActivate())
                {
                    return (idle, true);
                }

                idle.Close();
                Closed();
                continue;
            }

            if (waiter is not null)
            {
                LeanHttp1Connection? handed = await WaitAsync(waiter, cancellationToken).ConfigureAwait(false);
                if (handed is not null)
                {
                    if (handed.TryActivate())
                    {
                        return (handed, true);
                    }

                    handed.Close();
                    Closed();
                    continue;
                }

                // null: a connection closed and its slot passed to this waiter
            }

            try
            {
                return (await ConnectAsync(cancellationToken).ConfigureAwait(false), false);
            }
            catch
            {
                Closed();
                throw;
            }
        }
    }

    private async Task<LeanHttp1Connection?> WaitAsync(TaskCompletionSource<LeanHttp1Connection?> waiter, CancellationToken cancellationToken)
    {
        using (cancellationToken.UnsafeRegister(static (state, token) =>
        {
            var (pool, w) = ((LeanHttp1Pool, TaskCompletionSource<LeanHttp1Connection?>))state!;
            lock (pool._lock)
            {
                if (!pool._waiters.Remove(w))
                {
                    return; // already handed a connection or a slot
                }
            }

            w.TrySetCanceled(token);
        }, (this, waiter)))
        {
            return await waiter.Task.ConfigureAwait(false);
        }
    }

    private async Task<LeanHttp1Connection> ConnectAsync(CancellationToken cancellationToken)
    {
        Stream stream = await LeanConnect.OpenAsync(_handler.Connect, _endPoint, _handler.ConnectTimeout, cancellationToken).ConfigureAwait(false);
        return new LeanHttp1Connection(this, stream);
    }

    /// <summary>A connection finished its request cleanly: hand it to a waiter or keep it idle (its read-ahead watches
    /// for the server closing it).</summary>
    public void Return(LeanHttp1Connection connection)
    {
        if (_handler.IsDisposed)
        {
            connection.Close();
            Closed();
            return;
        }

        connection.StartIdle();
        lock (_lock)
        {
            while (_waiters.First is { } first)
            {
                _waiters.RemoveFirst();
                if (first.Value.TrySetResult(connection))
                {
                    return;
                }
            }

            if (_idleCount == _idle.Length)
            {
                Array.Resize(ref _idle, _idle.Length * 2);
            }

            _idle[_idleCount++] = connection;
        }
    }

    /// <summary>A connection (or a connection attempt) is gone: its slot goes to a waiter or is freed.</summary>
    public void Closed()
    {
        lock (_lock)
        {
            while (_waiters.First is { } first)
            {
                _waiters.RemoveFirst();
                if (first.Value.TrySetResult(null))
                {
                    return;
                }
            }

            _open--;
        }
    }

    /// <summary>The bytes the idle connections' searches for the end of a response head, chunk-size line or trailer section examined
    /// over their lifetimes (tests).</summary>
    internal long IdleFramingBytesScanned()
    {
        long total = 0;
        lock (_lock)
        {
            for (int i = 0; i < _idleCount; i++)
            {
                total += _idle[i].FramingBytesScanned;
            }
        }

        return total;
    }

    /// <summary>Closes idle connections unused for the idle timeout (all of them when <paramref name="all"/>).</summary>
    public void CloseIdle(bool all)
    {
        LeanHttp1Connection[]? expired = null;
        int count = 0;
        long now = Environment.TickCount64;
        long limit = (long)_handler.IdleTimeout.TotalMilliseconds;
        lock (_lock)
        {
            int kept = 0;
            for (int i = 0; i < _idleCount; i++)
            {
                LeanHttp1Connection c = _idle[i];
                if (all || now - c.IdleSince >= Math.Min(limit, c.KeepAliveMilliseconds) || c.ClosedByServer)
                {
                    expired ??= new LeanHttp1Connection[_idleCount];
                    expired[count++] = c;
                }
                else
                {
                    _idle[kept++] = c;
                }
            }

            Array.Clear(_idle, kept, _idleCount - kept);
            _idleCount = kept;
        }

        for (int i = 0; i < count; i++)
        {
            expired![i].Close();
            Closed();
        }
    }
}
