using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Tests.Support;

namespace BelizeMesh.Injector.Tests;

/// <summary>The HTTP and admission edge cases of <c>POST /inject</c>, against a real HTTPS server.</summary>
public sealed class InjectEndpointTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private readonly HttpClient _client = fixture.Client;

    public static TheoryData<string, HttpStatusCode, string> RejectedRequests() => new()
    {
        { "wrong-content-type", HttpStatusCode.UnsupportedMediaType, "unsupported Content-Type 'text/plain; charset=utf-8': send application/json" },
        { "no-content-type", HttpStatusCode.UnsupportedMediaType, "unsupported Content-Type '': send application/json" },
        { "garbage-body", HttpStatusCode.BadRequest, "the body is not valid AdmissionReview JSON: 'g' is an invalid start of a value." },
        { "truncated-json", HttpStatusCode.BadRequest, "the body is not valid AdmissionReview JSON: " },
        { "empty-body", HttpStatusCode.BadRequest, "the body is empty; send an admission.k8s.io/v1 AdmissionReview" },
        { "json-null", HttpStatusCode.BadRequest, "the body is JSON null; send an admission.k8s.io/v1 AdmissionReview" },
        { "v1beta1-review", HttpStatusCode.BadRequest, "apiVersion is 'admission.k8s.io/v1beta1'; this webhook speaks admission.k8s.io/v1 only (set admissionReviewVersions: [v1])" },
        { "wrong-kind", HttpStatusCode.BadRequest, "kind is 'Pod'; expected AdmissionReview" },
        { "no-request", HttpStatusCode.BadRequest, "the AdmissionReview has no request" },
        { "no-uid", HttpStatusCode.BadRequest, "request.uid is missing; the answer must echo it" },
        { "uid-not-a-string", HttpStatusCode.BadRequest, "the body is not valid AdmissionReview JSON: The JSON value could not be converted to System.String." },
        { "too-large-declared", HttpStatusCode.RequestEntityTooLarge, "the body is larger than 3145728 bytes (maxRequestBytes in the injector configuration)" },
        { "too-large-chunked", HttpStatusCode.RequestEntityTooLarge, "the body is larger than 3145728 bytes (maxRequestBytes in the injector configuration)" },
        { "get-inject", HttpStatusCode.MethodNotAllowed, "use POST with an AdmissionReview body" },
        { "unknown-path", HttpStatusCode.NotFound, "not found: the webhook serves POST /inject, GET /healthz and GET /metrics" },
    };

    [Theory]
    [MemberData(nameof(RejectedRequests))]
    public async Task Rejected_request_gets_status_and_reason(string name, HttpStatusCode status, string reason)
    {
        using HttpRequestMessage request = BuildRejected(name);
        using HttpResponseMessage response = await _client.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        Assert.Equal(status, response.StatusCode);
        Assert.StartsWith(reason, body, StringComparison.Ordinal);
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType?.ToString());
    }

    private static HttpRequestMessage BuildRejected(string name)
    {
        string valid = Reviews.Review(Reviews.Pod()).ToJsonString();
        switch (name)
        {
            case "wrong-content-type":
                return Post(new StringContent(valid, Encoding.UTF8, "text/plain"));
            case "no-content-type":
                var bare = new ByteArrayContent(Encoding.UTF8.GetBytes(valid));
                return Post(bare);
            case "garbage-body":
                return Post(Json("garbage"));
            case "truncated-json":
                return Post(Json(valid[..(valid.Length / 2)]));
            case "empty-body":
                return Post(Json(""));
            case "json-null":
                return Post(Json("null"));
            case "v1beta1-review":
                return Post(Json(valid.Replace("admission.k8s.io/v1", "admission.k8s.io/v1beta1", StringComparison.Ordinal)));
            case "wrong-kind":
                return Post(Json("""{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"""));
            case "no-request":
                return Post(Json("""{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"""));
            case "no-uid":
                return Post(Json("""{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"""));
            case "uid-not-a-string":
                return Post(Json("""{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":42}}"""));
            case "too-large-declared":
                return Post(Json(new string(' ', 3 * 1024 * 1024) + valid));
            case "too-large-chunked":
                var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(new string(' ', 3 * 1024 * 1024 + 10))));
                chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                var message = Post(chunked);
                message.Headers.TransferEncodingChunked = true;
                return message;
            case "get-inject":
                return new HttpRequestMessage(HttpMethod.Get, "/inject");
            case "unknown-path":
                return new HttpRequestMessage(HttpMethod.Get, "/mutate");
            default:
                throw new ArgumentOutOfRangeException(nameof(name), name, null);
        }
    }

    private static HttpRequestMessage Post(HttpContent content) => new(HttpMethod.Post, "/inject") { Content = content };

    private static StringContent Json(string text)
    {
        var content = new StringContent(text, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    [Fact]
    public async Task Content_type_with_charset_parameter_is_accepted()
    {
        using var content = new StringContent(Reviews.Review(Reviews.Pod()).ToJsonString(), Encoding.UTF8, "application/json");
        Assert.Equal("application/json; charset=utf-8", content.Headers.ContentType!.ToString());
        using HttpResponseMessage response = await _client.PostAsync("/inject", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task Pod_creation_is_answered_with_same_uid_and_base64_json_patch()
    {
        var (status, _, response) = await ServerFixture.PostAsync(_client, Reviews.Review(Reviews.Pod(), uid: "c0ffee00-0000-4000-8000-000000000001"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("c0ffee00-0000-4000-8000-000000000001", response!["uid"]!.GetValue<string>());
        Assert.True(response["allowed"]!.GetValue<bool>());
        Assert.Equal("JSONPatch", response["patchType"]!.GetValue<string>());
        JsonArray patch = ServerFixture.Patch(response)!;
        Assert.Equal(
            ["/spec/containers/-", "/spec/volumes", "/metadata/annotations", "/spec/containers/0/env"],
            patch.Select(op => op!["path"]!.GetValue<string>()));
        Assert.All(patch, op => Assert.Equal("add", op!["op"]!.GetValue<string>()));
        Assert.Null(response["warnings"]);
    }

    public static TheoryData<string, string?, string?> AllowedUnchanged() => new()
    {
        // case, expected warning (prefix), expected status-less reason
        { "deployment-kind", null, null },
        { "pod-subresource", null, null },
        { "pod-update", null, null },
        { "opt-out-annotation", null, null },
        { "opt-out-label", null, null },
        { "opt-out-uppercase", null, null },
        { "already-injected", null, null },
        { "kube-system", "BelizeMesh does not inject pods in namespace kube-system: system namespaces are never meshed", null },
        { "kube-public", "BelizeMesh does not inject pods in namespace kube-public: system namespaces are never meshed", null },
        { "host-network", "BelizeMesh does not inject host-network pods: the sidecar's ports would be the node's ports", null },
        { "windows-pod", "BelizeMesh does not inject Windows pods: the sidecar image and its security settings are Linux-only", null },
        { "windows-node-selector", "BelizeMesh does not inject Windows pods: the sidecar image and its security settings are Linux-only", null },
        { "hand-written-sidecar", "the pod already has a container named belizemesh-proxy without belizemesh.io/status; it was left as written", null },
    };

    [Theory]
    [MemberData(nameof(AllowedUnchanged))]
    public async Task Skipped_request_is_allowed_without_patch(string name, string? warning, string? unused)
    {
        _ = unused;
        JsonObject review = name switch
        {
            "deployment-kind" => Reviews.Review(new JsonObject { ["apiVersion"] = "apps/v1", ["kind"] = "Deployment", ["metadata"] = new JsonObject { ["name"] = "d" } }, kind: "Deployment", group: "apps"),
            "pod-subresource" => Reviews.Review(Reviews.Pod(), subResource: "ephemeralcontainers"),
            "pod-update" => Reviews.Review(Reviews.Pod(), operation: "UPDATE"),
            "opt-out-annotation" => Reviews.Review(Reviews.Pod(annotations: new JsonObject { ["belizemesh.io/inject"] = "false" })),
            "opt-out-label" => Reviews.Review(Reviews.Pod(labels: new JsonObject { ["belizemesh.io/inject"] = "false" }, annotations: new JsonObject { ["belizemesh.io/inject"] = "true" })),
            "opt-out-uppercase" => Reviews.Review(Reviews.Pod(annotations: new JsonObject { ["belizemesh.io/inject"] = "FALSE" })),
            "already-injected" => Reviews.Review(Reviews.Pod(annotations: new JsonObject { ["belizemesh.io/status"] = "{}" })),
            "kube-system" => Reviews.Review(Reviews.Pod(ns: null), ns: "kube-system"),
            "kube-public" => Reviews.Review(Reviews.Pod(ns: "kube-public"), ns: "kube-public"),
            "host-network" => Reviews.Review(Reviews.Pod(spec: new JsonObject
            {
                ["hostNetwork"] = true,
                ["containers"] = new JsonArray(new JsonObject { ["name"] = "agent", ["image"] = "agent:1" }),
            })),
            "windows-pod" => Reviews.Review(Reviews.Pod(spec: new JsonObject
            {
                ["os"] = new JsonObject { ["name"] = "windows" },
                ["containers"] = new JsonArray(new JsonObject { ["name"] = "iis", ["image"] = "mcr.microsoft.com/windows/servercore/iis" }),
            })),
            "windows-node-selector" => Reviews.Review(Reviews.Pod(spec: new JsonObject
            {
                ["nodeSelector"] = new JsonObject { ["kubernetes.io/os"] = "windows" },
                ["containers"] = new JsonArray(new JsonObject { ["name"] = "iis", ["image"] = "mcr.microsoft.com/windows/servercore/iis" }),
            })),
            "hand-written-sidecar" => Reviews.Review(Reviews.Pod(spec: new JsonObject
            {
                ["containers"] = new JsonArray(new JsonObject { ["name"] = "belizemesh-proxy", ["image"] = "mine:1" }),
            })),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };

        var (status, body, response) = await ServerFixture.PostAsync(_client, review);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(response!["allowed"]!.GetValue<bool>(), body);
        Assert.Null(response["patch"]);
        Assert.Null(response["patchType"]);
        if (warning is null)
        {
            Assert.Null(response["warnings"]);
        }
        else
        {
            Assert.Equal(warning, Assert.Single(response["warnings"]!.AsArray())!.GetValue<string>());
        }
    }

    [Fact]
    public async Task Dry_run_request_gets_the_same_answer_as_a_real_one()
    {
        JsonObject pod = Reviews.Pod(annotations: new JsonObject { ["a/b"] = "c" });
        var (_, realBody, _) = await ServerFixture.PostAsync(_client, Reviews.Review(pod.DeepClone()));
        var (status, dryBody, dry) = await ServerFixture.PostAsync(_client, Reviews.Review(pod.DeepClone(), dryRun: true));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("JSONPatch", dry!["patchType"]!.GetValue<string>());
        Assert.Equal(realBody, dryBody);
    }

    [Fact]
    public async Task Port_conflict_is_denied_with_reason_under_fail_policy()
    {
        JsonObject pod = Reviews.Pod(name: "clash", spec: new JsonObject
        {
            ["containers"] = new JsonArray(new JsonObject
            {
                ["name"] = "app",
                ["image"] = "app:1",
                ["ports"] = new JsonArray(new JsonObject { ["containerPort"] = 16443 }),
            }),
        });
        var (status, _, response) = await ServerFixture.PostAsync(_client, Reviews.Review(pod));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.False(response!["allowed"]!.GetValue<bool>());
        Assert.Null(response["patch"]);
        Assert.Equal(400, response["status"]!["code"]!.GetValue<int>());
        Assert.Equal(
            "BelizeMesh cannot inject the sidecar into pod clash: container app already uses port 16443, which the BelizeMesh sidecar needs; move it to another port",
            response["status"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Invalid_inject_value_is_injected_with_a_warning()
    {
        var (_, _, response) = await ServerFixture.PostAsync(_client, Reviews.Review(Reviews.Pod(annotations: new JsonObject { ["belizemesh.io/inject"] = "yes" })));
        Assert.NotNull(ServerFixture.Patch(response!));
        Assert.Equal("belizemesh.io/inject has the value 'yes', which is neither \"true\" nor \"false\"; it was ignored",
            Assert.Single(response!["warnings"]!.AsArray())!.GetValue<string>());
    }

    [Fact]
    public async Task Scheduling_policy_annotation_reaches_the_sidecar_through_the_webhook()
    {
        var (_, _, response) = await ServerFixture.PostAsync(_client, Reviews.Review(Reviews.Pod(annotations: new JsonObject { ["belizemesh.io/scheduling-policy"] = "OTHER" })));
        Assert.Null(response!["warnings"]);
        JsonNode sidecar = ServerFixture.Patch(response)!.Single(op => (string?)op!["path"] == "/spec/containers/-")!["value"]!;
        Assert.Equal("belizemesh-proxy", (string?)sidecar["name"]);
        JsonArray env = sidecar["env"]!.AsArray();
        Assert.Contains(env, e => (string?)e!["name"] == "BELIZEMESH_SCHED_POLICY" && (string?)e["value"] == "other");
    }

    [Fact]
    public async Task Unknown_scheduling_policy_is_injected_with_a_warning()
    {
        var (_, _, response) = await ServerFixture.PostAsync(_client, Reviews.Review(Reviews.Pod(annotations: new JsonObject { ["belizemesh.io/scheduling-policy"] = "fast" })));
        Assert.True(response!["allowed"]!.GetValue<bool>());
        Assert.NotNull(ServerFixture.Patch(response));
        Assert.Equal("belizemesh.io/scheduling-policy has the value 'fast', which is neither \"batch\" nor \"other\"; it was ignored",
            Assert.Single(response["warnings"]!.AsArray())!.GetValue<string>());
    }

    [Fact]
    public async Task Generate_name_pod_without_name_is_named_in_denial()
    {
        JsonObject pod = Reviews.Pod(spec: new JsonObject { ["containers"] = "not-a-list" });
        pod["metadata"]!.AsObject().Remove("name");
        pod["metadata"]!["generateName"] = "worker-";
        var (_, _, response) = await ServerFixture.PostAsync(_client, Reviews.Review(pod));
        Assert.False(response!["allowed"]!.GetValue<bool>());
        Assert.Equal("BelizeMesh cannot inject the sidecar into pod worker-*: spec.containers is not a list", response["status"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Request_object_that_is_not_an_object_is_denied()
    {
        var (_, _, response) = await ServerFixture.PostAsync(_client, Reviews.Review(JsonValue.Create("pod")));
        Assert.False(response!["allowed"]!.GetValue<bool>());
        Assert.Equal("BelizeMesh cannot inject the sidecar into pod (unnamed): request.object is not a Pod object", response["status"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Healthz_answers_ok()
    {
        using HttpResponseMessage response = await _client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok\n", await response.Content.ReadAsStringAsync());
    }
}
