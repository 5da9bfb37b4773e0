using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Forwarding;

namespace BelizeMesh.Proxy.Tests.LoadBalancing;

/// <summary>The per-endpoint choice between HTTP/1.1 and HTTP/2 inside the channel when the route leaves
/// <c>h2UpgradePolicy</c> unset: two bars, so that a steady load stays on one protocol.</summary>
public sealed class AdaptiveProtocolTests
{
    private const int Upper = UpstreamTarget.AdaptiveHttp1InFlight;
    private const int Lower = UpstreamTarget.AdaptiveHttp1ResumeInFlight;

    private static EndpointState Endpoint() => new(new EndpointAddress("127.0.0.1", 1), TimeProvider.System);

    [Fact]
    public void Requests_stay_http1_up_to_the_upper_bar_and_go_http2_beyond_it()
    {
        EndpointState endpoint = Endpoint();
        for (int inFlight = 1; inFlight <= Upper; inFlight++)
        {
            Assert.True(endpoint.StaysHttp1(inFlight, Upper, Lower), $"in flight {inFlight}");
        }

        Assert.False(endpoint.StaysHttp1(Upper + 1, Upper, Lower));
    }

    [Fact]
    public void After_going_http2_an_endpoint_returns_to_http1_only_at_the_lower_bar()
    {
        EndpointState endpoint = Endpoint();
        Assert.False(endpoint.StaysHttp1(Upper + 1, Upper, Lower));
        for (int inFlight = Upper; inFlight > Lower; inFlight--)
        {
            Assert.False(endpoint.StaysHttp1(inFlight, Upper, Lower), $"in flight {inFlight} after HTTP/2");
        }

        Assert.True(endpoint.StaysHttp1(Lower, Upper, Lower));
        Assert.True(endpoint.StaysHttp1(Lower + 1, Upper, Lower)); // back on HTTP/1.1 until the upper bar again
    }

    [Fact]
    public void Do_not_upgrade_keeps_http1_at_any_count()
    {
        EndpointState endpoint = Endpoint();
        Assert.True(endpoint.StaysHttp1(100_000, int.MaxValue, Lower));
        Assert.True(endpoint.StaysHttp1(Lower + 1, int.MaxValue, Lower));
    }

    [Fact]
    public void Under_any_load_at_most_the_upper_bar_of_requests_are_http1_at_once_so_the_channel_pool_stays_that_small()
    {
        // A seeded random walk of 200,000 request starts and ends through the engine's own counting (RequestStarted,
        // then the choice with the count it returned, then RequestCompleted), reaching 1,000 in flight: the HTTP/1.1
        // requests in flight at once — the HTTP/1.1 channels the pool must hold — never exceed the upper bar, and past
        // it requests do go HTTP/2.
        EndpointState endpoint = Endpoint();
        var random = new Random(11);
        var inFlight = new List<bool>(); // per request in flight: went as HTTP/1.1
        int http1InFlight = 0, mostHttp1 = 0, mostInFlight = 0, http2 = 0;
        for (int step = 0; step < 200_000; step++)
        {
            int target = step % 50_000 < 25_000 ? 1_000 : 0; // ramp up to 1,000 in flight, then drain, twice
            bool start = inFlight.Count == 0 || (inFlight.Count < target ? random.Next(10) < 7 : random.Next(10) < 3);
            if (start)
            {
                bool http1 = endpoint.StaysHttp1(endpoint.RequestStarted(), Upper, Lower);
                inFlight.Add(http1);
                http1InFlight += http1 ? 1 : 0;
                http2 += http1 ? 0 : 1;
            }
            else
            {
                int index = random.Next(inFlight.Count);
                http1InFlight -= inFlight[index] ? 1 : 0;
                inFlight[index] = inFlight[^1];
                inFlight.RemoveAt(inFlight.Count - 1);
                endpoint.RequestCompleted();
            }

            mostHttp1 = Math.Max(mostHttp1, http1InFlight);
            mostInFlight = Math.Max(mostInFlight, inFlight.Count);
        }

        Assert.True(mostInFlight >= 1_000, $"the walk reached only {mostInFlight} in flight");
        Assert.True(http2 > 0);
        Assert.InRange(mostHttp1, Lower + 1, Upper);
    }
}
