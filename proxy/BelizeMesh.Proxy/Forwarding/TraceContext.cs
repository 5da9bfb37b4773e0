using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// W3C Trace Context as the sidecar sees it. The sidecar does not take part in traces: it starts none, reports no
/// spans, and forwards <c>traceparent</c> and <c>tracestate</c> to the next hop exactly as received (the upstream
/// handlers have no <c>ActivityHeadersPropagator</c>, see <see cref="UpstreamClientFactory"/>). It only reads the
/// trace id for the access log.
/// </summary>
internal static class TraceContext
{
    /// <summary>Length of a version-00 <c>traceparent</c>: <c>00-</c> 32 hex <c>-</c> 16 hex <c>-</c> 2 hex.</summary>
    private const int Length = 55;

    /// <summary>
    /// The trace id of the request's <c>traceparent</c> (32 lower-case hex digits), or <c>""</c> when there is no
    /// header, more than one, or it is not valid W3C Trace Context. Allocates nothing when ASP.NET Core's request
    /// Activity already holds the same id (it does whenever logging is on: it parsed the header), else one 32-char string.
    /// </summary>
    public static string TraceId(HttpContext context)
    {
        StringValues values = context.Request.Headers.TraceParent;
        if (values.Count != 1 || values[0] is not { } header || !IsValid(header))
        {
            return "";
        }

        ReadOnlySpan<char> traceId = header.AsSpan(3, 32);
        if (Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity)
        {
            string current = activity.TraceId.ToHexString();
            if (traceId.SequenceEqual(current))
            {
                return current;
            }
        }

        return traceId.ToString();
    }

    /// <summary>The trace id as <see cref="TraceId"/> reads it, without allocating: a slice of the header, or empty.</summary>
    public static ReadOnlySpan<char> TraceIdSpan(HttpContext context)
    {
        StringValues values = context.Request.Headers.TraceParent;
        return values.Count == 1 && values[0] is { } header && IsValid(header) ? header.AsSpan(3, 32) : [];
    }

    /// <summary>
    /// True for a <c>traceparent</c> a W3C Trace Context parser accepts: version two lower-case hex digits other than
    /// <c>ff</c>; trace id 32 and parent id 16 lower-case hex digits, neither all zeros; flags two hex digits. Version
    /// <c>00</c> is exactly 55 characters; a later version may carry more fields after a <c>-</c>.
    /// </summary>
    public static bool IsValid(ReadOnlySpan<char> header)
    {
        if (header.Length < Length || header[2] != '-' || header[35] != '-' || header[52] != '-')
        {
            return false;
        }

        ReadOnlySpan<char> version = header[..2];
        if (!IsLowerHex(version) || version.SequenceEqual("ff"))
        {
            return false;
        }

        if (version.SequenceEqual("00") ? header.Length != Length : header.Length > Length && header[Length] != '-')
        {
            return false;
        }

        ReadOnlySpan<char> traceId = header.Slice(3, 32), parentId = header.Slice(36, 16);
        return IsLowerHex(traceId) && IsLowerHex(parentId) && IsLowerHex(header.Slice(53, 2))
            && traceId.ContainsAnyExcept('0') && parentId.ContainsAnyExcept('0');
    }

    private static bool IsLowerHex(ReadOnlySpan<char> text)
    {
        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }

        return true;
    }
}
