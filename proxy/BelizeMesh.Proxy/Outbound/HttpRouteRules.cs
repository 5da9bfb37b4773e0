using System.Text.RegularExpressions;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Forwarding;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace BelizeMesh.Proxy.Outbound;

/// <summary>
/// One outbound route (a host, optionally a path prefix), compiled: either a single target (no <c>http</c> rules) or
/// ordered rules with Istio VirtualService semantics — the first rule whose match selects the request wins.
/// </summary>
internal sealed class OutboundRoute(string id, UpstreamTarget target, RouteRule[] rules)
{
    public string Id { get; } = id;

    /// <summary>The route's own target (its <c>endpoints</c>), used when it has no rules.</summary>
    public UpstreamTarget Target { get; } = target;

    public RouteRule[] Rules { get; } = rules;

    /// <summary>The first rule that matches, or null (then the answer is 404, as Envoy's).</summary>
    public RouteRule? Select(HttpContext context, string path)
    {
        foreach (RouteRule rule in Rules)
        {
            if (rule.Matches(context, path))
            {
                return rule;
            }
        }

        return null;
    }
}

/// <summary>One compiled <c>http</c> rule: matches (OR), weighted destinations, fault injection.</summary>
internal sealed class RouteRule(string label, RequestMatcher[] matches, UpstreamTarget[] destinations, int[] weights, FaultInjectionSpec? fault)
{
    private readonly int _totalWeight = Sum(weights);

    /// <summary><c>&lt;route id&gt;#&lt;rule name&gt;</c>: the metric label and log name.</summary>
    public string Label { get; } = label;

    public UpstreamTarget[] Destinations { get; } = destinations;

    public FaultInjectionSpec? Fault { get; } = fault;

    public bool Matches(HttpContext context, string path)
    {
        if (matches.Length == 0)
        {
            return true;
        }

        foreach (RequestMatcher match in matches)
        {
            if (match.Matches(context, path))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A destination drawn by weight (Envoy's weighted clusters: one draw per request; retries stay in it).</summary>
    public UpstreamTarget PickDestination(TrafficRandom random)
    {
        if (Destinations.Length == 1 || _totalWeight == 0)
        {
            return Destinations[0];
        }

        int draw = (int)(random.NextDouble() * _totalWeight);
        for (int i = 0; i < Destinations.Length; i++)
        {
            draw -= weights[i];
            if (draw < 0)
            {
                return Destinations[i];
            }
        }

        return Destinations[^1];
    }

    private static int Sum(int[] values)
    {
        int total = 0;
        foreach (int v in values)
        {
            total += v;
        }

        return total;
    }
}

/// <summary>One <c>match</c> entry: URI, method and headers, all present conditions AND-ed.</summary>
internal sealed class RequestMatcher
{
    private readonly ValueMatcher? _uri;
    private readonly ValueMatcher? _method;
    private readonly (string Name, ValueMatcher Match)[] _headers;

    public RequestMatcher(RequestMatchSpec spec)
    {
        _uri = spec.Uri is null ? null : new ValueMatcher(spec.Uri);
        _method = spec.Method is null ? null : new ValueMatcher(spec.Method);
        _headers = new (string, ValueMatcher)[spec.Headers.Count];
        for (int i = 0; i < _headers.Length; i++)
        {
            _headers[i] = (spec.Headers[i].Name, new ValueMatcher(spec.Headers[i].Match));
        }
    }

    public bool Matches(HttpContext context, string path)
    {
        if (_uri is not null && !_uri.Matches(path))
        {
            return false;
        }

        if (_method is not null && !_method.Matches(context.Request.Method))
        {
            return false;
        }

        foreach ((string name, ValueMatcher match) in _headers)
        {
            // present even with an empty value (present_match)
            if (!context.Request.Headers.TryGetValue(name, out StringValues values))
            {
                return false;
            }

            if (match.Kind == StringMatchKind.Present)
            {
                continue;
            }

            // Envoy matches a header that appears several times on its values joined with ','.
            if (!match.Matches(values.Count switch { 0 => "", 1 => values[0] ?? "", _ => string.Join(',', values.ToArray()) }))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>An exact, prefix or regex (full match, non-backtracking, compiled once) string condition.</summary>
internal sealed class ValueMatcher
{
    private readonly string _value;
    private readonly Regex? _regex;

    public ValueMatcher(StringMatchSpec spec)
    {
        Kind = spec.Kind;
        _value = spec.Value;
        if (spec.Kind == StringMatchKind.Regex)
        {
            // the parser has compiled it already; this reuses the cached instance
            if (!RouteRegex.TryGet(spec.Value, out _regex, out string? error))
            {
                throw new InvalidOperationException("route regex rejected after validation: " + error);
            }
        }
    }

    public StringMatchKind Kind { get; }

    public bool Matches(string value) => Kind switch
    {
        StringMatchKind.Exact => string.Equals(value, _value, StringComparison.Ordinal),
        StringMatchKind.Prefix => value.StartsWith(_value, StringComparison.Ordinal),
        StringMatchKind.Regex => _regex!.IsMatch(value),
        _ => true,
    };
}
