using System.Net;
using System.Text.Json.Nodes;
using BelizeMesh.Injector.Configuration;
using BelizeMesh.Injector.Server;
using BelizeMesh.Injector.Tests.Support;

namespace BelizeMesh.Injector.Tests;

/// <summary><c>serve --exclusions</c>: the optional ConfigMap volume appears, changes and goes while the webhook runs.</summary>
public sealed class ServeExclusionsEndToEndTests : IDisposable
{
    private const string Exclusions = """
        mesh: belizechain
        exclude:
          - { namespace: belizechain, service: postgres, matchLabels: { app: postgres } }
        """;

    private readonly TestCertificates _certs = new();
    private readonly string _dir;

    public ServeExclusionsEndToEndTests()
    {
        // An optional ConfigMap that does not exist yet: the kubelet still mounts an empty directory.
        _dir = Path.Combine(_certs.Directory, "exclusions");
        Directory.CreateDirectory(_dir);
    }

    public void Dispose() => _certs.Dispose();

    [Fact]
    public async Task Exclusions_appearing_in_the_mounted_volume_take_effect_and_their_removal_lifts_them()
    {
        string path = Path.Combine(_dir, "exclusions.yaml");
        await using InjectorServer server = await InjectorServer.StartAsync(
            new ServeOptions(new IPEndPoint(IPAddress.Loopback, 0), _certs.CertPath, _certs.KeyPath, null)
            {
                ReloadSettle = TimeSpan.FromMilliseconds(50),
                ExclusionsPath = path,
            },
            configureLogging: _ => { });
        using HttpClient client = ServerFixture.CreateClient(server.Endpoint.Port, _certs);
        Assert.True(await Patched(client), "no exclusions yet: the postgres pod is injected");

        // The ConfigMap is applied: the kubelet writes ..TS/exclusions.yaml, the ..data symlink and the file's symlink.
        Task<bool> reloaded = NextReload(server.Config);
        Directory.CreateDirectory(Path.Combine(_dir, "..2026_12_04_a"));
        File.WriteAllText(Path.Combine(_dir, "..2026_12_04_a", "exclusions.yaml"), Exclusions);
        File.CreateSymbolicLink(Path.Combine(_dir, "..data"), "..2026_12_04_a");
        File.CreateSymbolicLink(path, Path.Combine("..data", "exclusions.yaml"));
        Assert.True(await reloaded.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.False(await Patched(client), "the postgres pod matches the exclusion");
        string metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("belizemesh_injector_decisions_total{reason=\"excluded\"} 1\n", metrics, StringComparison.Ordinal);

        // The ConfigMap is deleted: the volume empties, and the pod is injected again.
        Task<bool> lifted = NextReload(server.Config);
        File.Delete(path);
        File.Delete(Path.Combine(_dir, "..data"));
        Assert.True(await lifted.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(await Patched(client));
    }

    private static async Task<bool> Patched(HttpClient client)
    {
        JsonObject pod = Reviews.Pod(ns: "belizechain", labels: new JsonObject { ["app"] = "postgres" });
        var (status, _, response) = await ServerFixture.PostAsync(client, Reviews.Review(pod, ns: "belizechain"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(response!["allowed"]!.GetValue<bool>());
        return ServerFixture.Patch(response) is not null;
    }

    private static Task<bool> NextReload(ConfigStore store)
    {
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Handler(bool ok)
        {
            store.Reloaded -= Handler;
            done.TrySetResult(ok);
        }

        store.Reloaded += Handler;
        return done.Task;
    }
}
