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

    private static string? HolderOf(ControllerHarness h) =>
        h.Api.Get("leases", ControllerHarness.SystemNamespace, "belizemesh-cert-controller")!["spec"]!["holderIdentity"]?.GetValue<string>();
}
