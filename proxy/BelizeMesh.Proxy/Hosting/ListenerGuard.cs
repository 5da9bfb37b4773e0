using System.Runtime.CompilerServices;
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
/// timer. Both limits come from the current policy, so a reload applies to the next connection.
/// </summary>
internal sealed partial class ListenerGuard(string listener, Func<ListenerLimitsSpec> limits, ProxyMetrics metrics, TimeProvider time, ILogger logger)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<System.Net.IPAddress, StrongBox<int>> _pending = new();
    private int _connections;

    public int Connections => Volatile.Read(ref _connections);

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

            try
            {
                if (current.SniffTimeout <= TimeSpan.Zero)
                {
                    await next(connection).ConfigureAwait(false);
                    return;
                }

                var deadline = new Deadline(this, connection, current.SniffTimeout);
                connection.Features.Set(deadline);
                using (ITimer timer = time.CreateTimer(static state => ((Deadline)state!).Expire(), deadline, current.SniffTimeout, Timeout.InfiniteTimeSpan))
                {
                    deadline.Timer = timer;
                    await next(connection).ConfigureAwait(false);
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

    internal sealed class Deadline(ListenerGuard guard, ConnectionContext connection, TimeSpan timeout)
    {
        private const int Armed = 0, Stopped = 1, Expired = 2;
        private int _state;

        public ITimer? Timer { get; set; }

        public void Stop()
        {
            if (Interlocked.CompareExchange(ref _state, Stopped, Armed) == Armed)
            {
                Timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
        }

        public void Expire()
        {
            if (Interlocked.CompareExchange(ref _state, Expired, Armed) != Armed)
            {
                return;
            }

            guard.Expired(connection, timeout);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(500, LogLevel.Warning, "The {Listener} listener refused a connection from {Remote}: it already holds limits.maxConnections ({Max}).", EventName = "ConnectionOverCap")]
        public static partial void OverCap(ILogger logger, string listener, int max, string remote);

        [LoggerMessage(502, LogLevel.Warning, "The {Listener} listener refused a connection from {Remote}: that source already has limits.maxPendingPerSource ({Max}) connections before their first HTTP byte.", EventName = "PendingPerSourceOverCap")]
        public static partial void OverPendingCap(ILogger logger, string listener, int max, string remote);

        [LoggerMessage(501, LogLevel.Information, "The {Listener} listener closed a connection from {Remote}: no HTTP request began within limits.sniffTimeout ({Timeout}).", EventName = "SniffTimeout")]
        public static partial void SniffTimeout(ILogger logger, string listener, TimeSpan timeout, string remote);
    }
}

/// <summary>The guards of the inbound and outbound listeners, reading their limits from the current policy.</summary>
internal sealed class ListenerGuards(PolicyStore store, ProxyMetrics metrics, ProxyHostOptions options, ILoggerFactory loggers)
{
    public ListenerGuard Inbound { get; } = new("inbound", () => store.Current.Policy.Spec.Inbound.Limits, metrics, options.Time, loggers.CreateLogger<ListenerGuard>());

    public ListenerGuard Outbound { get; } = new("outbound", () => store.Current.Policy.Spec.Outbound.Limits, metrics, options.Time, loggers.CreateLogger<ListenerGuard>());
}
