using BelizeMesh.Proxy.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace BelizeMesh.Proxy.Tests.Metrics;

/// <summary>The counting wrappers for bodies without a Content-Length: pass-through, counted, restored.</summary>
public class BodyCounterTests
{
    private static (DefaultHttpContext Context, MemoryStream Sent, IHttpResponseBodyFeature Original) Context(byte[] requestBody)
    {
        var context = new DefaultHttpContext();
        var sent = new MemoryStream();
        var original = new StreamResponseBodyFeature(sent);
        context.Features.Set<IHttpResponseBodyFeature>(original);
        context.Request.Body = new MemoryStream(requestBody);
        return (context, sent, original);
    }

    [Fact]
    public async Task Request_and_response_bytes_pass_through_counted_and_the_originals_come_back()
    {
        (DefaultHttpContext context, MemoryStream sent, IHttpResponseBodyFeature original) = Context(new byte[1000]);
        Stream requestBody = context.Request.Body;
        var pool = new BodyCounter.Pool();
        BodyCounter counter = pool.Rent();
        context.Features.Set(counter);
        counter.CountRequest(context);
        counter.CountResponse(context);

        await context.Request.Body.CopyToAsync(Stream.Null);
        await context.Response.Body.WriteAsync(new byte[300]);
        context.Response.Body.Write(new byte[20]);
        Assert.Equal((1000, 320), (counter.RequestBytes, counter.ResponseBytes));
        Assert.Equal(320, sent.Length);

        pool.Return(counter);
        Assert.Same(requestBody, context.Request.Body);
        Assert.Same(original, context.Features.Get<IHttpResponseBodyFeature>());
        Assert.Null(context.Features.Get<BodyCounter>());
        Assert.Equal((-1, -1), (counter.RequestBytes, counter.ResponseBytes));
    }

    [Fact]
    public async Task A_second_response_for_the_same_request_restarts_the_count_without_wrapping_twice()
    {
        (DefaultHttpContext context, MemoryStream sent, _) = Context([]);
        var counter = new BodyCounter.Pool().Rent();
        counter.CountResponse(context);
        await context.Response.Body.WriteAsync(new byte[50]); // a failed attempt's partial body
        counter.CountResponse(context); // the retry's response
        await context.Response.Body.WriteAsync(new byte[7]);
        Assert.Equal(7, counter.ResponseBytes);
        Assert.Equal(57, sent.Length); // every byte reached the real body once
    }
}
