using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Proxy.Policy.Authorization;

/// <summary>The outcome of authorizing one request.</summary>
/// <param name="Allowed">Whether the request goes on.</param>
/// <param name="Reason">Why it was refused (the 403 body), empty when allowed.</param>
/// <param name="ByDenyRule">True when a DENY rule refused it (rather than no ALLOW rule matching).</param>
internal readonly record struct AuthorizationDecision(bool Allowed, string Reason, bool ByDenyRule = false)
{
    public static readonly AuthorizationDecision Allow = new(true, "");
}

/// <summary>
/// <c>spec.inbound.authorization</c> compiled into arrays of matchers, built once per policy snapshot; evaluation
/// allocates nothing. Semantics are Istio's (CUSTOM and AUDIT actions are not modelled): any matching DENY rule refuses;
/// then, when there is an ALLOW policy, some ALLOW rule must match; with neither, everything is allowed. A rule matches
/// when every clause present matches; within a clause any entry matches. <c>principals</c>/<c>namespaces</c> need the
/// PQ channel's verified peer and <c>requestPrincipals</c> a valid JWT, so they never match a caller without one —
/// not even <c>"*"</c> ("any authenticated caller"); their <c>not</c> forms always match such a caller (so
/// <c>notPrincipals: ["*"]</c> in a DENY rule refuses plaintext). A rule without <c>from</c> matches anyone.
/// </summary>
internal sealed class AuthorizationPolicy
{
    private readonly CompiledRule[]? _allow;
    private readonly CompiledRule[] _deny;

    private AuthorizationPolicy(CompiledRule[]? allow, CompiledRule[] deny)
    {
        _allow = allow;
        _deny = deny;
    }

    public static readonly AuthorizationPolicy AllowAll = new(null, []);

    /// <summary>ALLOW rules (0 also when there is no ALLOW policy).</summary>
    public int RuleCount => _allow?.Length ?? 0;

    public int DenyRuleCount => _deny.Length;

    public static AuthorizationPolicy Create(AuthorizationSpec? spec)
    {
        if (spec is null)
        {
            return AllowAll;
        }

        return new AuthorizationPolicy(spec.HasAllowPolicy ? Compile(spec.Rules) : null, Compile(spec.DenyRules));
    }

    /// <summary>Decides without a request principal (no JWT).</summary>
    public AuthorizationDecision Evaluate(string? principal, string method, string normalizedPath)
        => Evaluate(principal, null, method, normalizedPath);

    /// <summary>Decides without an app port: rules with <c>ports</c> do not match, rules with <c>notPorts</c> do.</summary>
    public AuthorizationDecision Evaluate(string? principal, string? requestPrincipal, string method, string normalizedPath)
        => Evaluate(principal, requestPrincipal, method, normalizedPath, appPort: 0);

    /// <summary>
    /// Decides on the normalized path (no query); <paramref name="principal"/> is the verified peer
    /// (<c>td/ns/x/sa/y</c>, null for plaintext), <paramref name="requestPrincipal"/> the JWT's <c>iss/sub</c> (null
    /// without a valid token), <paramref name="appPort"/> the port of the app the request goes to (<c>to.ports</c>).
    /// </summary>
    public AuthorizationDecision Evaluate(string? principal, string? requestPrincipal, string method, string normalizedPath, int appPort)
    {
        var request = new RequestAttributes(principal, requestPrincipal, method, normalizedPath, appPort);
        CompiledRule[] deny = _deny;
        for (int i = 0; i < deny.Length; i++)
        {
            if (deny[i].Matches(in request))
            {
                return new AuthorizationDecision(false, "a DENY rule matches this request", ByDenyRule: true);
            }
        }

        CompiledRule[]? rules = _allow;
        if (rules is null)
        {
            return AuthorizationDecision.Allow;
        }

        for (int i = 0; i < rules.Length; i++)
        {
            if (rules[i].Matches(in request))
            {
                return AuthorizationDecision.Allow;
            }
        }

        return new AuthorizationDecision(false, rules.Length == 0
            ? "no authorization rules are configured (an empty rule list denies all)"
            : principal is null
                ? "no authorization rule allows this request from an unauthenticated caller"
                : "no authorization rule allows this request");
    }

    private static CompiledRule[] Compile(IReadOnlyList<AuthorizationRuleSpec> specs)
    {
        var rules = new CompiledRule[specs.Count];
        for (int i = 0; i < rules.Length; i++)
        {
            AuthorizationRuleSpec rule = specs[i];
            FromSpec? from = rule.From;
            ToSpec? to = rule.To;
            rules[i] = new CompiledRule(
                Compile(from?.Principals),
                Compile(from?.NotPrincipals),
                Compile(from?.RequestPrincipals),
                Compile(from?.NotRequestPrincipals),
                Compile(from?.Namespaces),
                Compile(from?.NotNamespaces),
                to?.Methods is { } methods ? [.. methods] : null,
                to?.NotMethods is { } notMethods ? [.. notMethods] : null,
                Compile(to?.Paths),
                Compile(to?.NotPaths),
                to?.Ports is { } ports ? [.. ports] : null,
                to?.NotPorts is { } notPorts ? [.. notPorts] : null);
        }

        return rules;
    }

    private static StringMatcher[]? Compile(IReadOnlyList<string>? patterns)
    {
        if (patterns is null)
        {
            return null;
        }

        var result = new StringMatcher[patterns.Count];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = StringMatcher.Create(patterns[i]);
        }

        return result;
    }

    /// <summary>The namespace of an Istio principal <c>td/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>; empty when it has none.</summary>
    internal static ReadOnlySpan<char> NamespaceOf(string principal)
    {
        ReadOnlySpan<char> p = principal;
        int ns = p.IndexOf("/ns/", StringComparison.Ordinal);
        if (ns < 0)
        {
            return default;
        }

        p = p[(ns + 4)..];
        int end = p.IndexOf('/');
        return end < 0 ? p : p[..end];
    }

    private readonly ref struct RequestAttributes(string? principal, string? requestPrincipal, string method, string path, int appPort)
    {
        public readonly string? Principal = principal;
        public readonly string? RequestPrincipal = requestPrincipal;
        public readonly string Method = method;
        public readonly string Path = path;
        public readonly int AppPort = appPort;
    }

    private sealed class CompiledRule(
        StringMatcher[]? principals,
        StringMatcher[]? notPrincipals,
        StringMatcher[]? requestPrincipals,
        StringMatcher[]? notRequestPrincipals,
        StringMatcher[]? namespaces,
        StringMatcher[]? notNamespaces,
        string[]? methods,
        string[]? notMethods,
        StringMatcher[]? paths,
        StringMatcher[]? notPaths,
        int[]? ports,
        int[]? notPorts)
    {
        public bool Matches(in RequestAttributes r)
        {
            string? principal = r.Principal;
            if (principals is not null && (principal is null || !StringMatcher.AnyMatches(principals, principal)))
            {
                return false;
            }

            if (notPrincipals is not null && principal is not null && StringMatcher.AnyMatches(notPrincipals, principal))
            {
                return false;
            }

            if (namespaces is not null && (principal is null || !AnyNamespace(namespaces, principal)))
            {
                return false;
            }

            if (notNamespaces is not null && principal is not null && AnyNamespace(notNamespaces, principal))
            {
                return false;
            }

            string? requestPrincipal = r.RequestPrincipal;
            if (requestPrincipals is not null && (requestPrincipal is null || !StringMatcher.AnyMatches(requestPrincipals, requestPrincipal)))
            {
                return false;
            }

            if (notRequestPrincipals is not null && requestPrincipal is not null && StringMatcher.AnyMatches(notRequestPrincipals, requestPrincipal))
            {
                return false;
            }

            if (methods is not null && Array.IndexOf(methods, r.Method) < 0)
            {
                return false;
            }

            if (notMethods is not null && Array.IndexOf(notMethods, r.Method) >= 0)
            {
                return false;
            }

            if (paths is not null && !StringMatcher.AnyMatches(paths, r.Path))
            {
                return false;
            }

            if (ports is not null && Array.IndexOf(ports, r.AppPort) < 0)
            {
                return false;
            }

            if (notPorts is not null && Array.IndexOf(notPorts, r.AppPort) >= 0)
            {
                return false;
            }

            return notPaths is null || !StringMatcher.AnyMatches(notPaths, r.Path);
        }

        private static bool AnyNamespace(StringMatcher[] matchers, string principal)
        {
            ReadOnlySpan<char> ns = NamespaceOf(principal);
            return !ns.IsEmpty && StringMatcher.AnyMatches(matchers, ns);
        }
    }
}
