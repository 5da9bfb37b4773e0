using BelizeMesh.Proxy.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace BelizeMesh.Proxy.Policy.Authentication;

/// <summary>The JWT outcome of one request.</summary>
/// <param name="Status"><see cref="JwtStatus.Ok"/>, <see cref="JwtStatus.Missing"/> (both let the request on) or the failure.</param>
/// <param name="RequestPrincipal"><c>iss/sub</c> of the valid token, else null (also for a valid token without <c>sub</c>).</param>
internal readonly record struct JwtResult(JwtStatus Status, string? RequestPrincipal)
{
    public bool Refused => Status is not (JwtStatus.Ok or JwtStatus.Missing);
}

/// <summary>
/// <c>spec.inbound.jwtRules</c> compiled, one per policy snapshot: Istio's <c>RequestAuthentication</c> as Envoy enforces
/// it. Tokens are looked for at every rule's locations (by default the <c>Authorization: Bearer</c> header and the
/// <c>access_token</c> query parameter). No token: the request goes on without a request principal (authorization rules
/// decide: <c>requestPrincipals</c> then gives 403). A token that fails validation: 401 (403 for a disallowed audience).
/// A valid token gives the request principal <c>iss/sub</c>; unless <c>forwardOriginalToken</c>, the header it came in
/// is removed before the app sees the request, as Envoy does.
/// </summary>
internal sealed class RequestAuthenticator
{
    private static readonly JwtHeaderSpec s_defaultHeader = new("Authorization", "Bearer ");
    private const string DefaultParam = "access_token";

    private readonly JwtProvider[] _providers;
    private readonly Location[] _locations;
    private readonly TimeProvider _time;

    private RequestAuthenticator(JwtProvider[] providers, Location[] locations, TimeProvider time)
    {
        _providers = providers;
        _locations = locations;
        _time = time;
    }

    public static readonly RequestAuthenticator None = new([], [], TimeProvider.System);

    public bool Enabled => _providers.Length > 0;

    public JwtProvider[] Providers => _providers;

    /// <summary>Compiles the rules; <paramref name="keys"/> supplies each rule's key set (inline or the file's last good one),
    /// <paramref name="remote"/> the fetcher of a rule's <c>jwksUri</c>.</summary>
    public static RequestAuthenticator Create(IReadOnlyList<JwtRuleSpec> rules, Func<JwtRuleSpec, JsonWebKeySet?> keys, TimeProvider time, Func<Uri, RemoteJwks>? remote = null)
    {
        if (rules.Count == 0)
        {
            return None;
        }

        var providers = new JwtProvider[rules.Count];
        var locations = new List<Location>();
        for (int i = 0; i < providers.Length; i++)
        {
            JwtRuleSpec rule = rules[i];
            providers[i] = rule.JwksUri is { } uri && remote is not null
                ? new JwtProvider(rule.Issuer, rule.Audiences, remote(uri), rule.ForwardOriginalToken)
                : new JwtProvider(rule.Issuer, rule.Audiences, keys(rule), rule.ForwardOriginalToken);
            bool defaults = rule.FromHeaders.Count == 0 && rule.FromParams.Count == 0;
            foreach (JwtHeaderSpec header in defaults ? [s_defaultHeader] : rule.FromHeaders)
            {
                Add(locations, new Location(header.Name, header.Prefix, IsHeader: true), i, providers.Length);
            }

            foreach (string param in defaults ? [DefaultParam] : rule.FromParams)
            {
                Add(locations, new Location(param, "", IsHeader: false), i, providers.Length);
            }
        }

        return new RequestAuthenticator(providers, [.. locations], time);
    }

    private static void Add(List<Location> locations, Location location, int provider, int providerCount)
    {
        for (int i = 0; i < locations.Count; i++)
        {
            if (locations[i].IsHeader == location.IsHeader && locations[i].Prefix == location.Prefix
                && string.Equals(locations[i].Name, location.Name, location.IsHeader ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))
            {
                locations[i].Providers[provider] = true;
                return;
            }
        }

        location.Providers = new bool[providerCount];
        location.Providers[provider] = true;
        locations.Add(location);
    }

    /// <summary>Finds and validates the request's tokens. Every token found must be valid (Envoy's <c>allow_missing</c>).</summary>
    public JwtResult Authenticate(HttpRequest request)
    {
        if (_providers.Length == 0)
        {
            return new JwtResult(JwtStatus.Missing, null);
        }

        long now = _time.GetUtcNow().ToUnixTimeSeconds();
        string? principal = null;
        bool found = false;
        for (int i = 0; i < _locations.Length; i++)
        {
            Location location = _locations[i];
            if (!location.IsHeader)
            {
                // Every occurrence of the parameter, its name compared once percent-decoded: an app that reads the
                // last value, or decodes "access%5Ftoken", must not be handed a token that was never checked.
                ReadOnlySpan<char> query = request.QueryString.HasValue ? request.QueryString.Value.AsSpan(1) : default;
                while (NextParameter(ref query, location.Name, out ReadOnlySpan<char> token))
                {
                    if (token.IsEmpty)
                    {
                        continue;
                    }

                    found = true;
                    JwtStatus status = Check(token, location, now, ref principal, out _);
                    if (status != JwtStatus.Ok)
                    {
                        return new JwtResult(status, null);
                    }
                }

                continue;
            }

            // Every line of a repeated header is read (a client may send Authorization twice): a token in any of them
            // must be valid, so none reaches the app unchecked behind a first line that is Basic, or valid.
            StringValues values = request.Headers[location.Name];
            bool remove = false;
            for (int v = 0; v < values.Count; v++)
            {
                ReadOnlySpan<char> token = TokenIn(values[v], location.Prefix);
                if (token.IsEmpty)
                {
                    continue;
                }

                found = true;
                JwtStatus status = Check(token, location, now, ref principal, out int provider);
                if (status != JwtStatus.Ok)
                {
                    return new JwtResult(status, null);
                }

                remove |= !_providers[provider].ForwardOriginalToken;
            }

            if (remove)
            {
                request.Headers.Remove(location.Name);
            }
        }

        return found ? new JwtResult(JwtStatus.Ok, principal) : new JwtResult(JwtStatus.Missing, null);
    }

    /// <summary>Validates one token found at <paramref name="location"/>; the first valid token gives the request principal.</summary>
    private JwtStatus Check(ReadOnlySpan<char> token, Location location, long now, ref string? principal, out int provider)
    {
        JwtStatus status = JwtValidator.Validate(token, _providers, now, out provider, out string? tokenPrincipal);
        if (status == JwtStatus.Ok && !location.Providers[provider])
        {
            return JwtStatus.UnknownIssuer; // the issuer does not take its tokens from here (Envoy: isIssuerAllowed)
        }

        if (status == JwtStatus.Ok)
        {
            principal ??= tokenPrincipal;
        }

        return status;
    }

    /// <summary>The token in one header line: what follows the prefix (empty when the line does not start with it).</summary>
    private static ReadOnlySpan<char> TokenIn(string? value, string prefix)
    {
        ReadOnlySpan<char> text = value.AsSpan().TrimStart();
        if (!text.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return default; // e.g. "Authorization: Basic …" is not a Bearer token: nothing here
        }

        return text[prefix.Length..].Trim();
    }

    /// <summary>
    /// Moves <paramref name="query"/> past the next <c>name=value</c> pair whose name, percent-decoded, is
    /// <paramref name="name"/>, and gives its value as sent (token characters need no decoding; an encoded token fails
    /// validation). False when there is none left. Allocates nothing.
    /// </summary>
    private static bool NextParameter(ref ReadOnlySpan<char> query, string name, out ReadOnlySpan<char> value)
    {
        while (!query.IsEmpty)
        {
            int amp = query.IndexOf('&');
            ReadOnlySpan<char> pair = amp < 0 ? query : query[..amp];
            query = amp < 0 ? default : query[(amp + 1)..];
            int eq = pair.IndexOf('=');
            if (eq > 0 && DecodedNameIs(pair[..eq], name))
            {
                value = pair[(eq + 1)..];
                return true;
            }
        }

        value = default;
        return false;
    }

    /// <summary>Whether the query-string name <paramref name="raw"/>, once <c>%XX</c> and <c>+</c> are decoded, is <paramref name="name"/>.</summary>
    private static bool DecodedNameIs(ReadOnlySpan<char> raw, string name)
    {
        int j = 0;
        for (int i = 0; i < raw.Length; i++, j++)
        {
            char c = raw[i];
            if (c == '%' && i + 2 < raw.Length && char.IsAsciiHexDigit(raw[i + 1]) && char.IsAsciiHexDigit(raw[i + 2]))
            {
                c = (char)((HexValue(raw[i + 1]) << 4) | HexValue(raw[i + 2]));
                i += 2;
            }
            else if (c == '+')
            {
                c = ' ';
            }

            if (j >= name.Length || name[j] != c)
            {
                return false;
            }
        }

        return j == name.Length;
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private sealed record Location(string Name, string Prefix, bool IsHeader)
    {
        public bool[] Providers { get; set; } = [];
    }
}
