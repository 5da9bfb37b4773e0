using System.Globalization;
using BelizeMesh.Configuration;

namespace BelizeMesh.Mesh.Parsing;

/// <summary>
/// Durations as Istio writes them: a sequence of decimal numbers with units <c>h</c>, <c>m</c>, <c>s</c>, <c>ms</c>
/// (<c>300s</c>, <c>5m</c>, <c>1h30m</c>, <c>100ms</c>, <c>1.5s</c>); a bare <c>0</c> is zero. Millisecond precision,
/// which is Istio's floor for timeouts.
/// </summary>
public static class Durations
{
    /// <summary>The hint shown next to every duration error.</summary>
    public const string Expected = DurationSyntax.Expected;

    /// <summary>Parses a duration (the grammar shared with the sidecar's policy parser, <see cref="DurationSyntax"/>).</summary>
    public static bool TryParse(string text, out TimeSpan value) => DurationSyntax.TryParse(text, out value);

    /// <summary>Istio's canonical form: whole seconds as <c>300s</c>, fractions as <c>0.1s</c>; zero as <c>0s</c>.</summary>
    public static string Format(TimeSpan value)
    {
        long ms = (long)value.TotalMilliseconds;
        if (ms % 1000 == 0)
        {
            return (ms / 1000).ToString(CultureInfo.InvariantCulture) + "s";
        }

        return (ms / 1000m).ToString("0.###", CultureInfo.InvariantCulture) + "s";
    }
}
