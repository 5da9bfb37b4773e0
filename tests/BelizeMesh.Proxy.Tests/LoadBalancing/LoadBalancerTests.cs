using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Tests.LoadBalancing;

/// <summary>Balancing over many endpoints: a route resolved per pod can have more than 64 (the old bit mask's limit).</summary>
public class LoadBalancerTests
{
    private static EndpointState[] Endpoints(int count, TimeProvider? time = null)
        => [.. Enumerable.Range(0, count).Select(i => new EndpointState(new EndpointAddress($"10.0.{i / 250}.{i % 250 + 1}", 16443), time ?? TimeProvider.System))];

    [Theory]
    [InlineData(LoadBalancingPolicy.RoundRobin)]
    [InlineData(LoadBalancingPolicy.LeastRequests)]
    [InlineData(LoadBalancingPolicy.Random)]
    [InlineData(LoadBalancingPolicy.ConsistentHash)]
    public void Every_one_of_two_hundred_endpoints_can_be_picked(LoadBalancingPolicy policy)
    {
        EndpointState[] endpoints = Endpoints(200);
        LoadBalancer balancer = LoadBalancer.Create(policy, policy == LoadBalancingPolicy.ConsistentHash ? "X-Participant-ID" : null);
        var seen = new HashSet<EndpointState>();
        for (int i = 0; i < 20_000 && seen.Count < endpoints.Length; i++)
        {
            var context = new DefaultHttpContext();
            context.Request.Headers["X-Participant-ID"] = "p" + i;
            EndpointState picked = balancer.Pick(context, endpoints, []);
            seen.Add(picked);
            if (policy == LoadBalancingPolicy.LeastRequests)
            {
                picked.RequestStarted(); // keep it busy so the next pick goes elsewhere
            }
        }

        Assert.Equal(endpoints.Length, seen.Count);
    }

    [Fact]
    public void Ejected_endpoints_beyond_the_first_64_are_skipped()
    {
        var time = new ManualTimeProvider();
        EndpointState[] endpoints = Endpoints(100, time);
        for (int i = 0; i < endpoints.Length; i++)
        {
            if (i != 90)
            {
                Assert.True(endpoints[i].ReportFailure(1, TimeSpan.FromMinutes(1)));
            }
        }

        LoadBalancer balancer = LoadBalancer.Create(LoadBalancingPolicy.RoundRobin, null);
        for (int i = 0; i < 10; i++)
        {
            Assert.Same(endpoints[90], balancer.Pick(new DefaultHttpContext(), endpoints, []));
        }

        // and when every endpoint is ejected, all are used again (panic mode)
        Assert.True(endpoints[90].ReportFailure(1, TimeSpan.FromMinutes(1)));
        var seen = new HashSet<EndpointState>();
        for (int i = 0; i < 100; i++)
        {
            seen.Add(balancer.Pick(new DefaultHttpContext(), endpoints, []));
        }

        Assert.Equal(100, seen.Count);
    }
}
