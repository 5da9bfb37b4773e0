using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Tests.EndToEnd;
using BelizeMesh.TestSupport;

namespace BelizeMesh.Proxy.Tests.Configuration;

/// <summary>Mutated and hostile sidecar policies: the parser always answers (a policy or located errors), never throws
/// or hangs. Seeded: a failure names its case.</summary>
public sealed class PolicyFuzzTests
{
    private static readonly PolicyParserOptions Options = new() { PqChannelAvailable = true, PermissiveAvailable = true };

    private static string DocsExample()
    {
        string doc = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "policy.md"));
        int start = doc.IndexOf("```yaml\n", StringComparison.Ordinal) + "```yaml\n".Length;
        return doc[start..doc.IndexOf("```", start, StringComparison.Ordinal)];
    }

    // One EC key (an RSA key import per mutation would make this test several times slower).
    private static string InlineJwks() => """{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"7c4-G2g5NVhKis4yjzMw3-k3TnWHCBvIRcfSuNbqLnU","y":"VCH_z1d9sa2uIgPmUasIraQ2xBk-i-57oex97F82O8g"}]}""";

    [Fact]
    public void Mutated_policies_are_answered_with_a_policy_or_located_errors()
    {
        string[] valid =
        [
            DocsExample(),
            Sidecar.Policy("http://127.0.0.1:8080", inboundExtra: "    authorization:\n      rules:\n        - from: { principals: [\"*\"] }\n          to: { methods: [GET], paths: [\"/api/*\"] }\n"),
            Sidecar.Policy("http://127.0.0.1:8080", outboundRoutes: Sidecar.Route("a.test", "\"127.0.0.1:1\"", "        timeout: 5s\n        retries: { attempts: 2 }")),
            HostileYamlTests.AliasBomb(asKey: false),
            Sidecar.Policy("http://127.0.0.1:8080", inboundExtra: "    jwtRules:\n      - issuer: https://a\n        jwks: '" + InlineJwks() + "'\n"),
        ];
        PolicyParseResult docs = PolicyParser.Parse(valid[0], "docs.yaml", Options);
        Assert.True(docs.Succeeded, string.Join('\n', docs.Errors));

        YamlFuzz.Run(valid, seed: 14, count: 20_000, perCase: TimeSpan.FromSeconds(5), text =>
        {
            PolicyParseResult result = PolicyParser.Parse(text, "fuzz.yaml", Options);
            Assert.True(result.Succeeded || result.Errors.Count > 0);
            Assert.All(result.Errors, e => Assert.True(e.Line >= 1 && e.Column >= 1, e.ToString()));
        });
    }
}
