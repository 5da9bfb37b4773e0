using BelizeMesh.Proxy.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>When the idle-memory trimmer collects: only when quiet (no gen0 collection since its last look) and the
/// committed heap is well above what the last trim left, or many connections closed since then.</summary>
public sealed class IdleMemoryTrimmerTests
{
    private const long MiB = 1024 * 1024;

    private sealed class Probe
    {
        public int Gen0 { get; set; }

        public long Committed { get; set; } = 20 * MiB;

        public long AfterTrim { get; set; } = 22 * MiB;

        public int Trims { get; private set; }

        public int Connections { get; set; }

        public IdleMemoryTrimmer Create() => new(TimeProvider.System, NullLogger.Instance, () => Gen0, () => Committed, () => { Trims++; Committed = AfterTrim; }, start: false, () => Connections);
    }

    [Fact]
    public void A_quiet_sidecar_whose_connections_closed_since_its_last_trim_is_trimmed_again()
    {
        var probe = new Probe { AfterTrim = 180 * MiB };
        using IdleMemoryTrimmer trimmer = probe.Create();
        trimmer.Tick();

        probe.Gen0 += 40;            // 2,000 channels open
        probe.Committed = 300 * MiB;
        probe.Connections = 2000;
        Assert.False(trimmer.Tick());
        Assert.True(trimmer.Tick()); // quiet with them open: trimmed, and the floor is where they hold it (180 MiB)

        probe.Connections = 0;       // they close; the committed heap does not move without a collection
        Assert.True(trimmer.Tick()); // so the closed connections are the reason to trim again
        Assert.False(trimmer.Tick());
        Assert.Equal(2, probe.Trims);
    }

    [Fact]
    public void A_few_closed_connections_are_not_worth_a_trim()
    {
        var probe = new Probe();
        using IdleMemoryTrimmer trimmer = probe.Create();
        probe.Connections = IdleMemoryTrimmer.ClosedConnections - 1;
        trimmer.Tick();
        trimmer.Tick();

        probe.Connections = 0;
        Assert.False(trimmer.Tick());
        Assert.False(trimmer.Tick());
        Assert.Equal(0, probe.Trims);
    }

    [Fact]
    public void A_quiet_sidecar_well_above_its_floor_is_trimmed_once()
    {
        var probe = new Probe();
        using IdleMemoryTrimmer trimmer = probe.Create();
        Assert.False(trimmer.Tick()); // first look: nothing to compare with yet

        probe.Gen0 += 40;            // a burst: the process allocates and collects
        probe.Committed = 300 * MiB;
        Assert.False(trimmer.Tick());

        Assert.True(trimmer.Tick()); // then quiet, far above the floor: trimmed
        Assert.False(trimmer.Tick()); // quiet and back near the floor: left alone
        Assert.Equal(1, probe.Trims);
    }

    [Fact]
    public void A_busy_sidecar_is_never_trimmed_however_large_its_heap()
    {
        var probe = new Probe();
        using IdleMemoryTrimmer trimmer = probe.Create();
        for (int i = 0; i < 20; i++)
        {
            probe.Gen0++;
            probe.Committed = 500 * MiB;
            Assert.False(trimmer.Tick());
        }

        Assert.Equal(0, probe.Trims);
    }

    [Fact]
    public void A_quiet_sidecar_holding_memory_it_uses_is_trimmed_once_and_followed_up_once_not_every_interval()
    {
        var probe = new Probe { AfterTrim = 200 * MiB }; // e.g. 2,000 idle channels: the trim cannot give it back
        using IdleMemoryTrimmer trimmer = probe.Create();
        trimmer.Tick();
        probe.Committed = 210 * MiB;

        Assert.True(trimmer.Tick());
        for (int i = 1; i < IdleMemoryTrimmer.FollowUpLooks; i++)
        {
            Assert.False(trimmer.Tick());
        }

        Assert.True(trimmer.Tick()); // the one follow-up
        for (int i = 0; i < 10; i++)
        {
            Assert.False(trimmer.Tick());
        }

        Assert.Equal(2, probe.Trims);
    }

    [Fact]
    public void Traffic_after_a_trim_cancels_its_follow_up()
    {
        var probe = new Probe();
        using IdleMemoryTrimmer trimmer = probe.Create();
        trimmer.Tick();
        probe.Gen0 += 40;
        probe.Committed = 300 * MiB;
        trimmer.Tick();
        Assert.True(trimmer.Tick()); // quiet after the burst: trimmed, follow-up pending

        probe.Gen0++;                // traffic again: the GC runs by itself, no follow-up is owed
        Assert.False(trimmer.Tick());
        for (int i = 0; i < IdleMemoryTrimmer.FollowUpLooks + 2; i++)
        {
            Assert.False(trimmer.Tick());
        }

        Assert.Equal(1, probe.Trims);
    }

    [Fact]
    public void No_start_up_trim_when_the_process_already_collected_since_the_trimmer_started()
    {
        var probe = new Probe { Committed = 12 * MiB, AfterTrim = 4 * MiB };
        using IdleMemoryTrimmer trimmer = probe.Create();

        probe.Gen0 += 3; // traffic from the first second, or a process hosting other work: the GC is already at it
        Assert.False(trimmer.TrimStartupGarbage());
        Assert.False(trimmer.TrimStartupGarbage());
        Assert.Equal(0, probe.Trims);
    }

    [Fact]
    public void The_sidecars_own_collection_before_the_watchers_does_not_stop_the_start_up_trim()
    {
        var probe = new Probe { Committed = 12 * MiB, AfterTrim = 4 * MiB };
        using IdleMemoryTrimmer trimmer = probe.Create();

        trimmer.RunOwnCollection(() => probe.Gen0 += 1); // the gen0 collection made before the watchers start

        Assert.True(trimmer.TrimStartupGarbage());
        Assert.Equal(1, probe.Trims);
    }

    [Fact]
    public void Traffic_after_the_sidecars_own_collection_still_stops_the_start_up_trim()
    {
        var probe = new Probe { Committed = 12 * MiB, AfterTrim = 4 * MiB };
        using IdleMemoryTrimmer trimmer = probe.Create();

        trimmer.RunOwnCollection(() => probe.Gen0 += 1);
        probe.Gen0 += 2;

        Assert.False(trimmer.TrimStartupGarbage());
        Assert.Equal(0, probe.Trims);
    }

    [Fact]
    public void The_start_up_trim_is_not_followed_up()
    {
        var probe = new Probe { Committed = 12 * MiB, AfterTrim = 4 * MiB };
        using IdleMemoryTrimmer trimmer = probe.Create();
        Assert.True(trimmer.TrimStartupGarbage());
        for (int i = 0; i < IdleMemoryTrimmer.FollowUpLooks + 2; i++)
        {
            Assert.False(trimmer.Tick());
        }

        Assert.Equal(1, probe.Trims);
    }

    [Fact]
    public void Start_up_garbage_is_trimmed_once_and_then_sets_the_floor()
    {
        var probe = new Probe { Committed = 12 * MiB, AfterTrim = 4 * MiB };
        using IdleMemoryTrimmer trimmer = probe.Create();

        Assert.True(trimmer.TrimStartupGarbage());
        Assert.False(trimmer.TrimStartupGarbage()); // once per process
        Assert.Equal(1, probe.Trims);

        // The floor is now what the start-up trim left: quiet and just under the threshold above it is left alone ...
        probe.Committed = (4 * MiB) + IdleMemoryTrimmer.Threshold - 1;
        Assert.False(trimmer.Tick());

        // ... and the start-up trim's own collection was not taken for activity: quiet and past it is trimmed.
        probe.Committed = (4 * MiB) + IdleMemoryTrimmer.Threshold;
        Assert.True(trimmer.Tick());
        Assert.Equal(2, probe.Trims);
    }
}
