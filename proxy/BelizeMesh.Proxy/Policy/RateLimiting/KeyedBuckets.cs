using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Threading.RateLimiting;

namespace BelizeMesh.Proxy.Policy.RateLimiting;

/// <summary>
/// The token buckets of one rate limit, one per key, and at most <see cref="MaxKeys"/> of them (as Envoy's local rate
/// limit bounds its dynamic descriptors with <c>max_dynamic_descriptors</c>): a new key when the table is full takes
/// over the bucket of the least recently used key, which forgets that key's consumption.
/// </summary>
/// <remarks>
/// <para>
/// This replaces <see cref="PartitionedRateLimiter"/>, which keeps a key until its bucket has been full and unused for
/// 10 s and, every 100 ms, visits every key to replenish or evict it. With <c>key: header:&lt;Name&gt;</c> the client
/// chooses the keys, and a new value per request kept rate × 10 s buckets: measured with 200,000 distinct keys, it held
/// 200,000 partitions (66 MiB, 348 bytes a key) and one heartbeat took 68-102 ms, on a 100 ms timer, under the lock every
/// request of the limit takes.
/// </para>
/// <para>
/// Here every operation is O(1) under one lock: a dictionary finds the key, a doubly linked list keeps the keys in
/// order of use (newest first), eviction takes the oldest, and its entry and bucket are reused for the new key, so a
/// flood of new keys allocates nothing once the table is full. No timer walks the table: buckets refill when read
/// (<see cref="TokenBucket"/>), and each acquisition drops up to two keys from the old end whose buckets are full and
/// have been unused for <see cref="IdleLimit"/> (which loses nothing: a new bucket starts full), so the table shrinks
/// again after a burst of keys while requests keep arriving.
/// </para>
/// <para>
/// A key longer than <see cref="MaxStoredKeyLength"/> is held as its SHA-256, so what one key costs does not depend on
/// how long a header value the client sends (Kestrel admits up to 32 KiB of headers: 10,000 such keys held verbatim
/// would be over 600 MiB). The hash is computed on the stack and looked up by span; only a new key allocates its string.
/// </para>
/// </remarks>
internal sealed class KeyedBuckets
{
    /// <summary>How long a full bucket stays unused before its key may be dropped.</summary>
    internal static readonly TimeSpan IdleLimit = TimeSpan.FromSeconds(10);

    /// <summary>Keys longer than this are held as their SHA-256 (a header value can be tens of kilobytes).</summary>
    internal const int MaxStoredKeyLength = 64;

    private const int IdleKeysDroppedPerAcquire = 2;

    // A hashed key: NUL (which Kestrel refuses in a header value, so no written key starts with it), a tag, then the
    // SHA-256 of the key's UTF-16 code units in base64.
    private const string HashedKeyPrefix = "\0sha256:";
    private const int HashedKeyLength = 52; // HashedKeyPrefix (8) + 44 base64 characters

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Entry>.AlternateLookup<ReadOnlySpan<char>> _byChars;
    private readonly double _requestsPerSecond;
    private readonly int _burst;
    private readonly TimeProvider _time;
    private Entry? _newest;
    private Entry? _oldest;
    private int _maxKeys;
    private long _evictions;

    public KeyedBuckets(double requestsPerSecond, int burst, int maxKeys, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(requestsPerSecond);
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKeys, 1);
        _requestsPerSecond = requestsPerSecond;
        _burst = burst;
        _maxKeys = maxKeys;
        _time = time;
        _byChars = _entries.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>The most keys that hold a bucket. Lowering it takes effect as new keys arrive (each evicts down to it).</summary>
    public int MaxKeys
    {
        get => Volatile.Read(ref _maxKeys);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref _maxKeys, value);
        }
    }

    /// <summary>How many keys hold a bucket now.</summary>
    internal int Count
    {
        get
        {
            lock (_entries)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Buckets taken from the least recently used key to make room for a new key (idle keys dropped are not counted).</summary>
    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>Takes one token from <paramref name="key"/>'s bucket, creating it (full) for a key not in the table.</summary>
    public RateLimitLease AttemptAcquire(string key)
    {
        if (key.Length <= MaxStoredKeyLength)
        {
            return AttemptAcquire(key, key);
        }

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(MemoryMarshal.AsBytes(key.AsSpan()), hash);
        Span<char> hashed = stackalloc char[HashedKeyLength];
        HashedKeyPrefix.CopyTo(hashed);
        bool written = Convert.TryToBase64Chars(hash, hashed[HashedKeyPrefix.Length..], out int length);
        Debug.Assert(written && HashedKeyPrefix.Length + length == HashedKeyLength);
        return AttemptAcquire(hashed, null);
    }

    /// <summary>The keys held, as stored (tests check their length).</summary>
    internal string[] StoredKeys()
    {
        lock (_entries)
        {
            return [.. _entries.Keys];
        }
    }

    /// <param name="key">The key to look up.</param>
    /// <param name="keyString"><paramref name="key"/> as a string when the caller has one (else one is made for a new key).</param>
    private RateLimitLease AttemptAcquire(ReadOnlySpan<char> key, string? keyString)
    {
        lock (_entries)
        {
            Entry entry = Use(key, keyString);
            RateLimitLease lease = entry.Bucket.AttemptAcquire();
            DropIdleOldest();
            return lease;
        }
    }

    /// <summary>The entry of <paramref name="key"/>, now the newest; a new key evicts the oldest ones when full.</summary>
    private Entry Use(ReadOnlySpan<char> key, string? keyString)
    {
        if (_byChars.TryGetValue(key, out Entry? entry))
        {
            if (entry != _newest)
            {
                Unlink(entry);
                LinkNewest(entry);
            }

            return entry;
        }

        Entry? reused = null;
        int maxKeys = _maxKeys;
        while (_entries.Count >= maxKeys)
        {
            reused = RemoveOldest();
            _evictions++;
        }

        if (reused is not null)
        {
            reused.Bucket.Reset();
            entry = reused;
        }
        else
        {
            entry = new Entry(new TokenBucket(_requestsPerSecond, _burst, _time));
        }

        entry.Key = keyString ?? new string(key);
        _entries.Add(entry.Key, entry);
        LinkNewest(entry);
        return entry;
    }

    private void DropIdleOldest()
    {
        for (int i = 0; i < IdleKeysDroppedPerAcquire && _oldest is { } oldest && oldest != _newest; i++)
        {
            if (oldest.Bucket.IdleDuration is not { } idle || idle <= IdleLimit)
            {
                return;
            }

            RemoveOldest();
        }
    }

    private Entry RemoveOldest()
    {
        Entry oldest = _oldest!;
        Unlink(oldest);
        bool removed = _entries.Remove(oldest.Key);
        Debug.Assert(removed);
        return oldest;
    }

    private void LinkNewest(Entry entry)
    {
        entry.Older = _newest;
        entry.Newer = null;
        if (_newest is not null)
        {
            _newest.Newer = entry;
        }

        _newest = entry;
        _oldest ??= entry;
    }

    private void Unlink(Entry entry)
    {
        if (entry.Newer is null)
        {
            _newest = entry.Older;
        }
        else
        {
            entry.Newer.Older = entry.Older;
        }

        if (entry.Older is null)
        {
            _oldest = entry.Newer;
        }
        else
        {
            entry.Older.Newer = entry.Newer;
        }

        entry.Newer = entry.Older = null;
    }

    private sealed class Entry(TokenBucket bucket)
    {
        public TokenBucket Bucket { get; } = bucket;

        public string Key { get; set; } = "";

        public Entry? Newer { get; set; }

        public Entry? Older { get; set; }
    }
}
