using System.Diagnostics;

namespace BelizeMesh.Injector.Tests.Controller;

/// <summary>
/// The native AOT executable's controller against the in-process API server: the trimmed, source-generated JSON paths
/// of KubernetesClient.Aot (lists, watch events, create, Lease) are the ones a cluster would exercise. Runs when
/// <c>BELIZEMESH_INJECTOR_NATIVE</c> names a published <c>belizemesh-injector</c>
/// (<c>dotnet publish injector/BelizeMesh.Injector -c Release -r linux-x64 -o DIR</c>).
/// </summary>
public sealed class NativeControllerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bm-native-ctrl-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class NativeFactAttribute : FactAttribute
    {
        public NativeFactAttribute()
        {
            if (Environment.GetEnvironmentVariable("BELIZEMESH_INJECTOR_NATIVE") is not { Length: > 0 } path || !File.Exists(path))
            {
                Skip = "set BELIZEMESH_INJECTOR_NATIVE to a published native belizemesh-injector to run the AOT binary's controller";
            }
        }
    }

    [NativeFact]
    public async Task Native_controller_issues_renews_nothing_early_and_deletes_through_the_api()
    {
        await using var h = await ControllerHarness.StartAsync();
        h.Api.AddNamespace("shop", optedIn: true);
        h.Api.AddServiceAccount("shop", "cart");
        string kubeconfig = Path.Combine(_dir, "kubeconfig");
        File.WriteAllText(kubeconfig, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: fake
              cluster: {"{"}server: "{h.Api.Uri.ToString().TrimEnd('/')}"{"}"}
            users:
            - name: u
              user: {"{"}token: t{"}"}
            contexts:
            - name: fake
              context: {"{"}cluster: fake, user: u{"}"}
            current-context: fake
            """);
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("BELIZEMESH_INJECTOR_NATIVE")!)
        {
            ArgumentList = { "controller", "--kubeconfig", kubeconfig, "--listen", "127.0.0.1:0", "--root-secret-namespace", ControllerHarness.SystemNamespace, "--identity", "native" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await h.Api.WaitForAsync(() => h.Serial("shop", "cart") is not null, "the native controller issued");
            h.Api.AddServiceAccount("shop", "orders");
            await h.Api.WaitForAsync(() => h.Serial("shop", "orders") is not null, "issued from a watch event");
            h.Api.Delete("serviceaccounts", "shop", "cart");
            await h.Api.WaitForAsync(() => h.Api.Get("secrets", "shop", "belizemesh-certs-cart") is null, "deleted after the ServiceAccount");
            Assert.Equal("native", h.Api.Get("leases", ControllerHarness.SystemNamespace, "belizemesh-cert-controller")!["spec"]!["holderIdentity"]!.GetValue<string>());
            Assert.Single(h.Events("shop", "CertificateIssued"), e => e["involvedObject"]!["name"]!.GetValue<string>() == "orders");
        }
        finally
        {
            process.Kill();
            await process.WaitForExitAsync();
        }

        lock (output)
        {
            Assert.DoesNotContain("PRIVATE KEY", output.ToString(), StringComparison.Ordinal);
        }
    }
}
