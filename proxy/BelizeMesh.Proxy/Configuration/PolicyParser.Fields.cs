using BelizeMesh.Configuration;
using BelizeMesh.Identity;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Configuration;

// The policy's own value syntaxes, read through the shared binder (YamlMap): listen addresses, SPIFFE IDs, Istio
// patterns and methods, app ports, listener limits, and the name and header checks the schema uses.

public static partial class PolicyParser
{
    private sealed partial class Reader
    {
        /// <summary><c>limits</c> of a listener; every field optional (<paramref name="defaults"/> for what is left out).</summary>
        private static ListenerLimitsSpec ReadLimits(YamlMap parent, ListenerLimitsSpec defaults, bool inbound)
        {
            ListenerLimitsSpec limits = defaults;
            if (parent.Map("limits", "listener limits") is not { } f)
            {
                return limits;
            }

            int? rate = null, burst = null;
            if (inbound)
            {
                rate = Cap(f, "handshakesPerSecondPerSource");
                burst = Cap(f, "handshakeBurstPerSource");
                if (rate > 0 && burst == 0)
                {
                    f.Error("handshakeBurstPerSource", $"0 would refuse every handshake while handshakesPerSecondPerSource is {rate}; use at least 1, or set handshakesPerSecondPerSource: 0 for no rate limit");
                }
            }
            else
            {
                foreach (string name in (ReadOnlySpan<string>)["handshakesPerSecondPerSource", "handshakeBurstPerSource"])
                {
                    if (f.Raw(name) is not null)
                    {
                        f.Error(name, "the outbound listener runs no channel handshakes as a server; set it under spec.inbound.limits");
                    }
                }
            }

            limits = limits with
            {
                MaxConnections = Cap(f, "maxConnections") ?? limits.MaxConnections,
                MaxPendingPerSource = Cap(f, "maxPendingPerSource") ?? limits.MaxPendingPerSource,
                HandshakesPerSecondPerSource = rate ?? limits.HandshakesPerSecondPerSource,
                HandshakeBurstPerSource = burst ?? (rate > 0 ? (int)Math.Min(int.MaxValue, 2L * rate.Value) : limits.HandshakeBurstPerSource),
                SniffTimeout = f.Duration("sniffTimeout") ?? limits.SniffTimeout,
                HeaderTimeout = f.Duration("headerTimeout") ?? limits.HeaderTimeout,
                IdleTimeout = f.Duration("idleTimeout") ?? limits.IdleTimeout,
            };
            f.Finish();
            return limits;
        }

        /// <summary>A cap: an integer ≥ 0 where 0 means none; null when absent or invalid (the error is reported).</summary>
        private static int? Cap(YamlMap f, string key)
        {
            if (f.Raw(key) is not { } node || f.IntValue(node, f.PathOf(key), int.MinValue, int.MaxValue, "an integer") is not { } value)
            {
                return null;
            }

            if (value < 0)
            {
                f.Error(key, $"{value} is negative; use 0 for no cap");
                return null;
            }

            return value;
        }

        private static ListenAddress? Listen(YamlMap f)
        {
            if (f.String("listen", hint: "an \"ip:port\" string") is not { } text)
            {
                return null;
            }

            if (ListenAddress.TryParse(text, out ListenAddress? address))
            {
                return address;
            }

            f.Error("listen", $"\"{text}\" is not \"ip:port\"; write an IP literal and a port 0-65535, e.g. \"127.0.0.1:16001\", \"0.0.0.0:16443\" or \"[::]:16443\"");
            return null;
        }

        /// <summary>A SPIFFE ID field; null when absent or invalid (reported).</summary>
        private static string? SpiffeIdField(YamlMap f, string key)
        {
            string? value = f.String(key, hint: "a SPIFFE ID, e.g. spiffe://cluster.local/ns/belizechain/sa/pakit");
            if (value is not null && !SpiffeId.TryParse(value, out _))
            {
                f.Error(key, $"\"{value}\" is not a SPIFFE ID; write spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, e.g. spiffe://cluster.local/ns/belizechain/sa/pakit");
                return null;
            }

            return value;
        }

        /// <summary><c>to.ports</c> / <c>to.notPorts</c>: app ports 1-65535 (numbers, or strings of digits as Istio writes them).</summary>
        private static List<int>? Ports(YamlMap f, string key)
        {
            var ports = new List<int>();
            bool present = f.ForEachItem(key, "port", (item, at) =>
            {
                if (f.IntValue(item, at, 1, 65535, "a port number (the app port: the port of inbound.app or of an inbound.apps entry's app)", quotedDigits: true) is { } port)
                {
                    ports.Add(port);
                }
            });
            return present && !ReportEmptyList(f, key) ? ports : null;
        }

        private List<string>? Methods(YamlMap f, string key)
        {
            var methods = new List<string>();
            bool present = f.ForEachItem(key, "HTTP method", (item, at) =>
            {
                if (f.ScalarText(item, at, "an HTTP method") is not { } method)
                {
                    return;
                }

                if (method.Length == 0 || !IsUpperToken(method))
                {
                    ctx.Error(item, at, $"\"{method}\" is not an HTTP method; methods are case-sensitive, write e.g. {method.ToUpperInvariant()}");
                    return;
                }

                methods.Add(method);
            });
            return present && !ReportEmptyList(f, key) ? methods : null;
        }

        private enum PatternKind
        {
            Principal,
            Path,
            Namespace,
            Value,
        }

        private List<string>? Patterns(YamlMap f, string key, PatternKind kind)
        {
            var patterns = new List<string>();
            bool present = f.ForEachItem(key, "pattern", (item, at) =>
            {
                if (f.ScalarText(item, at, "a string") is not { } pattern)
                {
                    return;
                }

                if (PatternProblem(pattern, kind) is { } problem)
                {
                    ctx.Error(item, at, problem);
                    return;
                }

                patterns.Add(pattern);
            });
            return present && !ReportEmptyList(f, key) ? patterns : null;
        }

        /// <summary>
        /// Reports a match list written empty (<c>paths: []</c>). Istio cannot tell an empty list from an absent field
        /// and matches anything; compiled as written it would match nothing, so a DENY rule would silently refuse
        /// nothing. Neither reading is safe to guess, so the policy is refused. True when reported.
        /// </summary>
        private static bool ReportEmptyList(YamlMap f, string key)
        {
            if (f.Peek(key) is not YamlSequenceNode { Children.Count: 0 })
            {
                return false;
            }

            f.Error(key, "the list is empty; Istio reads an empty list as an absent field (it matches anything) — leave the field out, or list at least one value");
            return true;
        }

        private static string? PatternProblem(string pattern, PatternKind kind)
        {
            int star = pattern.IndexOf('*', StringComparison.Ordinal);
            bool badStar = star >= 0 && pattern != "*" && !(star == 0 && pattern.LastIndexOf('*') == 0) && !(star == pattern.Length - 1);
            if (pattern.Length == 0 || badStar)
            {
                return $"\"{pattern}\" is not a valid pattern; use an exact value, '*', a prefix 'x*' or a suffix '*x'";
            }

            if (kind == PatternKind.Path && pattern[0] != '/' && pattern[0] != '*')
            {
                return $"\"{pattern}\" must start with '/' (or '*' for a suffix match)";
            }

            if (kind == PatternKind.Principal && pattern.StartsWith("spiffe://", StringComparison.Ordinal))
            {
                return $"write principals the way Istio does, without the scheme: \"{pattern["spiffe://".Length..]}\"";
            }

            if (kind == PatternKind.Namespace && pattern.Contains('/', StringComparison.Ordinal))
            {
                return $"\"{pattern}\" is not a namespace name (no '/'); write e.g. belizechain, or a pattern such as 'team-*'";
            }

            return null;
        }

        /// <summary>A list of non-empty strings; null when absent or not a list (reported).</summary>
        private List<string>? Strings(YamlMap f, string key)
        {
            var values = new List<string>();
            bool present = f.ForEachItem(key, "string", (item, at) =>
            {
                if (f.ScalarText(item, at, "a string") is not { } value)
                {
                    return;
                }

                if (value.Length == 0)
                {
                    ctx.Error(item, at, "empty; remove it or write a value");
                    return;
                }

                values.Add(value);
            });
            return present ? values : null;
        }
    }

    private static bool IsSimpleName(string name)
    {
        if (name.Length is 0 or > 63)
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c != '-' && c != '_')
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsUpperToken(string text)
    {
        foreach (char c in text)
        {
            if (!char.IsAsciiLetterUpper(c) && c != '-' && c != '_')
            {
                return false;
            }
        }

        return true;
    }

    internal static bool IsHeaderName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty)
        {
            return false;
        }

        foreach (char c in name)
        {
            // RFC 9110 token characters.
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return true;
    }
}
