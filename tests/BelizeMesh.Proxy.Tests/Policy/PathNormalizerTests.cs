using BelizeMesh.Proxy.Policy.Authorization;

namespace BelizeMesh.Proxy.Tests.Policy;

public class PathNormalizerTests
{
    [Theory]
    [InlineData("/", "/")]
    [InlineData("/api/v1/upload", "/api/v1/upload")]
    [InlineData("/api/v1/../admin", "/api/admin")]
    [InlineData("/api/v1/../../admin", "/admin")]
    [InlineData("/api//v1", "/api/v1")]
    [InlineData("//api///v1//", "/api/v1/")]
    [InlineData("/api/%2e%2e/admin", "/admin")]
    [InlineData("/api/%2E%2E/admin", "/admin")]
    [InlineData("/api/./v1", "/api/v1")]
    [InlineData("/./api", "/api")]
    [InlineData("/api/v1/.", "/api/v1/")]
    [InlineData("/api/v1/..", "/api/")]
    [InlineData("/../../etc/passwd", "/etc/passwd")]
    [InlineData("/%61pi/v1", "/api/v1")]
    [InlineData("/a%7eb", "/a~b")]
    [InlineData("/a%3fb", "/a%3Fb")]
    [InlineData("/a%20b", "/a%20b")]
    [InlineData("/api/v1..x/y", "/api/v1..x/y")]
    [InlineData("/api/.hidden", "/api/.hidden")]
    public void Normalizes_like_envoy(string raw, string expected)
    {
        Assert.Equal(PathRejection.None, PathNormalizer.TryNormalize(raw, out string normalized));
        Assert.Equal(expected, normalized);
    }

    [Theory]
    [InlineData("/api%2Fadmin", "EncodedSlash")]
    [InlineData("/api%2fadmin", "EncodedSlash")]
    [InlineData("/api%5Cadmin", "EncodedSlash")]
    [InlineData("/api%5cadmin", "EncodedSlash")]
    [InlineData("/api\\admin", "Malformed")]
    [InlineData("/api%zz", "Malformed")]
    [InlineData("/api%2", "Malformed")]
    [InlineData("api", "Malformed")]
    [InlineData("", "Malformed")]
    public void Rejects_encoded_slashes_and_malformed_paths(string raw, string expected)
        => Assert.Equal(Enum.Parse<PathRejection>(expected), PathNormalizer.TryNormalize(raw, out _));

    [Theory]
    [InlineData("/public/..;/admin")]
    [InlineData("/public/..;jsessionid=x/admin")]
    [InlineData("/public/.;/admin")]
    [InlineData("/public/%2e%2e;/admin")]
    [InlineData("/public/.%2e;x/admin")]
    [InlineData("/..;")]
    public void Dot_segment_with_path_parameters_is_rejected_not_authorized_as_a_name(string raw)
    {
        // Servlet containers drop ";params" before resolving dot segments, so "/public/..;/admin" is their "/admin":
        // authorized as the name "..;" under "/public/*" it would open what a rule on "/admin" closes.
        Assert.Equal(PathRejection.DotSegmentParameters, PathNormalizer.TryNormalize(raw, out _));
    }

    [Theory]
    [InlineData("/public/a;b/c")]
    [InlineData("/public/...;x")]
    [InlineData("/public/x.;y")]
    [InlineData("/public/..%3B/admin")]
    public void Parameters_on_other_segments_stay(string raw)
        => Assert.Equal(PathRejection.None, PathNormalizer.TryNormalize(raw, out _));

    [Fact]
    public void Already_normal_path_is_returned_without_copying()
    {
        string raw = "/api/v1/proofs/42";
        PathNormalizer.TryNormalize(raw, out string normalized);
        Assert.Same(raw, normalized);
    }
}
