using System.Text.Json.Nodes;
using BelizeMesh.Injector.Controller;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Time.Testing;

namespace BelizeMesh.Injector.Tests.Controller;

/// <summary>The loops that must run as long as the controller does: they survive any exception, and end only on the stop token.</summary>
public sealed class UnexpectedFailureTests
{
    [Fact]
    public async Task A_reflector_retries_after_exceptions_it_did_not_expect_and_ends_cleanly_on_stop()
    {
        var retryClock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await ControllerHarness.StartAsync();
        h.Api.AddNamespace("shop", optedIn: true);
        using var client = new ControllerKubernetes(new KubernetesClientConfiguration { Host = h.Api.Uri.ToString() }, new ClientHeaderHandler("r"));
        int lists = 0;
        Exception[] failures =
        [
            new InvalidOperationException("a client library bug"),
            new FormatException("a malformed creationTimestamp"),
            new OperationCanceledException("a timeout inside the client, not our stop token"),
        ];
        var reflector = new Reflector<V1Namespace>(client, WatchedResource.Namespaces,
            async ct =>
            {
                int n = Interlocked.Increment(ref lists);
                if (n <= failures.Length)
                {
                    throw failures[n - 1];
                }

                V1NamespaceList l = await client.CoreV1.ListNamespaceAsync(cancellationToken: ct);
                return (l.Items, l.Metadata.ResourceVersion);
            },
            "api/v1/namespaces", () => { }, new ControllerMetrics(), TimeSpan.FromMinutes(5), retryClock, new ListLogger("r", h.Logs));
        using var stop = new CancellationTokenSource();
        Task run = reflector.RunAsync(stop.Token);

        // Each failure waits for its backoff on the retry clock, moved here instead of waited for.
        await h.Api.WaitForAsync(() => { retryClock.Advance(TimeSpan.FromSeconds(1)); return reflector.Synced.IsCompleted || run.IsCompleted; }, "listed after the failures");
        Assert.False(run.IsCompleted, run.Exception?.ToString());
        Assert.Equal(4, lists);
        Assert.True(reflector.Items.ContainsKey("shop"));
        Assert.Contains(h.Logs, l => l.Contains("Error: List or watch of namespaces failed unexpectedly", StringComparison.Ordinal) && l.Contains("a client library bug", StringComparison.Ordinal));

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(run.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task A_malformed_lease_is_a_failed_attempt_not_the_end_of_the_campaign()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await ControllerHarness.StartAsync(clock);
        h.PutLease("old", leaseDurationSeconds: 15, clock.GetUtcNow());
        h.Api.Mutate("leases", ControllerHarness.SystemNamespace, "belizemesh-cert-controller", o => o["spec"]!["renewTime"] = "yesterday-ish");
        LeaseElector b = h.Elector("b");

        Assert.False(await b.TryAcquireOrRenewAsync(CancellationToken.None));
        Assert.Contains(h.Logs, l => l.Contains("Lease belizemesh-system/belizemesh-cert-controller:", StringComparison.Ordinal));

        // Repaired (here: freed) by whoever broke it: the next attempt takes it.
        h.PutLease(null, leaseDurationSeconds: 15, clock.GetUtcNow());
        Assert.True(await b.TryAcquireOrRenewAsync(CancellationToken.None));
    }

    [Fact]
    public async Task When_the_leaders_work_throws_the_elector_campaigns_again_and_still_stops_cleanly()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var h = await ControllerHarness.StartAsync(clock);
        LeaseElector b = h.Elector("b");
        int leads = 0;
        using var stop = new CancellationTokenSource();
        Task run = b.RunAsync(ct => Interlocked.Increment(ref leads) == 1 ? throw new InvalidOperationException("a bug in a pass") : Task.Delay(Timeout.Infinite, ct), stop.Token);

        await h.Api.WaitForAsync(() => { clock.Advance(TimeSpan.FromSeconds(1)); return Volatile.Read(ref leads) >= 2 || run.IsCompleted; }, "leading again after the failure");
        Assert.False(run.IsCompleted, run.Exception?.ToString());
        Assert.Contains(h.Logs, l => l.Contains("b stopped leading: its work failed", StringComparison.Ordinal) && l.Contains("a bug in a pass", StringComparison.Ordinal));

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(run.IsCompletedSuccessfully);
        Assert.Null(h.Api.Get("leases", ControllerHarness.SystemNamespace, "belizemesh-cert-controller")!["spec"]!["holderIdentity"]);
    }
}
