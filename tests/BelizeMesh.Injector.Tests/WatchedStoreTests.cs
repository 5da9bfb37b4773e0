using System.Globalization;
using BelizeMesh.Configuration;
using BelizeMesh.Injector.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace BelizeMesh.Injector.Tests;

/// <summary>
/// The shared keep-last-good <see cref="WatchedStore{T}"/> (the sidecar's policy and certificates, the injector's
/// configuration, exclusion list and serving certificate), with a one-number file as its input. Timers run on a
/// <see cref="FakeTimeProvider"/>, whose callbacks (and so the reloads) run inside <see cref="FakeTimeProvider.Advance"/>;
/// no test waits for a real file-system event, so none depends on when one arrives (one can still make the due timers
/// run on its own thread: the tests that watch a real directory wait for the reload with <see cref="FakeClock.AdvanceUntil"/>).
/// </summary>
public sealed class WatchedStoreTests : IDisposable
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("bm-store-").FullName;
    private readonly string _path;
    private readonly FakeTimeProvider _time = new();
    private readonly List<string> _events = [];
    private int _loads;

    public WatchedStoreTests() => _path = Path.Combine(_dir, "value.txt");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed record Setting(int Value);

    /// <summary>The store under test: the file holds one number; anything else is rejected with its position.</summary>
    private WatchedStore<Setting> Store(int initial = 1)
    {
        File.WriteAllText(_path, initial.ToString(CultureInfo.InvariantCulture));
        return new WatchedStore<Setting>(new Setting(initial), WatchedStore.Fingerprint(File.ReadAllText(_path)), Load, new WatchedStoreHooks<Setting>
        {
            Applied = (previous, next) => Record($"applied {previous.Value}->{next.Value}"),
            Rejected = (current, failure) => Record($"rejected (keeping {current.Value}): {failure.Reason}"),
            Restored = current => Record($"restored {current.Value}"),
            Released = current => Record($"released {current.Value}"),
        });
    }

    private WatchedLoad<Setting> Load(WatchedLoadContext<Setting> context)
    {
        Interlocked.Increment(ref _loads);
        string text;
        try
        {
            text = File.ReadAllText(_path);
        }
        catch (IOException e)
        {
            return WatchedLoad<Setting>.Failed(ReloadFailure.FromReason(e.GetType().Name), fingerprint: null);
        }

        string fingerprint = WatchedStore.Fingerprint(text);
        if (context.IsCurrent(fingerprint))
        {
            return WatchedLoad<Setting>.InForce; // e.g. a rejected edit undone
        }

        if (context.WasRejected(fingerprint))
        {
            return WatchedLoad<Setting>.Unchanged;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? WatchedLoad<Setting>.Loaded(new Setting(value), fingerprint)
            : WatchedLoad<Setting>.Failed(ReloadFailure.FromErrors([new ConfigError(_path, new SourcePosition(1, 1), "", "write a number")]), fingerprint);
    }

    private void Record(string e)
    {
        lock (_events)
        {
            _events.Add(e);
        }
    }

    private string[] Events()
    {
        lock (_events)
        {
            return [.. _events];
        }
    }

    [Fact]
    public void A_bad_file_keeps_the_last_good_value_and_is_reported_once()
    {
        using WatchedStore<Setting> store = Store(1);
        File.WriteAllText(_path, "2");
        Assert.Equal(ReloadOutcome.Applied, store.Reload());

        File.WriteAllText(_path, "two");
        Assert.Equal(ReloadOutcome.Rejected, store.Reload());
        Assert.Equal(2, store.Current.Value);
        ReloadFailure failure = Assert.IsType<ReloadFailure>(store.LastFailure);
        Assert.Equal($"{_path}:1:1: write a number", failure.Reason);
        Assert.Equal(new SourcePosition(1, 1), Assert.Single(failure.Errors).Position);

        // the same bad content again: already judged, neither reported nor counted again
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload());
        Assert.Equal(2, store.Current.Value);
        Assert.Equal(["applied 1->2", $"rejected (keeping 2): {_path}:1:1: write a number"], Events());
    }

    [Fact]
    public void A_fixed_file_is_applied_and_signalled_after_a_rejected_one()
    {
        using WatchedStore<Setting> store = Store(1);
        CancellationToken token = store.ChangeToken;
        var outcomes = new List<ReloadOutcome>();
        store.Changed += outcomes.Add;

        File.WriteAllText(_path, "x");
        Assert.Equal(ReloadOutcome.Rejected, store.Reload());
        Assert.False(token.IsCancellationRequested);
        Assert.Equal(0, store.Generation);

        File.WriteAllText(_path, "3");
        Assert.Equal(ReloadOutcome.Applied, store.Reload());
        Assert.Equal(3, store.Current.Value);
        Assert.Null(store.LastFailure);
        Assert.Equal(1, store.Generation);
        Assert.True(token.IsCancellationRequested);
        Assert.False(store.ChangeToken.IsCancellationRequested); // a fresh token for the next change
        Assert.Equal([ReloadOutcome.Rejected, ReloadOutcome.Applied], outcomes);

        // the rejected content written again after a good one is judged (and reported) again
        File.WriteAllText(_path, "x");
        Assert.Equal(ReloadOutcome.Rejected, store.Reload());
        Assert.Equal(3, store.Current.Value);
    }

    [Fact]
    public void A_rejected_edit_undone_clears_the_failure_and_the_same_edit_made_again_is_reported_again()
    {
        using WatchedStore<Setting> store = Store(1);
        var outcomes = new List<ReloadOutcome>();
        store.Changed += outcomes.Add;
        CancellationToken token = store.ChangeToken;

        File.WriteAllText(_path, "one");
        Assert.Equal(ReloadOutcome.Rejected, store.Reload());
        Assert.NotNull(store.LastFailure);

        // The file holds the content in force again: nothing to apply, but nothing rejected any more either.
        File.WriteAllText(_path, "1");
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload());
        Assert.Null(store.LastFailure);
        Assert.Equal(0, store.Generation);
        Assert.False(token.IsCancellationRequested);

        // The same bad edit made again is news to whoever read that it was undone: judged and reported again.
        File.WriteAllText(_path, "one");
        Assert.Equal(ReloadOutcome.Rejected, store.Reload());
        Assert.NotNull(store.LastFailure);
        Assert.Equal(1, store.Current.Value);
        Assert.Equal([ReloadOutcome.Rejected, ReloadOutcome.Rejected], outcomes);
        Assert.Equal(2, Events().Count(e => e.StartsWith("rejected (keeping 1): ", StringComparison.Ordinal)));

        // Unreadable input undone the same way.
        File.Delete(_path);
        Assert.Equal(ReloadOutcome.Rejected, store.Reload());
        File.WriteAllText(_path, "1");
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload());
        Assert.Null(store.LastFailure);
    }

    [Fact]
    public void The_end_of_a_rejection_without_a_new_value_is_told_once()
    {
        using WatchedStore<Setting> store = Store(1);
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload()); // nothing was rejected: nothing to tell

        File.WriteAllText(_path, "one");
        store.Reload();
        File.WriteAllText(_path, "1"); // the rejected edit undone
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload());
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload()); // looked at again: told once

        File.Delete(_path); // unreadable, then readable again with the content in force
        store.Reload();
        File.WriteAllText(_path, "1");
        store.Reload();

        File.WriteAllText(_path, "two");
        store.Reload();
        File.WriteAllText(_path, "2"); // a new value ends the rejection: applied, not restored
        store.Reload();

        Assert.Equal(
            ["rejected (keeping 1): " + _path + ":1:1: write a number", "restored 1", "rejected (keeping 1): FileNotFoundException", "restored 1",
                "rejected (keeping 1): " + _path + ":1:1: write a number", "applied 1->2"],
            Events());
    }

    [Fact]
    public void The_injector_logs_once_that_a_rejected_configuration_or_serving_certificate_is_back_in_force()
    {
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var logger = new Controller.ListLogger("injector", lines);
        string config = Path.Combine(_dir, "config.yaml");
        File.WriteAllText(config, "image: a:1\n");
        using var store = new BelizeMesh.Injector.Configuration.ConfigStore(config, logger);
        File.WriteAllText(config, "image: a:1\nrunAsUser: 1337\n");
        store.Reload();
        File.WriteAllText(config, "image: a:1\n");
        store.Reload();
        store.Reload();

        using var certs = new TestCertificates();
        using var rotated = new TestCertificates();
        using var certificate = new BelizeMesh.Injector.Server.ServerCertificate(certs.CertPath, certs.KeyPath, logger);
        File.WriteAllText(certs.CertPath, rotated.CertPem); // the new certificate with the old key
        certificate.Reload();
        File.WriteAllText(certs.CertPath, certs.CertPem); // undone
        certificate.Reload();
        certificate.Reload();

        string[] back = [.. lines.Where(l => l.Contains("no longer rejected", StringComparison.Ordinal))];
        Assert.Equal(2, back.Length);
        Assert.Equal($"injector Information: {config} holds the content in force again; it is no longer rejected", back[0]);
        Assert.StartsWith($"injector Information: Serving certificate files {Path.GetFullPath(certs.CertPath)} hold the pair in force again (valid until ", back[1], StringComparison.Ordinal);
        Assert.Contains("Error: ", lines.Last(l => l.Contains(config, StringComparison.Ordinal) && !l.Contains("no longer", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [Fact]
    public void InputInForce_says_whether_the_input_holds_what_is_in_force()
    {
        using WatchedStore<Setting> store = Store(1);
        Assert.True(store.InputInForce);

        File.WriteAllText(_path, "one");
        Assert.Equal(ReloadOutcome.Rejected, store.Reload());
        Assert.False(store.InputInForce);
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload()); // reported once, but still not in force
        Assert.False(store.InputInForce);

        File.WriteAllText(_path, "1"); // undone
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload());
        Assert.True(store.InputInForce);

        File.Delete(_path);
        Assert.Equal(ReloadOutcome.Rejected, store.Reload());
        Assert.False(store.InputInForce);

        File.WriteAllText(_path, "2");
        Assert.Equal(ReloadOutcome.Applied, store.Reload());
        Assert.True(store.InputInForce);
    }

    [Fact]
    public void A_value_rebuilt_from_what_it_refers_to_leaves_a_rejected_input_rejected()
    {
        // The sidecar's policy in force is rebuilt when a key file it names changes, also while a rejected edit sits
        // in the policy file: that applies a new value but says nothing of the file.
        string input = "good";
        bool keysChanged = false;
        using var store = new WatchedStore<Setting>(new Setting(1), "good", context =>
        {
            if (keysChanged)
            {
                keysChanged = false;
                return WatchedLoad<Setting>.Rebuilt(new Setting(context.Current.Value + 1));
            }

            return context.IsCurrent(input) ? WatchedLoad<Setting>.InForce
                : context.WasRejected(input) ? WatchedLoad<Setting>.Unchanged
                : WatchedLoad<Setting>.Failed(ReloadFailure.FromReason("bad " + input), input);
        });

        input = "edit";
        Assert.Equal(ReloadOutcome.Rejected, store.Reload());
        keysChanged = true;
        Assert.Equal(ReloadOutcome.Applied, store.Reload());
        Assert.Equal(2, store.Current.Value);
        Assert.Equal(1, store.Generation);
        Assert.Equal("bad edit", store.LastFailure?.Reason); // the edit is still there, still rejected...
        Assert.False(store.InputInForce);
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload()); // ...and not reported again

        input = "good";
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload());
        Assert.Null(store.LastFailure);
        Assert.True(store.InputInForce);
        Assert.Equal(2, store.Current.Value);
    }

    [Fact]
    public void Input_that_cannot_be_read_is_reported_at_every_look_and_keeps_the_last_good_value()
    {
        using WatchedStore<Setting> store = Store(5);
        File.Delete(_path);
        Assert.Equal(ReloadOutcome.Rejected, store.Reload());
        Assert.Equal(ReloadOutcome.Rejected, store.Reload());
        Assert.Equal(5, store.Current.Value);
        Assert.Equal(2, Events().Count(e => e.StartsWith("rejected (keeping 5): FileNotFoundException", StringComparison.Ordinal)));

        File.WriteAllText(_path, "5");
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload()); // back to the content in force: nothing to apply
    }

    [Fact]
    public void A_burst_of_changes_is_loaded_once_after_it_settles_with_the_last_content()
    {
        using WatchedStore<Setting> store = Store(1);
        // Watch a directory that cannot be watched (polling only), so no real file-system event arrives during the
        // test; the burst is signalled by hand the way the watcher's events signal it.
        DirectoryWatcher watcher = store.Watch(Path.Combine(_dir, "not-there"), Debounce, Poll, _time, (_, _) => { });
        Assert.False(watcher.IsWatching);

        for (int i = 2; i <= 4; i++)
        {
            File.WriteAllText(_path, i.ToString(CultureInfo.InvariantCulture));
            watcher.Changed();
            _time.Advance(Debounce / 2);
        }

        Assert.Equal(0, Volatile.Read(ref _loads));
        _time.Advance(Debounce);
        Assert.Equal(1, Volatile.Read(ref _loads));
        Assert.Equal(4, store.Current.Value);
        Assert.Equal(["applied 1->4"], Events());
    }

    [Fact]
    public void The_poll_picks_up_a_change_that_raised_no_event()
    {
        // The watcher watches (inotify) a directory where nothing changes; the file changes elsewhere, so no event
        // arrives for it and only the poll can see it.
        string quiet = Directory.CreateDirectory(Path.Combine(_dir, "quiet")).FullName;
        using WatchedStore<Setting> store = Store(1);
        store.Watch(quiet, Debounce, Poll, _time, (_, _) => { }); // (were watching to fail, e.g. out of inotify instances, it polls all the same)

        File.WriteAllText(_path, "7");
        _time.Advance(Poll - TimeSpan.FromSeconds(1));
        Assert.Equal(1, store.Current.Value);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(7, store.Current.Value);
        Assert.Equal(["applied 1->7"], Events());

        _time.Advance(Poll); // the next poll finds nothing new
        Assert.Equal(["applied 1->7"], Events());
    }

    [Fact]
    public void Disposing_stops_the_watchers_and_releases_the_value_in_force()
    {
        WatchedStore<Setting> store = Store(1);
        store.Watch(Path.Combine(_dir, "not-there"), Debounce, Poll, _time, (_, _) => { });
        File.WriteAllText(_path, "2");
        store.Dispose();

        _time.Advance(Poll * 2);
        Assert.Equal(0, Volatile.Read(ref _loads));
        Assert.Equal(ReloadOutcome.Unchanged, store.Reload());
        Assert.Equal(1, store.Current.Value);
        Assert.Equal(["released 1"], Events());
        Assert.Throws<ObjectDisposedException>(() => store.Watch(_dir, Debounce, Poll, _time, (_, _) => { }));
        store.Dispose();
        Assert.Equal(["released 1"], Events());
    }

    [Fact]
    public void The_injector_reads_an_exclusion_list_whose_volume_appears_later_at_the_configuration_poll()
    {
        string config = Path.Combine(_dir, "config.yaml");
        File.WriteAllText(config, "image: a:1\n");
        string volume = Path.Combine(_dir, "exclusions-volume");
        string exclusions = Path.Combine(volume, "exclusions.yaml");
        using var store = new BelizeMesh.Injector.Configuration.ConfigStore(config, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, exclusionsPath: exclusions);
        var outcomes = new List<bool>();
        store.Reloaded += ok =>
        {
            lock (outcomes)
            {
                outcomes.Add(ok);
            }
        };
        store.Watch(Debounce, Poll, _time); // the exclusions' directory does not exist: the configuration's is watched for it
        Assert.Empty(store.Current.Config.Exclusions);

        Directory.CreateDirectory(volume);
        File.WriteAllText(exclusions, "exclude:\n  - namespace: shop\n    matchLabels: { app: db }\n");
        _time.AdvanceUntil(Poll, () => store.Current.Config.Exclusions.Count == 1);
        Assert.Equal("shop", Assert.Single(store.Current.Config.Exclusions).Namespace);
        Assert.Equal("a:1", store.Current.Config.Image);

        File.WriteAllText(exclusions, "exclude:\n  - namespace: shop\n");
        _time.AdvanceUntil(Poll, () => FakeClock.LockedCount(outcomes) >= 2);
        _time.Advance(Poll); // the same bad list is reported once
        Assert.Equal("shop", Assert.Single(store.Current.Config.Exclusions).Namespace);
        lock (outcomes)
        {
            Assert.Equal([true, false], outcomes);
        }
    }

    [Fact]
    public void The_serving_certificate_reports_a_broken_pair_once_and_takes_the_fixed_one()
    {
        using var certs = new TestCertificates();
        using var rotated = new TestCertificates();
        using var certificate = new BelizeMesh.Injector.Server.ServerCertificate(certs.CertPath, certs.KeyPath, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var outcomes = new List<bool>();
        certificate.Reloaded += ok =>
        {
            lock (outcomes)
            {
                outcomes.Add(ok);
            }
        };
        certificate.Watch(Debounce, Poll, _time);

        File.WriteAllText(certs.CertPath, rotated.CertPem); // the new certificate with the old key
        _time.AdvanceUntil(Poll, () => FakeClock.LockedCount(outcomes) >= 1);
        _time.Advance(Poll); // the same broken pair at the next poll: not reported again
        Assert.Equal(certs.Certificate.Thumbprint, certificate.Current.Thumbprint);

        File.WriteAllText(certs.KeyPath, rotated.KeyPem);
        _time.AdvanceUntil(Poll, () => FakeClock.LockedCount(outcomes) >= 2);
        Assert.Equal(rotated.Certificate.Thumbprint, certificate.Current.Thumbprint);
        lock (outcomes)
        {
            Assert.Equal([false, true], outcomes);
        }
    }

    [Fact]
    public void The_serving_certificate_reports_a_broken_pair_again_when_it_comes_back_after_being_undone()
    {
        using var certs = new TestCertificates();
        using var rotated = new TestCertificates();
        using var certificate = new BelizeMesh.Injector.Server.ServerCertificate(certs.CertPath, certs.KeyPath, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var outcomes = new List<bool>();
        certificate.Reloaded += outcomes.Add;

        File.WriteAllText(certs.CertPath, rotated.CertPem); // the new certificate with the old key
        Assert.False(certificate.Reload());
        File.WriteAllText(certs.CertPath, certs.CertPem); // undone: the pair in force, nothing to load
        Assert.False(certificate.Reload());
        File.WriteAllText(certs.CertPath, rotated.CertPem); // the same broken pair again: news again
        Assert.False(certificate.Reload());

        Assert.Equal([false, false], outcomes);
        Assert.Equal(certs.Certificate.Thumbprint, certificate.Current.Thumbprint);
    }
}
