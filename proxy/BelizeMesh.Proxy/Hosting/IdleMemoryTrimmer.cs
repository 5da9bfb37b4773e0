using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Gives memory back after a burst (issue 11: "after 4,000 connections have come and gone, resident memory returns
/// within 20% of idle in a minute"). The GC only runs when something allocates, so a sidecar that went quiet after a
/// burst of connections keeps their garbage, the array pools' buffers and glibc's freed-but-cached pages resident for
/// as long as it stays quiet — ~450 MB for ten minutes after 4,000 half-open handshakes. Every
/// <see cref="Interval"/> this looks at two facts: whether any gen0 collection happened since the last look (if one did,
/// the process is allocating and the GC is doing its job), and how far the committed GC heap is above the level the
/// last trim left. Quiet and above it by <see cref="Threshold"/>: the channel memory pools drop their free blocks, then
/// one full, compacting, decommitting collection
/// (<see cref="GCCollectionMode.Aggressive"/>), then glibc's <c>malloc_trim(0)</c> for the native side (OpenSSL
/// contexts, socket buffers). A busy sidecar never pays for it; a quiet one pays one collection of a small heap per burst.
/// <para>The committed heap does not fall by itself when connections close (their objects are garbage until a
/// collection, and a quiet process does not collect), so a trim made while many connections were open would set a floor
/// that their closing never goes below: quiet, and at least <see cref="ClosedConnections"/> fewer open connections than
/// the most seen since the last trim, is a reason to trim as well.</para>
/// <para>Start-up leaves its own garbage: parsing the policy, building the host and binding the listeners allocate a few
/// MiB that an idle sidecar would keep resident until its first collection, which for a quiet pod may never come.
/// <see cref="AfterStart"/> after it starts, the trimmer therefore trims once (<see cref="TrimStartupGarbage"/>) if
/// nothing collected in the meantime: one collection of a start-up-sized heap (perf/README.md, "footprint").</para>
/// <para>A trim for a burst is followed up once, <see cref="FollowUpLooks"/> quiet looks later: the first trim cannot
/// return what the burst's thread-pool threads still hold (they retire after 20 s idle) nor the shared array pool's
/// per-thread arrays (dropped only at a gen2 collection at least 30 s after one that saw them).</para>
/// </summary>
internal sealed partial class IdleMemoryTrimmer : IDisposable
{
    /// <summary>How often to look.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    /// <summary>When the one trim of start-up's garbage runs, after the trimmer starts (the listeners are bound by then).</summary>
    public static readonly TimeSpan AfterStart = TimeSpan.FromSeconds(1);

    /// <summary>Quiet looks after a trim for a burst before one follow-up trim (40 s): by then the thread-pool threads
    /// that the burst started have retired (20 s idle) and the shared array pool drops the per-thread arrays it saw at
    /// the first trim (it keeps them for two gen2 collections at least 30 s apart), so the follow-up returns what the
    /// first trim could not.</summary>
    public const int FollowUpLooks = 4;

    /// <summary>Committed bytes above the post-trim level that are worth a collection (8 MiB: a burst of 200 channels
    /// and 200 half-open handshakes stayed 17 MiB above idle with 16 MiB and 256 connections, perf/README.md).</summary>
    public const long Threshold = 8L * 1024 * 1024;

    /// <summary>Connections closed since the last trim that are worth a collection (an idle PQ channel holds ~26 KiB, a
    /// half-open handshake ~58 KiB: 128 of them are 3–7 MiB).</summary>
    public const int ClosedConnections = 128;

    private readonly Func<int> _gen0Collections;
    private readonly Func<long> _committedBytes;
    private readonly Action _trim;
    private readonly Func<int> _openConnections;
    private readonly ILogger _logger;
    private readonly ITimer? _timer;
    private readonly ITimer? _startupTimer;
    private readonly Lock _gate = new();
    private int _gen0AtStart;
    private int _lastGen0 = -1;
    private long _baseline;
    private int _peakConnections;
    private bool _startupTrimmed;
    private int _quietLooksSinceTrim = -1;

    /// <param name="time">The clock whose timer drives the looks.</param>
    /// <param name="logger">Where each trim is logged (Debug).</param>
    /// <param name="releaseRetained">Asked first to let cached buffers go (the channel memory pools' free blocks).</param>
    /// <param name="openConnections">The connections open now (inbound and outbound listeners); null = not watched.</param>
    public IdleMemoryTrimmer(TimeProvider time, ILogger logger, Func<long>? releaseRetained = null, Func<int>? openConnections = null)
        : this(time, logger, static () => GC.CollectionCount(0), static () => GC.GetGCMemoryInfo().TotalCommittedBytes, () => TrimNow(releaseRetained), start: true, openConnections)
    {
    }

    /// <summary>For tests: the probes and the trim are given, and <see cref="Tick"/> is called by hand.</summary>
    internal IdleMemoryTrimmer(TimeProvider time, ILogger logger, Func<int> gen0Collections, Func<long> committedBytes, Action trim, bool start, Func<int>? openConnections = null)
    {
        _gen0Collections = gen0Collections;
        _committedBytes = committedBytes;
        _trim = trim;
        _openConnections = openConnections ?? (static () => 0);
        _logger = logger;
        _baseline = committedBytes();
        _gen0AtStart = gen0Collections();
        _peakConnections = _openConnections();
        if (start)
        {
            _timer = time.CreateTimer(static state => ((IdleMemoryTrimmer)state!).Tick(), this, Interval, Interval);
            _startupTimer = time.CreateTimer(static state => ((IdleMemoryTrimmer)state!).TrimStartupGarbage(), this, AfterStart, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>
    /// Runs <paramref name="collect"/> (a collection the sidecar makes on its own, such as
    /// <see cref="CollectBeforeLongPins"/> before the watchers start) without it counting as the traffic that makes the
    /// start-up trim stand down: the collections it made are added to the start's count.
    /// </summary>
    internal void RunOwnCollection(Action collect)
    {
        lock (_gate)
        {
            int before = _gen0Collections();
            collect();
            _gen0AtStart += _gen0Collections() - before;
        }
    }

    /// <summary>Collections this trimmer ran (for tests and the log).</summary>
    public int Trims { get; private set; }

    /// <summary>The one trim after start-up, if no collection happened since the trimmer started; true when it trimmed.</summary>
    internal bool TrimStartupGarbage()
    {
        lock (_gate)
        {
            if (_startupTrimmed)
            {
                return false;
            }

            _startupTrimmed = true;
            if (_gen0Collections() != _gen0AtStart)
            {
                // Already collecting (traffic from the first second, or a process hosting other work, such as the
                // tests'): the GC is doing the job, and a full collection of someone else's heap is not ours to pay.
                return false;
            }

            TrimLocked(_committedBytes(), _openConnections(), Kind.StartUp);
            return true;
        }
    }

    /// <summary>
    /// One gen0 collection, made right before creating something that pins a buffer for the rest of the process's life:
    /// the policy and certificate watchers. A <see cref="FileSystemWatcher"/> thread waits in <c>read(2)</c> on inotify with
    /// its event buffer pinned, which in an idle sidecar is forever. The GC cannot move a pinned object, so no collection —
    /// not even the aggressive, compacting trims — can give back the part of its region below it: with the buffers
    /// allocated after start-up's few MiB of garbage, 2 MiB of free space stayed committed and resident below them (one
    /// idle AOT sidecar: 28.0 → 26.0 MiB RSS with this collection; perf/README.md, "footprint"). Collected first, the
    /// young generation is empty and the buffers go to the start of its region.
    /// </summary>
    internal static void CollectBeforeLongPins() => GC.Collect(0, GCCollectionMode.Forced, blocking: true, compacting: true);

    /// <summary>One look; true when it trimmed.</summary>
    internal bool Tick()
    {
        lock (_gate)
        {
            return TickLocked();
        }
    }

    private bool TickLocked()
    {
        int gen0 = _gen0Collections();
        bool quiet = gen0 == _lastGen0;
        _lastGen0 = gen0;
        long committed = _committedBytes();
        int connections = _openConnections();
        _peakConnections = Math.Max(_peakConnections, connections);
        if (!quiet)
        {
            // Busy: the GC runs anyway. Follow the heap down (never up) so the next quiet spell compares with a floor.
            _baseline = Math.Min(_baseline, committed);
            _quietLooksSinceTrim = -1;
            return false;
        }

        if (_quietLooksSinceTrim >= 0 && ++_quietLooksSinceTrim >= FollowUpLooks)
        {
            _quietLooksSinceTrim = -1;
            TrimLocked(committed, connections, Kind.FollowUp);
            return true;
        }

        if (committed - _baseline < Threshold && _peakConnections - connections < ClosedConnections)
        {
            return false;
        }

        TrimLocked(committed, connections, Kind.Burst);
        _quietLooksSinceTrim = 0;
        return true;
    }

    private void TrimLocked(long committed, int connections, Kind kind)
    {
        _trim();
        Trims++;
        long after = _committedBytes();
        if (kind == Kind.StartUp)
        {
            Log.StartUpTrimmed(_logger, after / 1024);
        }
        else
        {
            Log.Trimmed(_logger, kind == Kind.FollowUp ? "followed up" : "collected", committed / (1024 * 1024), after / (1024 * 1024));
        }

        _baseline = after;
        _peakConnections = connections;
        _lastGen0 = _gen0Collections(); // our own collection is not a sign of activity
    }

    private static void TrimNow(Func<long>? releaseRetained)
    {
        releaseRetained?.Invoke();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers(); // finalizers release native handles (OpenSSL contexts) ...
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true); // ... and their wrappers go
        if (OperatingSystem.IsLinux())
        {
            try
            {
                _ = MallocTrim(0);
            }
            catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
            {
                // not glibc (musl has no malloc_trim): the managed side was still returned
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    public void Dispose()
    {
        _startupTimer?.Dispose();
        _timer?.Dispose();
    }

    private enum Kind
    {
        StartUp,
        Burst,
        FollowUp,
    }

    private static partial class Log
    {
        [LoggerMessage(600, LogLevel.Debug, "Quiet after a burst: {What} and returned memory to the OS (GC committed {BeforeMiB} MiB → {AfterMiB} MiB).", EventName = "MemoryTrimmed")]
        public static partial void Trimmed(ILogger logger, string what, long beforeMiB, long afterMiB);

        [LoggerMessage(602, LogLevel.Debug, "Collected start-up's garbage and returned it to the OS (GC committed {AfterKiB} KiB).", EventName = "StartUpMemoryTrimmed")]
        public static partial void StartUpTrimmed(ILogger logger, long afterKiB);
    }
}
