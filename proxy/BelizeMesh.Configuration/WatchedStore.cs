using System.Security.Cryptography;
using System.Text;

namespace BelizeMesh.Configuration;

/// <summary>What one <see cref="WatchedStore{T}.Reload"/> did.</summary>
public enum ReloadOutcome
{
    /// <summary>Nothing new to judge: the input is the one in force, the one last rejected, or still moving.</summary>
    Unchanged,

    /// <summary>A new value is in force.</summary>
    Applied,

    /// <summary>The input is bad; the last good value stays in force.</summary>
    Rejected,
}

/// <summary>Why a reload was rejected: one line for the log (<see cref="Reason"/>) and, for configuration files, every
/// problem with its position (<see cref="Errors"/>; empty when the input has no positions, e.g. a certificate).</summary>
public sealed record ReloadFailure(string Reason, IReadOnlyList<ConfigError> Errors)
{
    /// <summary>A failure without positions (an unreadable file, a certificate that does not verify).</summary>
    public static ReloadFailure FromReason(string reason) => new(reason, []);

    /// <summary>A failure listing configuration problems; the reason is one <c>file:line:column: path: message</c> a line.</summary>
    public static ReloadFailure FromErrors(IReadOnlyList<ConfigError> errors) =>
        new(string.Join(Environment.NewLine, errors.Select(e => e.ToString())), errors);
}

/// <summary>
/// What a <see cref="WatchedStore{T}"/>'s loader found: nothing to judge, a new value, or a failure. The fingerprint
/// (usually the SHA-256 of the input's bytes, <see cref="WatchedStore.Fingerprint(string)"/>) lets the store tell the
/// next look at the same input apart from a change.
/// </summary>
public readonly struct WatchedLoad<T>
    where T : class
{
    private WatchedLoad(ReloadOutcome outcome, T? value, ReloadFailure? failure, string? fingerprint, bool inForce)
    {
        Outcome = outcome;
        Value = value;
        Failure = failure;
        Fingerprint = fingerprint;
        IsInputInForce = inForce;
    }

    /// <summary>Nothing to judge: the input last rejected (see <see cref="WatchedLoadContext{T}.WasRejected"/>), or input
    /// caught mid-update. A rejected input stays rejected.</summary>
    public static WatchedLoad<T> Unchanged => default;

    /// <summary>The input is the one the value in force came from (see <see cref="WatchedLoadContext{T}.IsCurrent"/>):
    /// nothing to apply, and a rejection of other input is over (e.g. a rejected edit undone). The store clears
    /// <see cref="WatchedStore{T}.LastFailure"/> and will judge the rejected input afresh should it come back.</summary>
    public static WatchedLoad<T> InForce => new(ReloadOutcome.Unchanged, null, null, null, inForce: true);

    /// <summary>A good new value read from input with this fingerprint: that input is in force from now on (also when
    /// its fingerprint is the one in force, e.g. the same input built again for a file it refers to).</summary>
    public static WatchedLoad<T> Loaded(T value, string fingerprint)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(fingerprint);
        return new(ReloadOutcome.Applied, value, null, fingerprint, inForce: true);
    }

    /// <summary>A new value rebuilt from the value in force, not from the input (e.g. the same policy re-read for a key
    /// file it names while its own file is rejected or unreadable): applied, but it says nothing of the input, so a
    /// rejected input stays rejected (<see cref="WatchedStore{T}.LastFailure"/> is kept, and not reported again).</summary>
    public static WatchedLoad<T> Rebuilt(T value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(ReloadOutcome.Applied, value, null, null, inForce: false);
    }

    /// <summary>Bad input. With a <paramref name="fingerprint"/>, the same input is reported once (later looks at it are
    /// <see cref="ReloadOutcome.Unchanged"/>); without one (the input could not be read at all) every look reports it,
    /// and the input readable again is judged afresh.</summary>
    public static WatchedLoad<T> Failed(ReloadFailure failure, string? fingerprint)
    {
        ArgumentNullException.ThrowIfNull(failure);
        return new(ReloadOutcome.Rejected, null, failure, fingerprint, inForce: false);
    }

    /// <summary>What the loader found.</summary>
    public ReloadOutcome Outcome { get; }

    /// <summary>The new value when <see cref="Outcome"/> is <see cref="ReloadOutcome.Applied"/>.</summary>
    public T? Value { get; }

    /// <summary>Why the input was rejected when <see cref="Outcome"/> is <see cref="ReloadOutcome.Rejected"/>.</summary>
    public ReloadFailure? Failure { get; }

    /// <summary>The input's fingerprint, when it has one.</summary>
    public string? Fingerprint { get; }

    /// <summary>True when the loader found the input in force: <see cref="Loaded"/> or <see cref="InForce"/>.</summary>
    public bool IsInputInForce { get; }
}

/// <summary>What a loader may consult: the value in force and the fingerprints the store already judged.</summary>
public readonly struct WatchedLoadContext<T>
    where T : class
{
    private readonly string? _currentFingerprint;
    private readonly string? _rejectedFingerprint;

    internal WatchedLoadContext(T current, string? currentFingerprint, string? rejectedFingerprint)
    {
        Current = current;
        _currentFingerprint = currentFingerprint;
        _rejectedFingerprint = rejectedFingerprint;
    }

    /// <summary>The value in force (a new value is judged against it, e.g. for changes that need a restart).</summary>
    public T Current { get; }

    /// <summary>True when <paramref name="fingerprint"/> is the input of the value in force.</summary>
    public bool IsCurrent(string fingerprint) => string.Equals(fingerprint, _currentFingerprint, StringComparison.Ordinal);

    /// <summary>True when <paramref name="fingerprint"/> is the input last rejected (already reported and counted).</summary>
    public bool WasRejected(string fingerprint) => string.Equals(fingerprint, _rejectedFingerprint, StringComparison.Ordinal);

    /// <summary>True when the store already judged this input: in force, or last rejected. A loader does not parse it
    /// again: it returns <see cref="WatchedLoad{T}.InForce"/> for the input in force (a rejected edit may just have
    /// been undone) and <see cref="WatchedLoad{T}.Unchanged"/> for the one rejected.</summary>
    public bool IsKnown(string fingerprint) => IsCurrent(fingerprint) || WasRejected(fingerprint);
}

/// <summary>Reads the input as it is now and judges it (see <see cref="WatchedLoad{T}"/>). Never throws for bad input:
/// a failure is a <see cref="WatchedLoad{T}.Failed"/> result that says what is wrong, where, and how to fix it.</summary>
public delegate WatchedLoad<T> WatchedLoader<T>(WatchedLoadContext<T> context)
    where T : class;

/// <summary>What a <see cref="WatchedStore{T}"/> tells its owner. Each runs under the store's reload lock, in reload
/// order, so the owner's logs and counters see the outcomes in the order they happened.</summary>
public sealed class WatchedStoreHooks<T>
    where T : class
{
    /// <summary>A new value is in force (<c>previous</c>, <c>next</c>): log, count, hand it to its consumers, and release
    /// what only the previous value held.</summary>
    public Action<T, T>? Applied { get; init; }

    /// <summary>Input was rejected (the value in force, why): log and count. The value in force stays.</summary>
    public Action<T, ReloadFailure>? Rejected { get; init; }

    /// <summary>A rejection ended without a new value applied (the value in force): the input holds the content in force
    /// again, e.g. the rejected edit undone or an unreadable file readable again. Log it once ("back in force"), so the
    /// last line about the input no longer says it is rejected. Not called when a new value ends the rejection
    /// (<see cref="Applied"/> is).</summary>
    public Action<T>? Restored { get; init; }

    /// <summary>The store is disposed with this value in force: release it.</summary>
    public Action<T>? Released { get; init; }
}

/// <summary>Fingerprints of watched input for <see cref="WatchedStore{T}"/> loaders.</summary>
public static class WatchedStore
{
    /// <summary>SHA-256 of <paramref name="text"/>'s UTF-8 bytes, upper-case hex: the usual fingerprint of a text file.</summary>
    public static string Fingerprint(string text) => Convert.ToHexString(BelizeMesh.Quantum.Sha256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>SHA-256 of <paramref name="bytes"/>, upper-case hex.</summary>
    public static string Fingerprint(ReadOnlySpan<byte> bytes) => Convert.ToHexString(BelizeMesh.Quantum.Sha256.HashData(bytes));
}

/// <summary>
/// A keep-last-good store for what a component reads from watched files (a sidecar's policy or certificates, the
/// injector's configuration, exclusion list or serving certificate). It holds the value in force, its generation, and
/// the last failure; a reload runs the component's loader and either swaps in the new value (and signals
/// <see cref="ChangeToken"/> and <see cref="Changed"/>) or keeps the value in force and records why. Input is judged
/// once per content: a loader returns <see cref="WatchedLoad{T}.Unchanged"/> for the input last rejected and
/// <see cref="WatchedLoad{T}.InForce"/> for the input in force (<see cref="WatchedLoadContext{T}.IsKnown"/>), so a bad
/// file is logged and counted once, not at every poll, and a rejected change that is undone is no longer reported as
/// rejected (made again, it is judged and reported again).
/// </summary>
/// <remarks>
/// <para>Reloads never overlap (one lock); <see cref="Current"/> is read without it. The first value comes from the
/// constructor: a component's first load must succeed (it refuses to start otherwise), so the store is never empty.</para>
/// <para><see cref="Watch"/> starts a <see cref="DirectoryWatcher"/> (events, debounce, a slow poll as a backstop,
/// on the given <see cref="TimeProvider"/>) whose callback is <see cref="Reload"/>.</para>
/// </remarks>
/// <typeparam name="T">The loaded value (a snapshot, a certificate set, a configuration).</typeparam>
public sealed class WatchedStore<T> : IDisposable
    where T : class
{
    private readonly WatchedLoader<T> _loader;
    private readonly WatchedStoreHooks<T> _hooks;
    private readonly Lock _reloadLock = new();
    private readonly List<DirectoryWatcher> _watchers = [];
    private volatile T _current;
    private string? _currentFingerprint;
    private string? _rejectedFingerprint;
    private volatile ReloadFailure? _lastFailure;
    private long _generation;
    private CancellationTokenSource _changeSource = new();
    private bool _disposed;

    /// <summary>Creates the store with the value loaded at start-up.</summary>
    /// <param name="initial">The value in force until a reload applies another.</param>
    /// <param name="initialFingerprint">The fingerprint of the input <paramref name="initial"/> came from (null: unknown,
    /// the first reload judges the input).</param>
    /// <param name="loader">Reads and judges the input.</param>
    /// <param name="hooks">What the owner is told; null for nothing.</param>
    public WatchedStore(T initial, string? initialFingerprint, WatchedLoader<T> loader, WatchedStoreHooks<T>? hooks = null)
    {
        ArgumentNullException.ThrowIfNull(initial);
        ArgumentNullException.ThrowIfNull(loader);
        _current = initial;
        _currentFingerprint = initialFingerprint;
        _loader = loader;
        _hooks = hooks ?? new WatchedStoreHooks<T>();
    }

    /// <summary>The value in force.</summary>
    public T Current => _current;

    /// <summary>How many values were applied after the first (0 until a reload applies one).</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>Why the input was last rejected, or null while the input is the one in force (applied, or back to the
    /// content in force after a rejected change was undone).</summary>
    public ReloadFailure? LastFailure => _lastFailure;

    /// <summary>
    /// Whether the input is the one in force: true after it was applied, or once it holds the content in force again
    /// (a rejected change undone); false while it holds what was rejected, or cannot be read, and the last good value
    /// stays in force. True at start (the first value came from the input). A value rebuilt from the one in force
    /// (<see cref="WatchedLoad{T}.Rebuilt"/>) does not change it. The same as <see cref="LastFailure"/> being null,
    /// and what the sidecar's <c>belizemesh_*_last_reload_successful</c> gauges report.
    /// </summary>
    public bool InputInForce => _lastFailure is null;

    /// <summary>Cancelled when a new value is applied (then replaced: read it again after each change).</summary>
    public CancellationToken ChangeToken => Volatile.Read(ref _changeSource).Token;

    /// <summary>Raised after every reload that judged input (not for <see cref="ReloadOutcome.Unchanged"/>), with its
    /// outcome, after the hooks. Handlers run under the reload lock: they must not wait for another reload.</summary>
    public event Action<ReloadOutcome>? Changed;

    /// <summary>Runs the loader and applies or rejects what it found; returns what happened.</summary>
    public ReloadOutcome Reload()
    {
        lock (_reloadLock)
        {
            if (_disposed)
            {
                return ReloadOutcome.Unchanged;
            }

            T current = _current;
            bool wasRejected = _lastFailure is not null;
            WatchedLoad<T> load = _loader(new WatchedLoadContext<T>(current, _currentFingerprint, _rejectedFingerprint));
            if (load.IsInputInForce)
            {
                // The input is the value in force's (new, or the one in force seen again, e.g. a rejected edit
                // undone): nothing is rejected any more, and the input last rejected, back again, is news.
                // (A value rebuilt from the one in force says nothing of the input: a rejected input stays so.)
                if (load.Fingerprint is not null)
                {
                    _currentFingerprint = load.Fingerprint;
                }

                _rejectedFingerprint = null;
                _lastFailure = null;
            }

            switch (load.Outcome)
            {
                case ReloadOutcome.Applied:
                    T next = load.Value!;
                    _current = next;
                    Interlocked.Increment(ref _generation);
                    try
                    {
                        _hooks.Applied?.Invoke(current, next);
                    }
                    finally
                    {
                        // after the hook, so a consumer woken by the token finds everything the hook hands on
                        CancellationTokenSource previous = Interlocked.Exchange(ref _changeSource, new CancellationTokenSource());
                        previous.Cancel();
                        previous.Dispose();
                    }

                    break;

                case ReloadOutcome.Rejected:
                    // Input that could not be read (no fingerprint) is the last thing reported: the bad input judged
                    // before it, back again, is news to whoever read that report, so it is judged and reported again.
                    _rejectedFingerprint = load.Fingerprint;

                    _lastFailure = load.Failure;
                    _hooks.Rejected?.Invoke(current, load.Failure!);
                    break;

                default:
                    if (wasRejected && load.IsInputInForce)
                    {
                        _hooks.Restored?.Invoke(current); // once: the failure is cleared, the next look finds none
                    }

                    return ReloadOutcome.Unchanged;
            }

            Changed?.Invoke(load.Outcome);
            return load.Outcome;
        }
    }

    /// <summary><see cref="Reload"/> as a task, for callers that await (it runs synchronously).</summary>
    public Task<ReloadOutcome> ReloadAsync() => Task.FromResult(Reload());

    /// <summary>
    /// Reloads whenever something in <paramref name="directory"/> changes (debounced) and every
    /// <paramref name="pollInterval"/>. The watcher is the store's (disposed with it); it is also returned so an owner
    /// can stop watching earlier (e.g. when its host stops). May be called for several directories.
    /// </summary>
    public DirectoryWatcher Watch(string directory, TimeSpan debounce, TimeSpan pollInterval, TimeProvider time, Action<DirectoryWatchFault, Exception> onError)
    {
        var watcher = new DirectoryWatcher(directory, debounce, pollInterval, ReloadAsync, time, onError);
        lock (_reloadLock)
        {
            if (!_disposed)
            {
                _watchers.Add(watcher);
                return watcher;
            }
        }

        watcher.Dispose();
        throw new ObjectDisposedException(nameof(WatchedStore<T>));
    }

    /// <summary>Stops watching; reloads that already started finish first. Then releases the value in force
    /// (<see cref="WatchedStoreHooks{T}.Released"/>); later reloads do nothing.</summary>
    public void Dispose()
    {
        DirectoryWatcher[] watchers;
        lock (_reloadLock)
        {
            watchers = [.. _watchers];
            _watchers.Clear();
        }

        foreach (DirectoryWatcher watcher in watchers)
        {
            watcher.Dispose();
        }

        lock (_reloadLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _hooks.Released?.Invoke(_current);
        }
    }
}
