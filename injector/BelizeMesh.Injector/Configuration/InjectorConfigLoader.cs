using System.Globalization;
using BelizeMesh.Configuration;
using BelizeMesh.Injector.Kubernetes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Injector.Configuration;

/// <summary>A configuration file that cannot be used; <see cref="Exception.Message"/> lists every problem
/// (<c>file:line:column: key: message</c>, one a line).</summary>
internal sealed class ConfigException(string source, IReadOnlyList<ConfigError> problems)
    : Exception(string.Join(Environment.NewLine, problems.Select(p => p.Format(source))))
{
    public IReadOnlyList<ConfigError> Problems { get; } = problems;

    /// <summary>One problem: where (1-based line and column), which key ("(file)" for the whole file), what and how to fix it.</summary>
    public static ConfigError Problem(string source, long line, long column, string key, string message) =>
        new(source, new SourcePosition((int)line, (int)column), key, message);

    /// <summary>The fields of a mapping in the order written (<see cref="YamlFields"/>); a key that is not a string or is
    /// written twice is recorded in <paramref name="problems"/>.</summary>
    public static IReadOnlyList<YamlField> Fields(YamlMappingNode map, string source, string path, List<ConfigError> problems) =>
        YamlFields.Index(
            map,
            known: null, // each schema reports its unknown keys in place, in file order
            badKey: key => problems.Add(Problem(source, key.Start.Line, key.Start.Column, path.Length == 0 ? "(file)" : path, "keys must be plain strings")),
            duplicate: field => problems.Add(Problem(source, field.KeyNode.Start.Line, field.KeyNode.Start.Column, path.Length == 0 ? field.Key : path + "." + field.Key, "set twice: keep one"))).InOrder;

    /// <summary>Bounds and loads one of the injector's YAML files; throws (naming <paramref name="source"/>) when it cannot.</summary>
    public static YamlStream Load(string text, string source)
    {
        if (YamlDocuments.Load(text, out YamlLoadFailure failure) is { } stream)
        {
            return stream;
        }

        string message = failure.Kind switch
        {
            YamlLoadFailureKind.OverLimit => $"refused before parsing: {failure.Reason}",
            YamlLoadFailureKind.Rejected => $"invalid YAML: {failure.Reason.TrimEnd('.')}; check the file's structure (quoting, indentation, tags)",
            _ => $"invalid YAML: {failure.Reason}",
        };
        throw new ConfigException(source, [Problem(source, failure.Line, failure.Column, "(file)", message)]);
    }
}

/// <summary>
/// Parses the injector's YAML configuration with YamlDotNet's representation model and validates all of it before
/// reporting, so one run shows every mistake.
/// </summary>
/// <example>
/// <code>
/// image: ghcr.io/belizemesh/belizemesh-proxy:0.1.0
/// imagePullPolicy: IfNotPresent
/// nativeSidecar: false
/// failurePolicy: Fail            # Fail | Ignore
/// runAsUser: 16016
/// runAsGroup: 16016
/// ports: { inbound: 16443, outbound: 16001, admin: 16090 }
/// resources:
///   requests: { cpu: 100m, memory: 128Mi }
///   limits: { cpu: 500m, memory: 512Mi }
/// ignoredNamespaces: [kube-system, kube-public]
/// maxRequestBytes: 3145728
/// httpProxy: true                # HTTP_PROXY/NO_PROXY on application containers
/// noProxy: [.monitoring.svc]     # extra NO_PROXY entries
/// </code>
/// </example>
internal static class InjectorConfigLoader
{
    private static readonly string[] TopKeys =
        ["image", "imagePullPolicy", "nativeSidecar", "failurePolicy", "runAsUser", "runAsGroup", "ports", "resources", "ignoredNamespaces", "maxRequestBytes", "httpProxy", "noProxy", "clusterName"];

    private static readonly string[] PortKeys = ["inbound", "outbound", "admin"];
    private static readonly string[] ResourceKeys = ["requests", "limits"];
    private static readonly string[] QuantityKeys = ["cpu", "memory"];

    /// <summary>Reads and validates a file; throws <see cref="ConfigException"/> (or an IO exception) when it cannot be used.</summary>
    public static InjectorConfig LoadFile(string path)
    {
        if (!BelizeMesh.Configuration.YamlInputGuard.TryReadFile(path, "configuration file", out string text, out string? error))
        {
            throw new ConfigException(path, [ConfigException.Problem(path, 1, 1, "(file)", error!)]);
        }

        return Parse(text, path);
    }

    /// <summary>Parses and validates configuration text; <paramref name="source"/> names it in errors.</summary>
    public static InjectorConfig Parse(string text, string source)
    {
        var problems = new List<ConfigError>();
        YamlStream stream = ConfigException.Load(text, source);

        if (stream.Documents.Count > 1)
        {
            YamlNode second = stream.Documents[1].RootNode;
            throw new ConfigException(source, [ConfigException.Problem(source, second.Start.Line, second.Start.Column, "(file)", "expected one YAML document, found several: keep only one")]);
        }

        var config = InjectorConfig.Default;
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return config; // an empty file means every default
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            YamlNode node = stream.Documents[0].RootNode;
            throw new ConfigException(source, [ConfigException.Problem(source, node.Start.Line, node.Start.Column, "(file)", "expected a mapping of settings (key: value)")]);
        }

        var reader = new Reader(source, problems);
        foreach (var (key, keyNode, value) in ConfigException.Fields(root, source, "", problems))
        {
            switch (key)
            {
                case "image":
                    string? image = reader.String(value, key);
                    if (image is not null)
                    {
                        if (image.Length == 0 || image.Any(char.IsWhiteSpace))
                        {
                            reader.Problem(value, key, $"'{image}' is not an image reference: use e.g. registry.example/belizemesh-proxy:0.1.0");
                        }

                        config = config with { Image = image };
                    }

                    break;
                case "imagePullPolicy":
                    string? pull = reader.String(value, key);
                    if (pull is not null)
                    {
                        if (pull is not ("Always" or "IfNotPresent" or "Never"))
                        {
                            reader.Problem(value, key, $"'{pull}' is not a pull policy: use Always, IfNotPresent or Never");
                        }

                        config = config with { ImagePullPolicy = pull };
                    }

                    break;
                case "nativeSidecar":
                    if (reader.Bool(value, key) is bool native)
                    {
                        config = config with { NativeSidecar = native };
                    }

                    break;
                case "failurePolicy":
                    string? policy = reader.String(value, key);
                    if (policy is "Fail")
                    {
                        config = config with { FailurePolicy = FailurePolicy.Fail };
                    }
                    else if (policy is "Ignore")
                    {
                        config = config with { FailurePolicy = FailurePolicy.Ignore };
                    }
                    else if (policy is not null)
                    {
                        reader.Problem(value, key, $"'{policy}' is not a failure policy: use Fail or Ignore");
                    }

                    break;
                case "runAsUser":
                case "runAsGroup":
                    if (reader.Long(value, key) is long id)
                    {
                        if (id <= 0)
                        {
                            reader.Problem(value, key, $"{id} is root or invalid: the sidecar runs as a non-root id (e.g. 16016)");
                        }
                        else if (id == WellKnown.IstioProxyUid)
                        {
                            reader.Problem(value, key, "1337 is Istio's proxy id, whose traffic Istio never redirects: choose another id (e.g. 16016)");
                        }

                        config = key == "runAsUser" ? config with { RunAsUser = id } : config with { RunAsGroup = id };
                    }

                    break;
                case "ports":
                    config = config with { Ports = ReadPorts(reader, value, config.Ports) };
                    break;
                case "resources":
                    config = ReadResources(reader, value, config);
                    break;
                case "ignoredNamespaces":
                    if (value is YamlSequenceNode seq)
                    {
                        var list = new List<string>();
                        foreach (YamlNode item in seq.Children)
                        {
                            if (reader.String(item, key) is string ns)
                            {
                                list.Add(ns);
                            }
                        }

                        config = config with { IgnoredNamespaces = list };
                    }
                    else
                    {
                        reader.Problem(value, key, "expected a list of namespace names, e.g. [kube-system, kube-public]");
                    }

                    break;
                case "maxRequestBytes":
                    if (reader.Long(value, key) is long max)
                    {
                        if (max is < 4096 or > 64L * 1024 * 1024)
                        {
                            reader.Problem(value, key, $"{max} is out of range: use 4096 to 67108864 bytes (default 3145728)");
                        }

                        config = config with { MaxRequestBytes = max };
                    }

                    break;
                case "httpProxy":
                    if (reader.Bool(value, key) is bool httpProxy)
                    {
                        config = config with { HttpProxy = httpProxy };
                    }

                    break;
                case "noProxy":
                    config = config with { NoProxy = ReadNoProxy(reader, value) };
                    break;
                case "clusterName":
                    string? cluster = reader.String(value, key);
                    if (cluster is not null)
                    {
                        if (!IsClusterName(cluster))
                        {
                            reader.Problem(value, key, $"'{cluster}' is not a cluster name: use 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (Istio's global.multiCluster.clusterName, e.g. east-1)");
                        }

                        config = config with { ClusterName = cluster };
                    }

                    break;
                default:
                    reader.Problem(keyNode, key, $"unknown setting: known settings are {string.Join(", ", TopKeys)}");
                    break;
            }
        }

        ValidateTogether(config, root, reader);
        if (problems.Count > 0)
        {
            throw new ConfigException(source, problems);
        }

        return config;
    }

    private static List<string> ReadNoProxy(Reader reader, YamlNode value)
    {
        var list = new List<string>();
        if (value is not YamlSequenceNode seq)
        {
            reader.Problem(value, "noProxy", "expected a list of host names, domain suffixes, IP addresses or CIDRs, e.g. [.monitoring.svc, 169.254.169.254]");
            return list;
        }

        foreach (YamlNode item in seq.Children)
        {
            if (reader.String(item, "noProxy") is not string entry)
            {
                continue;
            }

            if (entry.Length == 0 || entry.AsSpan().IndexOfAny(" \t\r\n,\"'$") >= 0)
            {
                reader.Problem(item, "noProxy", $"'{entry}' is not one NO_PROXY entry: write one host name, domain suffix (.example.com), IP address or CIDR per item, without commas or spaces");
                continue;
            }

            list.Add(entry);
        }

        return list;
    }

    private static SidecarPorts ReadPorts(Reader reader, YamlNode value, SidecarPorts ports)
    {
        if (value is not YamlMappingNode map)
        {
            reader.Problem(value, "ports", "expected a mapping: ports: { inbound: 16443, outbound: 16001, admin: 16090 }");
            return ports;
        }

        foreach (var (key, keyNode, portNode) in reader.Fields(map, "ports"))
        {
            string path = "ports." + key;
            if (!PortKeys.Contains(key))
            {
                reader.Problem(keyNode, path, $"unknown port: known ports are {string.Join(", ", PortKeys)}");
                continue;
            }

            if (reader.Long(portNode, path) is not long port)
            {
                continue;
            }

            if (port is < 1 or > 65535)
            {
                reader.Problem(portNode, path, $"{port} is not a TCP port: use 1-65535");
                continue;
            }

            if (Array.IndexOf(WellKnown.IstioReservedPorts, (int)port) >= 0)
            {
                reader.Problem(portNode, path, $"{port} is reserved by Istio ({string.Join(", ", WellKnown.IstioReservedPorts)}): choose another port");
            }

            ports = key switch
            {
                "inbound" => ports with { Inbound = (int)port },
                "outbound" => ports with { Outbound = (int)port },
                _ => ports with { Admin = (int)port },
            };
        }

        return ports;
    }

    private static InjectorConfig ReadResources(Reader reader, YamlNode value, InjectorConfig config)
    {
        if (value is not YamlMappingNode map)
        {
            reader.Problem(value, "resources", "expected a mapping: resources: { requests: { cpu: 100m, memory: 128Mi }, limits: { ... } }");
            return config;
        }

        foreach (var (key, keyNode, section) in reader.Fields(map, "resources"))
        {
            if (!ResourceKeys.Contains(key))
            {
                reader.Problem(keyNode, "resources." + key, "unknown section: use requests or limits");
                continue;
            }

            ResourceQuantities current = key == "requests" ? config.Requests : config.Limits;
            if (section is not YamlMappingNode quantities)
            {
                reader.Problem(section, "resources." + key, "expected a mapping: { cpu: 100m, memory: 128Mi }");
                continue;
            }

            foreach (var (qKey, qKeyNode, qValue) in reader.Fields(quantities, "resources." + key))
            {
                string path = $"resources.{key}.{qKey}";
                if (!QuantityKeys.Contains(qKey))
                {
                    reader.Problem(qKeyNode, path, "unknown resource: use cpu or memory");
                    continue;
                }

                string? text = reader.Scalar(qValue, path);
                if (text is null)
                {
                    continue;
                }

                if (!Quantity.TryParse(text, out decimal amount) || amount <= 0)
                {
                    reader.Problem(qValue, path, $"'{text}' is not a positive Kubernetes quantity: use e.g. 100m, 0.5, 128Mi, 1Gi");
                    continue;
                }

                current = qKey == "cpu" ? current with { Cpu = text } : current with { Memory = text };
            }

            config = key == "requests" ? config with { Requests = current } : config with { Limits = current };
        }

        return config;
    }

    private static bool IsClusterName(string name)
    {
        if (name.Length is 0 or > 63 || !char.IsAsciiLetterOrDigit(name[0]) || !char.IsAsciiLetterOrDigit(name[^1]))
        {
            return false;
        }

        foreach (char c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Checks that need several settings at once.</summary>
    private static void ValidateTogether(InjectorConfig config, YamlMappingNode root, Reader reader)
    {
        SidecarPorts p = config.Ports;
        if (p.Inbound == p.Outbound || p.Inbound == p.Admin || p.Outbound == p.Admin)
        {
            reader.Problem(Find(root, "ports") ?? root, "ports", $"inbound {p.Inbound}, outbound {p.Outbound} and admin {p.Admin} must be three different ports");
        }

        if (p.Inbound == WellKnown.StatusPort || p.Outbound == WellKnown.StatusPort || p.Admin == WellKnown.StatusPort)
        {
            reader.Problem(Find(root, "ports") ?? root, "ports", $"port {WellKnown.StatusPort} is the sidecar's status listener (the readiness probe); choose another port");
        }

        CheckNotAboveLimit(config.Requests.Cpu, config.Limits.Cpu, "cpu", root, reader);
        CheckNotAboveLimit(config.Requests.Memory, config.Limits.Memory, "memory", root, reader);
    }

    private static void CheckNotAboveLimit(string request, string limit, string name, YamlMappingNode root, Reader reader)
    {
        if (Quantity.TryParse(request, out decimal r) && Quantity.TryParse(limit, out decimal l) && r > l)
        {
            reader.Problem(Find(root, "resources") ?? root, "resources",
                $"{name} request {request} is above its limit {limit}: Kubernetes would reject every injected pod; raise the limit or lower the request");
        }
    }

    private static YamlNode? Find(YamlMappingNode map, string key)
    {
        foreach (var (k, v) in map.Children)
        {
            if (k is YamlScalarNode { Value: var name } && name == key)
            {
                return v;
            }
        }

        return null;
    }

    /// <summary>Typed scalar reads that record a problem (with position) instead of throwing.</summary>
    private sealed class Reader(string source, List<ConfigError> problems)
    {
        public IReadOnlyList<YamlField> Fields(YamlMappingNode map, string path) => ConfigException.Fields(map, source, path, problems);

        public void Problem(YamlNode node, string key, string message) =>
            problems.Add(ConfigException.Problem(source, node.Start.Line, node.Start.Column, key, message));

        public string? Scalar(YamlNode node, string key)
        {
            if (node is YamlScalarNode scalar && scalar.Value is not null)
            {
                return scalar.Value;
            }

            Problem(node, key, "expected a single value");
            return null;
        }

        public string? String(YamlNode node, string key) => Scalar(node, key);

        public bool? Bool(YamlNode node, string key)
        {
            string? text = Scalar(node, key);
            switch (text)
            {
                case null:
                    return null;
                case "true" or "True" or "TRUE":
                    return true;
                case "false" or "False" or "FALSE":
                    return false;
                default:
                    Problem(node, key, $"'{text}' is not a boolean: use true or false");
                    return null;
            }
        }

        public long? Long(YamlNode node, string key)
        {
            string? text = Scalar(node, key);
            if (text is null)
            {
                return null;
            }

            if (node is YamlScalarNode { Style: ScalarStyle.Plain }
                && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
            {
                return value;
            }

            Problem(node, key, $"'{text}' is not an integer: write a plain number without quotes");
            return null;
        }
    }
}
