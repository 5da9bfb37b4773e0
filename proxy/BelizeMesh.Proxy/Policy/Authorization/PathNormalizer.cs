namespace BelizeMesh.Proxy.Policy.Authorization;

/// <summary>Why a request path was refused before authorization.</summary>
internal enum PathRejection
{
    None,

    /// <summary>The path contains <c>%2F</c> or <c>%5C</c> (an encoded slash or backslash).</summary>
    EncodedSlash,

    /// <summary>The path contains a raw backslash, a control character, or a malformed percent escape.</summary>
    Malformed,

    /// <summary>A <c>.</c> or <c>..</c> segment carries <c>;</c> parameters (<c>/a/..;/b</c>), which servlet containers
    /// resolve as the dot segment while authorization would see a name.</summary>
    DotSegmentParameters,
}

/// <summary>
/// Normalizes a request path before authorization, as Envoy does with <c>normalize_path</c> and
/// <c>merge_slashes</c> (and Envoy's default of rejecting escaped slashes):
/// <list type="number">
/// <item>reject <c>%2F</c>, <c>%5C</c> (any case), raw <c>\</c>, control characters and malformed escapes, and a
/// <c>.</c>/<c>..</c> segment with <c>;</c> parameters (<c>/a/..;/b</c>: <c>/b</c> to a servlet container);</item>
/// <item>decode percent-escapes of unreserved characters (RFC 3986 2.3: ALPHA DIGIT - . _ ~), keep the others
/// escaped with upper-case hex (RFC 3986 6.2.2.1);</item>
/// <item>merge runs of <c>/</c>;</item>
/// <item>remove dot segments (RFC 3986 5.2.4), so <c>/api/v1/../admin</c> becomes <c>/admin</c>.</item>
/// </list>
/// Decoding comes first so <c>%2e%2e</c> is treated as <c>..</c>. The result is what authorization sees and what the
/// app receives, so a rule cannot be bypassed by a spelling the app would interpret differently.
/// </summary>
internal static class PathNormalizer
{
    /// <summary>Normalizes the path part of a request target (no query). Returns the input instance when unchanged.</summary>
    public static PathRejection TryNormalize(string path, out string normalized)
    {
        normalized = path;
        if (path.Length == 0 || path[0] != '/')
        {
            return PathRejection.Malformed;
        }

        if (IsAlreadyNormal(path, out PathRejection rejection))
        {
            return PathRejection.None;
        }

        if (rejection != PathRejection.None)
        {
            return rejection;
        }

        // Step 2: decode unreserved escapes.
        var decoded = new System.Text.StringBuilder(path.Length);
        for (int i = 0; i < path.Length; i++)
        {
            char c = path[i];
            if (c == '%')
            {
                int hi = HexValue(path[i + 1]), lo = HexValue(path[i + 2]);
                char d = (char)((hi << 4) | lo);
                if (IsUnreserved(d))
                {
                    decoded.Append(d);
                }
                else
                {
                    decoded.Append('%').Append(char.ToUpperInvariant(path[i + 1])).Append(char.ToUpperInvariant(path[i + 2]));
                }

                i += 2;
            }
            else
            {
                decoded.Append(c);
            }
        }

        // Steps 3 and 4: split into segments; empty ones are merged away first (so "/a//../b" is "/b"), then "." and
        // ".." are resolved. The app receives this same result, so the choice cannot open a gap between them.
        string text = decoded.ToString();
        var output = new List<string>();
        int start = 1;
        bool trailingSlash = false;
        while (start <= text.Length)
        {
            int end = text.IndexOf('/', start);
            if (end < 0)
            {
                end = text.Length;
            }

            string segment = text[start..end];
            if (segment.StartsWith(".;", StringComparison.Ordinal) || segment.StartsWith("..;", StringComparison.Ordinal))
            {
                return PathRejection.DotSegmentParameters;
            }

            if (segment == "..")
            {
                if (output.Count > 0)
                {
                    output.RemoveAt(output.Count - 1);
                }
            }
            else if (segment.Length != 0 && segment != ".")
            {
                output.Add(segment);
            }

            // Only the last segment decides whether the result ends in '/': "/a/b/", "/a/b/." and "/a/b/c/.." all do.
            trailingSlash = end == text.Length && (segment.Length == 0 || segment is "." or "..");
            start = end + 1;
        }

        var result = new System.Text.StringBuilder(text.Length);
        foreach (string segment in output)
        {
            result.Append('/').Append(segment);
        }

        if (output.Count == 0 || trailingSlash)
        {
            result.Append('/');
        }

        normalized = result.ToString();
        return PathRejection.None;
    }

    /// <summary>The fast path: most paths need nothing done; one scan decides, and validates escapes.</summary>
    private static bool IsAlreadyNormal(string path, out PathRejection rejection)
    {
        rejection = PathRejection.None;
        bool normal = true;
        for (int i = 0; i < path.Length; i++)
        {
            char c = path[i];
            if (c == '\\' || c < 0x20 || c == 0x7F)
            {
                rejection = PathRejection.Malformed;
                return false;
            }

            if (c == '%')
            {
                if (i + 2 >= path.Length || HexValue(path[i + 1]) < 0 || HexValue(path[i + 2]) < 0)
                {
                    rejection = PathRejection.Malformed;
                    return false;
                }

                char d = (char)((HexValue(path[i + 1]) << 4) | HexValue(path[i + 2]));
                if (d is '/' or '\\')
                {
                    rejection = PathRejection.EncodedSlash;
                    return false;
                }

                if (IsUnreserved(d) || char.IsAsciiHexDigitLower(path[i + 1]) || char.IsAsciiHexDigitLower(path[i + 2]))
                {
                    normal = false;
                }

                i += 2;
                continue;
            }

            if (c == ';' && (path.AsSpan(0, i).EndsWith("/.") || path.AsSpan(0, i).EndsWith("/..")))
            {
                rejection = PathRejection.DotSegmentParameters;
                return false;
            }

            if (c == '/' && i + 1 < path.Length && path[i + 1] == '/')
            {
                normal = false;
            }

            if (c == '.' && path[i - 1] == '/' && (i + 1 == path.Length || path[i + 1] == '/' || (path[i + 1] == '.' && (i + 2 == path.Length || path[i + 2] == '/'))))
            {
                normal = false;
            }
        }

        return normal;
    }

    private static bool IsUnreserved(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~';

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
