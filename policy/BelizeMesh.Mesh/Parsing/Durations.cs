using System.Globalization;

namespace BelizeMesh.Mesh.Parsing;

/// <summary>
/// Durations as Istio writes them: a sequence of decimal numbers with units <c>h</c>, <c>m</c>, <c>s</c>, <c>ms</c>
/// (<c>300s</c>, <c>5m</c>, <c>1h30m</c>, <c>100ms</c>, <c>1.5s</c>); a bare <c>0</c> is zero. Millisecond precision,
/// which is Istio's floor for timeouts.
/// </summary>
public static class Durations
{
    /// <summary>The hint shown next to every duration error.</summary>
    public const string Expected = "expected a number with unit h, m, s or ms, e.g. 300s, 5m, 1h, 100ms (0 means none)";

    public static bool TryParse(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (text == "0")
        {
            return true;
        }

        if (text.Length == 0)
        {
            return false;
        }

        decimal totalMs = 0;
        int i = 0;
        while (i < text.Length)
        {
            int start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            if (i == start || !decimal.TryParse(text.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal number))
            {
                return false;
            }

            decimal unitMs;
            if (i + 1 < text.Length && text[i] == 'm' && text[i + 1] == 's')
            {
                unitMs = 1;
                i += 2;
            }
            else if (i < text.Length && text[i] is 'h' or 'm' or 's')
            {
                unitMs = text[i] switch { 'h' => 3_600_000, 'm' => 60_000, _ => 1000 };
                i++;
            }
            else
            {
                return false;
            }

            totalMs += number * unitMs;
            if (totalMs > 10L * 365 * 24 * 3_600_000)
            {
                return false;
            }
        }

        if (totalMs != decimal.Truncate(totalMs))
        {
            return false; // finer than a millisecond
        }

        value = TimeSpan.FromMilliseconds((double)totalMs);
        return true;
    }

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
