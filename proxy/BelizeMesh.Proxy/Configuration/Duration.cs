using System.Globalization;

namespace BelizeMesh.Proxy.Configuration;

/// <summary>Durations as Kubernetes and Istio write them: <c>300s</c>, <c>5m</c>, <c>100ms</c>, <c>1h30m</c>, <c>0</c>.</summary>
internal static class Duration
{
    /// <summary>The longest duration accepted: 10 years (87600h), the same bound as the mesh description's parser,
    /// so that every duration <c>belizemesh emit</c> accepts and writes into a SidecarPolicy loads here.</summary>
    public const double MaxMilliseconds = 10d * 365 * 24 * 3_600_000;

    /// <summary>Parses a duration; <c>0</c> (no unit) is allowed and means zero.</summary>
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

        double totalMs = 0;
        int i = 0;
        while (i < text.Length)
        {
            int start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            if (i == start || !double.TryParse(text.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double number))
            {
                return false;
            }

            int unitStart = i;
            while (i < text.Length && char.IsAsciiLetterLower(text[i]))
            {
                i++;
            }

            double unitMs = text.AsSpan(unitStart, i - unitStart) switch
            {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => -1,
            };
            if (unitMs < 0)
            {
                return false;
            }

            totalMs += number * unitMs;
        }

        if (totalMs > MaxMilliseconds)
        {
            return false;
        }

        value = TimeSpan.FromMilliseconds(totalMs);
        return true;
    }

    /// <summary>Formats a duration the way the parser reads it back.</summary>
    public static string Format(TimeSpan value) => value == TimeSpan.Zero
        ? "0"
        : value.TotalMilliseconds % 1000 != 0
            ? value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms"
            : value.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s";
}
