// Used by BelizeMesh.Mesh (the mesh description) and BelizeMesh.Proxy (the SidecarPolicy), so that the two parsers of
// the one configuration language read durations and suggest field names the same way. Every duration `belizemesh emit`
// writes into a SidecarPolicy is one the proxy loads.
using System.Globalization;

namespace BelizeMesh.Configuration;

/// <summary>
/// Durations as Kubernetes and Istio write them: a sequence of decimal numbers with units <c>h</c>, <c>m</c>,
/// <c>s</c>, <c>ms</c> (<c>300s</c>, <c>5m</c>, <c>1h30m</c>, <c>100ms</c>, <c>1.5s</c>); a bare <c>0</c> is zero.
/// Whole milliseconds (Istio's floor for timeouts), at most 10 years.
/// </summary>
public static class DurationSyntax
{
    /// <summary>The longest duration accepted: 10 years (87600h).</summary>
    public const long MaxMilliseconds = 10L * 365 * 24 * 3_600_000;

    /// <summary>The hint shown next to a duration error of the binder (<see cref="YamlMap.Duration"/>).</summary>
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

            int unitStart = i;
            while (i < text.Length && char.IsAsciiLetterLower(text[i]))
            {
                i++;
            }

            decimal unitMs = text.AsSpan(unitStart, i - unitStart) switch
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
            if (totalMs > MaxMilliseconds)
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
}

/// <summary>"Did you mean …?" for a misspelt field name.</summary>
public static class Spelling
{
    /// <summary>The candidate closest to <paramref name="key"/> (case-insensitive edit distance), or null when even
    /// the closest is more than max(2, a third of the key's length) edits away.</summary>
    public static string? Suggest(string key, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        string lower = key.ToLowerInvariant();
        foreach (string candidate in candidates)
        {
            int d = Distance(lower, candidate.ToLowerInvariant());
            if (d < bestDistance)
            {
                bestDistance = d;
                best = candidate;
            }
        }

        return bestDistance <= Math.Max(2, key.Length / 3) ? best : null;
    }

    /// <summary>Levenshtein distance (insertions, deletions, substitutions), two rows.</summary>
    public static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
