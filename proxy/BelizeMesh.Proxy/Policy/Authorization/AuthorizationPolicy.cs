using BelizeMesh.Proxy.Configuration;

namespace BelizeMesh.Proxy.Policy.Authorization;

/// <summary>The outcome of authorizing one request.</summary>
internal readonly record struct AuthorizationDecision(bool Allowed, string Reason)
{
    public static readonly AuthorizationDecision Allow = new(true, "");
}

/// <summary>
/// <c>spec.inbound.authorization</c> compiled into arrays of matchers, built once per policy snapshot. Semantics are
/// Istio's ALLOW policy: a rule matches when every clause present matches; any matching rule allows; none → deny.
/// A rule with <c>from.principals</c> never matches a caller without a verified identity (plaintext), not even
/// <c>"*"</c>: as in Istio, <c>*</c> means "any authenticated principal". A rule without <c>from</c> matches anyone.
/// Without an <c>authorization</c> section everything is allowed (as Istio with no ALLOW policy); with an empty rule
/// list everything is denied.
/// </summary>
internal sealed class AuthorizationPolicy
{
    private readonly CompiledRule[]? _rules;

    private AuthorizationPolicy(CompiledRule[]? rules) => _rules = rules;

    public static readonly AuthorizationPolicy AllowAll = new(null);

    public int RuleCount => _rules?.Length ?? 0;

    public static AuthorizationPolicy Create(AuthorizationSpec? spec)
    {
        if (spec is null)
        {
            return AllowAll;
        }

        var rules = new CompiledRule[spec.Rules.Count];
        for (int i = 0; i < rules.Length; i++)
        {
            AuthorizationRuleSpec rule = spec.Rules[i];
            rules[i] = new CompiledRule(
                Compile(rule.From?.Principals),
                rule.To?.Methods is { } methods ? [.. methods] : null,
                Compile(rule.To?.Paths));
        }

        return new AuthorizationPolicy(rules);
    }

    /// <summary>Decides on the normalized path (no query); <paramref name="principal"/> is null for plaintext callers.</summary>
    public AuthorizationDecision Evaluate(string? principal, string method, string normalizedPath)
    {
        CompiledRule[]? rules = _rules;
        if (rules is null)
        {
            return AuthorizationDecision.Allow;
        }

        for (int i = 0; i < rules.Length; i++)
        {
            if (rules[i].Matches(principal, method, normalizedPath))
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

    private sealed class CompiledRule(StringMatcher[]? principals, string[]? methods, StringMatcher[]? paths)
    {
        public bool Matches(string? principal, string method, string path)
        {
            if (principals is not null && (principal is null || !StringMatcher.AnyMatches(principals, principal)))
            {
                return false;
            }

            if (methods is not null && Array.IndexOf(methods, method) < 0)
            {
                return false;
            }

            return paths is null || StringMatcher.AnyMatches(paths, path);
        }
    }
}
