namespace BelizeMesh.Identity.Tests;

public class SpiffeIdTests
{
    [Fact]
    public void ToString_and_Principal_use_the_istio_forms()
    {
        var id = new SpiffeId("cluster.local", "belizechain", "pakit");
        Assert.Equal("spiffe://cluster.local/ns/belizechain/sa/pakit", id.ToString());
        Assert.Equal("cluster.local/ns/belizechain/sa/pakit", id.Principal);
    }

    [Fact]
    public void TryParse_reads_a_mesh_identity()
    {
        Assert.True(SpiffeId.TryParse("spiffe://example.org/ns/default/sa/my-sa.v1", out var id));
        Assert.Equal(new SpiffeId("example.org", "default", "my-sa.v1"), id);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("https://cluster.local/ns/a/sa/b")]
    [InlineData("SPIFFE://cluster.local/ns/a/sa/b")]
    [InlineData("spiffe://Cluster.Local/ns/a/sa/b")]
    [InlineData("spiffe://cluster.local:443/ns/a/sa/b")]
    [InlineData("spiffe://user@cluster.local/ns/a/sa/b")]
    [InlineData("spiffe:///ns/a/sa/b")]
    [InlineData("spiffe://cluster.local/ns/a/sa/b/extra")]
    [InlineData("spiffe://cluster.local/ns/a/sa/")]
    [InlineData("spiffe://cluster.local/ns//sa/b")]
    [InlineData("spiffe://cluster.local/ns/a/sa/b?x=1")]
    [InlineData("spiffe://cluster.local/ns/a/sa/b#f")]
    [InlineData("spiffe://cluster.local/ns/../sa/b")]
    [InlineData("spiffe://cluster.local/sa/b/ns/a")]
    [InlineData("spiffe://cluster.local/ns/a%20b/sa/b")]
    public void TryParse_rejects_anything_else(string? uri)
    {
        Assert.False(SpiffeId.TryParse(uri, out var id));
        Assert.Null(id);
    }
}
