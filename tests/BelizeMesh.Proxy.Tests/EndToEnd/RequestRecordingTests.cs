using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// Every request is recorded exactly once — its metrics under its route label and one access-log line — whichever way
/// it ends: forwarded (the forwarding engine records it as it ends, the dispatcher hands its task to Kestrel), answered
/// by the handler itself, refused by the dispatcher, failed upstream, or forwarded after the handler waited (a fault
/// delay: the dispatcher's async path).
/// </summary>
public sealed class RequestRecordingTests : IAsyncLifetime
{
    private TestApp _app = null!;

    public async Task InitializeAsync() => _app = await TestApp.StartAsync("v1");

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Each_request_is_recorded_once_under_its_route_whether_forwarded_answered_refused_failed_or_delayed()
    {
        var lines = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        int total = 0;
        var allLogged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        const int Expected = 3 + 2 + 1 + 2 + 2;
        void Observe(string path)
        {
            lines.AddOrUpdate(path, 1, (_, n) => n + 1);
            if (Interlocked.Increment(ref total) >= Expected)
            {
                allLogged.TrySetResult();
            }
        }

        string routes = Sidecar.Route("nawal.test", $"\"{_app.Url[7..]}\"")
            + Sidecar.Route("down.test", "\"127.0.0.1:1\"")
            + $$"""
                  - host: slow.test
                    endpoints: ["{{_app.Url[7..]}}"]
                    http:
                      - name: slow-rule
                        destinations: [{ subset: v1 }]
                        fault: { delay: { percentage: 100, fixedDelay: 20ms } }

            """;
        string policy = Sidecar.Policy("http://127.0.0.1:1", outboundRoutes: routes).Replace("accessLog: false", "accessLog: true", StringComparison.Ordinal);
        await using Sidecar sidecar = await Sidecar.StartAsync(policy, accessLog: (Stream.Null, Observe, Microsoft.Extensions.Logging.Abstractions.NullLoggerProvider.Instance));
        using HttpClient http = sidecar.CreateOutboundClient();

        for (int i = 0; i < 3; i++)
        {
            using HttpResponseMessage ok = await http.GetAsync("http://nawal.test/echo");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode); // forwarded: recorded by the engine
        }

        for (int i = 0; i < 2; i++)
        {
            using HttpResponseMessage unknown = await http.GetAsync("http://unknown.test/nowhere");
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode); // answered by the handler
        }

        (int status, _) = await sidecar.RawOutboundAsync("nawal.test", "/lowercase", method: "get");
        Assert.Equal(400, status); // refused by the dispatcher

        for (int i = 0; i < 2; i++)
        {
            using HttpResponseMessage down = await http.GetAsync("http://down.test/gone");
            Assert.True((int)down.StatusCode >= 500, $"an unreachable upstream answered {(int)down.StatusCode}");
        }

        for (int i = 0; i < 2; i++)
        {
            using HttpResponseMessage slow = await http.GetAsync("http://slow.test/echo");
            Assert.Equal(HttpStatusCode.OK, slow.StatusCode); // forwarded after the handler waited
        }

        // the access-log line is written after the metrics, as the request ends (possibly just after the client has
        // its answer): once all are in, so are the metrics
        await allLogged.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(3 + 2, lines.GetValueOrDefault("/echo")); // the forwarded and the delayed requests share the path
        Assert.Equal(2, lines.GetValueOrDefault("/nowhere"));
        Assert.Equal(1, lines.GetValueOrDefault("/lowercase"));
        Assert.Equal(2, lines.GetValueOrDefault("/gone"));
        Assert.Equal(Expected, Volatile.Read(ref total));

        string text = await sidecar.CreateAdminClient().GetStringAsync("/metrics");
        Assert.Contains("belizemesh_proxy_requests_total{direction=\"outbound\",route=\"nawal.test\",status=\"200\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_requests_total{direction=\"outbound\",route=\"unknown\",status=\"404\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_requests_total{direction=\"outbound\",route=\"unknown\",status=\"400\"} 1\n", text, StringComparison.Ordinal);
        Assert.Matches("belizemesh_proxy_requests_total\\{direction=\"outbound\",route=\"down.test\",status=\"5[0-9][0-9]\"\\} 2\n", text);
        Assert.Contains("belizemesh_proxy_requests_total{direction=\"outbound\",route=\"slow.test#slow-rule\",status=\"200\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_request_duration_seconds_count{direction=\"outbound\",route=\"nawal.test\",status=\"200\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("belizemesh_proxy_active_requests{direction=\"outbound\"} 0\n", text, StringComparison.Ordinal);
    }
}
