namespace BelizeMesh.Proxy.Policy.Authorization;

/// <summary>How an Istio-style string pattern compares: <c>*</c>, <c>x*</c>, <c>*x</c> or exact.</summary>
internal enum MatchKind : byte
{
    Exact,
    Prefix,
    Suffix,
    Any,
}

/// <summary>One precompiled pattern; matching is ordinal and allocation-free.</summary>
internal readonly struct StringMatcher
{
    private readonly string _value;
    private readonly MatchKind _kind;

    private StringMatcher(string value, MatchKind kind)
    {
        _value = value;
        _kind = kind;
    }

    public static StringMatcher Create(string pattern)
    {
        if (pattern == "*")
        {
            return new StringMatcher("", MatchKind.Any);
        }

        if (pattern.EndsWith('*'))
        {
            return new StringMatcher(pattern[..^1], MatchKind.Prefix);
        }

        if (pattern.StartsWith('*'))
        {
            return new StringMatcher(pattern[1..], MatchKind.Suffix);
        }

        return new StringMatcher(pattern, MatchKind.Exact);
    }

    public bool Matches(ReadOnlySpan<char> value) => _kind switch
    {
        MatchKind.Any => true,
        MatchKind.Prefix => value.StartsWith(_value, StringComparison.Ordinal),
        MatchKind.Suffix => value.EndsWith(_value, StringComparison.Ordinal),
        _ => value.SequenceEqual(_value),
    };

    public static bool AnyMatches(StringMatcher[] matchers, ReadOnlySpan<char> value)
    {
        for (int i = 0; i < matchers.Length; i++)
        {
            if (matchers[i].Matches(value))
            {
                return true;
            }
        }

        return false;
    }
}
