using BelizeMesh.Configuration;
using System.Globalization;
using System.Net;
using BelizeMesh.Identity;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Configuration;

/// <summary>What the running build can do; the parser rejects settings that need more.</summary>
public sealed class PolicyParserOptions
{
    /// <summary>True when the post-quantum channel is compiled in (STRICT / PERMISSIVE are usable).</summary>
    public bool PqChannelAvailable { get; init; }

    /// <summary>True when the inbound listener can tell PQ channel and plaintext connections apart (PERMISSIVE).</summary>
    public bool PermissiveAvailable { get; init; }
}

/// <summary>
/// Reads a <c>SidecarPolicy</c> YAML document with YamlDotNet's representation model (no reflection, so it survives
/// native AOT) into immutable records. Like YARP's route validators it never stops at the first problem: every
/// error is collected with its line and column, then reported together.
/// </summary>
public static partial class PolicyParser
{
    /// <summary>The only <c>apiVersion</c> this build reads.</summary>
    public const string ApiVersion = MeshNames.ApiVersion;

    /// <summary>The <c>kind</c> of the document.</summary>
    public const string Kind = "SidecarPolicy";

    /// <summary>Parses <paramref name="yaml"/>; <paramref name="file"/> is only used in messages.</summary>
    public static PolicyParseResult Parse(string yaml, string file, PolicyParserOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(file);
        var reader = new Reader(file, options ?? new PolicyParserOptions());
        SidecarPolicy? policy = reader.ReadDocument(yaml);
        IReadOnlyList<PolicyError> errors = reader.SortedErrors();
        return new PolicyParseResult(errors.Count == 0 ? policy : null, errors);
    }

    /// <summary>Reads and parses a file (following symlinks, as a ConfigMap volume needs).</summary>
    public static PolicyParseResult ParseFile(string path, PolicyParserOptions? options = null)
    {
        if (!BelizeMesh.Configuration.YamlInputGuard.TryReadFile(path, "policy file", out string text, out string? error))
        {
            return new PolicyParseResult(null, [new PolicyError(path, 1, 1, error!)]);
        }

        return Parse(text, path, options);
    }

    private sealed partial class Reader(string file, PolicyParserOptions options)
    {
        private static readonly string[] s_topFields = ["apiVersion", "kind", "metadata", "spec"];
        private static readonly string[] s_metadataFields = ["name", "namespace", "labels", "annotations"];
        private static readonly string[] s_specFields = ["identity", "admin", "inbound", "outbound", "accessLog", "drainTimeout"];
        private static readonly string[] s_adminFields = ["listen"];
        private static readonly string[] s_inboundFields = ["listen", "app", "apps", "mode", "timeout", "authorization", "rateLimits", "limits", "jwtRules"];
        private static readonly string[] s_inboundAppFields = ["port", "app", "timeout"];
        private static readonly string[] s_authorizationFields = ["rules", "denyRules"];
        private static readonly string[] s_ruleFields = ["from", "to"];
        private static readonly string[] s_fromFields = ["principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces", "notNamespaces"];
        private static readonly string[] s_toFields = ["methods", "notMethods", "paths", "notPaths", "ports", "notPorts"];
        private static readonly string[] s_rateLimitFields = ["name", "match", "key", "requestsPerSecond", "burst"];
        private static readonly string[] s_matchFields = ["paths", "methods"];
        private static readonly string[] s_outboundFields = ["listen", "mode", "routes", "limits"];
        private static readonly string[] s_limitsFields = ["maxConnections", "maxPendingPerSource", "handshakesPerSecondPerSource", "handshakeBurstPerSource", "sniffTimeout", "headerTimeout", "idleTimeout"];
        private static readonly string[] s_routeFields = ["host", "pathPrefix", "endpoints", "dnsRefresh", "appPort", "identity", "timeout", "retries", "loadBalancing", "outlierDetection", "http"];
        private static readonly string[] s_retryFields = ["attempts", "perTryTimeout", "retryOn", "budget"];
        private static readonly string[] s_loadBalancingFields = ["policy", "header"];
        private static readonly string[] s_outlierFields = ["consecutiveFailures", "ejectionTime"];

        private static readonly TimeSpan s_defaultTimeout = TimeSpan.FromSeconds(60);
        private static readonly TimeSpan s_minDnsRefresh = TimeSpan.FromSeconds(1);

        private static string DurationText(TimeSpan value) => value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms";

        private readonly List<PolicyError> _errors = [];
        private ChannelMode _inboundMode = ChannelMode.Strict;

        public IReadOnlyList<PolicyError> SortedErrors()
        {
            _errors.Sort(static (a, b) => a.Line != b.Line ? a.Line.CompareTo(b.Line) : a.Column.CompareTo(b.Column));
            return _errors;
        }

        public SidecarPolicy? ReadDocument(string yaml)
        {
            if (YamlDocuments.Load(yaml, out YamlLoadFailure failure) is not { } stream)
            {
                _errors.Add(failure.Kind switch
                {
                    YamlLoadFailureKind.OverLimit => new PolicyError(file, failure.Line, failure.Column, $"refused before parsing: {failure.Reason}"),
                    YamlLoadFailureKind.Rejected => new PolicyError(file, 1, 1, $"invalid YAML: {failure.Reason.TrimEnd('.')}; check the file's structure (quoting, indentation, tags)"),
                    _ => new PolicyError(file, Math.Max(1, failure.Line), Math.Max(1, failure.Column), $"invalid YAML: {StripMark(failure.Reason)}"),
                });
                return null;
            }

            if (stream.Documents.Count == 0)
            {
                _errors.Add(new PolicyError(file, 1, 1, $"the file is empty; expected one {Kind} document (apiVersion: {ApiVersion})"));
                return null;
            }

            if (stream.Documents.Count > 1)
            {
                Error(stream.Documents[1].RootNode.Start, $"the file holds {stream.Documents.Count} YAML documents; expected exactly one {Kind}");
            }

            if (!Mapping(stream.Documents[0].RootNode, "the document", out YamlMappingNode? root))
            {
                return null;
            }

            Fields fields = CheckFields(root, "", s_topFields);
            string? apiVersion = RequiredString(fields, root, "", "apiVersion");
            if (apiVersion is not null && apiVersion != ApiVersion)
            {
                Error(fields.Value("apiVersion")!, $"apiVersion: unsupported '{apiVersion}'; expected '{ApiVersion}'");
            }

            string? kind = RequiredString(fields, root, "", "kind");
            if (kind is not null && kind != Kind)
            {
                Error(fields.Value("kind")!, $"kind: expected '{Kind}', got '{kind}'");
            }

            string name = "", ns = "";
            if (OptionalMapping(fields, "metadata", "metadata", out YamlMappingNode? metadata))
            {
                Fields m = CheckFields(metadata, "metadata", s_metadataFields);
                name = OptionalString(m, "metadata.name") ?? "";
                ns = OptionalString(m, "metadata.namespace") ?? "";
                StringMap(m.Value("labels"), "metadata.labels");
                StringMap(m.Value("annotations"), "metadata.annotations");
            }

            PolicySpec? spec = null;
            if (fields.Value("spec") is null)
            {
                Error(root, "spec: required field is missing");
            }
            else if (OptionalMapping(fields, "spec", "spec", out YamlMappingNode? specNode))
            {
                spec = ReadSpec(specNode);
            }

            return spec is null ? null : new SidecarPolicy(name, ns, spec);
        }

        private PolicySpec? ReadSpec(YamlMappingNode node)
        {
            Fields f = CheckFields(node, "spec", s_specFields);
            string? identity = OptionalString(f, "spec.identity");
            if (identity is not null)
            {
                CheckSpiffeId(f.Value("identity")!, "spec.identity", identity);
            }

            ListenAddress adminListen = new(IPAddress.Loopback, MeshNames.AdminPort);
            if (OptionalMapping(f, "admin", "spec.admin", out YamlMappingNode? admin))
            {
                Fields a = CheckFields(admin, "spec.admin", s_adminFields);
                adminListen = Listen(a, "spec.admin.listen") ?? adminListen;
            }

            InboundSpec? inbound = null;
            if (f.Value("inbound") is null)
            {
                Error(node, "spec.inbound: required field is missing (it names the local app: inbound.app)");
            }
            else if (OptionalMapping(f, "inbound", "spec.inbound", out YamlMappingNode? inboundNode))
            {
                inbound = ReadInbound(inboundNode);
            }

            // From the mode as written, even when another inbound field is invalid, so one mistake reports one error.
            ChannelMode defaultOutboundMode = _inboundMode == ChannelMode.Disable ? ChannelMode.Disable : ChannelMode.Strict;
            OutboundSpec outbound = new(new ListenAddress(IPAddress.Loopback, MeshNames.OutboundPort), defaultOutboundMode, []);
            if (OptionalMapping(f, "outbound", "spec.outbound", out YamlMappingNode? outboundNode))
            {
                outbound = ReadOutbound(outboundNode, defaultOutboundMode);
            }

            bool accessLog = OptionalBool(f, "accessLog", "spec.accessLog") ?? true;
            TimeSpan drain = OptionalDuration(f, "drainTimeout", "spec.drainTimeout") ?? TimeSpan.FromSeconds(20);

            return inbound is null ? null : new PolicySpec(identity, new AdminSpec(adminListen), inbound, outbound, accessLog, drain);
        }

        private InboundSpec? ReadInbound(YamlMappingNode node)
        {
            Fields f = CheckFields(node, "spec.inbound", s_inboundFields);
            ListenAddress listen = Listen(f, "spec.inbound.listen") ?? new ListenAddress(IPAddress.Any, MeshNames.InboundPort);

            Uri? app = null;
            string? appText = RequiredString(f, node, "spec.inbound", "app");
            if (appText is not null)
            {
                app = AppUrl(f.Value("app")!, "spec.inbound.app", appText);
            }

            ChannelMode mode = ChannelMode.Strict;
            string? modeText = OptionalString(f, "spec.inbound.mode");
            if (modeText is not null)
            {
                YamlNode modeNode = f.Value("mode")!;
                switch (modeText)
                {
                    case "STRICT": mode = ChannelMode.Strict; break;
                    case "PERMISSIVE": mode = ChannelMode.Permissive; break;
                    case "DISABLE": mode = ChannelMode.Disable; break;
                    default:
                        Error(modeNode, $"spec.inbound.mode: unknown mode '{modeText}'; expected STRICT, PERMISSIVE or DISABLE");
                        break;
                }

                if (mode != ChannelMode.Disable && !options.PqChannelAvailable && modeText is "STRICT" or "PERMISSIVE")
                {
                    Error(modeNode, $"spec.inbound.mode: {modeText} requires the PQ channel, not available in this build; use mode: DISABLE for plaintext");
                }
                else if (mode == ChannelMode.Permissive && !options.PermissiveAvailable)
                {
                    Error(modeNode, "spec.inbound.mode: PERMISSIVE (PQ channel or plaintext on one port) is not implemented in this build; use STRICT, or DISABLE for plaintext");
                }
            }
            else if (!options.PqChannelAvailable)
            {
                Error(node, "spec.inbound.mode: defaults to STRICT, which requires the PQ channel, not available in this build; set mode: DISABLE for plaintext");
            }

            _inboundMode = mode;
            TimeSpan timeout = OptionalDuration(f, "timeout", "spec.inbound.timeout") ?? s_defaultTimeout;
            IReadOnlyList<InboundAppSpec> apps = ReadInboundApps(f, timeout);

            AuthorizationSpec? authorization = null;
            if (OptionalMapping(f, "authorization", "spec.inbound.authorization", out YamlMappingNode? authNode))
            {
                authorization = ReadAuthorization(authNode);
            }

            var rateLimits = new List<RateLimitSpec>();
            if (OptionalSequence(f, "rateLimits", "spec.inbound.rateLimits", out YamlSequenceNode? limits))
            {
                var names = new HashSet<string>(StringComparer.Ordinal);
                for (int i = 0; i < limits.Children.Count; i++)
                {
                    string path = $"spec.inbound.rateLimits[{i}]";
                    if (Mapping(limits.Children[i], path, out YamlMappingNode? limitNode))
                    {
                        RateLimitSpec? limit = ReadRateLimit(limitNode, path);
                        if (limit is not null)
                        {
                            if (!names.Add(limit.Name))
                            {
                                Error(limitNode, $"{path}.name: '{limit.Name}' is used by an earlier rate limit; names must be unique");
                            }

                            rateLimits.Add(limit);
                        }
                    }
                }
            }

            IReadOnlyList<JwtRuleSpec> jwtRules = ReadJwtRules(f, "spec.inbound.jwtRules");
            return app is null ? null : new InboundSpec(listen, app, mode, timeout, authorization, rateLimits) { Limits = ReadLimits(f, "spec.inbound.limits", ListenerLimitsSpec.InboundDefault, inbound: true), Apps = apps, JwtRules = jwtRules };
        }

        /// <summary>A plain <c>http://host:port</c> URL of a local app, or null (the error is reported).</summary>
        private Uri? AppUrl(YamlNode node, string path, string text)
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? app) || app.Scheme != Uri.UriSchemeHttp || app.AbsolutePath != "/" || app.Query.Length != 0 || !string.IsNullOrEmpty(app.UserInfo))
            {
                Error(node, $"{path}: '{text}' is not a plain http URL of the local app; write e.g. \"http://127.0.0.1:8080\"");
                return null;
            }

            return app;
        }

        /// <summary><c>spec.inbound.apps</c>: more app ports, selected by the port in the request's <c>Host</c>.</summary>
        private List<InboundAppSpec> ReadInboundApps(Fields parent, TimeSpan defaultTimeout)
        {
            var apps = new List<InboundAppSpec>();
            if (!OptionalSequence(parent, "apps", "spec.inbound.apps", out YamlSequenceNode? seq))
            {
                return apps;
            }

            var ports = new HashSet<int>();
            for (int i = 0; i < seq.Children.Count; i++)
            {
                string path = $"spec.inbound.apps[{i}]";
                if (!Mapping(seq.Children[i], path, out YamlMappingNode? node))
                {
                    continue;
                }

                Fields f = CheckFields(node, path, s_inboundAppFields);
                YamlNode? portNode = f.Value("port");
                if (portNode is null)
                {
                    Error(node, $"{path}.port: required field is missing; the port callers address (the port in their Host), e.g. port: 9944");
                    continue;
                }

                if (!Integer(portNode, path + ".port", out int port))
                {
                    continue;
                }

                if (port is < 1 or > 65535)
                {
                    Error(portNode, $"{path}.port: {port} is not a port; use 1-65535");
                    continue;
                }

                if (!ports.Add(port))
                {
                    Error(portNode, $"{path}.port: {port} is listed by an earlier entry of spec.inbound.apps; each port goes to one app");
                    continue;
                }

                Uri? app = new($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
                if (OptionalString(f, path + ".app") is { } appText)
                {
                    app = AppUrl(f.Value("app")!, path + ".app", appText);
                }

                TimeSpan timeout = OptionalDuration(f, "timeout", path + ".timeout") ?? defaultTimeout;
                if (app is not null)
                {
                    apps.Add(new InboundAppSpec(port, app, timeout));
                }
            }

            return apps;
        }

        private AuthorizationSpec ReadAuthorization(YamlMappingNode node)
        {
            Fields f = CheckFields(node, "spec.inbound.authorization", s_authorizationFields);
            if (f.Value("rules") is null && f.Value("denyRules") is null)
            {
                Error(node, "spec.inbound.authorization.rules: required field is missing (ALLOW rules; an empty list denies every request; give denyRules alone to refuse only what they match; remove authorization to allow all)");
            }

            List<AuthorizationRuleSpec> rules = ReadRules(f, "rules", "spec.inbound.authorization.rules");
            List<AuthorizationRuleSpec> denyRules = ReadRules(f, "denyRules", "spec.inbound.authorization.denyRules");
            return new AuthorizationSpec(rules) { DenyRules = denyRules, HasAllowPolicy = f.Value("rules") is not null || f.Value("denyRules") is null };
        }

        private List<AuthorizationRuleSpec> ReadRules(Fields f, string name, string listPath)
        {
            var rules = new List<AuthorizationRuleSpec>();
            if (!OptionalSequence(f, name, listPath, out YamlSequenceNode? seq))
            {
                return rules;
            }

            for (int i = 0; i < seq.Children.Count; i++)
            {
                string path = $"{listPath}[{i}]";
                if (!Mapping(seq.Children[i], path, out YamlMappingNode? ruleNode))
                {
                    continue;
                }

                Fields r = CheckFields(ruleNode, path, s_ruleFields);
                FromSpec? from = null;
                if (OptionalMapping(r, "from", path + ".from", out YamlMappingNode? fromNode))
                {
                    Fields ff = CheckFields(fromNode, path + ".from", s_fromFields);
                    from = new FromSpec(Patterns(ff, "principals", path + ".from.principals", PatternKind.Principal))
                    {
                        NotPrincipals = Patterns(ff, "notPrincipals", path + ".from.notPrincipals", PatternKind.Principal),
                        RequestPrincipals = Patterns(ff, "requestPrincipals", path + ".from.requestPrincipals", PatternKind.Value),
                        NotRequestPrincipals = Patterns(ff, "notRequestPrincipals", path + ".from.notRequestPrincipals", PatternKind.Value),
                        Namespaces = Patterns(ff, "namespaces", path + ".from.namespaces", PatternKind.Namespace),
                        NotNamespaces = Patterns(ff, "notNamespaces", path + ".from.notNamespaces", PatternKind.Namespace),
                    };
                    if (fromNode.Children.Count == 0)
                    {
                        Error(fromNode, $"{path}.from: empty; name at least one of {string.Join(", ", s_fromFields)} (leave 'from' out to match any caller)");
                    }
                }

                ToSpec? to = null;
                if (OptionalMapping(r, "to", path + ".to", out YamlMappingNode? toNode))
                {
                    Fields tf = CheckFields(toNode, path + ".to", s_toFields);
                    to = new ToSpec(Methods(tf, "methods", path + ".to.methods"), Patterns(tf, "paths", path + ".to.paths", PatternKind.Path))
                    {
                        NotMethods = Methods(tf, "notMethods", path + ".to.notMethods"),
                        NotPaths = Patterns(tf, "notPaths", path + ".to.notPaths", PatternKind.Path),
                        Ports = Ports(tf, "ports", path + ".to.ports"),
                        NotPorts = Ports(tf, "notPorts", path + ".to.notPorts"),
                    };
                }

                rules.Add(new AuthorizationRuleSpec(from, to));
            }

            return rules;
        }

        private RateLimitSpec? ReadRateLimit(YamlMappingNode node, string path)
        {
            Fields f = CheckFields(node, path, s_rateLimitFields);
            string? name = RequiredString(f, node, path, "name");
            if (name is not null && !IsSimpleName(name))
            {
                Error(f.Value("name")!, $"{path}.name: '{name}' must be 1-63 characters of a-z, 0-9, '-' or '_' (it becomes a metric label)");
            }

            IReadOnlyList<string>? paths = null, methods = null;
            if (OptionalMapping(f, "match", path + ".match", out YamlMappingNode? match))
            {
                Fields m = CheckFields(match, path + ".match", s_matchFields);
                paths = Patterns(m, "paths", path + ".match.paths", PatternKind.Path);
                methods = Methods(m, path + ".match.methods");
            }

            RateLimitKey key = new(RateLimitKeyKind.None, null);
            string? keyText = RequiredString(f, node, path, "key");
            if (keyText is not null)
            {
                if (keyText == "none")
                {
                    key = new RateLimitKey(RateLimitKeyKind.None, null);
                }
                else if (keyText == "sourcePrincipal")
                {
                    key = new RateLimitKey(RateLimitKeyKind.SourcePrincipal, null);
                }
                else if (keyText.StartsWith("header:", StringComparison.Ordinal) && IsHeaderName(keyText.AsSpan(7)))
                {
                    key = new RateLimitKey(RateLimitKeyKind.Header, keyText[7..]);
                }
                else
                {
                    Error(f.Value("key")!, $"{path}.key: unknown key '{keyText}'; expected sourcePrincipal, none or header:<Name> (e.g. header:X-Participant-ID)");
                }
            }

            double rps = 0;
            YamlNode? rpsNode = f.Value("requestsPerSecond");
            if (rpsNode is null)
            {
                Error(node, $"{path}.requestsPerSecond: required field is missing");
            }
            else if (Scalar(rpsNode, path + ".requestsPerSecond", "a number", out string? rpsText))
            {
                if (!double.TryParse(rpsText, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out rps) || rps <= 0 || rps > 1_000_000)
                {
                    Error(rpsNode, $"{path}.requestsPerSecond: '{rpsText}' must be a number greater than 0 and at most 1000000");
                }
            }

            int burst = 0;
            YamlNode? burstNode = f.Value("burst");
            if (burstNode is null)
            {
                Error(node, $"{path}.burst: required field is missing");
            }
            else if (Integer(burstNode, path + ".burst", out burst) && burst < 1)
            {
                Error(burstNode, $"{path}.burst: {burst} is less than 1; the bucket must hold at least one request");
            }

            return name is null ? null : new RateLimitSpec(name, paths, methods, key, rps, burst);
        }

        private OutboundSpec ReadOutbound(YamlMappingNode node, ChannelMode defaultMode)
        {
            Fields f = CheckFields(node, "spec.outbound", s_outboundFields);
            ListenAddress listen = Listen(f, "spec.outbound.listen") ?? new ListenAddress(IPAddress.Loopback, MeshNames.OutboundPort);
            ChannelMode mode = defaultMode;
            string? modeText = OptionalString(f, "spec.outbound.mode");
            if (modeText is not null)
            {
                switch (modeText)
                {
                    case "STRICT":
                        mode = ChannelMode.Strict;
                        if (!options.PqChannelAvailable)
                        {
                            Error(f.Value("mode")!, "spec.outbound.mode: STRICT requires the PQ channel, not available in this build; use mode: DISABLE for plaintext");
                        }

                        break;
                    case "DISABLE": mode = ChannelMode.Disable; break;
                    default:
                        Error(f.Value("mode")!, $"spec.outbound.mode: unknown mode '{modeText}'; expected STRICT or DISABLE (PERMISSIVE applies to inbound only)");
                        break;
                }
            }

            var routes = new List<OutboundRouteSpec>();
            if (OptionalSequence(f, "routes", "spec.outbound.routes", out YamlSequenceNode? seq))
            {
                var seen = new HashSet<string>(StringComparer.Ordinal);
                for (int i = 0; i < seq.Children.Count; i++)
                {
                    string path = $"spec.outbound.routes[{i}]";
                    if (Mapping(seq.Children[i], path, out YamlMappingNode? routeNode))
                    {
                        OutboundRouteSpec? route = ReadRoute(routeNode, path, mode);
                        if (route is not null)
                        {
                            if (!seen.Add(route.Id))
                            {
                                Error(routeNode, $"{path}: host '{route.Host}'{(route.PathPrefix is null ? "" : $" with pathPrefix '{route.PathPrefix}'")} is already routed by an earlier route");
                            }

                            routes.Add(route);
                        }
                    }
                }
            }

            return new OutboundSpec(listen, mode, routes) { Limits = ReadLimits(f, "spec.outbound.limits", ListenerLimitsSpec.Default, inbound: false) };
        }

        private OutboundRouteSpec? ReadRoute(YamlMappingNode node, string path, ChannelMode mode)
        {
            Fields f = CheckFields(node, path, s_routeFields);
            string? host = RequiredString(f, node, path, "host");
            if (host is not null)
            {
                if (Uri.CheckHostName(host) is UriHostNameType.Unknown or UriHostNameType.Basic || host.Contains(':', StringComparison.Ordinal))
                {
                    Error(f.Value("host")!, $"{path}.host: '{host}' is not a host name; write the Host the app calls without scheme or port, e.g. nawal.belizechain.svc.cluster.local");
                    host = null;
                }
                else
                {
                    host = host.ToLowerInvariant();
                }
            }

            string? prefix = OptionalString(f, path + ".pathPrefix");
            if (prefix is not null && (prefix.Length == 0 || prefix[0] != '/' || prefix.Contains('*', StringComparison.Ordinal) || prefix.Contains('?', StringComparison.Ordinal)))
            {
                Error(f.Value("pathPrefix")!, $"{path}.pathPrefix: '{prefix}' must start with '/' and contain no '*' or '?'");
                prefix = null;
            }

            var endpoints = new List<EndpointAddress>();
            YamlNode? endpointsNode = f.Value("endpoints");
            if (endpointsNode is null)
            {
                Error(node, $"{path}.endpoints: required field is missing; list at least one \"host:port\"");
            }
            else if (Sequence(endpointsNode, path + ".endpoints", out YamlSequenceNode? eps))
            {
                if (eps.Children.Count == 0)
                {
                    Error(eps, $"{path}.endpoints: the list is empty; list at least one \"host:port\"");
                }

                for (int i = 0; i < eps.Children.Count; i++)
                {
                    if (Scalar(eps.Children[i], $"{path}.endpoints[{i}]", "a \"host:port\" string", out string? ep))
                    {
                        if (EndpointAddress.TryParse(ep, out EndpointAddress? address))
                        {
                            endpoints.Add(address);
                        }
                        else
                        {
                            Error(eps.Children[i], $"{path}.endpoints[{i}]: '{ep}' is not \"host:port\" (port 1-65535), e.g. \"nawal.belizechain.svc.cluster.local:16443\"");
                        }
                    }
                }
            }

            TimeSpan dnsRefresh = OptionalDuration(f, "dnsRefresh", path + ".dnsRefresh") ?? OutboundRouteSpec.DefaultDnsRefresh;
            if (dnsRefresh < s_minDnsRefresh)
            {
                Error(f.Value("dnsRefresh")!, $"{path}.dnsRefresh: {DurationText(dnsRefresh)} is too short; re-resolving more often than once a second loads the cluster DNS for nothing (records live 5 s), use at least 1s");
                dnsRefresh = OutboundRouteSpec.DefaultDnsRefresh;
            }

            int? appPort = AppPortField(f, path);

            string? identity = OptionalString(f, path + ".identity");
            if (identity is not null)
            {
                CheckSpiffeId(f.Value("identity")!, path + ".identity", identity);
            }
            else if (mode == ChannelMode.Strict && options.PqChannelAvailable)
            {
                Error(node, $"{path}.identity: required with outbound mode STRICT: the SPIFFE ID the peer must prove, e.g. spiffe://cluster.local/ns/<ns>/sa/<sa>");
            }

            TimeSpan timeout = OptionalDuration(f, "timeout", path + ".timeout") ?? s_defaultTimeout;

            RetryPolicySpec? retryPolicy = ReadRetries(f, path + ".retries", out RetryBudgetSpec budget, allowBudget: true);
            int attempts = retryPolicy?.Attempts ?? 0;

            LoadBalancingPolicy policy = LoadBalancingPolicy.RoundRobin;
            string? hashHeader = null;
            if (ReadLoadBalancing(f, path + ".loadBalancing") is { } balancing)
            {
                (policy, hashHeader) = balancing;
            }

            int consecutiveFailures = 5;
            TimeSpan ejectionTime = TimeSpan.FromSeconds(30);
            if (OptionalMapping(f, "outlierDetection", path + ".outlierDetection", out YamlMappingNode? outlier))
            {
                Fields o = CheckFields(outlier, path + ".outlierDetection", s_outlierFields);
                YamlNode? cf = o.Value("consecutiveFailures");
                if (cf is not null && Integer(cf, path + ".outlierDetection.consecutiveFailures", out consecutiveFailures) && consecutiveFailures < 0)
                {
                    Error(cf, $"{path}.outlierDetection.consecutiveFailures: {consecutiveFailures} is negative; use 0 to turn ejection off");
                    consecutiveFailures = 5;
                }

                ejectionTime = OptionalDuration(o, "ejectionTime", path + ".outlierDetection.ejectionTime") ?? ejectionTime;
            }

            IReadOnlyList<HttpRuleSpec> http = ReadHttpRules(f, path + ".http");
            return host is null || endpoints.Count == 0
                ? null
                : new OutboundRouteSpec(host, prefix, endpoints, identity, timeout, attempts, policy, hashHeader, consecutiveFailures, ejectionTime)
                {
                    Retries = retryPolicy,
                    RetryBudget = budget,
                    Http = http,
                    DnsRefresh = dnsRefresh,
                    AppPort = appPort,
                };
        }

        /// <summary><c>loadBalancing</c> of a route or a destination; null when absent.</summary>
        private (LoadBalancingPolicy Policy, string? HashHeader)? ReadLoadBalancing(Fields f, string path)
        {
            if (!OptionalMapping(f, "loadBalancing", path, out YamlMappingNode? lb))
            {
                return null;
            }

            LoadBalancingPolicy policy = LoadBalancingPolicy.RoundRobin;
            string? hashHeader = null;
            Fields l = CheckFields(lb, path, s_loadBalancingFields);
            string? policyText = OptionalString(l, path + ".policy");
            if (policyText is not null)
            {
                if (!Enum.TryParse(policyText, ignoreCase: false, out policy) || !Enum.IsDefined(policy) || char.IsAsciiDigit(policyText[0]))
                {
                    Error(l.Value("policy")!, $"{path}.policy: unknown policy '{policyText}'; expected RoundRobin, LeastRequests, Random or ConsistentHash");
                    policy = LoadBalancingPolicy.RoundRobin;
                }
            }

            hashHeader = OptionalString(l, path + ".header");
            if (hashHeader is not null && !IsHeaderName(hashHeader))
            {
                Error(l.Value("header")!, $"{path}.header: '{hashHeader}' is not a valid header name");
            }
            else if (hashHeader is not null && policy != LoadBalancingPolicy.ConsistentHash)
            {
                Error(l.Value("header")!, $"{path}.header: only used with policy ConsistentHash");
            }
            else if (hashHeader is null && policy == LoadBalancingPolicy.ConsistentHash)
            {
                Error(lb, $"{path}.header: required with policy ConsistentHash (the request header to hash, e.g. X-Participant-ID)");
            }

            return (policy, hashHeader);
        }

        /// <summary><c>appPort</c> of a route or a destination: null when absent or invalid (the error is reported).</summary>
        private int? AppPortField(Fields f, string path)
        {
            if (f.Value("appPort") is not { } node || !Integer(node, path + ".appPort", out int port))
            {
                return null;
            }

            if (port is < 1 or > 65535)
            {
                Error(node, $"{path}.appPort: {port} is not a port; use 1-65535 (the peer's app port, one of its spec.inbound.apps)");
                return null;
            }

            return port;
        }
    }
}
