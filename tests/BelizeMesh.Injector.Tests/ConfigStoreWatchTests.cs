using BelizeMesh.Injector.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace BelizeMesh.Injector.Tests;

/// <summary>The injector's configuration store on the shared <c>DirectoryWatcher</c>: its poll, on the injected clock,
/// re-reads the file whether or not a file event was seen; a bad file keeps the last good configuration.</summary>
public sealed class ConfigStoreWatchTests : IDisposable
{
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("bm-config-watch-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_poll_applies_a_changed_file_and_keeps_the_last_good_one_when_the_next_is_bad()
    {
        string path = Path.Combine(_dir, "config.yaml");
        File.WriteAllText(path, "image: a:1\n");
        var time = new FakeTimeProvider();
        using var store = new ConfigStore(path, NullLogger.Instance);
        var outcomes = new List<bool>();
        store.Reloaded += ok =>
        {
            lock (outcomes)
            {
                outcomes.Add(ok);
            }
        };
        store.Watch(Settle, Poll, time);

        File.WriteAllText(path, "image: b:2\n");
        time.Advance(Poll); // the poll runs the reload inside Advance (a file event only arms the settle timer, also fake)
        Assert.Equal("b:2", store.Current.Config.Image);

        File.WriteAllText(path, "image: c:3\nports: nonsense\n");
        time.Advance(Poll);
        Assert.Equal("b:2", store.Current.Config.Image);

        time.Advance(Poll); // the same bad content is not reported again
        lock (outcomes)
        {
            Assert.Equal([true, false], outcomes);
        }
    }
}
