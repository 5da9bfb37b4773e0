using System.Text.Json.Nodes;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Injection;
using BelizeMesh.Injector.Tests.Support;

namespace BelizeMesh.Injector.Tests;

public sealed class SidecarInjectorTests
{
    private static readonly SidecarTemplate Default = new(InjectorConfig.Default);

    [Fact]
    public void Sidecar_container_follows_the_conventions()
    {
        JsonObject pod = Reviews.Pod();
        InjectionResult result = SidecarInjector.Inject(pod, "shop", Default);
        Assert.Equal(InjectionReason.Injected, result.Reason);
        JsonPatch.Apply(pod, result.Patch);
        JsonNode c = pod["spec"]!["containers"]![1]!;
        Assert.Equal("belizemesh-proxy", c["name"]!.GetValue<string>());
        Assert.Equal("""["run","--policy","/etc/belizemesh/policy/policy.yaml","--certs","/etc/belizemesh/certs","--status-listen","0.0.0.0:16021"]""", c["args"]!.ToJsonString());
        Assert.Equal("""[{"name":"bm-pq","containerPort":16443,"protocol":"TCP"},{"name":"bm-admin","containerPort":16090,"protocol":"TCP"},{"name":"bm-status","containerPort":16021,"protocol":"TCP"}]""", c["ports"]!.ToJsonString());
        Assert.Equal("""{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"500m","memory":"512Mi"}}""", c["resources"]!.ToJsonString());
        Assert.Equal("""{"path":"/healthz/ready","port":16021}""", c["readinessProbe"]!["httpGet"]!.ToJsonString());
        JsonNode security = c["securityContext"]!;
        Assert.Equal(16016, security["runAsUser"]!.GetValue<long>());
        Assert.True(security["runAsNonRoot"]!.GetValue<bool>());
        Assert.True(security["readOnlyRootFilesystem"]!.GetValue<bool>());
        Assert.False(security["allowPrivilegeEscalation"]!.GetValue<bool>());
        Assert.Equal("""["ALL"]""", security["capabilities"]!["drop"]!.ToJsonString());
        Assert.Equal(
            """[{"name":"belizemesh-policy","mountPath":"/etc/belizemesh/policy","readOnly":true},{"name":"belizemesh-certs","mountPath":"/etc/belizemesh/certs","readOnly":true}]""",
            c["volumeMounts"]!.ToJsonString());
        Assert.Null(c["restartPolicy"]);
    }

    [Theory]
    [InlineData(null, null, "default")]
    [InlineData("pakit", null, "pakit")]
    [InlineData(null, "legacy", "legacy")]
    [InlineData("", "legacy", "legacy")]
    public void Volumes_are_named_from_the_service_account(string? serviceAccountName, string? serviceAccount, string expected)
    {
        var spec = new JsonObject { ["containers"] = new JsonArray(new JsonObject { ["name"] = "a", ["image"] = "a" }) };
        if (serviceAccountName is not null)
        {
            spec["serviceAccountName"] = serviceAccountName;
        }

        if (serviceAccount is not null)
        {
            spec["serviceAccount"] = serviceAccount;
        }

        InjectionResult result = SidecarInjector.Inject(Reviews.Pod(spec: spec), "ns", Default);
        Assert.Equal(
            $$$"""[{"name":"belizemesh-certs","secret":{"secretName":"belizemesh-certs-{{{expected}}}"}},{"name":"belizemesh-policy","configMap":{"name":"belizemesh-policy-{{{expected}}}"}}]""",
            result.Patch.Single(op => op.Path == "/spec/volumes").Value!.ToJsonString());
    }

    [Fact]
    public void Patch_creates_missing_metadata_annotations_volumes_and_init_containers()
    {
        var native = new SidecarTemplate(InjectorConfig.Default with { NativeSidecar = true });
        var pod = new JsonObject { ["spec"] = new JsonObject { ["containers"] = new JsonArray() } };
        InjectionResult result = SidecarInjector.Inject(pod, "ns", native);
        Assert.Equal(["/spec/initContainers", "/spec/volumes", "/metadata"], result.Patch.Select(op => op.Path));
        Assert.All(result.Patch, op => Assert.Equal("add", op.Op));
        JsonPatch.Apply(pod, result.Patch);
        Assert.Equal("Always", pod["spec"]!["initContainers"]![0]!["restartPolicy"]!.GetValue<string>());
        Assert.Equal("16443,16090,16021", pod["metadata"]!["annotations"]!["traffic.sidecar.istio.io/excludeInboundPorts"]!.GetValue<string>());
    }

    [Fact]
    public void Existing_annotation_keys_are_escaped_in_json_pointer()
    {
        JsonObject pod = Reviews.Pod(annotations: new JsonObject
        {
            ["traffic.sidecar.istio.io/excludeOutboundPorts"] = "5432",
        });
        InjectionResult result = SidecarInjector.Inject(pod, "ns", Default);
        Assert.Contains(result.Patch, op => op is { Op: "replace", Path: "/metadata/annotations/traffic.sidecar.istio.io~1excludeOutboundPorts" } && op.Value!.GetValue<string>() == "5432,16443");
        Assert.Contains(result.Patch, op => op is { Op: "add", Path: "/metadata/annotations/traffic.sidecar.istio.io~1excludeInboundPorts" });
        Assert.Contains(result.Patch, op => op is { Op: "add", Path: "/metadata/annotations/belizemesh.io~1status" });
    }

    [Theory]
    [InlineData("a/b", "a~1b")]
    [InlineData("a~b", "a~0b")]
    [InlineData("~1", "~01")]
    [InlineData("/~", "~1~0")]
    [InlineData("plain", "plain")]
    public void Json_pointer_tokens_escape_tilde_before_slash_and_round_trip(string token, string escaped)
    {
        Assert.Equal(escaped, JsonPatch.EscapeToken(token));
        Assert.Equal(token, JsonPatch.UnescapeToken(escaped));
        var doc = new JsonObject { ["m"] = new JsonObject() };
        JsonPatch.Apply(doc, [PatchOperation.Add("/m/" + escaped, "v")]);
        Assert.Equal("v", doc["m"]![token]!.GetValue<string>());
    }

    [Theory]
    [InlineData(null, "16443,16090")]
    [InlineData("", "16443,16090")]
    [InlineData("9000", "9000,16443,16090")]
    [InlineData("9000, 9001", "9000,9001,16443,16090")]
    [InlineData("16443,16090", "16443,16090")]
    [InlineData("16090, 16443", "16090, 16443")]
    [InlineData("16443,16443,9000", "16443,9000,16090")]
    public void Port_lists_merge_without_duplicates(string? existing, string expected) =>
        Assert.Equal(expected, SidecarInjector.MergePortList(existing, ["16443", "16090"]));

    [Fact]
    public void Native_sidecar_goes_after_istio_init_containers_and_before_the_application_ones()
    {
        var native = new SidecarTemplate(InjectorConfig.Default with { NativeSidecar = true });
        JsonObject pod = Reviews.Pod(spec: new JsonObject
        {
            ["initContainers"] = new JsonArray(
                new JsonObject { ["name"] = "istio-init", ["image"] = "i" },
                new JsonObject { ["name"] = "istio-validation", ["image"] = "i" },
                new JsonObject { ["name"] = "migrate", ["image"] = "m" }),
            ["containers"] = new JsonArray(new JsonObject { ["name"] = "app", ["image"] = "a" }),
        });
        InjectionResult result = SidecarInjector.Inject(pod, "ns", native);
        Assert.Equal("/spec/initContainers/2", result.Patch[0].Path);
        JsonPatch.Apply(pod, result.Patch);
        Assert.Equal(["istio-init", "istio-validation", "belizemesh-proxy", "migrate"], pod["spec"]!["initContainers"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()));
    }

    [Theory]
    [InlineData(16443, null, "container app already uses port 16443, which the BelizeMesh sidecar needs; move it to another port")]
    [InlineData(16001, null, "container app already uses port 16001, which the BelizeMesh sidecar needs; move it to another port")]
    [InlineData(16021, null, "container app already uses port 16021, which the BelizeMesh sidecar needs; move it to another port")]
    [InlineData(9000, "bm-status", "container app already has a port named bm-status, which the BelizeMesh sidecar needs; rename it")]
    [InlineData(8080, "bm-admin", "container app already has a port named bm-admin, which the BelizeMesh sidecar needs; rename it")]
    public void Port_conflicts_fail_with_the_reason(int port, string? name, string message)
    {
        var declared = new JsonObject { ["containerPort"] = port };
        if (name is not null)
        {
            declared["name"] = name;
        }

        JsonObject pod = Reviews.Pod(spec: new JsonObject
        {
            ["containers"] = new JsonArray(new JsonObject { ["name"] = "app", ["image"] = "a", ["ports"] = new JsonArray(declared) }),
        });
        InjectionResult result = SidecarInjector.Inject(pod, "ns", Default);
        Assert.Equal(InjectionReason.Conflict, result.Reason);
        Assert.True(result.IsFailure);
        Assert.Empty(result.Patch);
        Assert.Equal(message, result.Message);
    }

    [Fact]
    public void Volume_name_conflict_fails()
    {
        JsonObject pod = Reviews.Pod(spec: new JsonObject
        {
            ["containers"] = new JsonArray(new JsonObject { ["name"] = "app", ["image"] = "a" }),
            ["volumes"] = new JsonArray(new JsonObject { ["name"] = "belizemesh-certs", ["emptyDir"] = new JsonObject() }),
        });
        InjectionResult result = SidecarInjector.Inject(pod, "ns", Default);
        Assert.Equal(InjectionReason.Conflict, result.Reason);
        Assert.Equal("the pod already has a volume named belizemesh-certs or belizemesh-policy; rename it", result.Message);
    }

    [Fact]
    public void Input_pod_is_never_mutated()
    {
        JsonObject pod = Reviews.Pod(annotations: new JsonObject { ["x"] = "y" });
        string before = pod.ToJsonString();
        SidecarInjector.Inject(pod, "ns", Default);
        Assert.Equal(before, pod.ToJsonString());
    }

    [Fact]
    public void Status_annotation_records_what_was_injected()
    {
        JsonObject pod = Reviews.Pod();
        JsonPatch.Apply(pod, SidecarInjector.Inject(pod, "ns", Default).Patch);
        string status = pod["metadata"]!["annotations"]!["belizemesh.io/status"]!.GetValue<string>();
        Assert.Equal(
            """{"version":"0.1.0","image":"ghcr.io/belizemesh/belizemesh-proxy:0.1.0","containers":["belizemesh-proxy"],"initContainers":[],"volumes":["belizemesh-certs","belizemesh-policy"],"nativeSidecar":false}""",
            status);
    }
}
