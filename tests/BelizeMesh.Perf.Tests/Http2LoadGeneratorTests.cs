using System.Net;
using BelizeMesh.Perf.Load;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Perf.Tests;

/// <summary>The HTTP/2 (h2c prior knowledge) mode of the load generator against a Kestrel server on 127.0.0.1.</summary>
public sealed class Http2LoadGeneratorTests
{
    [Fact]
    public async Task Closed_loop_over_h2c_counts_requests_and_error_statuses()
    {
        await using WebApplication app = await StartAsync(context => context.Request.Path == "/fail" ? 503 : 200);
        var target = new LoadTarget(EndPointOf(app), "bench", "/");
        // Ended by the request count (the minute is only a backstop), so a busy machine cannot change the result.
        LoadResult ok = await Http2LoadGenerator.ClosedLoopAsync(target, streams: 8, TimeSpan.FromSeconds(60), CancellationToken.None, maxRequests: 50);
        Assert.Equal(50, ok.Requests);
        Assert.Equal(0, ok.Errors);
        Assert.Equal(50, ok.Latency.Count);

        LoadResult failing = await Http2LoadGenerator.ClosedLoopAsync(target with { Path = "/fail" }, streams: 4, TimeSpan.FromSeconds(60), CancellationToken.None, maxRequests: 12);
        Assert.Equal(12, failing.Requests);
        Assert.Equal(12, failing.Errors);
    }

    [Fact]
    public async Task Open_loop_over_h2c_sends_exactly_the_scheduled_requests()
    {
        int seen = 0;
        await using WebApplication app = await StartAsync(_ =>
        {
            Interlocked.Increment(ref seen);
            return 200;
        });
        var target = new LoadTarget(EndPointOf(app), "bench", "/");
        LoadResult result = await Http2LoadGenerator.OpenLoopAsync(target, ratePerSecond: 200, streams: 8, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.Equal(200, result.Requests);
        Assert.Equal(0, result.Errors);
        Assert.Equal(201, Volatile.Read(ref seen));     // plus the one that opens the connection before the clock starts
        Assert.True(result.Latency.PercentileMilliseconds(50) > 0);
    }

    private static IPEndPoint EndPointOf(WebApplication app) => new(IPAddress.Loopback, new Uri(app.Urls.First()).Port);

    private static async Task<WebApplication> StartAsync(Func<HttpContext, int> status)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        WebApplication app = builder.Build();
        app.Run(context =>
        {
            context.Response.StatusCode = status(context);
            return context.Response.WriteAsync("ok");
        });
        await app.StartAsync();
        return app;
    }
}
