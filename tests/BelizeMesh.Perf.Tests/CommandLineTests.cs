using System.Diagnostics;

namespace BelizeMesh.Perf.Tests;

/// <summary>The harness's command dispatch.</summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData("footprint")]
    [InlineData("handshake-servers")]
    [InlineData("handshake-flood")]
    [InlineData("faults")]
    public void Help_prints_the_commands_options_instead_of_running_the_measurement(string command)
    {
        // Each of these runs for minutes when it starts measuring; answering --help must not start it.
        var clock = Stopwatch.StartNew();
        Assert.Equal(0, Program.Main([command, "--help"]));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"{command} --help took {clock.Elapsed}: it ran the measurement");
    }
}

/// <summary><c>compare</c>'s option parsing.</summary>
public sealed class CompareOptionTests
{
    [Theory]
    [InlineData("DO_NOT_UPGRADE")]
    [InlineData("UPGRADE")]
    public void H2_upgrade_takes_the_frontends_h2_upgrade_policy(string policy) =>
        Assert.Equal(policy, BelizeMesh.Perf.Compare.CompareOptions.Parse(["--h2-upgrade", policy]).H2Upgrade);

    [Fact]
    public void Latency_rounds_default_to_three_one_in_quick_mode_and_must_be_positive()
    {
        Assert.Equal(3, BelizeMesh.Perf.Compare.CompareOptions.Parse([]).LatencyRounds);
        Assert.Equal(1, BelizeMesh.Perf.Compare.CompareOptions.Parse(["--quick"]).LatencyRounds);
        Assert.Equal(5, BelizeMesh.Perf.Compare.CompareOptions.Parse(["--latency-rounds", "5"]).LatencyRounds);
        var e = Assert.Throws<ArgumentException>(() => BelizeMesh.Perf.Compare.CompareOptions.Parse(["--latency-rounds", "0"]));
        Assert.Contains("rounds", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void H2_upgrade_is_unset_by_default_and_refuses_other_values()
    {
        Assert.Null(BelizeMesh.Perf.Compare.CompareOptions.Parse([]).H2Upgrade);
        var e = Assert.Throws<ArgumentException>(() => BelizeMesh.Perf.Compare.CompareOptions.Parse(["--h2-upgrade", "DEFAULT"]));
        Assert.Contains("--h2-upgrade DEFAULT: expected DO_NOT_UPGRADE or UPGRADE", e.Message, StringComparison.Ordinal);
    }
}
