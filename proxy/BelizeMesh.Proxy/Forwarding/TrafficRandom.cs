namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// The random source of traffic decisions (weighted destinations, fault percentages): <see cref="Random.Shared"/> in
/// production; a seeded <see cref="Random"/> in tests that need a reproducible sequence.
/// </summary>
internal sealed class TrafficRandom(Random? seeded = null)
{
    private readonly Lock _lock = new();

    /// <summary>A number in [0, 1).</summary>
    public double NextDouble()
    {
        if (seeded is null)
        {
            return Random.Shared.NextDouble();
        }

        lock (_lock)
        {
            return seeded.NextDouble();
        }
    }

    /// <summary>True with probability <paramref name="percent"/>/100 (0 never, 100 always).</summary>
    public bool Chance(double percent) => percent > 0 && (percent >= 100 || NextDouble() * 100 < percent);
}
