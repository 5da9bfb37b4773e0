using BelizeMesh.Proxy.Hosting;

namespace BelizeMesh.Proxy.Tests.Packaging;

public sealed class SchedulingPolicyTests
{
    [Theory]
    [InlineData(null, 3)]
    [InlineData("", 3)]
    [InlineData("batch", 3)]
    [InlineData("other", 0)]
    public void The_policy_is_sched_batch_unless_the_operator_says_other(string? value, int expected) =>
        Assert.Equal(expected, SchedulingPolicy.Parse(value));

    [Theory]
    [InlineData("BATCH")]
    [InlineData("fifo")]
    [InlineData("idle")]
    [InlineData(" batch")]
    public void Anything_else_is_refused_with_the_accepted_values(string value)
    {
        var e = Assert.Throws<ArgumentException>(() => SchedulingPolicy.Parse(value));
        Assert.Contains($"BELIZEMESH_SCHED_POLICY={value} is not a scheduling policy", e.Message, StringComparison.Ordinal);
        Assert.Contains("'batch' (the default) or 'other'", e.Message, StringComparison.Ordinal);
    }
}
