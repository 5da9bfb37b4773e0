using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Methods are case-sensitive (RFC 9110 9.1): <c>post</c> is not <c>POST</c>. Kestrel hands the proxy the method as
/// received, and authorization and rate limits match it exactly; but the upstream client (YARP, then
/// <see cref="System.Net.Http.HttpMethod"/>) turns any case of the nine standard methods into the upper-case one, so
/// a request matched as <c>post</c> reached the app as <c>POST</c> — past a <c>POST</c> limit. The proxy therefore
/// refuses those spellings (400) instead of forwarding something other than what it matched; every other method,
/// extension methods included, is matched and forwarded exactly as received.
/// </summary>
internal static class RequestMethods
{
    private static readonly string[] Standard =
    [
        HttpMethods.Get, HttpMethods.Post, HttpMethods.Put, HttpMethods.Delete, HttpMethods.Head,
        HttpMethods.Options, HttpMethods.Patch, HttpMethods.Trace, HttpMethods.Connect,
    ];

    /// <summary>The upper-case spelling when <paramref name="method"/> is a standard method in another case; otherwise null.</summary>
    public static string? NonCanonicalSpelling(string method)
    {
        foreach (string standard in Standard)
        {
            if (ReferenceEquals(method, standard))
            {
                return null; // Kestrel interns the standard spellings: the common case ends here
            }
        }

        foreach (string standard in Standard)
        {
            if (string.Equals(method, standard, StringComparison.OrdinalIgnoreCase))
            {
                return string.Equals(method, standard, StringComparison.Ordinal) ? null : standard;
            }
        }

        return null;
    }
}
