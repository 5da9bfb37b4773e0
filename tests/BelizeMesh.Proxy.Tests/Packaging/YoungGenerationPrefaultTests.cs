using BelizeMesh.Proxy.Hosting;

namespace BelizeMesh.Proxy.Tests.Packaging;

/// <summary>
/// How <see cref="YoungGenerationPrefault"/> recognises the young generation's first region in <c>/proc/self/maps</c>
/// and the GC's layout. The native binary's result (a huge page in the GC heap) is checked by
/// <see cref="NativeStartupTests"/> in CI.
/// </summary>
public sealed class YoungGenerationPrefaultTests
{
    // The layout of a native sidecar at the top of Main: 132 KiB committed of a 4 MiB region, the GC's reserve after it.
    private static readonly string[] s_maps =
    [
        "5625af672000-5625af800000 rw-p 00000000 00:00 0 ",
        "7f5a45800000-7f5a45821000 rw-p 00000000 00:00 0 ",
        "7f5a45821000-7f5a45c00000 ---p 00000000 00:00 0 ",
        "7f5a45c00000-7f5a45c21000 rw-p 00000000 00:00 0 ",
        "7f5a45c21000-7f5a9e000000 ---p 00000000 00:00 0 ",
        "7f5aa08f2000-7f5aa08f4000 r--p 00000000 fe:00 1180       /usr/lib/x86_64-linux-gnu/libc.so.6",
    ];

    [Fact]
    public void Finds_the_region_holding_a_new_object_and_its_committed_end()
    {
        YoungGenerationPrefault.Plan? plan = YoungGenerationPrefault.Find(0x7f5a45c04568, s_maps);

        Assert.Equal(new YoungGenerationPrefault.Plan(0x7f5a45c00000, 0x7f5a45c21000, 0x7f5a46000000), plan);
    }

    [Fact]
    public void Leaves_memory_alone_when_the_reserve_after_it_ends_before_the_region_does()
    {
        Assert.NotNull(YoungGenerationPrefault.Find(0x7f5a45804000, s_maps)); // its reserve reaches the next region exactly
        Assert.Null(YoungGenerationPrefault.Find(0x7f5a45804000, ["7f5a45800000-7f5a45821000 rw-p 00000000 00:00 0", "7f5a45821000-7f5a45b00000 ---p 00000000 00:00 0"]));
    }

    [Theory]
    [InlineData("7f5a45c01000-7f5a45c21000 rw-p 00000000 00:00 0", "7f5a45c21000-7f5a9e000000 ---p 00000000 00:00 0")] // not on a region boundary
    [InlineData("7f5a45c00000-7f5a46000000 rw-p 00000000 00:00 0", "7f5a46000000-7f5a9e000000 ---p 00000000 00:00 0")] // the whole region committed
    [InlineData("7f5a45c00000-7f5a45c21000 r--p 00000000 00:00 0", "7f5a45c21000-7f5a9e000000 ---p 00000000 00:00 0")] // not writable
    [InlineData("7f5a45c00000-7f5a45c21000 rw-p 00000000 fe:00 1180 /tmp/f", "7f5a45c21000-7f5a9e000000 ---p 00000000 00:00 0")] // a file
    [InlineData("7f5a45c00000-7f5a45c21000 rw-p 00000000 00:00 0", "7f5a45c21000-7f5a9e000000 rw-p 00000000 00:00 0")] // no reserve after it
    [InlineData("7f5a45c00000-7f5a45c21000 rw-p 00000000 00:00 0", "7f5a45c22000-7f5a9e000000 ---p 00000000 00:00 0")] // a gap before the reserve
    [InlineData("7f5a45c00000-7f5a45c21000 rw-p 00000000 00:00 0", "not a maps line")]
    public void Leaves_memory_alone_when_the_layout_is_not_the_one_it_knows(string holding, string next)
    {
        Assert.Null(YoungGenerationPrefault.Find(0x7f5a45c04568, [holding, next]));
    }

    [Fact]
    public void Leaves_memory_alone_when_no_mapping_holds_the_object()
    {
        Assert.Null(YoungGenerationPrefault.Find(0x1000, s_maps));
    }

    [Theory]
    [InlineData(0L, 50_552_315_904L, false, true)] // a node without a memory limit: 4 MiB regions
    [InlineData(0L, 160L << 20, false, true)] // a 80 MiB heap limit doubled: still 4 MiB
    [InlineData(0L, (160L << 20) - (40L << 20), false, false)] // smaller: the GC picks 2 MiB regions
    [InlineData(4L << 20, 64L << 20, false, true)] // GCRegionSize set to 4 MiB
    [InlineData(1L << 20, 50_552_315_904L, false, false)] // GCRegionSize set to 1 MiB
    [InlineData(0L, 50_552_315_904L, true, false)] // server GC: several heaps
    public void Knows_the_gc_uses_4_mib_regions_only_from_its_settings(long regionSize, long regionRange, bool serverGc, bool expected)
    {
        var configuration = new Dictionary<string, object>
        {
            ["GCRegionSize"] = regionSize,
            ["GCRegionRange"] = regionRange,
            ["ServerGC"] = serverGc,
        };

        Assert.Equal(expected, YoungGenerationPrefault.UsesDefaultRegions(configuration));
    }

    [Fact]
    public void Does_nothing_without_the_gc_settings_it_reads()
    {
        Assert.False(YoungGenerationPrefault.UsesDefaultRegions(new Dictionary<string, object>()));
    }

    [Fact]
    public void Does_nothing_in_a_jit_process()
    {
        Assert.Equal(0, YoungGenerationPrefault.Apply());
    }
}
