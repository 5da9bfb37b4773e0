using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace BelizeMesh.Proxy.Outbound;

/// <summary>
/// Regular expressions of route matches, compiled once per distinct pattern and shared by every policy snapshot that
/// uses it. Envoy's <c>safe_regex</c> is RE2: linear time, no backreferences or lookarounds, and the expression must
/// match the <b>whole</b> value. .NET's <see cref="RegexOptions.NonBacktracking"/> engine gives the same guarantees
/// (linear time in the input; constructs that need backtracking are refused when the pattern is compiled), and the
/// pattern is anchored as <c>\A(?:…)\z</c> for the full match.
/// </summary>
internal static class RouteRegex
{
    // Patterns come from policy files only; the cap keeps a long run of reloads with ever new patterns bounded.
    private const int MaxCached = 4096;

    private static readonly ConcurrentDictionary<string, Regex> s_cache = new(StringComparer.Ordinal);

    public static bool TryGet(string pattern, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Regex? regex, out string? error)
    {
        if (s_cache.TryGetValue(pattern, out regex))
        {
            error = null;
            return true;
        }

        try
        {
            // Parsed on its own first: a pattern such as "a)|(b" is invalid, yet wrapped it would parse as
            // "\A(?:a)|(b)\z" and match any value that starts with "a" (the anchors escaped).
            _ = new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            regex = new Regex(@"\A(?:" + pattern + @")\z", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return false;
        }
        catch (NotSupportedException e)
        {
            error = e.Message;
            return false;
        }

        if (s_cache.Count < MaxCached)
        {
            regex = s_cache.GetOrAdd(pattern, regex);
        }

        error = null;
        return true;
    }
}
