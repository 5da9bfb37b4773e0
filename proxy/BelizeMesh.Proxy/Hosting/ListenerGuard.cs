using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using BelizeMesh.Channel;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Connection caps and the pre-HTTP deadline of one listener (<c>spec.inbound.limits</c>,
/// <c>spec.outbound.limits</c>). Kestrel's own timeouts start only when its HTTP layer runs; everything in front of
/// it — the PERMISSIVE sniff, the PQ handshake, the h2c preface peek — waited on the client for ever, so one byte
/// (or none) held a connection open indefinitely. <see cref="Arm"/> goes first on the listener: it refuses a
/// connection over <see cref="ListenerLimitsSpec.MaxConnections"/> and starts a <see cref="ListenerLimitsSpec.SniffTimeout"/>
/// timer that aborts the connection; <see cref="Disarm"/> goes last, just before Kestrel's HTTP layer, and stops the
/// timer. Both limits come from the current policy, so a reload applies to the next connection. On a listener with
/// a handshake rate (<see cref="ListenerLimitsSpec.HandshakesPerSecondPerSource"/>) the guard is also the connection's
/// <see cref="IHandshakeAdmission"/>: the channel middleware asks it before reading a ClientHello.
/// With <paramref name="idleUntilFirstByte"/> (the outbound listener: the local app on loopback, whose pools and load
/// generators open connections ahead of use) a connection that has sent no byte yet is an idle connection, bounded by
/// <see cref="ListenerLimitsSpec.IdleTimeout"/> as Kestrel bounds a keep-alive one; the sniff deadline starts at its
/// first byte, which the h2c preface check reports (<see cref="Deadline.FirstByte"/>) when that byte leaves it undecided.
/// </summary>
internal sealed partial class ListenerGuard(string listener, Func<ListenerLimitsSpec> limits, ProxyMetrics metrics, TimeProvider time, ILogger logger, bool idleUntilFirstByte = false)
    : IHandshakeAdmission
{
    /// <summary>Sources tracked for the handshake rate before full (idle) buckets are swept out.</summary>
    internal const int SweepAbove = 4096;

    /// <summary>Sources tracked at most: past it (a spray from many addresses, where a per-source rate means little)
    /// new sources are admitted untracked; maxConnections and maxPendingPerSource still bound them.</summary>
    internal const int MaxTrackedSources = 65_536;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<System.Net.IPAddress, StrongBox<int>> _pending = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<System.Net.IPAddress, HandshakeBucket> _buckets = new();
    private long _lastSweep;
    private long _lastRefusalLog;
    private int _refusalsSinceLog;
    private int _connections;

    /// <summary>Sources with a handshake bucket (for tests).</summary>
    public int TrackedHandshakeSources => _buckets.Count;

    public int Connections => Volatile.Read(ref _connections);

    private TimeProvider Time => time;

    /// <summary>Connections from <paramref name="source"/> not yet past <see cref="Disarm"/> (for tests).</summary>
    public int PendingFrom(System.Net.IPAddress source) => _pending.TryGetValue(source, out StrongBox<int>? box) ? Volatile.Read(ref box.Value) : 0;

    public Func<ConnectionDelegate, ConnectionDelegate> Arm => next => async connection =>
    {
        ListenerLimitsSpec current = limits();
        int count = Interlocked.Increment(ref _connections);
        try
        {
            if (current.MaxConnections > 0 && count > current.MaxConnections)
            {
                metrics.ListenerRejected(listener, "max_connections");
                Log.OverCap(logger, listener, current.MaxConnections, connection.RemoteEndPoint?.ToString() ?? "");
                connection.Abort(new ConnectionAbortedException($"{listener} listener: over limits.maxConnections ({current.MaxConnections})"));
                return;
            }

            PendingSlot? slot = null;
            if (current.MaxPendingPerSource > 0 && connection.RemoteEndPoint is System.Net.IPEndPoint remote)
            {
                // Counted until the connection reaches HTTP (Disarm) or ends, whichever comes first: a source cannot
                // hold more than its share of half-open connections, however fast it opens them.
                slot = new PendingSlot(this, remote.Address);
                if (slot.Count > current.MaxPendingPerSource)
                {
                    slot.Release();
                    metrics.ListenerRejected(listener, "max_pending_per_source");
                    Log.OverPendingCap(logger, listener, current.MaxPendingPerSource, remote.ToString());
                    connection.Abort(new ConnectionAbortedException($"{listener} listener: over limits.maxPendingPerSource ({current.MaxPendingPerSource})"));
                    return;
                }

                connection.Features.Set(slot);
            }

            if (current.HandshakesPerSecondPerSource > 0)
            {
                connection.Features.Set<IHandshakeAdmission>(this);
            }

            try
            {
                if (current.SniffTimeout <= TimeSpan.Zero)
                {
                    await next(connection).ConfigureAwait(false);
                    return;
                }

                var deadline = new Deadline(this, connection, current.SniffTimeout, idleUntilFirstByte ? current.IdleTimeout : null);
                connection.Features.Set(deadline);
                try
                {
                    await next(connection).ConfigureAwait(false);
                }
                finally
                {
                    deadline.Dispose();
                }
            }
            finally
            {
                slot?.Release();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _connections);
        }
    };

    /// <summary>
    /// <see cref="IHandshakeAdmission"/>: takes one token from the source's bucket (refilled at
    /// <see cref="ListenerLimitsSpec.HandshakesPerSecondPerSource"/>, holding at most
    /// <see cref="ListenerLimitsSpec.HandshakeBurstPerSource"/>); no token, no handshake.
    /// </summary>
    public bool TryAdmit(ConnectionContext connection, [NotNullWhen(false)] out string? refusal)
    {
        refusal = null;
        ListenerLimitsSpec current = limits();
        int rate = current.HandshakesPerSecondPerSource;
        if (rate <= 0 || connection.RemoteEndPoint is not System.Net.IPEndPoint remote)
        {
            return true;
        }

        int burst = Math.Max(1, current.HandshakeBurstPerSource);
        long now = time.GetTimestamp();
        if (!_buckets.TryGetValue(remote.Address, out HandshakeBucket? bucket))
        {
            if (_buckets.Count >= SweepAbove)
            {
                Sweep(now, rate, burst);
            }

            if (_buckets.Count >= MaxTrackedSources)
            {
                return true;
            }

            bucket = _buckets.GetOrAdd(remote.Address, static (_, state) => new HandshakeBucket(state.Burst, state.Now), (Burst: burst, Now: now));
        }

        if (bucket.TryTake(now, rate, burst, time.TimestampFrequency))
        {
            return true;
        }

        metrics.ListenerRejected(listener, "handshake_rate");
        refusal = $"{listener} listener: {remote.Address} is over limits.handshakesPerSecondPerSource ({rate}/s, burst {burst})";
        LogRefusalThrottled(now, rate, burst, remote.Address);
        return false;
    }

    /// <summary>Drops the buckets that have refilled (their sources are quiet), at most once a second.</summary>
    private void Sweep(long now, int rate, int burst)
    {
        long last = Volatile.Read(ref _lastSweep);
        if (now - last < time.TimestampFrequency || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
        {
            return;
        }

        foreach (KeyValuePair<System.Net.IPAddress, HandshakeBucket> entry in _buckets)
        {
            if (entry.Value.IsFull(now, rate, burst, time.TimestampFrequency))
            {
                _buckets.TryRemove(entry);
            }
        }
    }

    /// <summary>A flood must not become a log flood: one warning a second per listener, with the count it stands for.</summary>
    private void LogRefusalThrottled(long now, int rate, int burst, System.Net.IPAddress source)
    {
        Interlocked.Increment(ref _refusalsSinceLog);
        long last = Volatile.Read(ref _lastRefusalLog);
        if (now - last >= time.TimestampFrequency && Interlocked.CompareExchange(ref _lastRefusalLog, now, last) == last)
        {
            Log.HandshakeRate(logger, listener, Interlocked.Exchange(ref _refusalsSinceLog, 0), rate, burst, source.ToString());
        }
    }

    /// <summary>One source's token bucket; tokens in fixed point (1/1000) so a refill at any rate loses nothing.</summary>
    internal sealed class HandshakeBucket(int burst, long now)
    {
        private const long Unit = 1000;
        private long _milliTokens = burst * Unit;
        private long _updated = now;

        public bool TryTake(long now, int rate, int burst, long frequency)
        {
            lock (this)
            {
                Refill(now, rate, burst, frequency);
                if (_milliTokens < Unit)
                {
                    return false;
                }

                _milliTokens -= Unit;
                return true;
            }
        }

        public bool IsFull(long now, int rate, int burst, long frequency)
        {
            lock (this)
            {
                Refill(now, rate, burst, frequency);
                return _milliTokens >= burst * Unit;
            }
        }

        private void Refill(long now, int rate, int burst, long frequency)
        {
            long elapsed = now - _updated;
            if (elapsed <= 0)
            {
                return;
            }

            // Whole milli-tokens earned since the last update; the remainder of the interval is kept for the next call.
            long earned = (long)((double)elapsed * rate * Unit / frequency);
            if (earned <= 0)
            {
                return;
            }

            _milliTokens = Math.Min(burst * Unit, _milliTokens + earned);
            _updated = _milliTokens == burst * Unit ? now : _updated + (long)((double)earned * frequency / (rate * Unit));
        }
    }

    /// <summary>One connection's place in its source's pending count, given back exactly once.</summary>
    internal sealed class PendingSlot
    {
        private readonly ListenerGuard _guard;
        private readonly System.Net.IPAddress _source;
        private readonly StrongBox<int> _box;
        private int _released;

        public PendingSlot(ListenerGuard guard, System.Net.IPAddress source)
        {
            _guard = guard;
            _source = source;
            _box = guard._pending.GetOrAdd(source, static _ => new StrongBox<int>());
            Count = Interlocked.Increment(ref _box.Value);
        }

        /// <summary>The source's pending count including this connection, when it arrived.</summary>
        public int Count { get; }

        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0 && Interlocked.Decrement(ref _box.Value) == 0)
            {
                // Idle sources leave the table, so a scan of the address space cannot grow it. A connection that got
                // this box just before the removal still counts in it; the next arrival from that source starts a
                // fresh box, so the cap can be briefly exceeded by one in that race, never undercounted for long.
                _guard._pending.TryRemove(new KeyValuePair<System.Net.IPAddress, StrongBox<int>>(_source, _box));
            }
        }
    }

    private void Expired(ConnectionContext connection, TimeSpan timeout)
    {
        metrics.ListenerRejected(listener, "sniff_timeout");
        Log.SniffTimeout(logger, listener, timeout, connection.RemoteEndPoint?.ToString() ?? "");
        connection.Abort(new ConnectionAbortedException($"{listener} listener: no HTTP request began within limits.sniffTimeout ({timeout})"));
    }

    /// <summary>The connection reached Kestrel's HTTP layer: its header and keep-alive timeouts take over.</summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Disarm => next => connection =>
    {
        connection.Features.Get<Deadline>()?.Stop();
        connection.Features.Get<PendingSlot>()?.Release();
        return next(connection);
    };

    private void IdleExpired(ConnectionContext connection, TimeSpan timeout)
    {
        // Not a refusal: the same close Kestrel makes on an idle keep-alive connection, and like it not counted.
        Log.IdleBeforeFirstByte(logger, listener, timeout, connection.RemoteEndPoint?.ToString() ?? "");
        connection.Abort(new ConnectionAbortedException($"{listener} listener: no byte arrived within limits.idleTimeout ({timeout})"));
    }

    /// <summary>
    /// The connection's pre-HTTP timer. Armed at accept with the sniff timeout; or, given <c>idleTimeout</c> (the
    /// outbound listener), idle until <see cref="FirstByte"/> — bounded by <c>idleTimeout</c> (none when 0) — and armed
    /// with the sniff timeout from then. The pipeline calls <see cref="FirstByte"/>, <see cref="Stop"/> and
    /// <see cref="Dispose"/> in turn on one connection; only the timer callbacks race them.
    /// </summary>
    internal sealed class Deadline : IDisposable
    {
        private const int Armed = 0, Stopped = 1, Expired = 2, Idle = 3;
        private readonly ListenerGuard _guard;
        private readonly ConnectionContext _connection;
        private readonly TimeSpan _timeout;
        private readonly TimeSpan _idleTimeout;
        private ITimer _timer;
        private int _state;

        public Deadline(ListenerGuard guard, ConnectionContext connection, TimeSpan timeout, TimeSpan? idleTimeout)
        {
            _guard = guard;
            _connection = connection;
            _timeout = timeout;
            if (idleTimeout is { } idle)
            {
                _state = Idle;
                _idleTimeout = idle;
                TimeSpan due = idle > TimeSpan.Zero ? idle : Timeout.InfiniteTimeSpan;
                _timer = guard.Time.CreateTimer(static state => ((Deadline)state!).ExpireIdle(), this, due, Timeout.InfiniteTimeSpan);
            }
            else
            {
                _timer = guard.Time.CreateTimer(static state => ((Deadline)state!).Expire(), this, timeout, Timeout.InfiniteTimeSpan);
            }
        }

        /// <summary>The first byte arrived and did not settle the protocol: an idle connection starts its sniff deadline.
        /// Once per connection at most; nothing when the deadline is already armed, stopped or expired.</summary>
        public void FirstByte()
        {
            if (Volatile.Read(ref _state) != Idle || Interlocked.CompareExchange(ref _state, Armed, Idle) != Idle)
            {
                return;
            }

            ITimer idle = _timer;
            _timer = _guard.Time.CreateTimer(static state => ((Deadline)state!).Expire(), this, _timeout, Timeout.InfiniteTimeSpan);
            idle.Dispose();
        }

        public void Stop()
        {
            int state = Volatile.Read(ref _state);
            if ((state == Armed || state == Idle) && Interlocked.CompareExchange(ref _state, Stopped, state) == state)
            {
                _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }

        public void Expire()
        {
            if (Interlocked.CompareExchange(ref _state, Expired, Armed) != Armed)
            {
                return;
            }

            _guard.Expired(_connection, _timeout);
        }

        private void ExpireIdle()
        {
            if (Interlocked.CompareExchange(ref _state, Expired, Idle) != Idle)
            {
                return;
            }

            _guard.IdleExpired(_connection, _idleTimeout);
        }

        public void Dispose() => _timer.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(500, LogLevel.Warning, "The {Listener} listener refused a connection from {Remote}: it already holds limits.maxConnections ({Max}).", EventName = "ConnectionOverCap")]
        public static partial void OverCap(ILogger logger, string listener, int max, string remote);

        [LoggerMessage(502, LogLevel.Warning, "The {Listener} listener refused a connection from {Remote}: that source already has limits.maxPendingPerSource ({Max}) connections before their first HTTP byte.", EventName = "PendingPerSourceOverCap")]
        public static partial void OverPendingCap(ILogger logger, string listener, int max, string remote);

        [LoggerMessage(503, LogLevel.Warning, "The {Listener} listener refused {Count} channel handshake(s) in the last second, the latest from {Remote}: over limits.handshakesPerSecondPerSource ({Rate}/s, burst {Burst}). Each refusal cost a 6-byte Overloaded alert, no handshake work.", EventName = "HandshakeRateExceeded")]
        public static partial void HandshakeRate(ILogger logger, string listener, int count, int rate, int burst, string remote);

        [LoggerMessage(501, LogLevel.Information, "The {Listener} listener closed a connection from {Remote}: no HTTP request began within limits.sniffTimeout ({Timeout}).", EventName = "SniffTimeout")]
        public static partial void SniffTimeout(ILogger logger, string listener, TimeSpan timeout, string remote);

        [LoggerMessage(504, LogLevel.Debug, "The {Listener} listener closed an idle connection from {Remote}: no byte arrived within limits.idleTimeout ({Timeout}).", EventName = "IdleBeforeFirstByte")]
        public static partial void IdleBeforeFirstByte(ILogger logger, string listener, TimeSpan timeout, string remote);
    }
}

/// <summary>The guards of the inbound and outbound listeners, reading their limits from the current policy.</summary>
internal sealed class ListenerGuards(PolicyStore store, ProxyMetrics metrics, ProxyHostOptions options, ILoggerFactory loggers)
{
    public ListenerGuard Inbound { get; } = new("inbound", () => store.Current.Policy.Spec.Inbound.Limits, metrics, options.Time, loggers.CreateLogger<ListenerGuard>());

    public ListenerGuard Outbound { get; } = new("outbound", () => store.Current.Policy.Spec.Outbound.Limits, metrics, options.Time, loggers.CreateLogger<ListenerGuard>(), idleUntilFirstByte: true);
}
