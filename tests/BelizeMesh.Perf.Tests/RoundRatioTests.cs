using BelizeMesh.Perf.Compare;

namespace BelizeMesh.Perf.Tests;

public sealed class RoundRatioTests
{
    [Fact]
    public void Round_ratio_median_pairs_each_round_with_the_baseline_of_the_same_round()
    {
        // The machine slowed down in round 2 for both: paired by round the ratio stays 0.5; pooled medians would not.
        double? ratio = CompareCommand.MedianRoundRatio([10_000, 5_000, 10_500], [20_000, 10_000, 21_000]);

        Assert.Equal(0.5, ratio!.Value, 9);
    }

    [Fact]
    public void Round_ratio_median_is_the_middle_round_not_the_mean()
    {
        double? ratio = CompareCommand.MedianRoundRatio([100, 300, 90], [100, 100, 100]);

        Assert.Equal(1.0, ratio!.Value, 9);
    }

    [Fact]
    public void Round_ratio_median_of_an_even_number_of_rounds_averages_the_middle_two()
    {
        double? ratio = CompareCommand.MedianRoundRatio([80, 90, 100, 200], [100, 100, 100, 100]);

        Assert.Equal(0.95, ratio!.Value, 9);
    }

    [Fact]
    public void Round_ratio_is_absent_when_rounds_are_missing_or_the_baseline_served_nothing()
    {
        Assert.Null(CompareCommand.MedianRoundRatio([1, 2], [1, 2, 3]));
        Assert.Null(CompareCommand.MedianRoundRatio([], []));
        Assert.Null(CompareCommand.MedianRoundRatio([1, 2], [1, 0]));
    }
}
