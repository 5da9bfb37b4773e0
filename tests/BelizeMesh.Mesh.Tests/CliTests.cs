using System.Text.Json.Nodes;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Mesh.Tests;

public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("belizemesh-mesh-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string Example(string name) => RepoPaths.RepoFile("examples", name, "mesh.yaml");

    [Fact]
    public void Emit_with_bad_input_exits_2_and_writes_nothing()
    {
        string mesh = Write("bad.yaml", File.ReadAllText(Golden.TestData("invalid", "invalid-duration.yaml")));
        string outDir = Path.Combine(_dir, "out");
        var (code, stdout, stderr) = Cli.Run("emit", "--mesh", mesh, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.False(Directory.Exists(outDir));
        Assert.Contains($"{mesh}:10:16: spec.services[0].timeout: \"5 minutes\" is not a duration", stderr, StringComparison.Ordinal);
        Assert.EndsWith($"belizemesh emit: 4 problem(s) in {mesh}; nothing written\n", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Emit_with_analysis_errors_exits_1_and_writes_nothing()
    {
        string mesh = Write("subset.yaml", File.ReadAllText(Golden.TestData("analyze", "undefined-subset.yaml")));
        string outDir = Path.Combine(_dir, "out");
        var (code, stdout, stderr) = Cli.Run("emit", "--mesh", mesh, "--out", outDir);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.False(Directory.Exists(outDir));
        Assert.Contains("error BM0001:", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Emit_out_writes_one_file_per_kind_with_the_same_documents_as_stdout()
    {
        var (code, stdout, _) = Cli.Run("emit", "--mesh", Example("payments"));
        Assert.Equal(0, code);
        string outDir = Path.Combine(_dir, "out");
        (code, _, _) = Cli.Run("emit", "--mesh", Example("payments"), "--out", outDir);
        Assert.Equal(0, code);

        string[] order = ["peer-authentication.yaml", "gateway.yaml", "destination-rules.yaml", "virtual-services.yaml", "request-authentication.yaml", "authorization-policies.yaml", "sidecar-policies.yaml", "pq-services.yaml", "injector-exclusions.yaml"];
        Assert.Equal(order.Order(StringComparer.Ordinal), Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        string joined = string.Join("---\n", order.Select(f => File.ReadAllText(Path.Combine(outDir, f))));
        Assert.Equal(stdout, joined);
        Assert.All(Directory.GetFiles(outDir, "*.yaml"), f => Assert.StartsWith("apiVersion: ", File.ReadAllText(f), StringComparison.Ordinal));
    }

    [Fact]
    public void Emit_out_removes_files_of_kinds_the_mesh_no_longer_produces()
    {
        string outDir = Path.Combine(_dir, "out");
        Assert.Equal(0, Cli.Run("emit", "--mesh", Example("payments"), "--out", outDir).Code);
        Assert.True(File.Exists(Path.Combine(outDir, "request-authentication.yaml")));
        Assert.Equal(0, Cli.Run("emit", "--mesh", Example("belizechain"), "--out", outDir).Code);
        Assert.False(File.Exists(Path.Combine(outDir, "request-authentication.yaml")));
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp"));
    }

    [Fact]
    public void Emit_rejects_an_unknown_api_version()
    {
        var (code, _, stderr) = Cli.Run("emit", "--mesh", Example("payments"), "--api-version", "v1alpha3");
        Assert.NotEqual(0, code);
        Assert.Contains("v1alpha3", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Emit_v1beta1_changes_only_the_istio_api_versions()
    {
        var v1 = Cli.Run("emit", "--mesh", Example("belizechain")).Stdout;
        var beta = Cli.Run("emit", "--mesh", Example("belizechain"), "--api-version", "v1beta1").Stdout;
        Assert.Equal(v1.Replace("istio.io/v1\n", "istio.io/v1beta1\n", StringComparison.Ordinal), beta);
        Assert.DoesNotContain("istio.io/v1\n", beta, StringComparison.Ordinal);
    }

    [Fact]
    public void Analyze_json_lists_findings_with_code_severity_position_and_hint()
    {
        string mesh = Write("tls.yaml", File.ReadAllText(Golden.TestData("analyze", "tls-conflict.yaml")));
        var (code, stdout, _) = Cli.Run("analyze", "--mesh", mesh, "--output", "json");
        Assert.Equal(1, code);
        var doc = JsonNode.Parse(stdout)!;
        var first = doc["findings"]![0]!;
        Assert.Equal("BM0003", (string?)first["code"]);
        Assert.Equal("error", (string?)first["severity"]);
        Assert.Equal(mesh, (string?)first["file"]);
        Assert.Equal(11, (int)first["line"]!);
        Assert.Equal(16, (int)first["column"]!);
        Assert.StartsWith("remove tlsMode", (string?)first["hint"], StringComparison.Ordinal);
        Assert.Equal(2, (int)doc["summary"]!["errors"]!);
        Assert.Contains("service \\\"ledger\\\": the DestinationRule", stdout, StringComparison.Ordinal); // JSON's \" escape
        Assert.DoesNotContain("\\u0022", stdout, StringComparison.Ordinal); // not the HTML-safe \u0022
    }

    [Fact]
    public void Analyze_of_clean_mesh_exits_0_and_says_so()
    {
        string mesh = Write("clean.yaml", "apiVersion: belizemesh.io/v1alpha1\nkind: Mesh\nmetadata: { name: c }\nspec:\n  namespace: a\n  services:\n    - name: web\n      ports: [{ name: http, number: 80 }]\n");
        var (code, stdout, stderr) = Cli.Run("analyze", "--mesh", mesh);
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal($"{mesh}: no findings\n", stdout);
    }

    [Fact]
    public void Analyze_with_warnings_only_exits_0()
    {
        string mesh = Write("rl.yaml", File.ReadAllText(Golden.TestData("analyze", "rate-limits.yaml")));
        var (code, stdout, _) = Cli.Run("analyze", "--mesh", mesh);
        Assert.Equal(0, code);
        Assert.EndsWith($"{mesh}: 0 error(s), 2 warning(s), 0 info\n", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_mesh_file_exits_2_with_the_path()
    {
        string mesh = Path.Combine(_dir, "nope.yaml");
        var (code, _, stderr) = Cli.Run("analyze", "--mesh", mesh);
        Assert.Equal(2, code);
        Assert.StartsWith($"{mesh}:1:1: cannot read the file:", stderr, StringComparison.Ordinal);
    }
}

public sealed class CliUsageTests
{
    [Theory]
    [InlineData(new[] { "emit" }, "belizemesh emit")]                               // --mesh missing
    [InlineData(new[] { "emit", "--mesh", "m.yaml", "--bogus" }, "belizemesh emit")] // unknown option
    [InlineData(new[] { "certs", "issue", "--ca", "x" }, "belizemesh certs issue")]  // required options missing
    [InlineData(new[] { "frobnicate" }, "belizemesh")]                               // unknown command
    public void Usage_errors_exit_2_with_the_error_and_where_to_find_help(string[] args, string command)
    {
        var (code, stdout, stderr) = Cli.Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("belizemesh: ", stderr, StringComparison.Ordinal);
        Assert.EndsWith($"Run '{command} --help' for usage.\n", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_still_exits_0()
    {
        var (code, stdout, _) = Cli.Run("emit", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--mesh", stdout, StringComparison.Ordinal);
    }
}
