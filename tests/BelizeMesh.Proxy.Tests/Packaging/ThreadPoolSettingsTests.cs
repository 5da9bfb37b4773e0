using System.Text.Json;

namespace BelizeMesh.Proxy.Tests.Packaging;

/// <summary>
/// The sidecar's thread-pool settings ship in its runtime configuration (BelizeMesh.Proxy.csproj,
/// <c>RuntimeHostConfigurationOption</c>): the JIT build reads <c>belizemesh-proxy.runtimeconfig.json</c>, and the
/// native AOT compiler bakes the same options into the binary. The file beside the tests is the proxy project's build
/// output. Why each value: perf/README.md, "data path" (spin limit) and "data path, sixth session" (hill climbing).
/// </summary>
public sealed class ThreadPoolSettingsTests
{
    [Fact]
    public void Sidecar_runtime_configuration_turns_off_thread_pool_hill_climbing_and_idle_spinning()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "belizemesh-proxy.runtimeconfig.json");
        Assert.True(File.Exists(path), $"{path} not found: the test project references the proxy project, whose build output lands beside the tests");

        using JsonDocument config = JsonDocument.Parse(File.ReadAllText(path));
        JsonElement options = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");

        Assert.True(options.GetProperty("System.Threading.ThreadPool.HillClimbing.Disable").GetBoolean());
        JsonElement spin = options.GetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit");
        Assert.Equal("0", spin.ValueKind == JsonValueKind.String ? spin.GetString() : spin.GetRawText());
    }
}
