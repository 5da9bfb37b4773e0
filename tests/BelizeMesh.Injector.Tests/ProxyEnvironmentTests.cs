using System.Text.Json.Nodes;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Injection;
using BelizeMesh.Injector.Tests.Support;

namespace BelizeMesh.Injector.Tests;

/// <summary>HTTP_PROXY / NO_PROXY on the application containers of an injected pod (transparent outbound).</summary>
public sealed class ProxyEnvironmentTests
{
    private static readonly SidecarTemplate Default = new(InjectorConfig.Default);

    private const string BaseNoProxy = "localhost,127.0.0.1,::1,$(BELIZEMESH_POD_NAME),$(BELIZEMESH_POD_IP)";

    private static JsonObject Injected(JsonObject pod, SidecarTemplate? template = null) => Reviews.Injected(pod, template ?? Default);

    private static Dictionary<string, JsonNode?> Env(JsonObject pod, int container) =>
        (pod["spec"]!["containers"]![container]!["env"] as JsonArray ?? [])
            .ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!["value"] ?? e!["valueFrom"]);

    private static JsonObject Container(string name, JsonArray? env = null)
    {
        var c = new JsonObject { ["name"] = name, ["image"] = name + ":1" };
        if (env is not null)
        {
            c["env"] = env;
        }

        return c;
    }

    private static JsonObject Spec(params JsonObject[] containers)
    {
        var list = new JsonArray();
        foreach (JsonObject c in containers)
        {
            list.Add((JsonNode)c);
        }

        return new JsonObject { ["containers"] = list };
    }

    [Fact]
    public void App_container_gets_the_outbound_listener_as_http_proxy_and_loopback_and_itself_in_no_proxy()
    {
        JsonObject pod = Injected(Reviews.Pod());
        var env = Env(pod, 0);
        Assert.Equal("http://127.0.0.1:16001", (string?)env["HTTP_PROXY"]);
        Assert.Equal("http://127.0.0.1:16001", (string?)env["http_proxy"]);
        Assert.Equal(BaseNoProxy, (string?)env["NO_PROXY"]);
        Assert.Equal(BaseNoProxy, (string?)env["no_proxy"]);
        Assert.Equal("metadata.name", (string?)env["BELIZEMESH_POD_NAME"]!["fieldRef"]!["fieldPath"]);
        Assert.Equal("status.podIP", (string?)env["BELIZEMESH_POD_IP"]!["fieldRef"]!["fieldPath"]);
        // $(VAR) expands only variables defined earlier in the list.
        var names = pod["spec"]!["containers"]![0]!["env"]!.AsArray().Select(e => (string)e!["name"]!).ToList();
        Assert.True(names.IndexOf("BELIZEMESH_POD_IP") < names.IndexOf("NO_PROXY"));
        // HTTPS destinations never go to the sidecar (it answers CONNECT with 501).
        Assert.False(env.ContainsKey("HTTPS_PROXY"));
        Assert.False(env.ContainsKey("https_proxy"));
    }

    [Fact]
    public void Outbound_port_comes_from_the_configuration()
    {
        var template = new SidecarTemplate(InjectorConfig.Default with { Ports = new SidecarPorts(16443, 17001, 16090) });
        Assert.Equal("http://127.0.0.1:17001", (string?)Env(Injected(Reviews.Pod(), template), 0)["HTTP_PROXY"]);
    }

    [Fact]
    public void Sidecars_are_not_given_the_proxy_and_every_app_container_is()
    {
        JsonObject pod = Injected(Reviews.Pod(spec: Spec(Container("web"), Container("istio-proxy"), Container("worker"))));
        Assert.Equal("http://127.0.0.1:16001", (string?)Env(pod, 0)["HTTP_PROXY"]);
        Assert.Empty(Env(pod, 1));
        Assert.Equal("http://127.0.0.1:16001", (string?)Env(pod, 2)["HTTP_PROXY"]);
        Assert.Equal("belizemesh-proxy", (string?)pod["spec"]!["containers"]![3]!["name"]);
        Assert.False(Env(pod, 3).ContainsKey("HTTP_PROXY")); // the sidecar gets only its workload labels
        Assert.True(Env(pod, 3).ContainsKey("BELIZEMESH_POD_NAMESPACE"));
    }

    [Fact]
    public void Existing_env_list_is_appended_to_and_user_variables_keep_their_place_and_value()
    {
        var env = new JsonArray(new JsonObject { ["name"] = "LOG_LEVEL", ["value"] = "debug" });
        JsonObject pod = Injected(Reviews.Pod(spec: Spec(Container("web", env))));
        var list = pod["spec"]!["containers"]![0]!["env"]!.AsArray();
        Assert.Equal("LOG_LEVEL", (string?)list[0]!["name"]);
        Assert.Equal("debug", (string?)list[0]!["value"]);
        Assert.Equal(7, list.Count);
    }

    [Theory]
    [InlineData("HTTP_PROXY")]
    [InlineData("http_proxy")]
    public void A_container_whose_author_set_a_proxy_is_left_alone(string variable)
    {
        var env = new JsonArray(new JsonObject { ["name"] = variable, ["value"] = "http://corporate-proxy:3128" });
        JsonObject pod = Injected(Reviews.Pod(spec: Spec(Container("web", env), Container("worker"))));
        var web = Env(pod, 0);
        Assert.Single(web);
        Assert.Equal("http://corporate-proxy:3128", (string?)web[variable]);
        Assert.Equal("http://127.0.0.1:16001", (string?)Env(pod, 1)["HTTP_PROXY"]);
    }

    [Theory]
    [InlineData("NO_PROXY")]
    [InlineData("no_proxy")]
    public void Author_no_proxy_is_never_overwritten(string variable)
    {
        var env = new JsonArray(new JsonObject { ["name"] = variable, ["value"] = "localhost,.internal" });
        var result = Env(Injected(Reviews.Pod(spec: Spec(Container("web", env)))), 0);
        Assert.Equal("localhost,.internal", (string?)result[variable]);
        Assert.Equal("http://127.0.0.1:16001", (string?)result["HTTP_PROXY"]);
        Assert.False(result.ContainsKey(variable == "NO_PROXY" ? "no_proxy" : "NO_PROXY"));
    }

    [Theory]
    [InlineData("false")]
    [InlineData("FALSE")]
    public void Opt_out_annotation_leaves_every_container_environment_alone(string value)
    {
        var annotations = new JsonObject { ["belizemesh.io/http-proxy"] = value };
        InjectionResult result = SidecarInjector.Inject(Reviews.Pod(annotations: annotations), "shop", Default);
        Assert.Equal(InjectionReason.Injected, result.Reason);
        Assert.DoesNotContain(result.Patch, op => op.Path.EndsWith("/env", StringComparison.Ordinal) || op.Path.Contains("/env/", StringComparison.Ordinal));
        Assert.Null(result.Message);
    }

    [Fact]
    public void Configuration_can_turn_it_off_and_a_pod_can_turn_it_back_on()
    {
        var off = new SidecarTemplate(InjectorConfig.Default with { HttpProxy = false });
        Assert.Empty(Env(Injected(Reviews.Pod(), off), 0));
        var annotations = new JsonObject { ["belizemesh.io/http-proxy"] = "true" };
        Assert.Equal("http://127.0.0.1:16001", (string?)Env(Injected(Reviews.Pod(annotations: annotations), off), 0)["HTTP_PROXY"]);
    }

    [Fact]
    public void Unusable_opt_out_value_is_ignored_with_a_warning()
    {
        var annotations = new JsonObject { ["belizemesh.io/http-proxy"] = "no" };
        InjectionResult result = SidecarInjector.Inject(Reviews.Pod(annotations: annotations), "shop", Default);
        Assert.Equal(InjectionReason.Injected, result.Reason);
        Assert.Contains("belizemesh.io/http-proxy has the value 'no'", result.Message, StringComparison.Ordinal);
        Assert.Contains(result.Patch, op => op.Path == "/spec/containers/0/env");
    }

    [Fact]
    public void Configured_and_annotated_no_proxy_entries_are_appended_once()
    {
        var template = new SidecarTemplate(InjectorConfig.Default with { NoProxy = [".monitoring.svc", "169.254.169.254"] });
        var annotations = new JsonObject { ["belizemesh.io/no-proxy"] = " api.example.com, .monitoring.svc ,10.0.0.0/8" };
        var env = Env(Injected(Reviews.Pod(annotations: annotations), template), 0);
        Assert.Equal(BaseNoProxy + ",.monitoring.svc,169.254.169.254,api.example.com,10.0.0.0/8", (string?)env["NO_PROXY"]);
    }

    [Theory]
    [InlineData("a.example.com,,b")]
    [InlineData("a.example.com b")]
    [InlineData("$(SECRET)")]
    public void Bad_no_proxy_annotation_is_a_failure_naming_the_entry(string value)
    {
        var annotations = new JsonObject { ["belizemesh.io/no-proxy"] = value };
        InjectionResult result = SidecarInjector.Inject(Reviews.Pod(annotations: annotations), "shop", Default);
        Assert.Equal(InjectionReason.InvalidPod, result.Reason);
        Assert.True(result.IsFailure);
        Assert.Contains("belizemesh.io/no-proxy entry", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Native_sidecar_pods_get_the_variables_on_app_containers_only()
    {
        var template = new SidecarTemplate(InjectorConfig.Default with { NativeSidecar = true });
        var spec = Spec(Container("web"));
        spec["initContainers"] = new JsonArray(Container("migrate"));
        JsonObject pod = Injected(Reviews.Pod(spec: spec), template);
        Assert.Equal("http://127.0.0.1:16001", (string?)Env(pod, 0)["HTTP_PROXY"]);
        Assert.All(pod["spec"]!["initContainers"]!.AsArray(), c => Assert.DoesNotContain(c!["env"]?.AsArray() ?? [], e => (string?)e!["name"] == "HTTP_PROXY"));
    }

    [Fact]
    public void Configuration_file_reads_http_proxy_and_no_proxy_and_rejects_bad_entries()
    {
        InjectorConfig config = InjectorConfigLoader.Parse("httpProxy: false\nnoProxy: [.monitoring.svc, 169.254.169.254]\n", "c.yaml");
        Assert.False(config.HttpProxy);
        Assert.Equal([".monitoring.svc", "169.254.169.254"], config.NoProxy);
        var e = Assert.Throws<ConfigException>(() => InjectorConfigLoader.Parse("noProxy: [\"a,b\"]\nhttpProxy: sometimes\n", "c.yaml"));
        Assert.Contains("c.yaml:1:11: noProxy[0]: \"a,b\" is not one NO_PROXY entry", e.Message, StringComparison.Ordinal);
        Assert.Contains("c.yaml:2:12: httpProxy: expected true or false, got \"sometimes\"", e.Message, StringComparison.Ordinal);
    }
}
