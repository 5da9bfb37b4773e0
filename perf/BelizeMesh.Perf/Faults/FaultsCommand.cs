using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Runtime.InteropServices;
using BelizeMesh.Identity;
using BelizeMesh.Perf.Compare;

namespace BelizeMesh.Perf.Faults;

/// <summary>
/// <c>perf faults</c>: app ← backend sidecar (inbound, STRICT) ← PQ channel ← frontend sidecar (outbound) ← load, all
/// real processes on 127.0.0.1. Each case runs the same steady GET load (idempotent) for <c>--seconds</c> while one
/// fault repeats, and counts every request that did not get a 200, by status or exception. Goal (issue 14): zero
/// failures for reload, rotation and the rolling replacement; app-down failures surface as 502.
/// </summary>
internal static partial class FaultsCommand
{
    private const int Workers = 8;

    public static int Run(string[] args)
    {
        int seconds = 20;
        int soakMinutes = 0;
        string? proxy = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seconds": seconds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--soak-minutes": soakMinutes = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--proxy": proxy = args[++i]; break;
                default:
                    Console.Error.WriteLine($"faults: unknown option {args[i]}; usage: faults [--seconds S] [--soak-minutes M] [--proxy PATH]");
                    return 64;
            }
        }

        return RunAsync(TimeSpan.FromSeconds(seconds), soakMinutes, proxy).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(TimeSpan each, int soakMinutes, string? proxyPath)
    {
        string work = Directory.CreateTempSubdirectory("belizemesh-faults-").FullName;
        var proxy = CompareCommand.LocateProxy(proxyPath);
        Console.WriteLine($"faults: sidecar {proxy.FileName} {string.Join(' ', proxy.Prefix)} ({proxy.Build}), work directory {work}, {Workers} workers, {each.TotalSeconds:0}s per case");
        await using var mesh = new Mesh(work, proxy);
        await mesh.StartAsync();

        var results = new List<string>();
        async Task Case(string name, Func<CancellationToken, Task> fault, TimeSpan? duration = null)
        {
            Console.WriteLine($"-- {name}");
            Report report = await Load.RunAsync(mesh.FrontendOutbound, duration ?? each, fault);
            string line = $"{name,-22} {report}";
            results.Add(line);
            Console.WriteLine(line);
            await mesh.WaitHealthyAsync();
        }

        await Case("baseline", _ => Task.CompletedTask);
        await Case("policy-reload-1s", async stop =>
        {
            for (int n = 0; !stop.IsCancellationRequested; n++)
            {
                mesh.WriteBackendPolicy(mesh.Backends, timeoutSeconds: 30 + (n % 2));
                mesh.WriteFrontendPolicy(mesh.Backends, timeoutSeconds: 30 + (n % 2));
                await Delay(TimeSpan.FromSeconds(1), stop);
            }
        });
        await Case("leaf-rotation-3s", async stop =>
        {
            while (!stop.IsCancellationRequested)
            {
                mesh.RotateLeaves();
                await Delay(TimeSpan.FromSeconds(3), stop);
            }
        });
        await Case("root-rotation", async stop =>
        {
            // The order a controller follows (docs/injector.md): bundle old+new everywhere, then leaves from the new
            // root, then the old root dropped — each step on both sidecars, a few seconds apart, over and over.
            while (!stop.IsCancellationRequested)
            {
                mesh.BeginRootRotation();
                await Delay(TimeSpan.FromSeconds(3), stop);
                mesh.RotateLeaves();
                await Delay(TimeSpan.FromSeconds(3), stop);
                mesh.FinishRootRotation();
                await Delay(TimeSpan.FromSeconds(3), stop);
            }

            mesh.FinishRootRotation(); // a rotation cut short by the end of the case still ends on one root
        });
        await Case("backend-rolling-sigterm", async stop =>
        {
            while (!stop.IsCancellationRequested)
            {
                await mesh.RollBackendAsync();
                await Delay(TimeSpan.FromSeconds(2), stop);
            }
        });
        await Case("backend-sigterm-while-listed", async stop =>
        {
            while (!stop.IsCancellationRequested)
            {
                await mesh.RollBackendAsync(sigtermWhileListed: true);
                await Delay(TimeSpan.FromSeconds(2), stop);
            }
        });
        await Case("app-restart", async stop =>
        {
            while (!stop.IsCancellationRequested)
            {
                await Delay(TimeSpan.FromSeconds(3), stop);
                await mesh.RestartAppAsync(TimeSpan.FromSeconds(1));
            }
        });
        await Case("backend-sigkill", async stop =>
        {
            while (!stop.IsCancellationRequested)
            {
                await Delay(TimeSpan.FromSeconds(3), stop);
                await mesh.KillBackendAsync();
            }
        });

        if (soakMinutes > 0)
        {
            var samples = new List<string>();
            await Case($"soak-{soakMinutes}min", async stop =>
            {
                while (!stop.IsCancellationRequested)
                {
                    samples.Add(mesh.MemorySample());
                    await Delay(TimeSpan.FromSeconds(30), stop);
                }
            }, TimeSpan.FromMinutes(soakMinutes));
            results.Add("soak RSS MiB (frontend, backend) every 30 s: " + string.Join(" ", samples));
        }

        Console.WriteLine();
        Console.WriteLine("case                   requests    ok  failed (by kind)");
        foreach (string line in results)
        {
            Console.WriteLine(line);
        }

        return 0;
    }

    private static async Task Delay(TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private sealed record Report(long Requests, long Ok, IReadOnlyDictionary<string, long> Failures)
    {
        public override string ToString()
            => $"{Requests,8} {Ok,8} {Requests - Ok,6}" + (Failures.Count == 0 ? "" : "  " + string.Join(", ", Failures.OrderByDescending(f => f.Value).Select(f => $"{f.Key}: {f.Value}")));
    }

    /// <summary>Closed-loop GET load: <see cref="Workers"/> loops, one pooled client (HTTP/1.1 to the frontend).</summary>
    private static class Load
    {
        public static async Task<Report> RunAsync(int port, TimeSpan duration, Func<CancellationToken, Task> fault)
        {
            using var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) };
            using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
            var failures = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
            long requests = 0, ok = 0;
            using var stop = new CancellationTokenSource(duration);
            var uri = new Uri($"http://127.0.0.1:{port}/");
            Task[] loops = [.. Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    string? failure = null;
                    try
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                        request.Headers.Host = ScenarioContext.BackendHost;
                        using HttpResponseMessage response = await http.SendAsync(request, CancellationToken.None);
                        await response.Content.LoadIntoBufferAsync();
                        if (response.StatusCode != HttpStatusCode.OK)
                        {
                            failure = "status " + (int)response.StatusCode;
                        }
                    }
                    catch (HttpRequestException ex)
                    {
                        failure = "exception " + ex.HttpRequestError;
                    }
                    catch (TaskCanceledException)
                    {
                        failure = "timeout";
                    }

                    Interlocked.Increment(ref requests);
                    if (failure is null)
                    {
                        Interlocked.Increment(ref ok);
                    }
                    else
                    {
                        failures.AddOrUpdate(failure, 1, (_, n) => n + 1);
                    }
                }
            }))];
            await fault(stop.Token);
            await Task.WhenAll(loops);
            return new Report(requests, ok, failures);
        }
    }

    /// <summary>The processes and their files; every fault goes through here.</summary>
    private sealed partial class Mesh(string root, (string FileName, string[] Prefix, string Build) proxy) : IAsyncDisposable
    {
        private CertificateAuthority _ca = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=BelizeMesh Faults CA,O=BelizeMesh" });
        private CertificateAuthority? _retiring;
        private int _rootGeneration;
        private readonly ScenarioContext _context = new() { Directory = root, AppPort = ManagedProcess.FreePort(), Proxy = proxy };
        private readonly List<(ManagedProcess Process, int Port)> _backends = [];
        private ManagedProcess? _app;
        private ManagedProcess? _frontend;
        private int _generation;

        public int FrontendOutbound { get; } = ManagedProcess.FreePort();

        public IReadOnlyList<int> Backends => [.. _backends.Select(b => b.Port)];

        public async Task StartAsync()
        {
            _app = CompareCommand.StartApp(_context, 64);
            BelizeMeshScenario.WriteCredentials(_ca, "frontend", Certs("frontend"));
            BelizeMeshScenario.WriteCredentials(_ca, "backend", Certs("backend"));
            _backends.Add((StartBackend(ManagedProcess.FreePort()), LastBackendPort));
            WriteFrontendPolicy(Backends, 30);
            _frontend = StartSidecar("frontend", Path.Combine(root, "frontend", "policy", "policy.yaml"));
            await WaitHealthyAsync();
        }

        private int LastBackendPort { get; set; }

        private string Certs(string service) => Path.Combine(root, service, "certs");

        private ManagedProcess StartBackend(int port)
        {
            LastBackendPort = port;
            string policy = Path.Combine(root, "backend", $"policy-{port}", "policy.yaml");
            Directory.CreateDirectory(Path.GetDirectoryName(policy)!);
            WriteAtomically(policy, BackendPolicy(port, 30));
            return StartSidecar("backend", policy, $"backend-{port}-{++_generation}");
        }

        private ManagedProcess StartSidecar(string service, string policyPath, string? log = null)
            => ManagedProcess.Start(proxy.FileName, [.. proxy.Prefix, "run", "--policy", policyPath, "--certs", Certs(service), "--access-log", "false"],
                Path.Combine(root, (log ?? service) + ".log"));

        private string BackendPolicy(int port, int timeoutSeconds) => $$"""
            apiVersion: belizemesh.io/v1alpha1
            kind: SidecarPolicy
            metadata: { name: backend, namespace: {{ScenarioContext.Namespace}} }
            spec:
              identity: spiffe://cluster.local/ns/{{ScenarioContext.Namespace}}/sa/backend
              accessLog: false
              drainTimeout: 10s
              admin: { listen: "127.0.0.1:0" }
              inbound:
                listen: "127.0.0.1:{{port}}"
                app: "http://127.0.0.1:{{_context.AppPort}}"
                mode: STRICT
                timeout: {{timeoutSeconds}}s
                authorization: { rules: [ { from: { principals: ["cluster.local/ns/{{ScenarioContext.Namespace}}/sa/frontend"] } } ] }
              outbound:
                listen: "127.0.0.1:0"
                routes: []
            """;

        public void WriteBackendPolicy(IReadOnlyList<int> ports, int timeoutSeconds)
        {
            foreach (int port in ports)
            {
                WriteAtomically(Path.Combine(root, "backend", $"policy-{port}", "policy.yaml"), BackendPolicy(port, timeoutSeconds));
            }
        }

        public void WriteFrontendPolicy(IReadOnlyList<int> backends, int timeoutSeconds)
        {
            string path = Path.Combine(root, "frontend", "policy", "policy.yaml");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            WriteAtomically(path, $$"""
                apiVersion: belizemesh.io/v1alpha1
                kind: SidecarPolicy
                metadata: { name: frontend, namespace: {{ScenarioContext.Namespace}} }
                spec:
                  identity: spiffe://cluster.local/ns/{{ScenarioContext.Namespace}}/sa/frontend
                  accessLog: false
                  admin: { listen: "127.0.0.1:0" }
                  inbound:
                    listen: "127.0.0.1:0"
                    app: "http://127.0.0.1:{{_context.AppPort}}"
                    mode: STRICT
                  outbound:
                    listen: "127.0.0.1:{{FrontendOutbound}}"
                    mode: STRICT
                    routes:
                      - host: {{ScenarioContext.BackendHost}}
                        endpoints: [{{string.Join(", ", backends.Select(p => $"\"127.0.0.1:{p}\""))}}]
                        identity: spiffe://cluster.local/ns/{{ScenarioContext.Namespace}}/sa/backend
                        timeout: {{timeoutSeconds}}s
                        retries: { attempts: 2 }
                """);
        }

        /// <summary>The trust bundle in force: the signing root, and during a rotation the retiring one too.</summary>
        private string Bundle() => _ca.Certificate.ToPem() + (_retiring is null ? "" : _retiring.Certificate.ToPem());

        /// <summary>Root rotation, step 1: a new root signs from now on; both sidecars trust old and new (leaves unchanged).</summary>
        public void BeginRootRotation()
        {
            FinishRootRotation();
            _retiring = _ca;
            _ca = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = $"CN=BelizeMesh Faults CA {++_rootGeneration},O=BelizeMesh" });
            foreach (string service in (string[])["backend", "frontend"])
            {
                WriteAtomically(Path.Combine(Certs(service), "ca.crt"), Bundle());
            }
        }

        /// <summary>Root rotation, last step: the retiring root leaves the bundle (the leaves come from the new one by now).</summary>
        public void FinishRootRotation()
        {
            if (_retiring is null)
            {
                return;
            }

            _retiring.Dispose();
            _retiring = null;
            foreach (string service in (string[])["backend", "frontend"])
            {
                WriteAtomically(Path.Combine(Certs(service), "ca.crt"), Bundle());
            }
        }

        /// <summary>New leaf certificates from the signing root for both sidecars (each file replaced by a rename).</summary>
        public void RotateLeaves()
        {
            foreach (string service in (string[])["backend", "frontend"])
            {
                string staging = Path.Combine(root, service, "staging");
                BelizeMeshScenario.WriteCredentials(_ca, service, staging, Bundle());
                foreach (string file in (string[])["tls.key", "tls.crt", "ca.crt"])
                {
                    File.Move(Path.Combine(staging, file), Path.Combine(Certs(service), file), overwrite: true);
                }
            }
        }

        /// <summary>A rolling update: start the replacement, add it to the frontend's endpoints, drop the old one from
        /// them, then SIGTERM it (it drains) — the order endpoints removal and a preStop delay give. With
        /// <paramref name="sigtermWhileListed"/> the SIGTERM comes first, while the frontend still sends to it (no
        /// preStop delay): only the sidecar's graceful drain and the frontend's retries stand between it and failures.</summary>
        public async Task RollBackendAsync(bool sigtermWhileListed = false)
        {
            (ManagedProcess old, int oldPort) = _backends[0];
            int port = ManagedProcess.FreePort();
            ManagedProcess replacement = StartBackend(port);
            await WaitListeningAsync(port);
            _backends.Add((replacement, port));
            WriteFrontendPolicy(Backends, 30);
            await Task.Delay(TimeSpan.FromSeconds(1)); // the frontend's watcher picks it up
            if (sigtermWhileListed)
            {
                _ = Kill(old.Id, 15);
                await Task.Delay(TimeSpan.FromSeconds(1));
            }

            _backends.RemoveAt(0);
            WriteFrontendPolicy(Backends, 30);
            await Task.Delay(TimeSpan.FromSeconds(1));
            if (!old.HasExited)
            {
                _ = Kill(old.Id, 15);
            }

            await WaitExitAsync(old, TimeSpan.FromSeconds(15));
            await old.DisposeAsync();
            _ = oldPort;
        }

        public async Task RestartAppAsync(TimeSpan down)
        {
            await _app!.DisposeAsync();
            await Task.Delay(down);
            _app = CompareCommand.StartApp(_context, 64);
        }

        /// <summary>SIGKILL the backend mid-stream and start it again on the same port.</summary>
        public async Task KillBackendAsync()
        {
            (ManagedProcess old, int port) = _backends[0];
            await old.DisposeAsync(); // Process.Kill: SIGKILL
            _backends[0] = (StartBackend(port), port);
            await WaitListeningAsync(port);
        }

        public string MemorySample()
            => string.Create(CultureInfo.InvariantCulture, $"{ProcStats.MemoryMiB([_frontend!.Id], "VmRSS"):0}/{ProcStats.MemoryMiB([_backends[0].Process.Id], "VmRSS"):0}");

        public async Task WaitHealthyAsync()
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            long deadline = Stopwatch.GetTimestamp() + (60 * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < deadline)
            {
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{FrontendOutbound}/");
                    request.Headers.Host = ScenarioContext.BackendHost;
                    using HttpResponseMessage response = await http.SendAsync(request);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        return;
                    }
                }
                catch (HttpRequestException)
                {
                }

                await Task.Delay(100);
            }

            throw new InvalidOperationException($"the mesh did not become healthy; frontend log:\n{_frontend?.Tail()}\nbackend log:\n{_backends[0].Process.Tail()}");
        }

        private static async Task WaitListeningAsync(int port)
        {
            long deadline = Stopwatch.GetTimestamp() + (30 * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < deadline)
            {
                using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync(IPAddress.Loopback, port);
                    return;
                }
                catch (System.Net.Sockets.SocketException)
                {
                    await Task.Delay(50);
                }
            }

            throw new InvalidOperationException($"nothing listens on 127.0.0.1:{port} after 30 s");
        }

        private static async Task WaitExitAsync(ManagedProcess process, TimeSpan timeout)
        {
            long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
            while (!process.HasExited && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(50);
            }
        }

        private static void WriteAtomically(string path, string text)
        {
            string temp = path + ".tmp";
            File.WriteAllText(temp, text);
            File.Move(temp, path, overwrite: true);
        }

        [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static partial int Kill(int pid, int signal);

        public async ValueTask DisposeAsync()
        {
            if (_frontend is not null)
            {
                await _frontend.DisposeAsync();
            }

            foreach ((ManagedProcess process, _) in _backends)
            {
                await process.DisposeAsync();
            }

            if (_app is not null)
            {
                await _app.DisposeAsync();
            }

            _ca.Dispose();
            _retiring?.Dispose();
        }
    }
}
