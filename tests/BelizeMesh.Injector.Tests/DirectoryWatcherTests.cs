using BelizeMesh.Configuration;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace BelizeMesh.Injector.Tests;

/// <summary>
/// The shared <see cref="DirectoryWatcher"/> (sidecar policy and certificates, injector configuration, exclusions and
/// serving certificate). Timers run on a <see cref="FakeTimeProvider"/>, whose callbacks run inside
/// <see cref="FakeTimeProvider.Advance"/>; only one test waits for a real file-system event. The last test is the
/// injector's configuration store on it (its poll, on the injected clock, re-reads the file).
/// </summary>
public sealed class DirectoryWatcherTests : IDisposable
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("bm-watch-").FullName;
    private readonly FakeTimeProvider _time = new();
    private readonly List<(DirectoryWatchFault Fault, Exception Error)> _faults = [];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void OnError(DirectoryWatchFault fault, Exception error)
    {
        lock (_faults)
        {
            _faults.Add((fault, error));
        }
    }

    [Fact]
    public void A_burst_of_changes_within_the_debounce_delay_makes_one_callback()
    {
        int calls = 0;
        using var watcher = new DirectoryWatcher(_dir, Debounce, Poll, () =>
        {
            Interlocked.Increment(ref calls);
            return Task.CompletedTask;
        }, _time, OnError);

        watcher.Changed();
        _time.Advance(Debounce / 2);
        watcher.Changed();
        _time.Advance(Debounce / 2);
        watcher.Changed();
        _time.Advance(Debounce / 2);
        Assert.Equal(0, Volatile.Read(ref calls));

        _time.Advance(Debounce);
        Assert.Equal(1, Volatile.Read(ref calls));
        _time.Advance(Debounce * 3);
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public void A_directory_that_cannot_be_watched_is_reported_and_polled()
    {
        int calls = 0;
        string missing = Path.Combine(_dir, "absent");
        using var watcher = new DirectoryWatcher(missing, Debounce, Poll, () =>
        {
            Interlocked.Increment(ref calls);
            return Task.CompletedTask;
        }, _time, OnError);

        Assert.False(watcher.IsWatching);
        var (fault, _) = Assert.Single(_faults);
        Assert.Equal(DirectoryWatchFault.Watching, fault);

        _time.Advance(Poll);
        Assert.Equal(1, Volatile.Read(ref calls));
        _time.Advance(Poll);
        Assert.Equal(2, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task Callbacks_never_overlap_and_a_change_during_a_call_runs_it_again_afterwards()
    {
        int calls = 0, running = 0, maxRunning = 0;
        var first = new TaskCompletionSource(); // synchronous continuations: completed off the test's synchronization
                                                // context, the call ends and releases the watcher inside SetResult
        using var watcher = new DirectoryWatcher(_dir, Debounce, Poll, async () =>
        {
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref maxRunning, now);
            try
            {
                if (Interlocked.Increment(ref calls) == 1)
                {
                    await first.Task.ConfigureAwait(false);
                }
            }
            finally
            {
                Interlocked.Decrement(ref running);
            }
        }, _time, OnError);

        _time.Advance(Poll);            // call 1 starts and waits
        Assert.Equal(1, Volatile.Read(ref calls));
        watcher.Changed();
        _time.Advance(Debounce);        // busy: not called, re-armed
        _time.Advance(Debounce);
        Assert.Equal(1, Volatile.Read(ref calls));

        await Task.Run(first.SetResult); // call 1 ends
        _time.Advance(Debounce);        // the change seen during call 1 runs now
        Assert.Equal(2, Volatile.Read(ref calls));
        Assert.Equal(1, Volatile.Read(ref maxRunning));
    }

    [Fact]
    public void A_failing_callback_goes_to_the_error_handler_and_the_next_poll_calls_again()
    {
        int calls = 0;
        using var watcher = new DirectoryWatcher(_dir, Debounce, Poll, () =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                throw new InvalidOperationException("bad file");
            }

            return Task.CompletedTask;
        }, _time, OnError);

        _time.Advance(Poll);
        var (fault, error) = Assert.Single(_faults);
        Assert.Equal(DirectoryWatchFault.Callback, fault);
        Assert.Equal("bad file", error.Message);

        _time.Advance(Poll);
        Assert.Equal(2, Volatile.Read(ref calls));
        Assert.Single(_faults);
    }

    [Fact]
    public async Task A_file_written_in_the_directory_triggers_a_callback()
    {
        var called = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watcher = new DirectoryWatcher(_dir, TimeSpan.FromMilliseconds(20), Timeout.InfiniteTimeSpan, () =>
        {
            called.TrySetResult();
            return Task.CompletedTask;
        }, TimeProvider.System, OnError);
        Assert.True(watcher.IsWatching);

        await File.WriteAllTextAsync(Path.Combine(_dir, "config.yaml"), "image: a:1\n");
        await called.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_watched_directory_deleted_and_created_again_is_watched_again_from_the_next_poll()
    {
        string dir = Path.Combine(_dir, "certs");
        Directory.CreateDirectory(dir);
        string marker = Path.Combine(dir, "tls.crt");
        var sawMarker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watcher = new DirectoryWatcher(dir, TimeSpan.Zero, Poll, () =>
        {
            if (File.Exists(marker))
            {
                sawMarker.TrySetResult();
            }

            return Task.CompletedTask;
        }, _time, OnError);
        Assert.True(watcher.IsWatching);

        // Replaced wholesale (a volume re-created, a directory restored from a backup): a new directory at the path.
        Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        _time.Advance(Poll); // the poll looks (nothing there yet) and watches the new directory

        // A change after it arrives as an event, without waiting for another poll (the fake clock stays put).
        await File.WriteAllTextAsync(marker, "certificate");
        await sawMarker.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Empty(_faults);
    }

    [Fact]
    public void The_injector_configuration_store_is_re_read_by_the_poll_and_keeps_the_last_good_file()
    {
        string path = Path.Combine(_dir, "config.yaml");
        File.WriteAllText(path, "image: a:1\n");
        using var store = new ConfigStore(path, NullLogger.Instance);
        var outcomes = new List<bool>();
        store.Reloaded += ok =>
        {
            lock (outcomes)
            {
                outcomes.Add(ok);
            }
        };
        store.Watch(Debounce, Poll, _time);

        File.WriteAllText(path, "image: b:2\n");
        _time.AdvanceUntil(Poll, () => FakeClock.LockedCount(outcomes) >= 1); // the poll (or the file's event) reloads
        Assert.Equal("b:2", store.Current.Config.Image);

        File.WriteAllText(path, "image: c:3\nports: nonsense\n");
        _time.AdvanceUntil(Poll, () => FakeClock.LockedCount(outcomes) >= 2);
        Assert.Equal("b:2", store.Current.Config.Image);

        _time.Advance(Poll); // the same bad content is not reported again
        lock (outcomes)
        {
            Assert.Equal([true, false], outcomes);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
