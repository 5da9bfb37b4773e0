using BelizeMesh.Perf.Compare;

namespace BelizeMesh.Perf.Tests;

public sealed class ReportFormatTests
{
    [Theory]
    [InlineData(0.41234, "0.412")]
    [InlineData(1.2345, "1.23")]
    [InlineData(12.345, "12.3")]
    [InlineData(123.45, "123")]
    [InlineData(1234.5, "1,230")]
    [InlineData(9.996, "10.0")]
    [InlineData(0.0009996, "0.00100")]
    [InlineData(100, "100")]
    [InlineData(0.001, "0.00100")]
    [InlineData(0, "0")]
    [InlineData(-2.5, "-2.50")]
    public void Latencies_have_three_significant_digits(double value, string expected) =>
        Assert.Equal(expected, ReportFormat.Sig3(value));

    [Fact]
    public void Unmeasured_figures_are_a_dash()
    {
        Assert.Equal("—", ReportFormat.Sig3(null));
        Assert.Equal("—", ReportFormat.Sig3(double.NaN));
        Assert.Equal("—", ReportFormat.Rps(double.PositiveInfinity));
        Assert.Equal("—", ReportFormat.Ratio(null));
        Assert.Equal("—", ReportFormat.RpsRange(1, null));
        Assert.Equal("—", ReportFormat.Percentiles(null));
    }

    [Theory]
    [InlineData(42059.19, 50000, 10000)]
    [InlineData(12345, 12500, 2500)]
    [InlineData(0.87, 1, 0.2)]
    [InlineData(100, 100, 20)]
    [InlineData(96.25, 100, 20)]
    [InlineData(0, 1, 0.2)]
    [InlineData(double.NaN, 1, 0.2)]
    public void Axes_end_on_a_nice_value_with_nice_steps(double dataMax, double max, double step)
    {
        var scale = NiceScale.For(dataMax);
        Assert.Equal(max, scale.Max, 9);
        Assert.Equal(step, scale.Step, 9);
    }

    [Fact]
    public void Tick_labels_have_the_decimals_the_step_needs()
    {
        Assert.Equal(new[] { "0", "2,500", "5,000", "7,500", "10,000", "12,500" }, NiceScale.For(12345).Ticks().Select(NiceScale.For(12345).Label));
        Assert.Equal(new[] { "0.00", "0.25", "0.50", "0.75", "1.00", "1.25" }, NiceScale.For(1.2).Ticks().Select(NiceScale.For(1.2).Label));
    }

    [Fact]
    public void Durations_read_as_minutes_past_two_minutes()
    {
        Assert.Equal("42.5 s", ReportFormat.Duration(42.5));
        Assert.Equal("12 min 34 s", ReportFormat.Duration(754.2));
    }

    [Fact]
    public void Svg_text_escapes_xml_specials_and_drops_characters_xml_cannot_hold()
    {
        Assert.Equal("a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; \uFFFD 😀", Svg.Escape("a <b> & \"c\" 'd' \u0001 😀"));
    }
}
