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
}
