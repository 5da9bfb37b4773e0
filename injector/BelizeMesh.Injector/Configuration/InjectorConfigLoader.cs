using BelizeMesh.Configuration;
using BelizeMesh.Injector.Kubernetes;
using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Injector.Configuration;

/// <summary>A configuration file that cannot be used; <see cref="Exception.Message"/> lists every problem
/// (<c>file:line:column: key: message</c>, one a line).</summary>
internal sealed class ConfigException(string source, IReadOnlyList<ConfigError> problems)
    : Exception(string.Join(Environment.NewLine, problems.Select(p => p.Format(source))))
{
    public IReadOnlyList<ConfigError> Problems { get; } = problems;

    /// <summary>One problem: where (1-based line and column), which key (empty for the whole file), what and how to fix it.</summary>
    public static ConfigError Problem(string source, long line, long column, string key, string message) =>
        new(source, new SourcePosition((int)line, (int)column), key, message);

    /// <summary>Bounds and loads one of the injector's YAML files; throws (naming <paramref name="source"/>) when it cannot,
    /// in the wording every BelizeMesh parser uses (<see cref="YamlDocuments.Describe"/>).</summary>
    public static YamlStream Load(string text, string source)
    {
        if (YamlDocuments.Load(text, out YamlLoadFailure failure) is { } stream)
        {
            return stream;
        }

        throw new ConfigException(source, [YamlDocuments.Describe(failure, source, text)]);
    }

    /// <summary>Throws the problems <paramref name="ctx"/> collected, in file order, if there are any.</summary>
    public static void ThrowIfAny(BindContext ctx)
    {
        if (ctx.Errors.Count > 0)
        {
            throw new ConfigException(ctx.File, ctx.Sorted());
        }
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
    /// <summary>Reads and validates a file; throws <see cref="ConfigException"/> (or an IO exception) when it cannot be used.</summary>
    public static InjectorConfig LoadFile(string path)
    {
        if (!BelizeMesh.Configuration.YamlInputGuard.TryReadFile(path, "configuration file", out string text, out string? error))
        {
            throw new ConfigException(path, [ConfigException.Problem(path, 1, 1, "", error!)]);
        }

        return Parse(text, path);
    }

    /// <summary>Parses and validates configuration text; <paramref name="source"/> names it in errors.</summary>
    public static InjectorConfig Parse(string text, string source)
    {
        YamlStream stream = ConfigException.Load(text, source);
        if (stream.Documents.Count > 1)
        {
            YamlNode second = stream.Documents[1].RootNode;
            throw new ConfigException(source, [ConfigException.Problem(source, second.Start.Line, second.Start.Column, "", "expected one YAML document, found several: keep only one")]);
        }

        var config = InjectorConfig.Default;
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode root0 && BindContext.IsNull(root0))
        {
            return config; // an empty file means every default
        }

        var ctx = new BindContext(source) { QuotedBooleans = true }; // as the configuration was always read
        if (YamlMap.From(stream.Documents[0].RootNode, "", ctx, "the injector's settings") is not { } root)
        {
            ConfigException.ThrowIfAny(ctx);
            return config;
        }

        if (root.String("image", hint: "an image reference, e.g. registry.example/belizemesh-proxy:0.1.0") is { } image)
        {
            if (image.Any(char.IsWhiteSpace))
            {
                root.Error("image", $"\"{image}\" is not an image reference: use e.g. registry.example/belizemesh-proxy:0.1.0");
            }

            config = config with { Image = image };
        }

        if (root.String("imagePullPolicy", hint: "Always, IfNotPresent or Never") is { } pull)
        {
            if (pull is not ("Always" or "IfNotPresent" or "Never"))
            {
                root.Error("imagePullPolicy", $"\"{pull}\" is not a pull policy: use Always, IfNotPresent or Never");
            }

            config = config with { ImagePullPolicy = pull };
        }

        if (root.Bool("nativeSidecar") is bool native)
        {
            config = config with { NativeSidecar = native };
        }

        if (root.Enum("failurePolicy", s_failurePolicies) is { } failurePolicy)
        {
            config = config with { FailurePolicy = failurePolicy };
        }

        if (Id(root, "runAsUser") is long user)
        {
            config = config with { RunAsUser = user };
        }

        if (Id(root, "runAsGroup") is long group)
        {
            config = config with { RunAsGroup = group };
        }

        config = config with { Ports = ReadPorts(root, config.Ports) };
        config = ReadResources(root, config);
        IReadOnlyList<string> ignored = root.StringList("ignoredNamespaces", "namespace name");
        if (root.Peek("ignoredNamespaces") is YamlSequenceNode)
        {
            config = config with { IgnoredNamespaces = ignored };
        }

        if (root.Long("maxRequestBytes") is long max)
        {
            if (max is < 4096 or > 64L * 1024 * 1024)
            {
                root.Error("maxRequestBytes", $"{max} is out of range: use 4096 to 67108864 bytes (default 3145728)");
            }

            config = config with { MaxRequestBytes = max };
        }

        if (root.Bool("httpProxy") is bool httpProxy)
        {
            config = config with { HttpProxy = httpProxy };
        }

        if (ReadNoProxy(root) is { } noProxy)
        {
            config = config with { NoProxy = noProxy };
        }

        if (root.String("clusterName", hint: "a cluster name, e.g. east-1") is { } cluster)
        {
            if (!IsClusterName(cluster))
            {
                root.Error("clusterName", $"\"{cluster}\" is not a cluster name: use 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (Istio's global.multiCluster.clusterName, e.g. east-1)");
            }

            config = config with { ClusterName = cluster };
        }

        root.Finish();
        ValidateTogether(config, root);
        ConfigException.ThrowIfAny(ctx);
        return config;
    }

    private static readonly (string, FailurePolicy)[] s_failurePolicies = [("Fail", FailurePolicy.Fail), ("Ignore", FailurePolicy.Ignore)];

    /// <summary><c>runAsUser</c> / <c>runAsGroup</c>: a non-root id that is not Istio's proxy id.</summary>
    private static long? Id(YamlMap root, string key)
    {
        if (root.Long(key, "a user or group id") is not long id)
        {
            return null;
        }

        if (id <= 0)
        {
            root.Error(key, $"{id} is root or invalid: the sidecar runs as a non-root id (e.g. 16016)");
        }
        else if (id == WellKnown.IstioProxyUid)
        {
            root.Error(key, "1337 is Istio's proxy id, whose traffic Istio never redirects: choose another id (e.g. 16016)");
        }

        return id;
    }

    private static List<string>? ReadNoProxy(YamlMap root)
    {
        var list = new List<string>();
        bool present = root.ForEachItem("noProxy", "NO_PROXY entrie", (item, at) =>
        {
            if (root.ScalarText(item, at, "a host name, domain suffix, IP address or CIDR") is not { } entry)
            {
                return;
            }

            if (entry.Length == 0 || entry.AsSpan().IndexOfAny(" \t\r\n,\"'$") >= 0)
            {
                root.Context.Error(item, at, $"\"{entry}\" is not one NO_PROXY entry: write one host name, domain suffix (.example.com), IP address or CIDR per item, without commas or spaces");
                return;
            }

            list.Add(entry);
        });
        return present ? list : null;
    }

    private static SidecarPorts ReadPorts(YamlMap root, SidecarPorts ports)
    {
        if (root.Map("ports", "the sidecar's ports, e.g. { inbound: 16443, outbound: 16001, admin: 16090 }") is not { } map)
        {
            return ports;
        }

        foreach (string key in (ReadOnlySpan<string>)["inbound", "outbound", "admin"])
        {
            if (map.Int(key, 1, 65535, hint: "a TCP port") is not int port)
            {
                continue;
            }

            if (Array.IndexOf(WellKnown.IstioReservedPorts, port) >= 0)
            {
                map.Error(key, $"{port} is reserved by Istio ({string.Join(", ", WellKnown.IstioReservedPorts)}): choose another port");
            }

            ports = key switch
            {
                "inbound" => ports with { Inbound = port },
                "outbound" => ports with { Outbound = port },
                _ => ports with { Admin = port },
            };
        }

        map.Finish();
        return ports;
    }

    private static InjectorConfig ReadResources(YamlMap root, InjectorConfig config)
    {
        if (root.Map("resources", "the sidecar's resources, e.g. { requests: { cpu: 100m, memory: 128Mi }, limits: { ... } }") is not { } map)
        {
            return config;
        }

        foreach (string key in (ReadOnlySpan<string>)["requests", "limits"])
        {
            if (map.Map(key, "quantities, e.g. { cpu: 100m, memory: 128Mi }") is not { } quantities)
            {
                continue;
            }

            ResourceQuantities current = key == "requests" ? config.Requests : config.Limits;
            if (quantities.Quantity("cpu") is { } cpu)
            {
                current = current with { Cpu = cpu };
            }

            if (quantities.Quantity("memory") is { } memory)
            {
                current = current with { Memory = memory };
            }

            quantities.Finish();
            config = key == "requests" ? config with { Requests = current } : config with { Limits = current };
        }

        map.Finish();
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
    private static void ValidateTogether(InjectorConfig config, YamlMap root)
    {
        SidecarPorts p = config.Ports;
        if (p.Inbound == p.Outbound || p.Inbound == p.Admin || p.Outbound == p.Admin)
        {
            root.Error("ports", $"inbound {p.Inbound}, outbound {p.Outbound} and admin {p.Admin} must be three different ports");
        }

        if (p.Inbound == WellKnown.StatusPort || p.Outbound == WellKnown.StatusPort || p.Admin == WellKnown.StatusPort)
        {
            root.Error("ports", $"port {WellKnown.StatusPort} is the sidecar's status listener (the readiness probe); choose another port");
        }

        CheckNotAboveLimit(config.Requests.Cpu, config.Limits.Cpu, "cpu", root);
        CheckNotAboveLimit(config.Requests.Memory, config.Limits.Memory, "memory", root);
    }

    private static void CheckNotAboveLimit(string request, string limit, string name, YamlMap root)
    {
        if (BelizeMesh.Configuration.Quantity.TryParse(request, out decimal r) && BelizeMesh.Configuration.Quantity.TryParse(limit, out decimal l) && r > l)
        {
            root.Error("resources", $"{name} request {request} is above its limit {limit}: Kubernetes would reject every injected pod; raise the limit or lower the request");
        }
    }
}
