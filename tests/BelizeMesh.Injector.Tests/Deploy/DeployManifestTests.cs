using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.WebhookConfiguration;
using BelizeMesh.TestSupport;
using BelizeMesh.TestSupport.Schemas;

namespace BelizeMesh.Injector.Tests.Deploy;

/// <summary>
/// <c>deploy/</c>: every rendered document validates against the Kubernetes 1.32 schemas (cert-manager's against its
/// CRD schemas), unknown fields rejected; the in-test resolver and <c>kubectl kustomize</c> agree; and the manifests
/// agree with the code they deploy (webhook shape, ports, paths, RBAC, security context).
/// </summary>
public sealed class DeployManifestTests
{
    public static TheoryData<string> Kustomizations() => new("base", "overlays/belizechain");

    private static string DeployDir(string name) => RepoPaths.RepoFile(["deploy", .. name.Split('/')]);

    private static Dictionary<string, JsonObject> Render(string name) => Index(MiniKustomize.Build(DeployDir(name)));

    private static Dictionary<string, JsonObject> Index(IEnumerable<JsonObject> documents)
    {
        var result = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (JsonObject d in documents)
        {
            string key = $"{(string?)d["kind"]} {(string?)d["metadata"]?["namespace"] ?? "-"}/{(string?)d["metadata"]?["name"]}";
            Assert.True(result.TryAdd(key, d), "two documents are " + key);
        }

        return result;
    }

    private static readonly Dictionary<(string, string), string> s_crdSchemas = new()
    {
        [("cert-manager.io/v1", "Certificate")] = "certificate-cert-manager-v1.json",
        [("cert-manager.io/v1", "Issuer")] = "issuer-cert-manager-v1.json",
    };

    private static IReadOnlyList<string> Validate(JsonObject document)
    {
        string apiVersion = (string)document["apiVersion"]!;
        string kind = (string)document["kind"]!;
        if (s_crdSchemas.TryGetValue((apiVersion, kind), out string? file))
        {
            var schema = JsonNode.Parse(File.ReadAllText(RepoPaths.RepoFile("tests", "BelizeMesh.TestSupport", "TestData", "crd-schemas", file)))!;
            var errors = new List<string>(JsonSchemaValidator.Validate(schema, document));
            // The CRD schema leaves metadata open (the API server checks it): hold it to ObjectMeta's rules here.
            errors.AddRange(KubernetesSchemaSet.Validate(new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "ConfigMap",
                ["metadata"] = document["metadata"]!.DeepClone(),
            }));
            return errors;
        }

        return KubernetesSchemaSet.Validate(document);
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Every_rendered_document_validates_against_the_kubernetes_1_32_schemas(string name)
    {
        var documents = Render(name);
        Assert.True(documents.Count >= 10, $"{name} rendered only {documents.Count} documents");
        var problems = new List<string>();
        foreach (var (key, document) in documents)
        {
            problems.AddRange(Validate(document).Select(e => $"{key}: {e}"));
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems.Take(20)));
    }

    [Fact]
    public void Every_yaml_file_in_deploy_is_valid_on_its_own_or_is_a_kustomization()
    {
        var problems = new List<string>();
        int checkedCount = 0;
        foreach (string file in Directory.GetFiles(RepoPaths.RepoFile("deploy"), "*.yaml", SearchOption.AllDirectories))
        {
            if (Path.GetFileName(file) == "kustomization.yaml")
            {
                continue;
            }

            if (Path.GetFileName(Path.GetDirectoryName(file)) == "observability")
            {
                continue; // Prometheus configuration, rules and a PodMonitor: ObservabilityManifestTests and the proxy's ObservabilityAssetsTests
            }

            foreach (JsonObject document in MiniKustomize.LoadFile(file))
            {
                // A patch names its target and carries only what it changes: merge it into an empty object of its kind
                // is not meaningful, so patches are checked in the rendered output above; whole objects here.
                if (IsPatchFile(file))
                {
                    continue;
                }

                checkedCount++;
                problems.AddRange(Validate(document).Select(e => $"{Path.GetRelativePath(RepoPaths.Root, file)}: {e}"));
            }
        }

        Assert.True(checkedCount >= 15, $"only {checkedCount} documents found under deploy/");
        Assert.True(problems.Count == 0, string.Join("\n", problems.Take(20)));
    }

    private static bool IsPatchFile(string file)
    {
        string directory = Path.GetDirectoryName(file)!;
        var kustomization = YamlJson.Load(File.ReadAllText(Path.Combine(directory, "kustomization.yaml")))!;
        return (kustomization["patches"] as JsonArray ?? []).Any(p => (string?)p!["path"] == Path.GetFileName(file));
    }

    [Fact]
    public void Schema_check_rejects_an_unknown_field_in_a_deployment()
    {
        // Guards the tests above against passing vacuously.
        var deployment = Render("base")["Deployment belizemesh-system/belizemesh-injector"].DeepClone().AsObject();
        Assert.Empty(Validate(deployment));
        deployment["spec"]!["template"]!["spec"]!["containers"]![0]!["securityContext"]!["readOnlyRootFS"] = true;
        Assert.NotEmpty(Validate(deployment));
        var certificate = Render("overlays/belizechain")["Certificate belizemesh-system/belizemesh-injector-serving"].DeepClone().AsObject();
        Assert.Empty(Validate(certificate));
        certificate["spec"]!["dnsName"] = "x";
        Assert.NotEmpty(Validate(certificate));
    }

    private sealed class KubectlFactAttribute : FactAttribute
    {
        public KubectlFactAttribute()
        {
            if (Kubectl is null)
            {
                Skip = "kubectl (with its built-in kustomize) is not installed: deploy/ is rendered by the in-test resolver only";
            }
        }
    }

    private static string? Kubectl => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
        .Select(d => Path.Combine(d, "kubectl")).FirstOrDefault(File.Exists);

    [KubectlFact]
    public void Kubectl_kustomize_renders_the_same_objects_as_the_in_test_resolver()
    {
        foreach (string name in new[] { "base", "overlays/belizechain" })
        {
            var start = new ProcessStartInfo(Kubectl!, ["kustomize", DeployDir(name)])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(start)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(60_000), "kubectl kustomize did not finish in 60 s");
            Assert.True(process.ExitCode == 0, $"kubectl kustomize {name}: {stderr.Result}");
            var expected = Index(YamlJson.LoadAll(stdout.Result).OfType<JsonObject>());
            var actual = Render(name);
            Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
            foreach (var (key, document) in expected)
            {
                Assert.True(JsonNode.DeepEquals(document, actual[key]), $"{name}: {key} differs\nkubectl:  {document.ToJsonString()}\nresolver: {actual[key].ToJsonString()}");
            }
        }
    }

    [Fact]
    public void Webhook_in_base_is_exactly_what_webhook_config_prints_without_the_ca_bundle()
    {
        var options = new WebhookConfigOptions("belizemesh-injector", "belizemesh-system", "-----BEGIN CERTIFICATE-----\n"u8.ToArray(),
            "/inject", 443, FailurePolicy.Fail, 10);
        JsonObject generated = WebhookConfigGenerator.Generate(options);
        foreach (JsonNode? webhook in (JsonArray)generated["webhooks"]!)
        {
            ((JsonObject)webhook!["clientConfig"]!).Remove("caBundle");
        }

        var inFile = MiniKustomize.LoadFile(RepoPaths.RepoFile("deploy", "base", "mutating-webhook.yaml")).Single();
        Assert.True(JsonNode.DeepEquals(generated, inFile), $"regenerate deploy/base/mutating-webhook.yaml from webhook-config:\n{generated.ToJsonString()}");
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Webhook_service_and_injector_agree_on_name_port_and_certificate(string name)
    {
        var documents = Render(name);
        var webhook = documents["MutatingWebhookConfiguration -/belizemesh-injector"];
        var service = documents["Service belizemesh-system/belizemesh-injector"];
        var deployment = documents["Deployment belizemesh-system/belizemesh-injector"];
        var container = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!;
        foreach (JsonNode? hook in (JsonArray)webhook["webhooks"]!)
        {
            var target = hook!["clientConfig"]!["service"]!;
            Assert.Equal("belizemesh-injector", (string?)target["name"]);
            Assert.Equal("belizemesh-system", (string?)target["namespace"]);
            Assert.Equal(443L, (long)target["port"]!);
            Assert.Equal("/inject", (string?)target["path"]);
        }

        var port = service["spec"]!["ports"]![0]!;
        Assert.Equal(443L, (long)port["port"]!);
        Assert.Equal(port["targetPort"]!.GetValue<string>(), (string?)container["ports"]![0]!["name"]);
        Assert.Equal(8443L, (long)container["ports"]![0]!["containerPort"]!);
        var podLabels = deployment["spec"]!["template"]!["metadata"]!["labels"]!.AsObject();
        foreach (var (label, value) in service["spec"]!["selector"]!.AsObject())
        {
            Assert.Equal((string?)value, (string?)podLabels[label]);
        }

        string[] args = container["args"]!.AsArray().Select(a => (string)a!).ToArray();
        Assert.Equal("serve", args[0]);
        Assert.Equal("0.0.0.0:8443", args[Array.IndexOf(args, "--listen") + 1]);
        var mounts = container["volumeMounts"]!.AsArray().ToDictionary(m => (string)m!["name"]!, m => (string)m!["mountPath"]!);
        var volumes = deployment["spec"]!["template"]!["spec"]!["volumes"]!.AsArray().ToDictionary(v => (string)v!["name"]!, v => v!);
        Assert.Equal(mounts["tls"] + "/tls.crt", args[Array.IndexOf(args, "--tls-cert") + 1]);
        Assert.Equal(mounts["tls"] + "/tls.key", args[Array.IndexOf(args, "--tls-key") + 1]);
        Assert.Equal(mounts["config"] + "/config.yaml", args[Array.IndexOf(args, "--config") + 1]);
        Assert.Equal(mounts["exclusions"] + "/exclusions.yaml", args[Array.IndexOf(args, "--exclusions") + 1]);
        Assert.Equal("belizemesh-injector-tls", (string?)volumes["tls"]["secret"]!["secretName"]);
        Assert.Equal("belizemesh-injector-exclusions", (string?)volumes["exclusions"]["configMap"]!["name"]);
        Assert.True((bool)volumes["exclusions"]["configMap"]!["optional"]!);
        Assert.Equal("belizemesh-injector-config", (string?)volumes["config"]["configMap"]!["name"]);

        // The probes hit the webhook's own HTTPS /healthz.
        Assert.Equal("/healthz", (string?)container["readinessProbe"]!["httpGet"]!["path"]);
        Assert.Equal("HTTPS", (string?)container["readinessProbe"]!["httpGet"]!["scheme"]);
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Injector_configuration_in_the_configmap_is_one_the_injector_accepts(string name)
    {
        var config = Render(name)["ConfigMap belizemesh-system/belizemesh-injector-config"];
        InjectorConfig parsed = InjectorConfigLoader.Parse((string)config["data"]!["config.yaml"]!, name + "/config.yaml");
        Assert.Contains("belizemesh-system", parsed.IgnoredNamespaces);
    }

    [Theory]
    [MemberData(nameof(Kustomizations))]
    public void Every_container_runs_as_1654_read_only_with_no_capabilities_probes_and_resources(string name)
    {
        string dockerfile = File.ReadAllText(RepoPaths.RepoFile("Dockerfile.injector"));
        Assert.Matches(new Regex(@"^USER 1654:1654\s*$", RegexOptions.Multiline), dockerfile);
        int deployments = 0;
        foreach (var (key, document) in Render(name))
        {
            if ((string?)document["kind"] != "Deployment")
            {
                continue;
            }

            deployments++;
            var pod = document["spec"]!["template"]!["spec"]!;
            Assert.True((bool)pod["securityContext"]!["runAsNonRoot"]!, key);
            Assert.Equal("RuntimeDefault", (string?)pod["securityContext"]!["seccompProfile"]!["type"]);
            foreach (JsonNode? c in pod["containers"]!.AsArray())
            {
                var security = c!["securityContext"]!;
                Assert.Equal(1654L, (long)security["runAsUser"]!);
                Assert.Equal(1654L, (long)security["runAsGroup"]!);
                Assert.True((bool)security["readOnlyRootFilesystem"]!, key);
                Assert.False((bool)security["allowPrivilegeEscalation"]!, key);
                Assert.Equal("""["ALL"]""", security["capabilities"]!["drop"]!.ToJsonString());
                Assert.NotNull(c["readinessProbe"]);
                Assert.NotNull(c["livenessProbe"]);
                Assert.NotNull(c["resources"]!["requests"]);
                Assert.NotNull(c["resources"]!["limits"]);
            }

            // Scraped by Prometheus' pod annotations, on the port the container declares.
            var annotations = document["spec"]!["template"]!["metadata"]!["annotations"]!;
            Assert.Equal("true", (string?)annotations["prometheus.io/scrape"]);
            string scrapePort = (string)annotations["prometheus.io/port"]!;
            Assert.Contains(pod["containers"]![0]!["ports"]!.AsArray(), p => ((long)p!["containerPort"]!).ToString(System.Globalization.CultureInfo.InvariantCulture) == scrapePort);

            var selector = document["spec"]!["selector"]!["matchLabels"]!;
            Assert.Single(Render(name).Values, d => (string?)d["kind"] == "PodDisruptionBudget" && JsonNode.DeepEquals(d["spec"]!["selector"]!["matchLabels"], selector));
            Assert.True((long)document["spec"]!["replicas"]! >= 2, key + ": one replica cannot survive a disruption");
        }

        Assert.Equal(2, deployments);
    }

    [Fact]
    public void Controller_rbac_grants_exactly_what_the_certificate_controller_needs()
    {
        var documents = Render("base");
        var cluster = documents["ClusterRole -/belizemesh-controller"]["rules"]!.AsArray();
        var expected = JsonNode.Parse("""
            [{"apiGroups":[""],"resources":["namespaces","serviceaccounts"],"verbs":["list","watch"]},
             {"apiGroups":[""],"resources":["secrets"],"verbs":["get","list","watch","create","update","delete"]},
             {"apiGroups":[""],"resources":["events"],"verbs":["create"]}]
            """);
        Assert.True(JsonNode.DeepEquals(expected, cluster), cluster.ToJsonString());
        var lease = documents["Role belizemesh-system/belizemesh-controller-leader-election"]["rules"]!;
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            [{"apiGroups":["coordination.k8s.io"],"resources":["leases"],"verbs":["create"]},
             {"apiGroups":["coordination.k8s.io"],"resources":["leases"],"resourceNames":["belizemesh-cert-controller"],"verbs":["get","update"]}]
            """), lease), lease.ToJsonString());

        // No wildcard anywhere, and the webhook's own account has no binding and no token.
        foreach (var (key, document) in documents)
        {
            Assert.DoesNotContain("\"*\"", document.ToJsonString(), StringComparison.Ordinal);
            foreach (JsonNode? subject in document["subjects"] as JsonArray ?? [])
            {
                Assert.Equal("belizemesh-controller", (string?)subject!["name"]);
            }
        }

        Assert.False((bool)documents["ServiceAccount belizemesh-system/belizemesh-injector"]["automountServiceAccountToken"]!);
        var controller = documents["Deployment belizemesh-system/belizemesh-controller"]["spec"]!["template"]!["spec"]!;
        Assert.Equal("belizemesh-controller", (string?)controller["serviceAccountName"]);
        string[] args = controller["containers"]![0]!["args"]!.AsArray().Select(a => (string)a!).ToArray();
        Assert.Equal("belizemesh-cert-controller", args[Array.IndexOf(args, "--lease-name") + 1]);
    }

    [Fact]
    public void Cert_manager_certificate_covers_the_service_and_feeds_the_webhook_and_the_deployment()
    {
        var documents = Render("overlays/belizechain");
        var serving = documents["Certificate belizemesh-system/belizemesh-injector-serving"]["spec"]!;
        Assert.Contains("belizemesh-injector.belizemesh-system.svc", serving["dnsNames"]!.AsArray().Select(d => (string)d!));
        Assert.Equal("belizemesh-injector-tls", (string?)serving["secretName"]);
        string issuer = (string)serving["issuerRef"]!["name"]!;
        Assert.Equal("belizemesh-injector-ca", (string?)documents[$"Issuer belizemesh-system/{issuer}"]["spec"]!["ca"]!["secretName"]);
        var webhook = documents["MutatingWebhookConfiguration -/belizemesh-injector"];
        Assert.Equal("belizemesh-system/belizemesh-injector-serving", (string?)webhook["metadata"]!["annotations"]!["cert-manager.io/inject-ca-from"]);
        // The overlay opts the example namespace in to both meshes.
        var ns = documents["Namespace -/belizechain"]["metadata"]!["labels"]!;
        Assert.Equal("enabled", (string?)ns["belizemesh-injection"]);
        Assert.Equal("enabled", (string?)ns["istio-injection"]);
        Assert.Null(documents["Namespace -/belizemesh-system"]["metadata"]!["labels"]!["belizemesh-injection"]);
    }

    [Fact]
    public void Quickstart_workloads_validate_and_inject_with_the_proxy_environment()
    {
        var documents = MiniKustomize.LoadFile(RepoPaths.RepoFile("examples", "quickstart", "apps.yaml"));
        Assert.Equal(7, documents.Count);
        var problems = documents.SelectMany(d => KubernetesSchemaSet.Validate(d).Select(e => $"{(string?)d["kind"]} {(string?)d["metadata"]!["name"]}: {e}")).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.Equal("enabled", (string?)documents.Single(d => (string?)d["kind"] == "Namespace")["metadata"]!["labels"]!["belizemesh-injection"]);

        // What the webhook does to the client's pod template: the sidecar, and curl's http_proxy pointing at it.
        var config = Render("base")["ConfigMap belizemesh-system/belizemesh-injector-config"];
        var template = new Injection.SidecarTemplate(InjectorConfigLoader.Parse((string)config["data"]!["config.yaml"]!, "config.yaml"));
        var client = documents.Single(d => (string?)d["kind"] == "Deployment" && (string?)d["metadata"]!["name"] == "client");
        var pod = client["spec"]!["template"]!.DeepClone().AsObject();
        var result = Injection.SidecarInjector.Inject(pod, "pq-demo", template);
        Assert.Equal(Injection.InjectionReason.Injected, result.Reason);
        Injection.JsonPatch.Apply(pod, result.Patch);
        var env = pod["spec"]!["containers"]![0]!["env"]!.AsArray();
        Assert.Contains(env, e => (string?)e!["name"] == "http_proxy" && (string?)e["value"] == "http://127.0.0.1:16001");
        Assert.Contains(env, e => (string?)e!["name"] == "no_proxy" && ((string)e["value"]!).Contains("127.0.0.1", StringComparison.Ordinal));
    }
}
