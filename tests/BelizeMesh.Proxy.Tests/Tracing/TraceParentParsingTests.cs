using System.Diagnostics;
using BelizeMesh.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Tests.Tracing;

/// <summary>Which <c>traceparent</c> values give the access log a trace id (W3C Trace Context, level 1 §3.2).</summary>
public sealed class TraceParentParsingTests
{
    [Theory]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")]
    [InlineData("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")] // a later version, same fields
    [InlineData("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds")] // later versions may append fields
    public void Valid_traceparent_is_accepted(string header)
        => Assert.True(TraceContext.IsValid(header));

    [Theory]
    [InlineData("")]
    [InlineData("not-a-traceparent")]
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7")] // no flags
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-")] // version 00 has exactly four fields
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x")]
    [InlineData("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x")] // a later version's extra fields start with '-'
    [InlineData("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")] // version ff is forbidden
    [InlineData("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    [InlineData("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")] // upper case
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01")]
    [InlineData("00-00000000000000000000000000000000-00f067aa0ba902b7-01")] // all-zero trace id
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01")] // all-zero parent id
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01")] // dashes in the wrong places
    [InlineData("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z")]
    [InlineData(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    public void Invalid_traceparent_is_rejected(string header)
        => Assert.False(TraceContext.IsValid(header));

    [Fact]
    public void Trace_id_is_the_second_field_of_a_single_valid_header()
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", TraceContext.TraceId(context));
    }

    [Fact]
    public void Trace_id_is_taken_from_the_current_activity_when_it_holds_the_same_one()
    {
        const string header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        var context = new DefaultHttpContext();
        context.Request.Headers.TraceParent = header;
        using Activity activity = new Activity("test").SetParentId(header).Start(); // no listener needed

        string traceId = TraceContext.TraceId(context);

        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", traceId);
        Assert.Same(activity.TraceId.ToHexString(), traceId); // no second copy
    }

    [Fact]
    public void Trace_id_comes_from_the_header_when_the_current_activity_belongs_to_another_trace()
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        using Activity activity = new Activity("test").SetIdFormat(ActivityIdFormat.W3C).Start(); // a root with a random trace id

        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", TraceContext.TraceId(context));
    }

    [Fact]
    public void Trace_id_is_empty_without_a_header_or_with_two()
    {
        var context = new DefaultHttpContext();
        Assert.Equal("", TraceContext.TraceId(context));

        context.Request.Headers.TraceParent = new(["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]);
        Assert.Equal("", TraceContext.TraceId(context));
    }
}
