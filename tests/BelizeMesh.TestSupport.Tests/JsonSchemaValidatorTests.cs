using System.Text.Json.Nodes;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.TestSupport.Tests;

// The validator is the oracle for emitted Istio and Kubernetes documents, so it is tested against the real schemas
// with documents that must pass and documents that must fail for a known reason.
public class JsonSchemaValidatorTests
{
    [Fact]
    public void Every_istio_crd_version_is_loaded()
    {
        var available = IstioCrdSchemas.Available.Select(a => $"{a.Kind}/{a.Version}").ToHashSet();
        foreach (var kind in new[] { "Gateway", "VirtualService", "DestinationRule", "ServiceEntry", "Sidecar" })
        {
            Assert.Contains($"{kind}/v1", available);
            Assert.Contains($"{kind}/v1beta1", available);
            Assert.Contains($"{kind}/v1alpha3", available);
        }

        foreach (var kind in new[] { "PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication" })
        {
            Assert.Contains($"{kind}/v1", available);
            Assert.Contains($"{kind}/v1beta1", available);
        }
    }

    private const string GoodVirtualService = """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: { name: nawal, namespace: belizechain }
        spec:
          hosts: [nawal.belizechain.svc.cluster.local]
          http:
            - match: [{ headers: { x-version: { exact: v2 } } }]
              route: [{ destination: { host: nawal, subset: v2 } }]
            - route:
                - { destination: { host: nawal, subset: v1 }, weight: 90 }
                - { destination: { host: nawal, subset: v2 }, weight: 10 }
              timeout: 300s
              retries: { attempts: 1, perTryTimeout: 60s }
        """;

    [Fact]
    public void A_valid_virtual_service_passes()
    {
        var errors = IstioCrdSchemas.ValidateResource(YamlJson.Load(GoodVirtualService)!);
        Assert.Empty(errors);
    }

    [Fact]
    public void An_unknown_field_in_an_istio_spec_is_reported_with_its_path()
    {
        var doc = YamlJson.Load(GoodVirtualService)!;
        doc["spec"]!["http"]![0]!["timeoutt"] = "5s";
        var errors = IstioCrdSchemas.ValidateResource(doc);
        Assert.Equal(["$.spec.http[0].timeoutt: unknown field \"timeoutt\""], errors);
    }

    [Fact]
    public void A_wrong_type_in_an_istio_spec_is_reported()
    {
        var doc = YamlJson.Load(GoodVirtualService)!;
        doc["spec"]!["http"]![1]!["retries"]!["attempts"] = "one";
        var errors = IstioCrdSchemas.ValidateResource(doc);
        Assert.Equal(["$.spec.http[1].retries.attempts: expected integer, got the string \"one\""], errors);
    }

    [Fact]
    public void An_istio_oneOf_violation_is_reported()
    {
        // StringMatch allows exactly one of exact / prefix / regex.
        var doc = YamlJson.Load(GoodVirtualService)!;
        doc["spec"]!["http"]![0]!["match"]![0]!["headers"]!["x-version"]!["prefix"] = "v";
        var errors = IstioCrdSchemas.ValidateResource(doc);
        Assert.Single(errors);
        Assert.StartsWith("$.spec.http[0].match[0].headers.x-version: must match exactly one oneOf alternative", errors[0]);
    }

    [Fact]
    public void A_kind_not_served_at_that_version_is_reported()
    {
        var doc = YamlJson.Load(GoodVirtualService)!;
        doc["apiVersion"] = "security.istio.io/v1";
        Assert.Equal(["$: VirtualService is not served as security.istio.io/v1 by the Istio CRDs"], IstioCrdSchemas.ValidateResource(doc));
    }

    private const string GoodPod = """
        apiVersion: v1
        kind: Pod
        metadata: { name: web, namespace: default, annotations: { a/b: "1" } }
        spec:
          containers:
            - name: app
              image: nginx:1.27
              ports: [{ name: http, containerPort: 8080 }]
              readinessProbe: { httpGet: { path: /healthz, port: http } }
              resources: { requests: { cpu: 100m, memory: 128Mi } }
        """;

    [Fact]
    public void A_valid_pod_passes_the_kubernetes_schema()
    {
        Assert.Empty(JsonSchemaValidator.Validate(KubernetesSchemas.Pod, YamlJson.Load(GoodPod)));
    }

    [Fact]
    public void A_pod_with_an_unknown_container_field_fails_the_kubernetes_schema()
    {
        var pod = YamlJson.Load(GoodPod)!;
        pod["spec"]!["containers"]![0]!["imagee"] = "x";
        Assert.Equal(["$.spec.containers[0].imagee: unknown field \"imagee\""], JsonSchemaValidator.Validate(KubernetesSchemas.Pod, pod));
    }

    [Fact]
    public void A_pod_with_a_string_container_port_fails_and_int_or_string_probe_ports_pass()
    {
        var pod = YamlJson.Load(GoodPod)!;
        pod["spec"]!["containers"]![0]!["readinessProbe"]!["httpGet"]!["port"] = 8080;
        Assert.Empty(JsonSchemaValidator.Validate(KubernetesSchemas.Pod, pod));
        pod["spec"]!["containers"]![0]!["ports"]![0]!["containerPort"] = "8080";
        Assert.Equal(["$.spec.containers[0].ports[0].containerPort: expected integer, got the string \"8080\""],
            JsonSchemaValidator.Validate(KubernetesSchemas.Pod, pod));
    }

    [Fact]
    public void A_pod_missing_required_fields_fails()
    {
        var pod = YamlJson.Load(GoodPod)!;
        pod["spec"]!["containers"]![0]!.AsObject().Remove("name");
        Assert.Equal(["$.spec.containers[0]: required field \"name\" is missing"], JsonSchemaValidator.Validate(KubernetesSchemas.Pod, pod));
    }

    [Fact]
    public void Quoted_yaml_scalars_stay_strings_and_plain_ones_are_typed()
    {
        var node = YamlJson.Load("a: \"16443\"\nb: 16443\nc: 'true'\nd: true\ne: ~\nf: 1.5\ng: 08x\n")!;
        Assert.Equal("\"16443\"", node["a"]!.ToJsonString());
        Assert.Equal("16443", node["b"]!.ToJsonString());
        Assert.Equal("\"true\"", node["c"]!.ToJsonString());
        Assert.Equal("true", node["d"]!.ToJsonString());
        Assert.Null(node["e"]);
        Assert.Equal("1.5", node["f"]!.ToJsonString());
        Assert.Equal("\"08x\"", node["g"]!.ToJsonString());
    }

    [Fact]
    public void Draft04_type_arrays_and_enums_are_enforced()
    {
        var schema = JsonNode.Parse("""{"type":"object","properties":{"p":{"type":["string","null"],"enum":["Always","Never",null]}},"additionalProperties":false}""")!;
        Assert.Empty(JsonSchemaValidator.Validate(schema, JsonNode.Parse("""{"p":null}""")));
        Assert.Empty(JsonSchemaValidator.Validate(schema, JsonNode.Parse("""{"p":"Always"}""")));
        Assert.Equal(["$.p: \"Sometimes\" is not one of [\"Always\",\"Never\",null]"], JsonSchemaValidator.Validate(schema, JsonNode.Parse("""{"p":"Sometimes"}""")));
    }
}
