using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Hosting;
using BelizeMesh.Proxy.Tests.Policy;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary><c>jwtRules[].jwksFile</c>: read with the policy, re-read when its bytes change, a bad file keeps the last good keys.</summary>
public sealed class JwksFileReloadTests
{
    private static string Policy(string appUrl, string jwksFile) => Sidecar.Policy(appUrl, inboundExtra: $$"""
                authorization:
                  rules:
                    - from: { requestPrincipals: ["*"] }
                jwtRules:
                  - issuer: {{TestJwt.Issuer}}
                    jwksFile: {{jwksFile}}
            """);

    [Theory]
    [InlineData(null, "cannot read the file")]
    [InlineData("{\"keys\": []}", "no usable signing key")]
    public async Task Sidecar_does_not_start_with_a_jwks_file_it_cannot_use(string? content, string reason)
    {
        string directory = Directory.CreateTempSubdirectory("belizemesh-jwks-").FullName;
        try
        {
            string jwksFile = Path.Combine(directory, "jwks.json");
            if (content is not null)
            {
                await File.WriteAllTextAsync(jwksFile, content);
            }

            string policyPath = Path.Combine(directory, "policy.yaml");
            await File.WriteAllTextAsync(policyPath, Policy("http://127.0.0.1:1", jwksFile));
            ProxyHost? host = ProxyHost.Create(new ProxyHostOptions { PolicyPath = policyPath, CertsPath = directory }, out IReadOnlyList<PolicyError> errors);

            Assert.Null(host);
            PolicyError error = Assert.Single(errors);
            Assert.Equal(jwksFile, error.File);
            Assert.StartsWith("spec.inbound.jwtRules[0].jwksFile: ", error.Message, StringComparison.Ordinal);
            Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Rotated_jwks_file_is_picked_up_and_a_bad_one_keeps_the_last_good_keys()
    {
        using var oldKeys = new TestJwt();
        using var newKeys = new TestJwt();
        string directory = Directory.CreateTempSubdirectory("belizemesh-jwks-").FullName;
        string jwksFile = Path.Combine(directory, "jwks.json");
        await File.WriteAllTextAsync(jwksFile, oldKeys.Jwks());
        await using TestApp app = await TestApp.StartAsync();
        await using Sidecar sidecar = await Sidecar.StartAsync(Policy(app.Url, jwksFile), watch: false);
        try
        {
            Assert.Equal(200, (await sidecar.RawInboundAsync("/x", $"Authorization: Bearer {oldKeys.Es256()}\r\n")).Status);
            Assert.Equal(401, (await sidecar.RawInboundAsync("/x", $"Authorization: Bearer {newKeys.Es256()}\r\n")).Status);
            Assert.Equal(ReloadResult.Unchanged, await sidecar.Host.Policy.ReloadAsync());

            // Key rotation: the policy is unchanged, the file is new.
            await File.WriteAllTextAsync(jwksFile, newKeys.Jwks());
            Assert.Equal(ReloadResult.Applied, await sidecar.Host.Policy.ReloadAsync());
            Assert.Equal(200, (await sidecar.RawInboundAsync("/x", $"Authorization: Bearer {newKeys.Es256()}\r\n")).Status);
            Assert.Equal(401, (await sidecar.RawInboundAsync("/x", $"Authorization: Bearer {oldKeys.Es256()}\r\n")).Status);

            // A broken file: logged and counted, the keys in force stay, and it is reported once.
            await File.WriteAllTextAsync(jwksFile, "{\"keys\": [");
            await sidecar.Host.Policy.ReloadAsync();
            Assert.Equal(200, (await sidecar.RawInboundAsync("/x", $"Authorization: Bearer {newKeys.Es256()}\r\n")).Status);
            Assert.Equal(ReloadResult.Unchanged, await sidecar.Host.Policy.ReloadAsync());
            string metrics = await sidecar.CreateAdminClient().GetStringAsync("/metrics");
            Assert.Contains("belizemesh_proxy_jwks_loads_total{result=\"failure\"} 1", metrics, StringComparison.Ordinal);
            Assert.Contains("belizemesh_proxy_jwks_loads_total{result=\"success\"} 1", metrics, StringComparison.Ordinal); // the rotation (start-up comes before the exporter listens)

            // No token: authentication lets it on, the requestPrincipals rule refuses it.
            Assert.Equal(403, (await sidecar.RawInboundAsync("/x")).Status);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_rotated_jwks_file_is_picked_up_while_a_rejected_policy_edit_sits_in_the_policy_file()
    {
        using var oldKeys = new TestJwt();
        using var newKeys = new TestJwt();
        string directory = Directory.CreateTempSubdirectory("belizemesh-jwks-").FullName;
        string jwksFile = Path.Combine(directory, "jwks.json");
        await File.WriteAllTextAsync(jwksFile, oldKeys.Jwks());
        await using TestApp app = await TestApp.StartAsync();
        string policy = Policy(app.Url, jwksFile);
        await using Sidecar sidecar = await Sidecar.StartAsync(policy, watch: false);
        try
        {
            // A bad edit: rejected, the last good policy (and its keys) stay.
            await File.WriteAllTextAsync(sidecar.Host.Policy.PolicyPath, policy.Replace("mode: DISABLE", "mode: SOMETIMES", StringComparison.Ordinal));
            Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());

            // The identity provider rotates its keys meanwhile: the policy in force takes them all the same.
            await File.WriteAllTextAsync(jwksFile, newKeys.Jwks());
            Assert.Equal(ReloadResult.Applied, await sidecar.Host.Policy.ReloadAsync());
            Assert.Equal(200, (await sidecar.RawInboundAsync("/x", $"Authorization: Bearer {newKeys.Es256()}\r\n")).Status);
            Assert.Equal(401, (await sidecar.RawInboundAsync("/x", $"Authorization: Bearer {oldKeys.Es256()}\r\n")).Status);

            // The bad edit is still there, still rejected, and not reported a second time.
            Assert.Equal(ReloadResult.Unchanged, await sidecar.Host.Policy.ReloadAsync());
            string metrics = await sidecar.CreateAdminClient().GetStringAsync("/metrics");
            Assert.Contains("belizemesh_policy_reloads_total{result=\"failure\"} 1", metrics, StringComparison.Ordinal);

            // The policy file goes missing: the policy in force still follows its key set.
            File.Delete(sidecar.Host.Policy.PolicyPath);
            await File.WriteAllTextAsync(jwksFile, oldKeys.Jwks());
            Assert.Equal(ReloadResult.Applied, await sidecar.Host.Policy.ReloadAsync());
            Assert.Equal(200, (await sidecar.RawInboundAsync("/x", $"Authorization: Bearer {oldKeys.Es256()}\r\n")).Status);
            Assert.Equal(ReloadResult.Rejected, await sidecar.Host.Policy.ReloadAsync());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
