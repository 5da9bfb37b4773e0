using BelizeMesh.Injector.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace BelizeMesh.Injector.Tests;

public sealed class ConfigTests
{
    [Fact]
    public void Empty_file_gives_the_documented_defaults()
    {
        InjectorConfig config = InjectorConfigLoader.Parse("", "empty.yaml");
        Assert.Equal(InjectorConfig.Default, config);
        Assert.Equal(new ResourceQuantities("100m", "128Mi"), config.Requests);
        Assert.Equal(new ResourceQuantities("500m", "512Mi"), config.Limits);
        Assert.Equal(new SidecarPorts(16443, 16001, 16090), config.Ports);
        Assert.False(config.NativeSidecar);
        Assert.Equal(FailurePolicy.Fail, config.FailurePolicy);
        Assert.NotEqual(1337, config.RunAsUser);
    }

    [Fact]
    public void Every_setting_is_read()
    {
        const string yaml = """
            image: registry.example/bm/proxy:9.9.9
            imagePullPolicy: Always
            nativeSidecar: true
            failurePolicy: Ignore
            runAsUser: 20001
            runAsGroup: 20002
            ports: { inbound: 17443, outbound: 17001, admin: 17090 }
            resources:
              requests: { cpu: 0.2, memory: 200Mi }
              limits: { cpu: "1", memory: 1Gi }
            ignoredNamespaces: [kube-system, istio-system]
            maxRequestBytes: 1048576
            """;
        InjectorConfig config = InjectorConfigLoader.Parse(yaml, "all.yaml");
        Assert.Equal("registry.example/bm/proxy:9.9.9", config.Image);
        Assert.Equal("Always", config.ImagePullPolicy);
        Assert.True(config.NativeSidecar);
        Assert.Equal(FailurePolicy.Ignore, config.FailurePolicy);
        Assert.Equal(20001, config.RunAsUser);
        Assert.Equal(20002, config.RunAsGroup);
        Assert.Equal(new SidecarPorts(17443, 17001, 17090), config.Ports);
        Assert.Equal(new ResourceQuantities("0.2", "200Mi"), config.Requests);
        Assert.Equal(new ResourceQuantities("1", "1Gi"), config.Limits);
        Assert.Equal(["kube-system", "istio-system"], config.IgnoredNamespaces);
        Assert.Equal(1048576, config.MaxRequestBytes);
    }

    [Fact]
    public void Every_problem_is_reported_with_line_column_and_fix()
    {
        const string yaml = """
            imagee: x
            runAsUser: 1337
            runAsGroup: 0
            ports:
              inbound: 15001
              admin: "16090"
              extra: 1
            resources:
              requests: { cpu: lots }
              limits: { memory: 64Mi }
            nativeSidecar: maybe
            imagePullPolicy: Sometimes
            """;
        var e = Assert.Throws<ConfigException>(() => InjectorConfigLoader.Parse(yaml, "bad.yaml"));
        Assert.Equal(
        [
            "bad.yaml:1:1: imagee: unknown field \"imagee\"; did you mean \"image\"? (allowed here: clusterName, failurePolicy, httpProxy, ignoredNamespaces, image, imagePullPolicy, maxRequestBytes, nativeSidecar, noProxy, ports, resources, runAsGroup, runAsUser)",
            "bad.yaml:2:12: runAsUser: 1337 is Istio's proxy id, whose traffic Istio never redirects: choose another id (e.g. 16016)",
            "bad.yaml:3:13: runAsGroup: 0 is root or invalid: the sidecar runs as a non-root id (e.g. 16016)",
            "bad.yaml:5:12: ports.inbound: 15001 is reserved by Istio (15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090): choose another port",
            "bad.yaml:6:10: ports.admin: expected a TCP port from 1 to 65535, got the string \"16090\"",
            "bad.yaml:7:3: ports.extra: unknown field \"extra\" (allowed here: admin, inbound, outbound)",
            "bad.yaml:9:3: resources: memory request 128Mi is above its limit 64Mi: Kubernetes would reject every injected pod; raise the limit or lower the request",
            "bad.yaml:9:20: resources.requests.cpu: \"lots\" is not a positive Kubernetes quantity; expected e.g. 100m, 0.5, 128Mi, 1Gi",
            "bad.yaml:11:16: nativeSidecar: expected true or false, got \"maybe\"",
            "bad.yaml:12:18: imagePullPolicy: \"Sometimes\" is not a pull policy: use Always, IfNotPresent or Never",
        ], e.Message.Split(Environment.NewLine));
    }

    [Fact]
    public void Cluster_name_is_read_and_a_bad_one_is_rejected_with_the_rule()
    {
        Assert.Null(InjectorConfig.Default.ClusterName);
        Assert.Equal("east-1", InjectorConfigLoader.Parse("clusterName: east-1\n", "c.yaml").ClusterName);
        var e = Assert.Throws<ConfigException>(() => InjectorConfigLoader.Parse("clusterName: \"east 1\"\n", "c.yaml"));
        Assert.Equal("c.yaml:1:14: clusterName: \"east 1\" is not a cluster name: use 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (Istio's global.multiCluster.clusterName, e.g. east-1)", e.Message);
    }

    [Fact]
    public void A_port_on_the_status_listener_is_rejected()
    {
        var e = Assert.Throws<ConfigException>(() => InjectorConfigLoader.Parse("ports: { admin: 16021 }\n", "p.yaml"));
        Assert.Equal("p.yaml:1:8: ports: port 16021 is the sidecar's status listener (the readiness probe); choose another port", e.Message);
    }

    [Fact]
    public void Same_port_twice_is_rejected()
    {
        var e = Assert.Throws<ConfigException>(() => InjectorConfigLoader.Parse("ports: { admin: 16443 }\n", "p.yaml"));
        Assert.Equal("p.yaml:1:8: ports: inbound 16443, outbound 16001 and admin 16443 must be three different ports", e.Message);
    }

    [Fact]
    public void Invalid_yaml_is_reported_with_position()
    {
        var e = Assert.Throws<ConfigException>(() => InjectorConfigLoader.Parse("image: [unclosed\n", "y.yaml"));
        Assert.StartsWith("y.yaml:2:1: not valid YAML: ", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("100m", 0.1)]
    [InlineData("0.5", 0.5)]
    [InlineData("128Mi", 134217728)]
    [InlineData("1Gi", 1073741824)]
    [InlineData("2k", 2000)]
    [InlineData("1e3", 1000)]
    [InlineData("1.5G", 1500000000)]
    public void Quantity_parses_kubernetes_notation(string text, double expected) =>
        Assert.True(Quantity.TryParse(text, out decimal value) && value == (decimal)expected, $"{text} -> {value}");

    [Theory]
    [InlineData("")]
    [InlineData("m")]
    [InlineData("1.2.3")]
    [InlineData("12MB")]
    [InlineData("lots")]
    public void Quantity_rejects_non_quantities(string text) => Assert.False(Quantity.TryParse(text, out _));

    [Fact]
    public void Store_reload_applies_good_file_and_keeps_last_good_on_bad_file()
    {
        string dir = Directory.CreateTempSubdirectory("bm-config-").FullName;
        try
        {
            string path = Path.Combine(dir, "config.yaml");
            File.WriteAllText(path, "image: a:1\n");
            using var store = new ConfigStore(path, NullLogger.Instance);
            var events = new List<bool>();
            store.Reloaded += events.Add;
            Assert.Equal("a:1", store.Current.Config.Image);

            File.WriteAllText(path, "image: b:2\n");
            Assert.True(store.Reload());
            Assert.Equal("b:2", store.Current.Config.Image);

            File.WriteAllText(path, "image: c:3\nports: nonsense\n");
            Assert.False(store.Reload());
            Assert.Equal("b:2", store.Current.Config.Image);

            File.Delete(path);
            Assert.False(store.Reload());
            Assert.Equal("b:2", store.Current.Config.Image);

            Assert.False(store.Reload()); // the same failure again is still a failure, and still keeps b:2
            Assert.Equal([true, false, false, false], events);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Store_reports_a_rejected_edit_again_when_it_is_made_again_after_being_undone()
    {
        string dir = Directory.CreateTempSubdirectory("bm-config-").FullName;
        try
        {
            string path = Path.Combine(dir, "config.yaml");
            string exclusions = Path.Combine(dir, "exclusions.yaml");
            const string Good = "image: a:1\n", Bad = "image: a:1\nports: nonsense\n";
            const string GoodList = "exclude:\n  - namespace: shop\n    matchLabels: { app: db }\n", BadList = "exclude:\n  - namespace: shop\n";
            File.WriteAllText(path, Good);
            File.WriteAllText(exclusions, GoodList);
            using var store = new ConfigStore(path, NullLogger.Instance, exclusionsPath: exclusions);
            var events = new List<bool>();
            store.Reloaded += events.Add;

            foreach ((string file, string good, string bad) in new[] { (path, Good, Bad), (exclusions, GoodList, BadList) })
            {
                File.WriteAllText(file, bad);
                Assert.False(store.Reload());
                File.WriteAllText(file, good); // undone: the file holds what is in force, nothing to reload
                Assert.False(store.Reload());
                File.WriteAllText(file, bad); // the same edit again is reported (and counted) again
                Assert.False(store.Reload());
            }

            Assert.Equal([false, false, false, false], events);
            Assert.Equal("a:1", store.Current.Config.Image);
            Assert.Equal("shop", Assert.Single(store.Current.Config.Exclusions).Namespace);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Store_without_file_uses_defaults_and_never_reloads()
    {
        using var store = new ConfigStore(null, NullLogger.Instance);
        Assert.Equal(InjectorConfig.Default, store.Current.Config);
        Assert.False(store.Reload());
    }
}
