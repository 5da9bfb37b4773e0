using System.Net;
using System.Text;
using BelizeMesh.Configuration;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Hosting;
using BelizeMesh.Proxy.Tests.EndToEnd;

namespace BelizeMesh.Proxy.Tests.Configuration;

/// <summary>
/// Policy files an attacker or a broken generator could write (issue 14 items 1–2 and the 100 MB file): each ends in a
/// FILE:LINE:COL error, at start-up and at a reload, and a reload keeps the last good policy and takes the next valid one.
/// </summary>
public sealed class HostileYamlTests : IAsyncLifetime
{
    private TestApp _app = null!;

    public async Task InitializeAsync() => _app = await TestApp.StartAsync("hostile-yaml-app");

    public async Task DisposeAsync() => await _app.DisposeAsync();

    /// <summary>~100 KB of nested flow mappings: what overflowed YamlStream's recursive loader (exit 134).</summary>
    internal static string DeepFlowMappings(int depth = 25_000) => new StringBuilder().Insert(0, "{a: ", depth).Append('1').Append('}', depth).ToString();

    /// <summary>Under 1 KB; each level doubles the nodes a reader visits. As a key, 15 levels (the definitions alone
    /// stay within the expansion bound, the key use is what must be refused: hashing it pinned a core for minutes).</summary>
    internal static string AliasBomb(bool asKey)
    {
        int levels = asKey ? 15 : 20;
        var yaml = new StringBuilder("a0: &a0 [x, x]\n");
        for (int i = 1; i <= levels; i++)
        {
            yaml.Append(CultureInfo($"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n"));
        }

        yaml.Append(asKey ? CultureInfo($"spec: {{ *a{levels} : 1 }}\n") : CultureInfo($"spec: *a{levels}\n"));
        return yaml.ToString();
    }

    private static string CultureInfo(FormattableString s) => FormattableString.Invariant(s);

    public static TheoryData<string, string> Hostile => new()
    {
        { "deep nesting", "refused before parsing: nested more than 64 levels deep" },
        { "alias bomb as a key", "refused before parsing: an alias (*a15) used as a mapping key; keys must be plain scalars" },
        { "alias bomb as a value", "refused before parsing: aliases expand the document past 1,000,000 nodes" },
        { "mapping as a key", "refused before parsing: a mapping or sequence used as a mapping key" },
    };

    private static string Document(string kind) => kind switch
    {
        "deep nesting" => DeepFlowMappings(),
        "alias bomb as a key" => AliasBomb(asKey: true),
        "alias bomb as a value" => AliasBomb(asKey: false),
        "mapping as a key" => "apiVersion: belizemesh.io/v1alpha1\n? { a: 1 }\n: x\n",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Hostile_policy_is_refused_with_a_located_error(string kind, string expected)
    {
        PolicyParseResult result = PolicyParser.Parse(Document(kind), "policy.yaml");
        PolicyError error = Assert.Single(result.Errors);
        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
        Assert.Equal("policy.yaml", error.File);
        Assert.True(error.Line >= 1 && error.Column >= 1);
    }

    [Fact]
    public void Nesting_error_points_at_the_level_that_crossed_the_limit()
    {
        PolicyError error = Assert.Single(PolicyParser.Parse(DeepFlowMappings(), "p.yaml").Errors);
        Assert.Equal((1, 1 + (4 * YamlInputGuard.MaxDepth)), (error.Line, error.Column)); // the 65th "{a: "
    }

    [Fact]
    public void Policy_file_over_the_size_limit_is_refused_by_its_size()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("belizemesh-big-").FullName, "policy.yaml");
        using (FileStream stream = File.Create(path))
        {
            stream.SetLength(100_000_000);
        }

        PolicyError error = Assert.Single(PolicyParser.ParseFile(path).Errors);
        Assert.Equal($"the policy file is 100000000 bytes, more than the {YamlInputGuard.MaxBytes} bytes a configuration file may have; is this the right file?", error.Message);
        Assert.Equal((1, 1), (error.Line, error.Column));
        Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
    }

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task Hostile_reload_keeps_the_last_good_policy_and_the_next_valid_one_is_applied(string kind, string expected)
    {
        await using Sidecar sidecar = await Sidecar.StartAsync(Sidecar.Policy(_app.Url), watch: false);
        using HttpClient http = new();
        string url = $"http://{sidecar.InboundEndpoint}/echo";

        await File.WriteAllTextAsync(sidecar.PolicyPath, Document(kind));
        Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(url)).StatusCode);
        Assert.Contains(expected, string.Join('\n', PolicyParser.Parse(Document(kind), sidecar.PolicyPath).Errors.Select(e => e.ToString())), StringComparison.Ordinal);

        const string DenyAll = "    authorization:\n      rules: []\n";
        await File.WriteAllTextAsync(sidecar.PolicyPath, Sidecar.Policy(_app.Url, inboundExtra: DenyAll));
        Assert.Equal(ReloadResult.Applied, await sidecar.Host.Policy.ReloadAsync());
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync(url)).StatusCode);
    }

    [Fact]
    public void Anchors_and_aliases_within_bounds_still_work()
    {
        // Ordinary YAML reuse stays legal: the guard bounds what aliases expand to, it does not forbid them.
        var guard = YamlInputGuard.Check("base: &b { x: 1, y: [1, 2] }\nother: *b\nthird: *b\n");
        Assert.Null(guard);
    }
}
