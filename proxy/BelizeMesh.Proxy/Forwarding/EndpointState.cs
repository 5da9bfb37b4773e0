using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// One upstream endpoint of one route: its address, requests in flight (for LeastRequests) and passive health
/// (consecutive failures → ejected for a while, as Envoy's outlier detection). State survives policy reloads through
/// <see cref="EndpointStateRegistry"/>, so a reload neither forgets an ejection nor resets load counts.
/// </summary>
internal sealed class EndpointState(EndpointAddress address, TimeProvider time)
{
    private int _activeRequests;
    private int _multiplexing; // 1: HTTP/1.x requests go as HTTP/2 (UpstreamTarget.Http1InFlightLimit hysteresis)
    private int _consecutiveFailures;
    private long _ejectedUntil;

    public EndpointAddress Address { get; } = address;

    /// <summary><c>http://host:port</c>: the destination prefix YARP forwards to (inside the channel, for PQ).</summary>
    public string DestinationPrefix { get; } = "http://" + address;

    /// <summary>The endpoint's hash for rendezvous hashing, computed once.</summary>
    public ulong Hash { get; } = StableHash.Of(address.ToString());

    public int ActiveRequests => Volatile.Read(ref _activeRequests);

    public bool IsEjected => Volatile.Read(ref _ejectedUntil) > time.GetTimestamp();

    /// <summary>Whether an HTTP/1.x request that saw <paramref name="inFlight"/> requests in flight (itself included)
    /// goes as HTTP/1.1: switches to HTTP/2 beyond <paramref name="upper"/> and back to HTTP/1.1 at or below
    /// <paramref name="lower"/>; in between it keeps the endpoint's present choice, so a steady load does not mix the two
    /// protocols on one endpoint.</summary>
    public bool StaysHttp1(int inFlight, int upper, int lower)
    {
        if (inFlight > upper)
        {
            if (Volatile.Read(ref _multiplexing) == 0)
            {
                Volatile.Write(ref _multiplexing, 1);
            }

            return false;
        }

        if (inFlight <= lower)
        {
            if (Volatile.Read(ref _multiplexing) != 0)
            {
                Volatile.Write(ref _multiplexing, 0);
            }

            return true;
        }

        return Volatile.Read(ref _multiplexing) == 0;
    }

    /// <returns>The requests in flight to the endpoint, this one included.</returns>
    public int RequestStarted() => Interlocked.Increment(ref _activeRequests);

    public void RequestCompleted() => Interlocked.Decrement(ref _activeRequests);

    public void ReportSuccess() => Volatile.Write(ref _consecutiveFailures, 0);

    /// <summary>Counts a failure; returns true when this failure ejected the endpoint.</summary>
    public bool ReportFailure(int threshold, TimeSpan ejectionTime)
    {
        int failures = Interlocked.Increment(ref _consecutiveFailures);
        if (threshold <= 0 || failures < threshold)
        {
            return false;
        }

        Volatile.Write(ref _consecutiveFailures, 0);
        Volatile.Write(ref _ejectedUntil, time.GetTimestamp() + (long)(ejectionTime.TotalSeconds * time.TimestampFrequency));
        return true;
    }
}

/// <summary>Endpoint states by route and address, shared by successive policy snapshots.</summary>
internal sealed class EndpointStateRegistry(TimeProvider time)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, EndpointState> _states = new(StringComparer.Ordinal);

    public EndpointState Get(string routeId, EndpointAddress address)
        => _states.GetOrAdd(routeId + " " + address, static (_, arg) => new EndpointState(arg.address, arg.time), (address, time));
}

/// <summary>A process-independent 64-bit hash (FNV-1a, then a murmur3 finalizer) for consistent hashing: every sidecar
/// must map the same key to the same endpoint, so <see cref="string.GetHashCode()"/> (randomized per process) won't do.</summary>
internal static class StableHash
{
    public static ulong Of(ReadOnlySpan<char> text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in text)
        {
            hash = (hash ^ (byte)c) * 1099511628211UL;
            hash = (hash ^ (byte)(c >> 8)) * 1099511628211UL;
        }

        return Mix(hash);
    }

    public static ulong Mix(ulong x)
    {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdUL;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53UL;
        x ^= x >> 33;
        return x;
    }
}
