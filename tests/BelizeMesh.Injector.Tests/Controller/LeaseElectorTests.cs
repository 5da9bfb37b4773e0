using BelizeMesh.Injector.Controller;
using Microsoft.Extensions.Time.Testing;

namespace BelizeMesh.Injector.Tests.Controller;

/// <summary>The Lease elector's decisions, one attempt at a time, against the in-process API server and a fake clock.</summary>
public sealed class LeaseElectorTests
{
    private static readonly ControllerOptions Lease = new()
    {
        LeaseDuration = TimeSpan.FromSeconds(15),
        RenewDeadline = TimeSpan.FromSeconds(10),
        RetryPeriod = TimeSpan.FromSeconds(2),
    };

    [Fact]
    public async Task A_lease_is_not_taken_over_before_the_duration_its_holder_wrote_in_it()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await ControllerHarness.StartAsync(clock);
        // The holder (another version of the controller, configured with a longer lease) renewed just now, for 60 s.
        h.PutLease("old", leaseDurationSeconds: 60, clock.GetUtcNow());
        LeaseElector b = h.Elector("b", Lease);

        Assert.False(await b.TryAcquireOrRenewAsync(CancellationToken.None));
        // Past this candidate's own 15 s, but the holder may lead for 60 s minus its renew deadline.
        clock.Advance(TimeSpan.FromSeconds(20));
        Assert.False(await b.TryAcquireOrRenewAsync(CancellationToken.None));
        Assert.Equal("old", HolderOf(h));

        clock.Advance(TimeSpan.FromSeconds(41));
        Assert.True(await b.TryAcquireOrRenewAsync(CancellationToken.None));
        Assert.Equal("b", HolderOf(h));
    }

    [Fact]
    public async Task A_holders_lease_counts_from_when_its_record_arrived_not_from_when_it_was_asked_for()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await ControllerHarness.StartAsync(clock);
        h.PutLease("old", leaseDurationSeconds: 15, clock.GetUtcNow());
        LeaseElector b = h.Elector("b", Lease);
        // The first read is slow: 10 s pass between asking and the answer (the holder may have renewed just before it).
        int slow = 0;
        h.Api.Intercept = (method, resource, ns, name) =>
        {
            if (method == "GET" && resource == "leases" && Interlocked.Exchange(ref slow, 1) == 0)
            {
                clock.Advance(TimeSpan.FromSeconds(10));
            }

            return null;
        };
        Assert.False(await b.TryAcquireOrRenewAsync(CancellationToken.None));

        // 16 s after asking, but only 6 s after the record arrived: still the holder's.
        clock.Advance(TimeSpan.FromSeconds(6));
        Assert.False(await b.TryAcquireOrRenewAsync(CancellationToken.None));
        Assert.Equal("old", HolderOf(h));

        clock.Advance(TimeSpan.FromSeconds(9));
        Assert.True(await b.TryAcquireOrRenewAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_wall_clock_step_forward_does_not_expire_a_lease_the_candidate_just_saw()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var wall = new SteppingWallClock(clock);
        await using var h = await ControllerHarness.StartAsync(wall);
        h.PutLease("old", leaseDurationSeconds: 15, clock.GetUtcNow());
        LeaseElector b = h.Elector("b", Lease);
        Assert.False(await b.TryAcquireOrRenewAsync(CancellationToken.None));

        // NTP steps the wall clock an hour ahead: no time has passed, the holder's lease still stands.
        wall.Step(TimeSpan.FromHours(1));
        Assert.False(await b.TryAcquireOrRenewAsync(CancellationToken.None));
        Assert.Equal("old", HolderOf(h));

        clock.Advance(TimeSpan.FromSeconds(15));
        Assert.True(await b.TryAcquireOrRenewAsync(CancellationToken.None));
        Assert.Equal("b", HolderOf(h));
    }

    [Fact]
    public async Task A_leader_whose_wall_clock_steps_back_still_stops_leading_at_its_renew_deadline()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var wall = new SteppingWallClock(clock);
        await using var h = await ControllerHarness.StartAsync(wall);
        LeaseElector a = h.Elector("a", Lease);
        using var stop = new CancellationTokenSource();
        Task run = a.RunAsync(ct => Task.Delay(Timeout.Infinite, ct), stop.Token);
        await h.Api.WaitForAsync(() => a.IsLeader && wall.TimersCreated >= 1, "a leads and waits to renew");

        // From now on no renewal gets through, and NTP steps the wall clock an hour back.
        h.Api.Intercept = (method, resource, ns, name) => resource == "leases" ? 503 : null;
        wall.Step(TimeSpan.FromHours(-1));
        // One retry period at a time, each time until the elector has tried and waits again (a delay and the
        // attempt's deadline: two timers) or has stopped leading.
        for (int step = 0; step < 10 && a.IsLeader; step++)
        {
            int timers = wall.TimersCreated;
            clock.Advance(Lease.RetryPeriod);
            await h.Api.WaitForAsync(() => !a.IsLeader || wall.TimersCreated >= timers + 2, "the next renewal attempt");
        }

        Assert.False(a.IsLeader);
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task A_leader_stops_leading_at_its_renew_deadline_when_that_falls_between_two_retries()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var wall = new SteppingWallClock(clock);
        await using var h = await ControllerHarness.StartAsync(wall);
        // Valid timings whose renew deadline (14 s) is no multiple of the retry period (6 s).
        var lease = new ControllerOptions { LeaseDuration = TimeSpan.FromSeconds(15), RenewDeadline = TimeSpan.FromSeconds(14), RetryPeriod = TimeSpan.FromSeconds(6) };
        Assert.Empty(lease.Validate());
        LeaseElector a = h.Elector("a", lease);
        using var stop = new CancellationTokenSource();
        Task run = a.RunAsync(ct => Task.Delay(Timeout.Infinite, ct), stop.Token);
        await h.Api.WaitForAsync(() => a.IsLeader && wall.TimersCreated >= 1, "a leads and waits to renew");

        // No renewal gets through any more. Move the clock to each wait's end, one wait at a time.
        h.Api.Intercept = (method, resource, ns, name) => resource == "leases" ? 503 : null;
        TimeSpan elapsed = TimeSpan.Zero;
        while (a.IsLeader && elapsed < lease.LeaseDuration)
        {
            int timers = wall.TimersCreated;
            TimeSpan wait = wall.LastDueTime;
            clock.Advance(wait);
            elapsed += wait;
            await h.Api.WaitForAsync(() => !a.IsLeader || wall.TimersCreated >= timers + 2, "the next renewal attempt");
        }

        // Stopped at the renew deadline, not at the first retry after it (which is past the lease duration here,
        // when another replica may already lead).
        Assert.False(a.IsLeader);
        Assert.Equal(lease.RenewDeadline, elapsed);
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task A_leaders_renew_deadline_counts_from_when_its_renewal_was_sent_not_from_when_it_was_answered()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var wall = new SteppingWallClock(clock);
        await using var h = await ControllerHarness.StartAsync(wall);
        LeaseElector a = h.Elector("a", Lease);
        using var stop = new CancellationTokenSource();
        Task run = a.RunAsync(ct => Task.Delay(Timeout.Infinite, ct), stop.Token);
        await h.Api.WaitForAsync(() => a.IsLeader && wall.TimersCreated >= 1, "a leads and waits to renew");

        // The next renewal is applied at once (a follower may see it now) but its answer takes 7 s to arrive; after
        // it no renewal gets through.
        DateTimeOffset applied = default;
        int slow = 0;
        h.Api.AfterWrite = (method, resource, ns, name, status) =>
        {
            if (method == "PUT" && resource == "leases" && Interlocked.Exchange(ref slow, 1) == 0)
            {
                applied = clock.GetUtcNow();
                clock.Advance(TimeSpan.FromSeconds(7));
                h.Api.Intercept = (m, r, n, o) => r == "leases" ? 503 : null;
            }

            return Task.CompletedTask;
        };
        for (int step = 0; step < 20 && a.IsLeader; step++)
        {
            int timers = wall.TimersCreated;
            clock.Advance(wall.LastDueTime);
            await h.Api.WaitForAsync(() => !a.IsLeader || wall.TimersCreated >= timers + 2, "the next renewal attempt");
        }

        // It stopped by the renew deadline counted from the renewal the follower saw, before that one's lease ran out.
        Assert.False(a.IsLeader);
        Assert.True(clock.GetUtcNow() - applied <= Lease.RenewDeadline, $"led {clock.GetUtcNow() - applied} after its last applied renewal");
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
    }

    private static string? HolderOf(ControllerHarness h) =>
        h.Api.Get("leases", ControllerHarness.SystemNamespace, "belizemesh-cert-controller")!["spec"]!["holderIdentity"]?.GetValue<string>();
}

/// <summary>
/// A clock whose wall time (<see cref="GetUtcNow"/>) can be stepped as NTP or an operator steps a node's clock, while
/// its monotonic time (<see cref="GetTimestamp"/>) and its timers follow <paramref name="monotonic"/> only; counts the
/// timers created on it and remembers the last one's due time.
/// </summary>
internal sealed class SteppingWallClock(FakeTimeProvider monotonic) : TimeProvider
{
    private long _stepTicks;
    private int _timers;
    private long _lastDueTicks;

    public int TimersCreated => Volatile.Read(ref _timers);

    /// <summary>The due time of the timer created last.</summary>
    public TimeSpan LastDueTime => TimeSpan.FromTicks(Interlocked.Read(ref _lastDueTicks));

    public override long TimestampFrequency => monotonic.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => monotonic.LocalTimeZone;

    public void Step(TimeSpan by) => Interlocked.Add(ref _stepTicks, by.Ticks);

    public override DateTimeOffset GetUtcNow() => monotonic.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _stepTicks));

    public override long GetTimestamp() => monotonic.GetTimestamp();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Interlocked.Exchange(ref _lastDueTicks, dueTime.Ticks);
        Interlocked.Increment(ref _timers);
        return monotonic.CreateTimer(callback, state, dueTime, period);
    }
}
