using BelizeMesh.Injector.Controller;
using k8s.Models;

namespace BelizeMesh.Injector.Tests.Controller;

public sealed class ResourceVersionTests
{
    [Theory]
    [InlineData("1000", "1001", -1)]
    [InlineData("1001", "1000", 1)]
    [InlineData("999", "1000", -1)]
    [InlineData("10000", "9999", 1)]
    [InlineData("42", "42", 0)]
    public void Resource_versions_compare_as_kubernetes_defines_them(string a, string b, int expected) =>
        Assert.Equal(expected, Reflector<V1Secret>.CompareVersions(a, b));

    [Theory]
    [InlineData("", "1")]
    [InlineData(null, "1")]
    [InlineData("0123", "124")]
    [InlineData("12a", "13")]
    [InlineData("-5", "4")]
    [InlineData("1 ", "2")]
    public void Versions_not_of_the_comparable_form_are_not_ordered(string? a, string b)
    {
        Assert.Null(Reflector<V1Secret>.CompareVersions(a, b));
        Assert.Null(Reflector<V1Secret>.CompareVersions(b, a));
    }
}
