using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using BelizeMesh.Identity;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Configuration;

// The policy reader's field toolkit over the shared mapping index (YamlFields): typed reads that report every problem
// at its line and column in the sidecar's wording ("spec.inbound.mode: …"), and the syntax checks the schema uses.

public static partial class PolicyParser
{
    private sealed partial class Reader
    {
        /// <summary>A mapping's fields (<see cref="YamlFields"/>), checked by <see cref="CheckFields"/> against the names
        /// known there: every unknown, repeated or non-string key is reported.</summary>
        private readonly struct Fields(YamlFields fields)
        {
            public YamlNode? Value(string name) => fields.Value(name);
        }

        private Fields CheckFields(YamlMappingNode node, string path, string[] known)
        {
            string FieldPath(string key) => path.Length == 0 ? key : path + "." + key;
            return new Fields(YamlFields.Index(
                node,
                known,
                badKey: key => Error(key, $"{Prefix(path)}field names must be plain strings"),
                duplicate: field => Error(field.KeyNode, $"{FieldPath(field.Key)}: duplicate field '{field.Key}'"),
                unknown: (field, suggestion) => Error(field.KeyNode, suggestion is null
                    ? $"{FieldPath(field.Key)}: unknown field '{field.Key}'; known fields here: {string.Join(", ", known)}"
                    : $"{FieldPath(field.Key)}: unknown field '{field.Key}'; did you mean '{suggestion}'?")));
        }

        private static string Prefix(string path) => path.Length == 0 ? "" : path + ": ";

        private string? RequiredString(Fields f, YamlNode parent, string parentPath, string name)
        {
            string path = parentPath.Length == 0 ? name : parentPath + "." + name;
            YamlNode? node = f.Value(name);
            if (node is null)
            {
                Error(parent, $"{path}: required field is missing");
                return null;
            }

            return Scalar(node, path, "a string", out string? value) ? value : null;
        }

        private string? OptionalString(Fields f, string path)
        {
            YamlNode? node = f.Value(path[(path.LastIndexOf('.') + 1)..]);
            return node is not null && Scalar(node, path, "a string", out string? value) ? value : null;
        }

        private bool? OptionalBool(Fields f, string name, string path)
        {
            YamlNode? node = f.Value(name);
            if (node is null || !Scalar(node, path, "true or false", out string? text))
            {
                return null;
            }

            if (text is "true" or "false")
            {
                return text == "true";
            }

            Error(node, $"{path}: expected true or false, got '{text}'");
            return null;
        }

        /// <summary><c>limits</c> of a listener; every field optional (<paramref name="defaults"/> for what is left out).</summary>
        private ListenerLimitsSpec ReadLimits(Fields parent, string path, ListenerLimitsSpec defaults, bool inbound)
        {
            ListenerLimitsSpec limits = defaults;
            if (!OptionalMapping(parent, "limits", path, out YamlMappingNode? node))
            {
                return limits;
            }

            Fields f = CheckFields(node, path, s_limitsFields);
            if (!inbound)
            {
                foreach (string name in (ReadOnlySpan<string>)["handshakesPerSecondPerSource", "handshakeBurstPerSource"])
                {
                    if (f.Value(name) is { } misplaced)
                    {
                        Error(misplaced, $"{path}.{name}: the outbound listener runs no channel handshakes as a server; set it under spec.inbound.limits");
                    }
                }
            }

            int? rate = inbound ? OptionalCap(f, "handshakesPerSecondPerSource", path) : null;
            int? burst = inbound ? OptionalCap(f, "handshakeBurstPerSource", path) : null;
            if (rate > 0 && burst == 0 && f.Value("handshakeBurstPerSource") is { } zeroBurst)
            {
                Error(zeroBurst, $"{path}.handshakeBurstPerSource: 0 would refuse every handshake while handshakesPerSecondPerSource is {rate}; use at least 1, or set handshakesPerSecondPerSource: 0 for no rate limit");
            }

            return limits with
            {
                MaxConnections = OptionalCap(f, "maxConnections", path) ?? limits.MaxConnections,
                MaxPendingPerSource = OptionalCap(f, "maxPendingPerSource", path) ?? limits.MaxPendingPerSource,
                HandshakesPerSecondPerSource = rate ?? limits.HandshakesPerSecondPerSource,
                HandshakeBurstPerSource = burst ?? (rate > 0 ? (int)Math.Min(int.MaxValue, 2L * rate.Value) : limits.HandshakeBurstPerSource),
                SniffTimeout = OptionalDuration(f, "sniffTimeout", path + ".sniffTimeout") ?? limits.SniffTimeout,
                HeaderTimeout = OptionalDuration(f, "headerTimeout", path + ".headerTimeout") ?? limits.HeaderTimeout,
                IdleTimeout = OptionalDuration(f, "idleTimeout", path + ".idleTimeout") ?? limits.IdleTimeout,
            };
        }

        /// <summary>A cap: an integer ≥ 0 where 0 means none; null when absent or invalid (the error is reported).</summary>
        private int? OptionalCap(Fields f, string name, string parentPath)
        {
            YamlNode? node = f.Value(name);
            string path = parentPath + "." + name;
            if (node is null || !Integer(node, path, out int value))
            {
                return null;
            }

            if (value < 0)
            {
                Error(node, $"{path}: {value} is negative; use 0 for no cap");
                return null;
            }

            return value;
        }

        private TimeSpan? OptionalDuration(Fields f, string name, string path)
        {
            YamlNode? node = f.Value(name);
            if (node is null || !Scalar(node, path, "a duration", out string? text))
            {
                return null;
            }

            if (DurationSyntax.TryParse(text, out TimeSpan value))
            {
                return value;
            }

            Error(node, $"{path}: '{text}' is not a duration; write e.g. 300s, 5m, 100ms or 0 (0 = no timeout)");
            return null;
        }

        private ListenAddress? Listen(Fields f, string path)
        {
            YamlNode? node = f.Value("listen");
            if (node is null || !Scalar(node, path, "an \"ip:port\" string", out string? text))
            {
                return null;
            }

            if (ListenAddress.TryParse(text, out ListenAddress? address))
            {
                return address;
            }

            Error(node, $"{path}: '{text}' is not \"ip:port\"; write an IP literal and a port 0-65535, e.g. \"127.0.0.1:16001\", \"0.0.0.0:16443\" or \"[::]:16443\"");
            return null;
        }

        private bool Integer(YamlNode node, string path, out int value)
        {
            value = 0;
            if (!Scalar(node, path, "an integer", out string? text))
            {
                return false;
            }

            if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
            {
                return true;
            }

            Error(node, $"{path}: expected an integer, got '{text}'");
            return false;
        }

        private IReadOnlyList<string>? Methods(Fields f, string path) => Methods(f, "methods", path);

        private IReadOnlyList<string>? Methods(Fields f, string name, string path) => Items(f, name, path, (YamlNode item, string at, [NotNullWhen(true)] out string? method) =>
        {
            if (!Scalar(item, at, "an HTTP method", out method))
            {
                return false;
            }

            if (method.Length == 0 || !IsUpperToken(method))
            {
                Error(item, $"{at}: '{method}' is not an HTTP method; methods are case-sensitive, write e.g. {method.ToUpperInvariant()}");
                return false;
            }

            return true;
        });

        /// <summary>Reads one item of a list at <paramref name="at"/> (<c>path[i]</c>); false when it was reported.</summary>
        private delegate bool ItemReader<T>(YamlNode item, string at, [NotNullWhen(true)] out T? value);

        /// <summary>The list <paramref name="name"/>, each item read by <paramref name="read"/> (a reported item is left
        /// out); null when the field is absent or not a list (reported).</summary>
        private List<T>? Items<T>(Fields f, string name, string path, ItemReader<T> read)
        {
            YamlNode? node = f.Value(name);
            if (node is null || !Sequence(node, path, out YamlSequenceNode? seq))
            {
                return null;
            }

            var items = new List<T>(seq.Children.Count);
            for (int i = 0; i < seq.Children.Count; i++)
            {
                if (read(seq.Children[i], $"{path}[{i}]", out T? value))
                {
                    items.Add(value);
                }
            }

            return items;
        }

        private enum PatternKind
        {
            Principal,
            Path,
            Namespace,
            Value,
        }

        private IReadOnlyList<string>? Patterns(Fields f, string name, string path, PatternKind kind) => Items(f, name, path, (YamlNode item, string at, [NotNullWhen(true)] out string? pattern) =>
        {
            if (!Scalar(item, at, "a string", out pattern))
            {
                return false;
            }

            int star = pattern.IndexOf('*', StringComparison.Ordinal);
            bool badStar = star >= 0 && pattern != "*" && !(star == 0 && pattern.LastIndexOf('*') == 0) && !(star == pattern.Length - 1);
            if (pattern.Length == 0 || badStar)
            {
                Error(item, $"{at}: '{pattern}' is not a valid pattern; use an exact value, '*', a prefix 'x*' or a suffix '*x'");
                return false;
            }

            if (kind == PatternKind.Path && pattern[0] != '/' && pattern[0] != '*')
            {
                Error(item, $"{at}: '{pattern}' must start with '/' (or '*' for a suffix match)");
                return false;
            }

            if (kind == PatternKind.Principal && pattern.StartsWith("spiffe://", StringComparison.Ordinal))
            {
                Error(item, $"{at}: write principals the way Istio does, without the scheme: '{pattern["spiffe://".Length..]}'");
                return false;
            }

            if (kind == PatternKind.Namespace && pattern.Contains('/', StringComparison.Ordinal))
            {
                Error(item, $"{at}: '{pattern}' is not a namespace name (no '/'); write e.g. belizechain, or a pattern such as 'team-*'");
                return false;
            }

            return true;
        });

        private void StringMap(YamlNode? node, string path)
        {
            if (node is null || !Mapping(node, path, out YamlMappingNode? map))
            {
                return;
            }

            foreach (KeyValuePair<YamlNode, YamlNode> child in map.Children)
            {
                Scalar(child.Value, path + "." + child.Key, "a string", out _);
            }
        }

        private void CheckSpiffeId(YamlNode node, string path, string value)
        {
            if (!SpiffeId.TryParse(value, out _))
            {
                Error(node, $"{path}: '{value}' is not a SPIFFE ID; write spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, e.g. spiffe://cluster.local/ns/belizechain/sa/pakit");
            }
        }

        private bool OptionalMapping(Fields f, string name, string path, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out YamlMappingNode? mapping)
        {
            mapping = null;
            YamlNode? node = f.Value(name);
            return node is not null && Mapping(node, path, out mapping);
        }

        private bool OptionalSequence(Fields f, string name, string path, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out YamlSequenceNode? sequence)
        {
            sequence = null;
            YamlNode? node = f.Value(name);
            return node is not null && Sequence(node, path, out sequence);
        }

        private bool Mapping(YamlNode node, string path, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out YamlMappingNode? mapping)
        {
            mapping = node as YamlMappingNode;
            if (mapping is null)
            {
                Error(node, $"{path}: expected a mapping (key: value), got {Describe(node)}");
            }

            return mapping is not null;
        }

        private bool Sequence(YamlNode node, string path, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out YamlSequenceNode? sequence)
        {
            sequence = node as YamlSequenceNode;
            if (sequence is null)
            {
                Error(node, $"{path}: expected a list, got {Describe(node)}");
            }

            return sequence is not null;
        }

        private bool Scalar(YamlNode node, string path, string expected, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
        {
            value = (node as YamlScalarNode)?.Value;
            if (value is null)
            {
                Error(node, $"{path}: expected {expected}, got {Describe(node)}");
            }

            return value is not null;
        }

        private static string Describe(YamlNode node) => node switch
        {
            YamlMappingNode => "a mapping",
            YamlSequenceNode => "a list",
            YamlScalarNode { Value: null or "" } => "nothing",
            YamlScalarNode s => $"'{s.Value}'",
            _ => "an alias",
        };

        private void Error(YamlNode node, string message) => Error(node.Start, message);

        private void Error(Mark mark, string message) => _errors.Add(new PolicyError(file, (int)Math.Max(1, mark.Line), (int)Math.Max(1, mark.Column), message));

        private static string StripMark(string message)
        {
            // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (Line: ...): "; the position is reported separately.
            int i = message.IndexOf("): ", StringComparison.Ordinal);
            return message.StartsWith("(Line", StringComparison.Ordinal) && i >= 0 ? message[(i + 3)..] : message;
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
