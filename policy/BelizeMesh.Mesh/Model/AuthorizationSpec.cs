using BelizeMesh.Configuration;

namespace BelizeMesh.Mesh.Model;

/// <summary>A service's allow and deny rules (Istio AuthorizationPolicy semantics: DENY wins, then any ALLOW).</summary>
public sealed record AuthorizationSpec(IReadOnlyList<AuthorizationRule> Allow, IReadOnlyList<AuthorizationRule> Deny)
{
    public static readonly AuthorizationSpec None = new([], []);
}

/// <summary>One rule. <see cref="Policy"/> names the AuthorizationPolicy it is emitted into (rules sharing a name share a policy).</summary>
public sealed record AuthorizationRule(string? Policy, RuleSource? From, RuleOperation? To, SourcePosition Position);

/// <summary>Who: service accounts, namespaces, not-namespaces, raw principals, request principals. All given criteria must hold.</summary>
public sealed record RuleSource(
    IReadOnlyList<ServiceAccountRef> ServiceAccounts,
    IReadOnlyList<string> Namespaces,
    IReadOnlyList<string> NotNamespaces,
    IReadOnlyList<string> Principals,
    IReadOnlyList<string> RequestPrincipals,
    SourcePosition Position)
{
    /// <summary>Principal patterns that must not match (Istio <c>notPrincipals</c>; a caller without a peer identity always passes).</summary>
    public IReadOnlyList<string> NotPrincipals { get; init; } = [];

    /// <summary>Request principal patterns that must not match (Istio <c>notRequestPrincipals</c>; a request without a JWT always passes).</summary>
    public IReadOnlyList<string> NotRequestPrincipals { get; init; } = [];
}

/// <summary>A service account, written <c>sa</c> (the rule owner's namespace) or <c>namespace/sa</c>.</summary>
public sealed record ServiceAccountRef(string Namespace, string Name, SourcePosition Position);

/// <summary>What: methods, paths (trailing or leading <c>*</c> wildcards), ports.</summary>
public sealed record RuleOperation(IReadOnlyList<string> Methods, IReadOnlyList<string> Paths, IReadOnlyList<int> Ports, SourcePosition Position)
{
    /// <summary>Methods that must not match (Istio <c>notMethods</c>).</summary>
    public IReadOnlyList<string> NotMethods { get; init; } = [];

    /// <summary>Path patterns that must not match (Istio <c>notPaths</c>).</summary>
    public IReadOnlyList<string> NotPaths { get; init; } = [];

    /// <summary>Workload ports that must not match (Istio <c>notPorts</c>).</summary>
    public IReadOnlyList<int> NotPorts { get; init; } = [];
}

/// <summary>JWT validation: the accepted issuers and whether a valid token is required.</summary>
public sealed record JwtSpec(bool Required, IReadOnlyList<JwtIssuer> Issuers, SourcePosition Position);

/// <summary>
/// One accepted issuer. Istio takes its keys from <see cref="JwksUri"/> (istiod fetches it) or <see cref="Jwks"/> (inline);
/// the quantum sidecar uses <see cref="Jwks"/>, or <see cref="JwksFile"/> (a mounted copy) when given, else fetches
/// <see cref="JwksUri"/> itself.
/// </summary>
public sealed record JwtIssuer(string Issuer, string? JwksUri, IReadOnlyList<string> Audiences, SourcePosition Position)
{
    /// <summary>The JWKS JSON inline (Istio's <c>jwks</c>).</summary>
    public string? Jwks { get; init; }

    /// <summary>An absolute path where the sidecar reads the JWKS instead of fetching <see cref="JwksUri"/> (sidecar only).</summary>
    public string? JwksFile { get; init; }
}
