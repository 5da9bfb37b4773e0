using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;
using BelizeMesh.Identity;
using BelizeMesh.Injector.Controller;
using k8s;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Tests.Controller;

/// <summary>A fake API server, a mesh root in its root Secret, and controllers started against it.</summary>
internal sealed class ControllerHarness : IAsyncDisposable
{
    public const string SystemNamespace = "belizemesh-system";

    private readonly List<RunningController> _controllers = [];
    private readonly List<ControllerKubernetes> _clients = [];

    private ControllerHarness(FakeApiServer api, TimeProvider time, CertificateAuthority root)
    {
        Api = api;
        Time = time;
        Root = root;
    }

    public FakeApiServer Api { get; }

    public TimeProvider Time { get; }

    public CertificateAuthority Root { get; }

    /// <summary>Every log line of every controller (checked for key material).</summary>
    public ConcurrentQueue<string> Logs { get; } = new();

    public static async Task<ControllerHarness> StartAsync(TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        var api = await FakeApiServer.StartAsync();
        var root = CertificateAuthority.CreateRoot(new RootCertificateOptions { Time = time, Subject = "CN=Test Root 1,O=BelizeMesh" });
        var harness = new ControllerHarness(api, time, root);
        api.AddNamespace(SystemNamespace, optedIn: false);
        harness.PutRootSecret(root);
        return harness;
    }

    /// <summary>Creates or replaces the root Secret: the signing root, and optional extra roots for the bundle.</summary>
    public void PutRootSecret(CertificateAuthority signer, params MeshCertificate[] extraRoots)
    {
        var data = new JsonObject
        {
            ["ca.crt"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(signer.Certificate.ToPem())),
            ["ca.key"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(signer.ExportPrivateKeyPem())),
        };
        if (extraRoots.Length > 0)
        {
            data["extra-roots.crt"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Concat(extraRoots.Select(r => r.ToPem()))));
        }

        if (Api.Get("secrets", SystemNamespace, "belizemesh-root-ca") is null)
        {
            Api.Create("secrets", SystemNamespace, new JsonObject
            {
                ["metadata"] = new JsonObject { ["name"] = "belizemesh-root-ca" },
                ["type"] = "Opaque",
                ["data"] = data,
            });
        }
        else
        {
            Api.Mutate("secrets", SystemNamespace, "belizemesh-root-ca", o => o["data"] = data);
        }
    }

    /// <summary>
    /// Waits for <paramref name="condition"/> while moving <paramref name="clock"/> on by a second every 50 ms, for a
    /// wait that follows a jump of the fake clock: a jump longer than the renew deadline makes the leader step down
    /// and lead again, and anything that then waits on the fake clock (a retry after a write cut short by the step-down)
    /// would wait forever, since nothing else moves it. On a timeout the controllers' last log lines say what they did.
    /// </summary>
    public async Task WaitMovingClockAsync(Microsoft.Extensions.Time.Testing.FakeTimeProvider clock, Func<bool> condition, string what, int timeoutSeconds = 30)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(timeoutSeconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out after {timeoutSeconds} s waiting for: {what}; last log lines:{Environment.NewLine}{string.Join(Environment.NewLine, Logs.TakeLast(40))}");
            }

            await Task.Delay(50);
            clock.Advance(TimeSpan.FromSeconds(1));
        }
    }

    /// <summary>Starts a controller; <paramref name="retryClock"/> paces its watch retries (the real clock unless given),
    /// <paramref name="renewalDraw"/> places renewals in the jitter span (the certificate's fingerprint unless given).</summary>
    public RunningController Start(string identity, ControllerOptions? options = null, TimeProvider? retryClock = null, Func<MeshCertificate, double>? renewalDraw = null)
    {
        options = OptionsFor(identity, options);
        var client = Client(identity);
        var logger = new ListLogger(identity, Logs);
        var controller = new CertificateController(client, options, Time, logger, retryClock: retryClock, renewalDraw: renewalDraw);
        var running = new RunningController(identity, controller, client);
        _controllers.Add(running);
        return running;
    }

    /// <summary>A lease elector alone (no controller around it) against the fake API server, on the harness's clock.</summary>
    public LeaseElector Elector(string identity, ControllerOptions? options = null)
    {
        ControllerKubernetes client = Client(identity);
        _clients.Add(client);
        return new LeaseElector(client, OptionsFor(identity, options), Time, new ListLogger(identity, Logs));
    }

    /// <summary>A Lease as another replica (or kubectl) wrote it.</summary>
    public JsonObject PutLease(string? holder, int leaseDurationSeconds, DateTimeOffset renewTime, string name = "belizemesh-cert-controller")
    {
        string micro = renewTime.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var spec = new JsonObject { ["leaseDurationSeconds"] = leaseDurationSeconds, ["acquireTime"] = micro, ["renewTime"] = micro, ["leaseTransitions"] = 0 };
        if (holder is not null)
        {
            spec["holderIdentity"] = holder;
        }

        if (Api.Get("leases", SystemNamespace, name) is null)
        {
            return Api.Create("leases", SystemNamespace, new JsonObject { ["metadata"] = new JsonObject { ["name"] = name }, ["spec"] = spec });
        }

        return Api.Mutate("leases", SystemNamespace, name, o => o["spec"] = spec);
    }

    private static ControllerOptions OptionsFor(string identity, ControllerOptions? options) =>
        (options ?? new ControllerOptions()) with
        {
            Identity = identity,
            RootSecretNamespace = SystemNamespace,
            LeaseNamespace = SystemNamespace,
        };

    private ControllerKubernetes Client(string identity) =>
        new(new KubernetesClientConfiguration { Host = Api.Uri.ToString() }, new ClientHeaderHandler(identity));

    /// <summary>The Secret's data, decoded.</summary>
    public Dictionary<string, string>? SecretData(string ns, string name)
    {
        JsonObject? secret = Api.Get("secrets", ns, name);
        if (secret?["data"] is not JsonObject data)
        {
            return null;
        }

        return data.ToDictionary(p => p.Key, p => Encoding.UTF8.GetString(Convert.FromBase64String(p.Value!.GetValue<string>())));
    }

    public string? Serial(string ns, string sa) =>
        SecretData(ns, ServiceCertificateSecret.NameFor(sa)) is { } data ? MeshCertificate.ParsePem(data["tls.crt"]).SerialNumber : null;

    public List<JsonObject> Events(string ns, string reason) =>
        [.. Api.List("events").Where(e => e["metadata"]?["namespace"]?.GetValue<string>() == ns && e["reason"]?.GetValue<string>() == reason)];

    public async ValueTask DisposeAsync()
    {
        foreach (RunningController controller in _controllers)
        {
            await controller.DisposeAsync();
        }

        foreach (ControllerKubernetes client in _clients)
        {
            client.Dispose();
        }

        await Api.DisposeAsync();
        Root.Dispose();
    }
}

/// <summary>A controller running against the fake API server.</summary>
internal sealed class RunningController : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ControllerKubernetes _client;
    private int _passes;

    public RunningController(string identity, CertificateController controller, ControllerKubernetes client)
    {
        Identity = identity;
        Controller = controller;
        _client = client;
        controller.PassCompleted += () => Interlocked.Increment(ref _passes);
        Task = Task.Run(() => controller.RunAsync(_stop.Token));
    }

    public string Identity { get; }

    public CertificateController Controller { get; }

    public Task Task { get; }

    public int Passes => Volatile.Read(ref _passes);

    public ControllerMetrics Metrics => Controller.Metrics;

    public bool IsLeader => Controller.Elector.IsLeader;

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WaitAsync(TimeSpan.FromSeconds(20));
    }

    public async ValueTask DisposeAsync()
    {
        if (!Task.IsCompleted)
        {
            try
            {
                await StopAsync();
            }
            catch (TimeoutException)
            {
            }
        }

        Controller.Dispose();
        _client.Dispose();
        _stop.Dispose();
    }
}

/// <summary>Collects formatted log lines.</summary>
internal sealed class ListLogger(string name, ConcurrentQueue<string> lines) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        lines.Enqueue($"{name} {logLevel}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
}
