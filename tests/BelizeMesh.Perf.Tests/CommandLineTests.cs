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
