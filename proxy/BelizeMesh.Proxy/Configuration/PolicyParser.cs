using BelizeMesh.Configuration;
using System.Globalization;
using System.Net;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Configuration;

/// <summary>What the running build can do; the parser rejects settings that need more.</summary>
public sealed class PolicyParserOptions
{
    /// <summary>True when the post-quantum channel is compiled in (STRICT / PERMISSIVE are usable).</summary>
    public bool PqChannelAvailable { get; init; }

    /// <summary>True when the inbound listener can tell PQ channel and plaintext connections apart (PERMISSIVE).</summary>
    public bool PermissiveAvailable { get; init; }

    /// <summary>The idle <c>timeout</c> of a route or an app entry that writes none (60 s; tests shorten it). An app
    /// entry with <c>appProtocol: grpc</c> that writes none has no idle timeout instead (docs/policy.md Timeouts).</summary>
    public TimeSpan DefaultTimeout { get; init; } = MeshNames.DefaultIdleTimeout;
}

/// <summary>
/// Reads a <c>SidecarPolicy</c> YAML document into immutable records: a schema over the configuration core's binder
/// (<see cref="YamlMap"/>, <see cref="BindContext"/>), which reads YamlDotNet's representation model (no reflection, so
/// it survives native AOT). Like YARP's route validators it never stops at the first problem: every error is collected
/// with its line and column, then reported together in file order.
/// </summary>
public static partial class PolicyParser
{
    /// <summary>The only <c>apiVersion</c> this build reads.</summary>
    public const string ApiVersion = MeshNames.ApiVersion;

    /// <summary>The <c>kind</c> of the document.</summary>
    public const string Kind = "SidecarPolicy";

    private static readonly (string, ChannelMode)[] s_inboundModes = [("STRICT", ChannelMode.Strict), ("PERMISSIVE", ChannelMode.Permissive), ("DISABLE", ChannelMode.Disable)];
    private static readonly (string, ChannelMode)[] s_outboundModes = [("STRICT", ChannelMode.Strict), ("DISABLE", ChannelMode.Disable)];
    private static readonly (string, AppProtocol)[] s_appProtocols = [("http", AppProtocol.Http), ("http2", AppProtocol.Http2), ("grpc", AppProtocol.Grpc), ("h2c", AppProtocol.H2c)];
    private static readonly (string, H2UpgradePolicy)[] s_meshH2Upgrade = [("DO_NOT_UPGRADE", H2UpgradePolicy.DoNotUpgrade), ("UPGRADE", H2UpgradePolicy.Upgrade)];
    private static readonly (string, H2UpgradePolicy)[] s_routeH2Upgrade = [("DEFAULT", H2UpgradePolicy.Default), ("DO_NOT_UPGRADE", H2UpgradePolicy.DoNotUpgrade), ("UPGRADE", H2UpgradePolicy.Upgrade)];
    private static readonly (string, LoadBalancingPolicy)[] s_lbPolicies =
        [("RoundRobin", LoadBalancingPolicy.RoundRobin), ("LeastRequests", LoadBalancingPolicy.LeastRequests), ("Random", LoadBalancingPolicy.Random), ("ConsistentHash", LoadBalancingPolicy.ConsistentHash)];

    private static readonly string[] s_fromFields = ["principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces", "notNamespaces"];

    /// <summary>Parses <paramref name="yaml"/>; <paramref name="file"/> is only used in messages.</summary>
    public static PolicyParseResult Parse(string yaml, string file, PolicyParserOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(file);
        var ctx = new BindContext(file) { QuotedNumbers = true, QuotedBooleans = true }; // as the policy was always read
        SidecarPolicy? policy = new Reader(ctx, options ?? new PolicyParserOptions()).ReadDocument(yaml);
        List<PolicyError> errors = ctx.Sorted().ConvertAll(PolicyError.From);
        return new PolicyParseResult(errors.Count == 0 ? policy : null, errors);
    }

    /// <summary>Reads and parses a file (following symlinks, as a ConfigMap volume needs).</summary>
    public static PolicyParseResult ParseFile(string path, PolicyParserOptions? options = null)
    {
        if (!YamlInputGuard.TryReadFile(path, "policy file", out string text, out string? error))
        {
            return new PolicyParseResult(null, [new PolicyError(path, 1, 1, error!)]);
        }

        return Parse(text, path, options);
    }

    private sealed partial class Reader(BindContext ctx, PolicyParserOptions options)
    {
        private static readonly TimeSpan s_minDnsRefresh = TimeSpan.FromSeconds(1);

        private static string DurationText(TimeSpan value) => value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms";

        private ChannelMode _inboundMode = ChannelMode.Strict;

        public SidecarPolicy? ReadDocument(string yaml)
        {
            if (YamlDocuments.Load(yaml, out YamlLoadFailure failure) is not { } stream)
            {
                ctx.Errors.Add(YamlDocuments.Describe(failure, ctx.File, yaml));
                return null;
            }

            if (stream.Documents.Count == 0)
            {
                ctx.Error(new SourcePosition(1, 1), "", $"the file is empty; expected one {Kind} document (apiVersion: {ApiVersion})");
                return null;
            }

            if (stream.Documents.Count > 1)
            {
                ctx.Error(stream.Documents[1].RootNode, "", $"the file holds {stream.Documents.Count} YAML documents; expected exactly one {Kind}");
            }

            if (YamlMap.From(stream.Documents[0].RootNode, "", ctx, $"a {Kind} document") is not { } doc)
            {
                return null;
            }

            string? apiVersion = doc.String("apiVersion", required: true, hint: ApiVersion);
            if (apiVersion is not null && apiVersion != ApiVersion)
            {
                doc.Error("apiVersion", $"unsupported apiVersion \"{apiVersion}\"; expected {ApiVersion}");
            }

            string? kind = doc.String("kind", required: true, hint: Kind);
            if (kind is not null && kind != Kind)
            {
                doc.Error("kind", $"unsupported kind \"{kind}\"; expected {Kind}");
            }

            string name = "", ns = "";
            if (doc.Map("metadata", "metadata") is { } metadata)
            {
                name = metadata.Raw("name") is { } nameNode ? metadata.ScalarText(nameNode, metadata.PathOf("name"), "the policy's name") ?? "" : "";
                ns = metadata.Raw("namespace") is { } nsNode ? metadata.ScalarText(nsNode, metadata.PathOf("namespace"), "a namespace name") ?? "" : "";
                StringValues(metadata, "labels");
                StringValues(metadata, "annotations");
                metadata.Finish();
            }

            PolicySpec? spec = RequiredMap(doc, "spec", "the sidecar's settings", "the sidecar's settings: inbound, outbound, identity, …") is { } specMap
                ? ReadSpec(specMap)
                : null;
            doc.Finish();
            return spec is null ? null : new SidecarPolicy(name, ns, spec);
        }

        /// <summary>A mapping of strings (labels, annotations: values may be empty, as in Kubernetes); checked, not kept.</summary>
        private static void StringValues(YamlMap parent, string key)
        {
            if (parent.Map(key, key) is not { } map)
            {
                return;
            }

            foreach (YamlField field in map.Entries())
            {
                map.ScalarText(field.Value, map.PathOf(field.Key), "a string value");
            }

            map.Finish();
        }

        /// <summary>The mapping <paramref name="key"/>, or null; a missing one is reported with <paramref name="hint"/>.</summary>
        private static YamlMap? RequiredMap(YamlMap parent, string key, string what, string hint)
        {
            YamlMap? map = parent.Map(key, what);
            if (map is null && parent.Raw(key) is null)
            {
                parent.Missing(key, hint);
            }

            return map;
        }

        private PolicySpec? ReadSpec(YamlMap spec)
        {
            string? identity = SpiffeIdField(spec, "identity");

            ListenAddress adminListen = new(IPAddress.Loopback, MeshNames.AdminPort);
            if (spec.Map("admin", "the admin listener") is { } admin)
            {
                adminListen = Listen(admin) ?? adminListen;
                admin.Finish();
            }

            InboundSpec? inbound = RequiredMap(spec, "inbound", "the inbound listener", "it names the local app: inbound.app") is { } inboundMap
                ? ReadInbound(inboundMap)
                : null;

            // From the mode as written, even when another inbound field is invalid, so one mistake reports one error.
            ChannelMode defaultOutboundMode = _inboundMode == ChannelMode.Disable ? ChannelMode.Disable : ChannelMode.Strict;
            OutboundSpec outbound = new(new ListenAddress(IPAddress.Loopback, MeshNames.OutboundPort), defaultOutboundMode, []);
            if (spec.Map("outbound", "the outbound listener") is { } outboundMap)
            {
                outbound = ReadOutbound(outboundMap, defaultOutboundMode);
            }

            bool accessLog = spec.Bool("accessLog") ?? true;
            TimeSpan drain = spec.Duration("drainTimeout") ?? TimeSpan.FromSeconds(20);
            spec.Finish();
            return inbound is null ? null : new PolicySpec(identity, new AdminSpec(adminListen), inbound, outbound, accessLog, drain);
        }

        private InboundSpec? ReadInbound(YamlMap f)
        {
            ListenAddress listen = Listen(f) ?? new ListenAddress(IPAddress.Any, MeshNames.InboundPort);
            string? appText = f.String("app", required: true, hint: "the local app's URL, e.g. http://127.0.0.1:8080");
            Uri? app = appText is null ? null : AppUrl(f, "app", appText);

            ChannelMode mode = ChannelMode.Strict;
            YamlNode? modeNode = f.Raw("mode");
            if (modeNode is not null)
            {
                if (f.EnumValue(modeNode, f.PathOf("mode"), s_inboundModes) is { } written)
                {
                    mode = written;
                    if (mode != ChannelMode.Disable && !options.PqChannelAvailable)
                    {
                        f.Error("mode", $"{((YamlScalarNode)modeNode).Value} requires the PQ channel, not available in this build; use mode: DISABLE for plaintext");
                    }
                    else if (mode == ChannelMode.Permissive && !options.PermissiveAvailable)
                    {
                        f.Error("mode", "PERMISSIVE (PQ channel or plaintext on one port) is not implemented in this build; use STRICT, or DISABLE for plaintext");
                    }
                }
            }
            else if (!options.PqChannelAvailable)
            {
                f.Error("mode", "defaults to STRICT, which requires the PQ channel, not available in this build; set mode: DISABLE for plaintext");
            }

            _inboundMode = mode;
            TimeSpan? writtenTimeout = f.Duration("timeout");
            AppProtocol appProtocol = f.Enum("appProtocol", s_appProtocols) ?? AppProtocol.Http;
            TimeSpan timeout = writtenTimeout ?? DefaultAppTimeout(appProtocol);
            IReadOnlyList<InboundAppSpec> apps = ReadInboundApps(f, writtenTimeout, appProtocol);

            AuthorizationSpec? authorization = f.Map("authorization", "authorization rules") is { } auth ? ReadAuthorization(auth) : null;

            var rateLimits = new List<RateLimitSpec>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (YamlMap item in f.MapList("rateLimits", "rate limit"))
            {
                if (ReadRateLimit(item) is { } limit)
                {
                    if (!names.Add(limit.Name))
                    {
                        item.Error("name", $"\"{limit.Name}\" is used by an earlier rate limit; names must be unique");
                    }

                    rateLimits.Add(limit);
                }
            }

            IReadOnlyList<JwtRuleSpec> jwtRules = ReadJwtRules(f);
            ListenerLimitsSpec limits = ReadLimits(f, ListenerLimitsSpec.InboundDefault, inbound: true);
            f.Finish();
            return app is null ? null : new InboundSpec(listen, app, mode, timeout, authorization, rateLimits) { Limits = limits, Apps = apps, JwtRules = jwtRules, AppProtocol = appProtocol };
        }

        /// <summary>A plain <c>http://host:port</c> URL of a local app, or null (the error is reported).</summary>
        private static Uri? AppUrl(YamlMap map, string key, string text)
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? app) || app.Scheme != Uri.UriSchemeHttp || app.AbsolutePath != "/" || app.Query.Length != 0 || !string.IsNullOrEmpty(app.UserInfo))
            {
                map.Error(key, $"\"{text}\" is not a plain http URL of the local app; write e.g. \"http://127.0.0.1:8080\"");
                return null;
            }

            return app;
        }

        /// <summary>The idle timeout of an app entry that writes none (neither it nor <c>spec.inbound</c>): none for gRPC,
        /// whose streams (watches, server push) may be quiet for long, as Istio's inbound <c>stream_idle_timeout: 0s</c>;
        /// <see cref="PolicyParserOptions.DefaultTimeout"/> for the others.</summary>
        private TimeSpan DefaultAppTimeout(AppProtocol protocol) => protocol == AppProtocol.Grpc ? TimeSpan.Zero : options.DefaultTimeout;

        /// <summary><c>spec.inbound.apps</c>: more app ports, selected by the port in the request's <c>Host</c>. An entry's
        /// timeout is its own, else <c>spec.inbound.timeout</c> when written there, else its protocol's default.</summary>
        private List<InboundAppSpec> ReadInboundApps(YamlMap inbound, TimeSpan? inboundTimeout, AppProtocol defaultProtocol)
        {
            var apps = new List<InboundAppSpec>();
            var ports = new HashSet<int>();
            foreach (YamlMap item in inbound.MapList("apps", "app"))
            {
                int? port = item.Int("port", 1, 65535, hint: "a port number");
                if (item.Raw("port") is null)
                {
                    item.Missing("port", "the port callers address (the port in their Host), e.g. port: 9944");
                }

                Uri? app = null;
                if (port is not null && !ports.Add(port.Value))
                {
                    item.Error("port", $"{port} is listed by an earlier entry of spec.inbound.apps; each port goes to one app");
                    port = null;
                }
                else if (port is not null)
                {
                    app = new Uri($"http://127.0.0.1:{port.Value.ToString(CultureInfo.InvariantCulture)}");
                }

                if (item.String("app", hint: "the app's URL, e.g. http://127.0.0.1:9944") is { } appText)
                {
                    app = port is null ? null : AppUrl(item, "app", appText);
                }

                TimeSpan? written = item.Duration("timeout");
                AppProtocol protocol = item.Enum("appProtocol", s_appProtocols) ?? defaultProtocol;
                TimeSpan timeout = written ?? inboundTimeout ?? DefaultAppTimeout(protocol);
                item.Finish();
                if (port is not null && app is not null)
                {
                    apps.Add(new InboundAppSpec(port.Value, app, timeout) { AppProtocol = protocol });
                }
            }

            return apps;
        }

        private AuthorizationSpec ReadAuthorization(YamlMap auth)
        {
            if (!auth.Has("rules") && !auth.Has("denyRules"))
            {
                auth.Missing("rules", "ALLOW rules; an empty list denies every request; give denyRules alone to refuse only what they match; remove authorization to allow all");
            }

            List<AuthorizationRuleSpec> rules = ReadRules(auth, "rules");
            List<AuthorizationRuleSpec> denyRules = ReadRules(auth, "denyRules");
            bool hasAllowPolicy = auth.Has("rules") || !auth.Has("denyRules");
            auth.Finish();
            return new AuthorizationSpec(rules) { DenyRules = denyRules, HasAllowPolicy = hasAllowPolicy };
        }

        private List<AuthorizationRuleSpec> ReadRules(YamlMap auth, string key)
        {
            var rules = new List<AuthorizationRuleSpec>();
            foreach (YamlMap rule in auth.MapList(key, "rule"))
            {
                FromSpec? from = null;
                if (rule.Map("from", "the callers to match") is { } ff)
                {
                    from = new FromSpec(Patterns(ff, "principals", PatternKind.Principal))
                    {
                        NotPrincipals = Patterns(ff, "notPrincipals", PatternKind.Principal),
                        RequestPrincipals = Patterns(ff, "requestPrincipals", PatternKind.Value),
                        NotRequestPrincipals = Patterns(ff, "notRequestPrincipals", PatternKind.Value),
                        Namespaces = Patterns(ff, "namespaces", PatternKind.Namespace),
                        NotNamespaces = Patterns(ff, "notNamespaces", PatternKind.Namespace),
                    };
                    if (ff.Node.Children.Count == 0)
                    {
                        ff.Error($"empty; name at least one of {string.Join(", ", s_fromFields)} (leave 'from' out to match any caller)");
                    }

                    ff.Finish();
                }

                ToSpec? to = null;
                if (rule.Map("to", "the operations to match") is { } tf)
                {
                    to = new ToSpec(Methods(tf, "methods"), Patterns(tf, "paths", PatternKind.Path))
                    {
                        NotMethods = Methods(tf, "notMethods"),
                        NotPaths = Patterns(tf, "notPaths", PatternKind.Path),
                        Ports = Ports(tf, "ports"),
                        NotPorts = Ports(tf, "notPorts"),
                    };
                    tf.Finish();
                }

                rule.Finish();
                rules.Add(new AuthorizationRuleSpec(from, to));
            }

            return rules;
        }

        private RateLimitSpec? ReadRateLimit(YamlMap r)
        {
            string? name = r.String("name", required: true, hint: "a name of a-z, 0-9, '-' or '_'");
            if (name is not null && !IsSimpleName(name))
            {
                r.Error("name", $"\"{name}\" must be 1-63 characters of a-z, 0-9, '-' or '_' (it becomes a metric label)");
            }

            IReadOnlyList<string>? paths = null, methods = null;
            if (r.Map("match", "a request match") is { } match)
            {
                paths = Patterns(match, "paths", PatternKind.Path);
                methods = Methods(match, "methods");
                match.Finish();
            }

            RateLimitKey key = new(RateLimitKeyKind.None, null);
            string? keyText = r.String("key", required: true, hint: "sourcePrincipal, none or header:<Name>");
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
                    r.Error("key", $"\"{keyText}\" is not a rate-limit key; expected sourcePrincipal, none or header:<Name> (e.g. header:X-Participant-ID)");
                }
            }

            double rps = 0;
            YamlNode? rpsNode = r.Raw("requestsPerSecond");
            if (rpsNode is null)
            {
                r.Missing("requestsPerSecond", "a number greater than 0 and at most 1000000");
            }
            else if (rpsNode is not YamlScalarNode { Value: { } rpsText }
                || !double.TryParse(rpsText, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out rps) || rps <= 0 || rps > 1_000_000)
            {
                r.Error("requestsPerSecond", $"expected a number greater than 0 and at most 1000000, got {BindContext.Describe(rpsNode)}");
            }

            int burst = 0;
            YamlNode? burstNode = r.Raw("burst");
            if (burstNode is null)
            {
                r.Missing("burst", "the bucket size, at least 1");
            }
            else if (r.IntValue(burstNode, r.PathOf("burst"), int.MinValue, int.MaxValue, "an integer") is { } b)
            {
                burst = b;
                if (burst < 1)
                {
                    r.Error("burst", $"{burst} is less than 1; the bucket must hold at least one request");
                }
            }

            int maxKeys = RateLimitSpec.DefaultMaxKeys;
            if (r.Int("maxKeys", 1, RateLimitSpec.MaxMaxKeys, hint: "the most keys holding a bucket at once") is { } max)
            {
                if (keyText == "none")
                {
                    r.Error("maxKeys", "has no effect with key: none (one bucket for every request); remove it, or key the limit by sourcePrincipal or header:<Name>");
                }

                maxKeys = max;
            }

            r.Finish();
            return name is null ? null : new RateLimitSpec(name, paths, methods, key, rps, burst) { MaxKeys = maxKeys };
        }

        private OutboundSpec ReadOutbound(YamlMap o, ChannelMode defaultMode)
        {
            ListenAddress listen = Listen(o) ?? new ListenAddress(IPAddress.Loopback, MeshNames.OutboundPort);
            ChannelMode mode = defaultMode;
            YamlNode? modeNode = o.Raw("mode");
            if (modeNode is YamlScalarNode { Value: "PERMISSIVE" })
            {
                o.Error("mode", "PERMISSIVE applies to inbound only; expected STRICT or DISABLE");
            }
            else if (modeNode is not null && o.EnumValue(modeNode, o.PathOf("mode"), s_outboundModes) is { } written)
            {
                mode = written;
                if (mode == ChannelMode.Strict && !options.PqChannelAvailable)
                {
                    o.Error("mode", "STRICT requires the PQ channel, not available in this build; use mode: DISABLE for plaintext");
                }
            }

            var routes = new List<OutboundRouteSpec>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (YamlMap item in o.MapList("routes", "route"))
            {
                if (ReadRoute(item, mode) is { } route)
                {
                    if (!seen.Add(route.Id))
                    {
                        item.Error($"host \"{route.Host}\"{(route.PathPrefix is null ? "" : $" with pathPrefix \"{route.PathPrefix}\"")} is already routed by an earlier route");
                    }

                    routes.Add(route);
                }
            }

            ListenerLimitsSpec limits = ReadLimits(o, ListenerLimitsSpec.Default, inbound: false);
            H2UpgradePolicy h2Upgrade = o.Enum("h2UpgradePolicy", s_meshH2Upgrade) ?? H2UpgradePolicy.Default;
            o.Finish();
            return new OutboundSpec(listen, mode, routes) { Limits = limits, H2UpgradePolicy = h2Upgrade };
        }

        private OutboundRouteSpec? ReadRoute(YamlMap r, ChannelMode mode)
        {
            string? host = r.String("host", required: true, hint: "the host name the app calls");
            if (host is not null)
            {
                if (Uri.CheckHostName(host) is UriHostNameType.Unknown or UriHostNameType.Basic || host.Contains(':', StringComparison.Ordinal))
                {
                    r.Error("host", $"\"{host}\" is not a host name; write the Host the app calls without scheme or port, e.g. nawal.belizechain.svc.cluster.local");
                    host = null;
                }
                else
                {
                    host = host.ToLowerInvariant();
                }
            }

            string? prefix = r.String("pathPrefix", hint: "a path prefix, e.g. /api/");
            if (prefix is not null && (prefix[0] != '/' || prefix.Contains('*', StringComparison.Ordinal) || prefix.Contains('?', StringComparison.Ordinal)))
            {
                r.Error("pathPrefix", $"\"{prefix}\" must start with '/' and contain no '*' or '?'");
                prefix = null;
            }

            List<EndpointAddress> endpoints = Endpoints(r, "nawal.belizechain.svc.cluster.local:16443") ?? [];
            if (r.Raw("endpoints") is null)
            {
                r.Missing("endpoints", "list at least one \"host:port\"");
            }

            TimeSpan dnsRefresh = r.Duration("dnsRefresh") ?? OutboundRouteSpec.DefaultDnsRefresh;
            if (dnsRefresh < s_minDnsRefresh)
            {
                r.Error("dnsRefresh", $"{DurationText(dnsRefresh)} is too short; re-resolving more often than once a second loads the cluster DNS for nothing (records live 5 s), use at least 1s");
                dnsRefresh = OutboundRouteSpec.DefaultDnsRefresh;
            }

            int? appPort = r.Int("appPort", 1, 65535, hint: "a port number (the peer's app port, one of its spec.inbound.apps)");

            string? identity = SpiffeIdField(r, "identity");
            if (identity is null && r.Raw("identity") is null && mode == ChannelMode.Strict && options.PqChannelAvailable)
            {
                r.Error("identity", "required with outbound mode STRICT: the SPIFFE ID the peer must prove, e.g. spiffe://cluster.local/ns/<ns>/sa/<sa>");
            }

            TimeSpan timeout = r.Duration("timeout") ?? options.DefaultTimeout;
            RetryPolicySpec? retryPolicy = ReadRetries(r, out RetryBudgetSpec budget, allowBudget: true);
            int attempts = retryPolicy?.Attempts ?? 0;

            LoadBalancingPolicy policy = LoadBalancingPolicy.RoundRobin;
            string? hashHeader = null;
            if (ReadLoadBalancing(r) is { } balancing)
            {
                (policy, hashHeader) = balancing;
            }

            int consecutiveFailures = 5;
            TimeSpan ejectionTime = TimeSpan.FromSeconds(30);
            if (r.Map("outlierDetection", "outlier detection") is { } outlier)
            {
                if (outlier.Raw("consecutiveFailures") is { } cf
                    && outlier.IntValue(cf, outlier.PathOf("consecutiveFailures"), int.MinValue, int.MaxValue, "an integer") is { } failures)
                {
                    if (failures < 0)
                    {
                        outlier.Error("consecutiveFailures", $"{failures} is negative; use 0 to turn ejection off");
                    }
                    else
                    {
                        consecutiveFailures = failures;
                    }
                }

                ejectionTime = outlier.Duration("ejectionTime") ?? ejectionTime;
                outlier.Finish();
            }

            H2UpgradePolicy h2Upgrade = H2UpgradePolicy.Default;
            if (r.Map("connectionPool", "connection pool settings") is { } pool)
            {
                h2Upgrade = pool.Enum("h2UpgradePolicy", s_routeH2Upgrade) ?? H2UpgradePolicy.Default;
                pool.Finish();
            }

            IReadOnlyList<HttpRuleSpec> http = ReadHttpRules(r);
            r.Finish();
            return host is null || endpoints.Count == 0
                ? null
                : new OutboundRouteSpec(host, prefix, endpoints, identity, timeout, attempts, policy, hashHeader, consecutiveFailures, ejectionTime)
                {
                    Retries = retryPolicy,
                    RetryBudget = budget,
                    Http = http,
                    DnsRefresh = dnsRefresh,
                    AppPort = appPort,
                    H2UpgradePolicy = h2Upgrade,
                };
        }

        /// <summary><c>endpoints</c> of a route or a destination: null when absent or not a list (reported).</summary>
        private List<EndpointAddress>? Endpoints(YamlMap map, string example)
        {
            var endpoints = new List<EndpointAddress>();
            bool present = map.ForEachItem("endpoints", "\"host:port\" string", (item, at) =>
            {
                if (map.ScalarText(item, at, "a \"host:port\" string") is not { } text)
                {
                    return;
                }

                if (EndpointAddress.TryParse(text, out EndpointAddress? address))
                {
                    endpoints.Add(address);
                }
                else
                {
                    ctx.Error(item, at, $"\"{text}\" is not \"host:port\" (port 1-65535), e.g. \"{example}\"");
                }
            });
            if (map.Peek("endpoints") is YamlSequenceNode { Children.Count: 0 })
            {
                map.Error("endpoints", "the list is empty; list at least one \"host:port\"");
            }

            return present ? endpoints : null;
        }

        /// <summary><c>loadBalancing</c> of a route or a destination; null when absent.</summary>
        private static (LoadBalancingPolicy Policy, string? HashHeader)? ReadLoadBalancing(YamlMap parent)
        {
            if (parent.Map("loadBalancing", "load balancing") is not { } lb)
            {
                return null;
            }

            LoadBalancingPolicy policy = lb.Enum("policy", s_lbPolicies) ?? LoadBalancingPolicy.RoundRobin;
            string? hashHeader = lb.String("header", hint: "a request header name, e.g. X-Participant-ID");
            if (hashHeader is not null && !IsHeaderName(hashHeader))
            {
                lb.Error("header", $"\"{hashHeader}\" is not a valid header name");
            }
            else if (hashHeader is not null && policy != LoadBalancingPolicy.ConsistentHash)
            {
                lb.Error("header", "only used with policy ConsistentHash");
            }
            else if (hashHeader is null && policy == LoadBalancingPolicy.ConsistentHash)
            {
                lb.Error("header", "required with policy ConsistentHash (the request header to hash, e.g. X-Participant-ID)");
            }

            lb.Finish();
            return (policy, hashHeader);
        }
    }
}
