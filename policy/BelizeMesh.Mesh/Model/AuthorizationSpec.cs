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
    SourcePosition Position);

/// <summary>A service account, written <c>sa</c> (the rule owner's namespace) or <c>namespace/sa</c>.</summary>
public sealed record ServiceAccountRef(string Namespace, string Name, SourcePosition Position);

/// <summary>What: methods, paths (trailing or leading <c>*</c> wildcards), ports.</summary>
public sealed record RuleOperation(IReadOnlyList<string> Methods, IReadOnlyList<string> Paths, IReadOnlyList<int> Ports, SourcePosition Position);

/// <summary>JWT validation: the accepted issuers and whether a valid token is required.</summary>
public sealed record JwtSpec(bool Required, IReadOnlyList<JwtIssuer> Issuers, SourcePosition Position);

public sealed record JwtIssuer(string Issuer, string JwksUri, IReadOnlyList<string> Audiences, SourcePosition Position);
