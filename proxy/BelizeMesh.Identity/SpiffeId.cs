using System.Diagnostics.CodeAnalysis;

namespace BelizeMesh.Identity;

/// <summary>
/// A mesh workload identity, <c>spiffe://&lt;trust-domain&gt;/ns/&lt;namespace&gt;/sa/&lt;service-account&gt;</c>,
/// as it appears in the URI SAN of a service certificate.
/// </summary>
/// <param name="TrustDomain">The trust domain, e.g. <c>cluster.local</c>.</param>
/// <param name="Namespace">The Kubernetes namespace.</param>
/// <param name="ServiceAccount">The Kubernetes service account.</param>
public sealed record SpiffeId(string TrustDomain, string Namespace, string ServiceAccount)
{
    /// <summary>The default trust domain of a Kubernetes cluster and of Istio.</summary>
    public const string DefaultTrustDomain = MeshNames.DefaultTrustDomain;

    private const string Scheme = MeshNames.SpiffeScheme;

    /// <summary>The identity as Istio authorization policies name it: <c>td/ns/x/sa/y</c>.</summary>
    public string Principal => $"{TrustDomain}/ns/{Namespace}/sa/{ServiceAccount}";

    /// <summary>The SPIFFE URI, <c>spiffe://td/ns/x/sa/y</c>.</summary>
    public override string ToString() => Scheme + Principal;

    /// <summary>
    /// Parses <c>spiffe://td/ns/x/sa/y</c>. The scheme and trust domain are lower case; no port, user info, query
    /// or fragment; each path segment is non-empty and uses only letters, digits, <c>.</c>, <c>-</c> and <c>_</c>
    /// (SPIFFE-ID specification, section 2).
    /// </summary>
    public static bool TryParse(string? uri, [NotNullWhen(true)] out SpiffeId? id)
    {
        id = null;
        if (uri is null || !uri.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return false;
        }

        string[] parts = uri[Scheme.Length..].Split('/');
        if (parts.Length != 5 || parts[1] != "ns" || parts[3] != "sa")
        {
            return false;
        }

        if (!IsTrustDomain(parts[0]) || !IsPathSegment(parts[2]) || !IsPathSegment(parts[4]))
        {
            return false;
        }

        id = new SpiffeId(parts[0], parts[2], parts[4]);
        return true;
    }

    /// <summary>True when <paramref name="value"/> is a valid SPIFFE trust domain name (lower-case letters, digits, <c>.</c>, <c>-</c>, <c>_</c>).</summary>
    public static bool IsTrustDomain(string value)
    {
        if (value.Length == 0 || value.Length > 255)
        {
            return false;
        }

        foreach (char c in value)
        {
            if (!(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsPathSegment(string value)
    {
        if (value.Length == 0 || value is "." or "..")
        {
            return false;
        }

        foreach (char c in value)
        {
            if (!(c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }
}
