using BelizeMesh.Proxy.Hosting;

namespace BelizeMesh.Proxy.Tests.Packaging;

public sealed class CryptoWarmUpTests
{
    [Theory]
    [InlineData(null, 300)]
    [InlineData("", 300)]
    [InlineData("0", 0)]
    [InlineData("3000", 3000)]
    [InlineData("60000", 60000)]
    [InlineData("60001", 300)]
    [InlineData("-1", 300)]
    [InlineData("+5", 300)]
    [InlineData(" 5", 300)]
    [InlineData("1.5", 300)]
    [InlineData("soon", 300)]
    [InlineData("99999999999", 300)]
    public void Warm_up_delay_comes_from_the_environment_in_milliseconds_and_anything_else_keeps_300(string? value, int expectedMilliseconds)
        => Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), CryptoWarmUp.ReadDelay(value));
}
