using System.Text.Json.Nodes;
using BelizeMesh.Injector.Tests.Support;
using BelizeMesh.Injector.Yaml;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Injector.Tests;

/// <summary><c>inject</c> and <c>webhook-config</c> through the real command line, in-process.</summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bm-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Stdout, string Stderr) Run(string stdin, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr, new StringReader(stdin));
        return (code, stdout.ToString(), stderr.ToString());
    }

    private string Write(string name, string content)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Inject_reads_stdin_and_writes_the_mutated_pod()
    {
        var (code, stdout, stderr) = Run("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, image: a}]}\n", "inject", "--pod", "-");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        JsonNode pod = YamlJsonReader.ReadDocuments(stdout, "out")[0].Root!;
        Assert.Equal("belizemesh-proxy", pod["spec"]!["containers"]![1]!["name"]!.GetValue<string>());
    }

    [Fact]
    public void Inject_output_injected_again_is_unchanged()
    {
        string input = File.ReadAllText(RepoPaths.RepoFile("tests", "BelizeMesh.Injector.Tests", "Corpus", "workloads-mixed.yaml"));
        var (_, first, _) = Run(input, "inject", "--pod", "-");
        var (code, second, _) = Run(first, "inject", "--pod", "-");
        Assert.Equal(0, code);
        Assert.Equal(first, second);
    }

    [Fact]
    public void Inject_passes_other_kinds_through_unchanged()
    {
        const string yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: kubernetes.io/tls\nstringData:\n  a: \"true\"\n  port: \"16443\"\n";
        var (code, stdout, _) = Run(yaml, "inject", "-f", "-");
        Assert.Equal(0, code);
        Assert.Equal(yaml, stdout);
    }

    [Fact]
    public void Inject_conflict_exits_1_naming_file_line_and_object()
    {
        string path = Write("clash.yaml", "kind: ConfigMap\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: a\n        ports: [{containerPort: 16090}]\n");
        var (code, stdout, stderr) = Run("", "inject", "--pod", path);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal($"belizemesh-injector: {path}:3:1: Deployment web: cannot inject the sidecar: container app already uses port 16090, which the BelizeMesh sidecar needs; move it to another port\n", stderr.Replace("\r\n", "\n"));
    }

    [Fact]
    public void Inject_conflict_under_ignore_policy_warns_and_leaves_the_pod_unchanged()
    {
        string config = Write("ignore.yaml", "failurePolicy: Ignore\n");
        const string pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  volumes:\n  - name: belizemesh-policy\n    emptyDir: {}\n  containers:\n  - name: a\n    image: a\n";
        var (code, stdout, stderr) = Run(pod, "inject", "--pod", "-", "--config", config);
        Assert.Equal(0, code);
        Assert.Equal(pod, stdout);
        Assert.Equal("warning: <stdin>:1:1: Pod p: cannot inject the sidecar: the pod already has a volume named belizemesh-certs or belizemesh-policy; rename it (left unchanged: failurePolicy is Ignore)\n", stderr.Replace("\r\n", "\n"));
    }

    [Fact]
    public void Inject_bad_yaml_exits_1_with_position()
    {
        string path = Write("bad.yaml", "kind: Pod\nmetadata:\n  name: [x\n");
        var (code, _, stderr) = Run("", "inject", "--pod", path);
        Assert.Equal(1, code);
        Assert.StartsWith($"belizemesh-injector: {path}:4:1: not valid YAML: ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Inject_missing_file_exits_1()
    {
        string path = Path.Combine(_dir, "nope.yaml");
        var (code, _, stderr) = Run("", "inject", "--pod", path);
        Assert.Equal(1, code);
        Assert.StartsWith($"belizemesh-injector: cannot read {path}: ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Inject_workload_without_template_is_reported()
    {
        var (code, _, stderr) = Run("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {schedule: '* * * * *'}\n", "inject", "--pod", "-");
        Assert.Equal(1, code);
        Assert.Equal("belizemesh-injector: <stdin>:1:1: CronJob c: cannot inject the sidecar: it has no spec.jobTemplate.spec.template\n", stderr.Replace("\r\n", "\n"));
    }

    [Fact]
    public void Webhook_config_has_the_required_settings_and_validates_against_the_schema()
    {
        using var certs = new TestCertificates();
        var (code, stdout, stderr) = Run("", "webhook-config", "--service", "belizemesh-injector", "--namespace", "belizemesh-system", "--ca-bundle", certs.CertPath);
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        JsonNode mwc = YamlJsonReader.ReadDocuments(stdout, "mwc")[0].Root!;
        Assert.Empty(KubeSchemas.ValidateMutatingWebhookConfiguration(mwc));
        Assert.Equal("belizemesh", mwc["metadata"]!["labels"]!["app.kubernetes.io/managed-by"]!.GetValue<string>());

        JsonNode first = mwc["webhooks"]![0]!;
        Assert.Equal("None", first["sideEffects"]!.GetValue<string>());
        Assert.Equal("""["v1"]""", first["admissionReviewVersions"]!.ToJsonString());
        Assert.Equal("IfNeeded", first["reinvocationPolicy"]!.GetValue<string>());
        Assert.Equal(10, first["timeoutSeconds"]!.GetValue<long>());
        Assert.Equal("Fail", first["failurePolicy"]!.GetValue<string>());
        Assert.Equal("""{"belizemesh-injection":"enabled"}""", first["namespaceSelector"]!["matchLabels"]!.ToJsonString());
        Assert.Equal("""[{"key":"belizemesh.io/inject","operator":"NotIn","values":["false"]}]""", first["objectSelector"]!["matchExpressions"]!.ToJsonString());
        Assert.Equal("""[{"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],"resources":["pods"],"scope":"Namespaced"}]""", first["rules"]!.ToJsonString());
        Assert.Equal("""{"name":"belizemesh-injector","namespace":"belizemesh-system","path":"/inject","port":443}""", first["clientConfig"]!["service"]!.ToJsonString());
        Assert.Equal(certs.CertPem, System.Text.Encoding.ASCII.GetString(Convert.FromBase64String(first["clientConfig"]!["caBundle"]!.GetValue<string>())));

        JsonNode second = mwc["webhooks"]![1]!;
        Assert.Equal("""{"belizemesh.io/inject":"true"}""", second["objectSelector"]!["matchLabels"]!.ToJsonString());
        Assert.Contains("DoesNotExist", second["namespaceSelector"]!.ToJsonString(), StringComparison.Ordinal);
    }

    [PythonFact]
    public void Webhook_config_validates_with_python_jsonschema_too()
    {
        using var certs = new TestCertificates();
        var (_, stdout, _) = Run("", "webhook-config", "--service", "inj", "--namespace", "ns", "--ca-bundle", certs.CertPath,
            "--path", "/mutate", "--port", "8443", "--failure-policy", "Ignore", "--timeout-seconds", "5");
        string json = YamlJsonReader.ReadDocuments(stdout, "mwc")[0].Root!.ToJsonString();
        string errors = Python.Run(
            "import json,sys,jsonschema; v=jsonschema.Draft4Validator(json.load(open(sys.argv[1] if len(sys.argv)>1 else '" + KubeSchemas.MutatingWebhookConfigurationPath + "'))); " +
            "print(len(list(v.iter_errors(json.load(sys.stdin)))))", json);
        Assert.Equal("0", errors.Trim());
        Assert.Contains("failurePolicy: Ignore\n", stdout, StringComparison.Ordinal);
        Assert.Contains("timeoutSeconds: 5\n", stdout, StringComparison.Ordinal);
        Assert.Contains("path: /mutate\n", stdout, StringComparison.Ordinal);
        Assert.Contains("port: 8443\n", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Webhook_config_takes_failure_policy_from_configuration_when_not_given()
    {
        using var certs = new TestCertificates();
        string config = Write("c.yaml", "failurePolicy: Ignore\n");
        var (_, stdout, _) = Run("", "webhook-config", "--service", "inj", "--namespace", "ns", "--ca-bundle", certs.CertPath, "--config", config);
        Assert.Equal(2, stdout.Split("failurePolicy: Ignore\n").Length - 1);
    }

    [Fact]
    public void Webhook_config_reports_every_bad_option()
    {
        string notPem = Write("ca.txt", "hello");
        var (code, stdout, stderr) = Run("", "webhook-config", "--service", "Bad_Name", "--namespace", "ns", "--ca-bundle", notPem, "--timeout-seconds", "60", "--path", "inject");
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal(
            "belizemesh-injector: --service 'Bad_Name' is not a Service name: use lower-case letters, digits and '-', starting with a letter (at most 63)\n" +
            "belizemesh-injector: --path 'inject' must be an absolute URL path such as /inject\n" +
            "belizemesh-injector: --timeout-seconds 60 is out of range: Kubernetes accepts 1 to 30\n" +
            $"belizemesh-injector: --ca-bundle {notPem}: no PEM certificate found (expected '-----BEGIN CERTIFICATE-----'); pass the CA that signed the injector's serving certificate\n",
            stderr.Replace("\r\n", "\n"));
    }

    [Fact]
    public void Webhook_config_rejects_unknown_failure_policy()
    {
        using var certs = new TestCertificates();
        var (code, _, stderr) = Run("", "webhook-config", "--service", "s", "--namespace", "n", "--ca-bundle", certs.CertPath, "--failure-policy", "Maybe");
        Assert.Equal(1, code);
        Assert.Contains("Maybe", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Schema_validator_is_live_and_rejects_unknown_container_fields()
    {
        JsonObject pod = Reviews.Pod();
        pod["spec"]!["containers"]![0]!["imagge"] = "typo";
        Assert.NotEmpty(KubeSchemas.ValidatePod(pod));
    }

    [Fact]
    public void Inject_on_yaml_without_any_pod_or_workload_passes_it_through_with_a_warning()
    {
        const string yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: z\n";
        var (code, stdout, stderr) = Run(yaml, "inject", "--pod", "-");
        Assert.Equal(0, code);
        Assert.Equal(yaml, stdout);
        Assert.Equal("warning: <stdin>: no Pod or workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, PodTemplate, or a List of them) found: nothing was injected\n", stderr.ReplaceLineEndings("\n"));
    }
}
