using System.Collections.Concurrent;
using System.Net.Http;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>The connections a lean client keeps to one endpoint.</summary>
internal interface ILeanPool
{
    /// <summary>Open connections (tests).</summary>
    int Open { get; }

    /// <summary>Closes the connections unused for the idle timeout (all of them when <paramref name="all"/>).</summary>
    void CloseIdle(bool all);
}

/// <summary>
/// What the lean HTTP/1.1 and HTTP/2 clients share: one pool per endpoint authority (looked up without allocating), the
/// connect step and its limits, the scavenger that closes idle connections, the requests left to the inner handler.
/// </summary>
internal abstract class LeanHandler<TPool> : DelegatingHandler
    where TPool : class, ILeanPool
{
    private readonly ConcurrentDictionary<string, TPool> _pools = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TPool>.AlternateLookup<ReadOnlySpan<char>> _poolsBySpan;
    private readonly Timer _scavenger;
    private volatile bool _disposed;

    protected LeanHandler(HttpMessageHandler inner, LeanConnectCallback connect, TimeSpan connectTimeout, TimeSpan idleTimeout)
        : base(inner)
    {
        _poolsBySpan = _pools.GetAlternateLookup<ReadOnlySpan<char>>();
        Connect = connect;
        ConnectTimeout = connectTimeout;
        IdleTimeout = idleTimeout;
        TimeSpan period = TimeSpan.FromTicks(Math.Clamp(idleTimeout.Ticks / 4, TimeSpan.FromMilliseconds(50).Ticks, TimeSpan.FromSeconds(15).Ticks));
        _scavenger = new Timer(static state => ((LeanHandler<TPool>)state!).Scavenge(), this, period, period);
    }

    internal LeanConnectCallback Connect { get; }

    internal TimeSpan ConnectTimeout { get; }

    internal TimeSpan IdleTimeout { get; }

    internal bool IsDisposed => _disposed;

    /// <summary>How many requests this handler sent itself (tests).</summary>
    internal long LeanRequests;

    /// <summary>How many requests went to the inner handler (tests).</summary>
    internal long DelegatedRequests;

    /// <summary>Connections open or being opened to an endpoint (tests).</summary>
    internal int OpenConnections(string authority) => PoolOf(authority)?.Open ?? 0;

    /// <summary>The pool of an endpoint, if one was created (tests).</summary>
    internal TPool? PoolOf(string authority) => _pools.TryGetValue(authority, out TPool? pool) ? pool : null;

    /// <summary>The pool of <paramref name="uri"/>'s endpoint. The key is the authority as written in the URI YARP built
    /// from the destination prefix (http://host:port), read without allocating; a URI with user info falls back to the
    /// parsed authority.</summary>
    protected TPool PoolFor(Uri uri)
    {
        ReadOnlySpan<char> authority = AuthorityOf(uri.OriginalString);
        if (authority.IsEmpty || authority.Contains('@'))
        {
            authority = uri.Authority;
        }

        if (!_poolsBySpan.TryGetValue(authority, out TPool? pool))
        {
            pool = _pools.GetOrAdd(authority.ToString(), static (key, arg) => arg.self.CreatePool(key, arg.uri), (self: this, uri));
        }

        return pool;
    }

    /// <summary>A new pool for the endpoint of <paramref name="uri"/>, whose authority is <paramref name="authority"/>.</summary>
    protected abstract TPool CreatePool(string authority, Uri uri);

    private static ReadOnlySpan<char> AuthorityOf(string uri)
    {
        int start = uri.IndexOf("://", StringComparison.Ordinal);
        if (start < 0)
        {
            return default;
        }

        ReadOnlySpan<char> rest = uri.AsSpan(start + 3);
        int end = rest.IndexOfAny('/', '?', '#');
        return end < 0 ? rest : rest[..end];
    }

    /// <summary>Whether <paramref name="request"/> is CONNECT (never taken by a lean client).</summary>
    protected static bool IsConnect(HttpRequestMessage request)
        => ReferenceEquals(request.Method, HttpMethod.Connect) || request.Method.Method.Equals("CONNECT", StringComparison.OrdinalIgnoreCase);

    /// <summary>Sends <paramref name="request"/> through the inner handler (<c>SocketsHttpHandler</c>).</summary>
    protected Task<HttpResponseMessage> Delegate(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref DelegatedRequests);
        return base.SendAsync(request, cancellationToken);
    }

    private void Scavenge()
    {
        foreach (TPool pool in _pools.Values)
        {
            pool.CloseIdle(all: _disposed);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _scavenger.Dispose();
            Scavenge();
        }

        base.Dispose(disposing);
    }
}
