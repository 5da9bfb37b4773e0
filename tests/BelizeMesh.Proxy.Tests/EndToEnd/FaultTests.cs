using System.Collections.Concurrent;
using System.Net.Http;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// The CI part of the fault suite (the long runs are <c>perf faults</c>): client → outbound sidecar → inbound sidecar
/// → app under steady load while the app dies and comes back. Policy reloads and certificate rotation under load are
/// in <see cref="LifecycleTests"/> and <see cref="CertificateReloadTests"/>.
/// </summary>
public sealed class FaultTests
{
    [Fact]
    public async Task App_killed_surfaces_as_502_with_a_metric_and_traffic_recovers_when_it_restarts()
    {
        TestApp app = await TestApp.StartAsync();
        string downBody = "";
        int port = app.Port;
        await using Sidecar server = await Sidecar.StartAsync(Sidecar.Policy(app.Url));
        await using Sidecar client = await Sidecar.StartAsync(Sidecar.Policy("http://127.0.0.1:1", outboundRoutes:
            Sidecar.Route("nawal.test", $"\"{server.InboundEndpoint}\"")));
        using HttpClient http = client.CreateOutboundClient();
        var statuses = new ConcurrentQueue<int>();
        using var stop = new CancellationTokenSource();
        Task[] load = [.. Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using HttpResponseMessage response = await http.GetAsync("http://nawal.test/echo");
                statuses.Enqueue((int)response.StatusCode);
            }
        }))];

        try
        {
            await WaitForAsync(() => statuses.Count(s => s == 200) >= 20);
            await app.DisposeAsync();
            int downFrom = statuses.Count;
            await WaitForAsync(() => statuses.Skip(downFrom).Count(s => s == 502) >= 10);
            using (HttpResponseMessage down = await http.GetAsync("http://nawal.test/echo"))
            {
                downBody = await down.Content.ReadAsStringAsync();
            }

            app = await TestApp.StartAsync(port: port);
            int upFrom = statuses.Count;
            await WaitForAsync(() => statuses.Skip(upFrom).Count(s => s == 200) >= 20);
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(load).WaitAsync(TimeSpan.FromSeconds(30));
            await app.DisposeAsync();
        }

        // the last answer while the app was down says why, and comes from the sidecar
        Assert.StartsWith("belizemesh: upstream 127.0.0.1:" + port + " of route inbound is unreachable (connection failed)", downBody, StringComparison.Ordinal);

        // every answer is either the app's 200 or the sidecar's 502: nothing else, no exception (WhenAll rethrows)
        Assert.All(statuses, s => Assert.True(s is 200 or 502, $"status {s}"));

        using HttpClient admin = server.CreateAdminClient();
        string metrics = await admin.GetStringAsync("/metrics");
        Assert.Matches("belizemesh_proxy_forward_errors_total\\{direction=\"inbound\",error=\"Request\"\\} [1-9][0-9]*\n", metrics);
        Assert.Matches("belizemesh_proxy_requests_total\\{direction=\"inbound\",route=\"inbound\",status=\"502\"\\} [1-9][0-9]*\n", metrics);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!condition())
        {
            await Task.Delay(10, cts.Token);
        }
    }
}
