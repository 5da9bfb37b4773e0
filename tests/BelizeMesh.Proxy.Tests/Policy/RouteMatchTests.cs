using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Forwarding;
using BelizeMesh.Proxy.Outbound;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Tests.Policy;

/// <summary>One <c>match</c> entry of an outbound http rule: Envoy's string-match semantics on path, method, headers.</summary>
public sealed class RouteMatchTests
{
    private static HttpContext Request(string method = "GET", params (string Name, string Value)[] headers)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        foreach ((string name, string value) in headers)
        {
            context.Request.Headers.Append(name, value);
        }

        return context;
    }

    private static RequestMatcher Matcher(StringMatchSpec? uri = null, StringMatchSpec? method = null, params HeaderMatchSpec[] headers)
        => new(new RequestMatchSpec(uri, method, headers));

    [Theory]
    [InlineData(StringMatchKind.Exact, "/api/v1", "/api/v1", true)]
    [InlineData(StringMatchKind.Exact, "/api/v1", "/api/v1/", false)]
    [InlineData(StringMatchKind.Prefix, "/api/v1", "/api/v12", true)]
    [InlineData(StringMatchKind.Prefix, "/api/v1/", "/api/v1", false)]
    [InlineData(StringMatchKind.Regex, "/api/v[0-9]+/status", "/api/v12/status", true)]
    [InlineData(StringMatchKind.Regex, "/api/v[0-9]+/status", "/x/api/v1/status", false)]
    [InlineData(StringMatchKind.Regex, "/api/v[0-9]+/status", "/api/v1/status/more", false)]
    [InlineData(StringMatchKind.Regex, "a|/b", "/b", true)]
    public void Uri_matches_as_envoy_does_with_regexes_matching_the_whole_path(StringMatchKind kind, string pattern, string path, bool expected)
        => Assert.Equal(expected, Matcher(uri: new StringMatchSpec(kind, pattern)).Matches(Request(), path));

    [Fact]
    public void Every_condition_of_an_entry_must_hold()
    {
        RequestMatcher matcher = Matcher(
            new StringMatchSpec(StringMatchKind.Prefix, "/api/"),
            new StringMatchSpec(StringMatchKind.Exact, "POST"),
            new HeaderMatchSpec("x-version", new StringMatchSpec(StringMatchKind.Prefix, "v2")),
            new HeaderMatchSpec("x-debug", new StringMatchSpec(StringMatchKind.Present, "")));

        Assert.True(matcher.Matches(Request("POST", ("X-Version", "v2.1"), ("x-debug", "on")), "/api/x"));
        Assert.False(matcher.Matches(Request("GET", ("X-Version", "v2.1"), ("x-debug", "on")), "/api/x"));
        Assert.False(matcher.Matches(Request("POST", ("X-Version", "v1"), ("x-debug", "on")), "/api/x"));
        Assert.False(matcher.Matches(Request("POST", ("X-Version", "v2.1")), "/api/x"));
        Assert.False(matcher.Matches(Request("POST", ("X-Version", "v2.1"), ("x-debug", "1")), "/web/x"));
    }

    [Fact]
    public void A_repeated_header_is_matched_on_its_values_joined_with_commas()
    {
        RequestMatcher matcher = Matcher(headers: new HeaderMatchSpec("x-tag", new StringMatchSpec(StringMatchKind.Exact, "a,b")));
        Assert.True(matcher.Matches(Request("GET", ("x-tag", "a"), ("x-tag", "b")), "/"));
        Assert.False(matcher.Matches(Request("GET", ("x-tag", "a")), "/"));
    }

    [Theory]
    [InlineData("/a)|(/b")]
    [InlineData("x)|(?:y")]
    [InlineData("/api)(?:.*")]
    public void A_regex_with_unbalanced_parentheses_is_refused_rather_than_escaping_the_full_match(string pattern)
    {
        // Wrapped as \A(?:…)\z these would compile and match a prefix or a suffix only; RE2 refuses them as written.
        Assert.False(RouteRegex.TryGet(pattern, out _, out string? error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Regexes_are_compiled_once_and_refused_when_they_need_backtracking()
    {
        Assert.True(RouteRegex.TryGet("v[0-9]+", out var first, out _));
        Assert.True(RouteRegex.TryGet("v[0-9]+", out var second, out _));
        Assert.Same(first, second);
        Assert.False(RouteRegex.TryGet("(?=v)v", out _, out string? error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Weighted_destinations_follow_the_weights_and_an_empty_match_list_matches_everything()
    {
        UpstreamTarget v1 = Target("v1");
        UpstreamTarget v2 = Target("v2");
        var rule = new RouteRule("r#split", [], [v1, v2], [90, 10], null);
        Assert.True(rule.Matches(Request(), "/anything"));

        var random = new TrafficRandom(new Random(7));
        int toV2 = 0;
        for (int i = 0; i < 100_000; i++)
        {
            toV2 += rule.PickDestination(random) == v2 ? 1 : 0;
        }

        Assert.InRange(toV2, 9_500, 10_500);
        Assert.Same(v1, new RouteRule("r#only", [], [v1, v2], [100, 0], null).PickDestination(random));
    }

    private static UpstreamTarget Target(string name) => new(
        name,
        EndpointSet.Fixed(name, new EndpointState(new EndpointAddress("127.0.0.1", 1), TimeProvider.System)),
        LoadBalancer.Create(LoadBalancingPolicy.RoundRobin, null),
        new System.Net.Http.HttpMessageInvoker(new System.Net.Http.SocketsHttpHandler()),
        UpstreamTarget.CreateConfig(TimeSpan.Zero, http2: false),
        0,
        0,
        TimeSpan.Zero);
}
