using System.Net.Http;
using BelizeMesh.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace BelizeMesh.Proxy.Tests.Streaming;

/// <summary><see cref="RequestStreams"/>: a forwarded body of unknown length may pause (no minimum rate); bodies with a
/// length and requests without a body keep Kestrel's minimum.</summary>
public sealed class RequestStreamsTests
{
    private sealed class RateFeature : IHttpMinRequestBodyDataRateFeature
    {
        public MinDataRate? MinDataRate { get; set; } = new(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));
    }

    private static (DefaultHttpContext Context, RateFeature Rate) Request(long? contentLength)
    {
        var rate = new RateFeature();
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpMinRequestBodyDataRateFeature>(rate);
        context.Request.Method = "POST";
        context.Request.ContentLength = contentLength;
        return (context, rate);
    }

    [Fact]
    public void A_forwarded_body_of_unknown_length_has_no_minimum_rate()
    {
        (DefaultHttpContext context, RateFeature rate) = Request(contentLength: null);
        using var proxyRequest = new HttpRequestMessage(HttpMethod.Post, "http://app.test/") { Content = new StringContent("streamed") };

        RequestStreams.AllowPauses(context, proxyRequest);

        Assert.Null(rate.MinDataRate);
    }

    [Fact]
    public void A_body_with_a_length_and_a_request_without_a_body_keep_the_minimum_rate()
    {
        (DefaultHttpContext sized, RateFeature sizedRate) = Request(contentLength: 8);
        using var withBody = new HttpRequestMessage(HttpMethod.Post, "http://app.test/") { Content = new StringContent("8 bytes!") };
        RequestStreams.AllowPauses(sized, withBody);
        Assert.NotNull(sizedRate.MinDataRate);

        (DefaultHttpContext bodiless, RateFeature bodilessRate) = Request(contentLength: null);
        using var withoutBody = new HttpRequestMessage(HttpMethod.Get, "http://app.test/");
        RequestStreams.AllowPauses(bodiless, withoutBody);
        Assert.NotNull(bodilessRate.MinDataRate);
    }
}
