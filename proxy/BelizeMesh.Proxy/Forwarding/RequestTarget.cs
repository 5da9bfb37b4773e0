using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>The request target as sent, split for <see cref="RequestState.TargetPathAndQuery"/> (which says why).</summary>
internal static class RequestTarget
{
    /// <summary>
    /// Splits the request target exactly as sent into its path and its query (with the leading <c>?</c>, or empty).
    /// Origin form (<c>/p?q</c>) and absolute form (<c>http://host/p?q</c>) have a path; any other form
    /// (<c>*</c>, authority form) returns false.
    /// </summary>
    public static bool TrySplit(HttpContext context, out string path, out string query)
    {
        string raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? "";
        int start = 0;
        if (raw.Length == 0 || raw[0] != '/')
        {
            // absolute form (http://host/path): the path starts at the first '/' after the authority
            int scheme = raw.IndexOf("://", StringComparison.Ordinal);
            if (scheme <= 0)
            {
                path = "";
                query = "";
                return false;
            }

            start = raw.IndexOfAny(['/', '?', '#'], scheme + 3);
            if (start < 0 || raw[start] != '/')
            {
                path = "/";
                query = start < 0 || raw[start] == '#' ? "" : raw[start..];
                return true;
            }
        }

        int end = raw.IndexOfAny(['?', '#'], start);
        if (end < 0)
        {
            path = start == 0 ? raw : raw[start..];
            query = "";
        }
        else
        {
            path = raw[start..end];
            int fragment = raw.IndexOf('#', end);
            query = raw[end] == '#' ? "" : fragment < 0 ? raw[end..] : raw[end..fragment];
        }

        return true;
    }
}
