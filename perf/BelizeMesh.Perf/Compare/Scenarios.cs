using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BelizeMesh.Identity;
using BelizeMesh.Perf.Load;

namespace BelizeMesh.Perf.Compare;

/// <summary>What every scenario shares: the run's folder, the app, the programs, the certificates.</summary>
internal sealed class ScenarioContext
{
    public required string Directory { get; init; }

    public required int AppPort { get; init; }

    /// <summary>How to start <c>belizemesh-proxy</c>: program and leading arguments.</summary>
    public required (string FileName, string[] Prefix, string Build) Proxy { get; init; }

    /// <summary>The sidecars' access log (<c>--access-log</c>); off unless the run asks for it.</summary>
    public bool ProxyAccessLog { get; init; }

    /// <summary>The frontend sidecar's <c>spec.outbound.h2UpgradePolicy</c> (<c>--h2-upgrade</c>); null leaves it unset.</summary>
    public string? H2Upgrade { get; init; }

    /// <summary>Extra environment for the sidecar processes (GC settings), or null.</summary>
    public IReadOnlyDictionary<string, string>? ProxyEnvironment { get; init; }

    public string? Nginx { get; init; }

    public string? Haproxy { get; init; }

    public bool RunningAsRoot { get; init; }

    public const string Namespace = "bench";
    public const string BackendHost = "app.bench.svc.cluster.local";
    public const string TlsServerName = "backend.bench";
}

/// <summary>One way of getting requests from the load generator to the app.</summary>
internal abstract class Scenario(string id, string name, string description)
{
    public string Id { get; } = id;

    public string Name { get; } = name;

    public string Description { get; } = description;

    /// <summary>Why this scenario cannot run here (a missing program, and the package that provides it), or null.</summary>
    public virtual string? Unavailable(ScenarioContext context) => null;

    public abstract Task<RunningScenario> StartAsync(ScenarioContext context, CancellationToken cancellationToken);

    public static IReadOnlyList<Scenario> All { get; } =
    [
        new DirectScenario(),
        new BelizeMeshScenario(pq: true),
        new BelizeMeshScenario(pq: false),
        new NginxScenario(),
        new HaproxyScenario(),
    ];

    /// <summary>Waits until a GET through <paramref name="target"/> answers 2xx, or fails naming the process that died.</summary>
    protected static async Task WaitReadyAsync(LoadTarget target, IReadOnlyList<ManagedProcess> processes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        string last = "no answer";
        while (Stopwatch.GetTimestamp() < deadline)
        {
            foreach (ManagedProcess process in processes)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"a process of the scenario exited during start-up (log {process.LogPath}):\n{process.Tail()}");
                }
            }

            try
            {
                using Http1Connection connection = await Http1Connection.ConnectAsync(target.EndPoint, target.Request, cancellationToken).ConfigureAwait(false);
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attempt.CancelAfter(TimeSpan.FromSeconds(5));
                await connection.SendAsync(attempt.Token).ConfigureAwait(false);
                int status = await connection.ReadResponseAsync(attempt.Token).ConfigureAwait(false);
                if (status is >= 200 and < 300)
                {
                    return;
                }

                last = $"HTTP {status}";
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                last = ex.Message;
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }

        string logs = string.Join("\n", processes.Select(p => $"--- {p.LogPath}\n{p.Tail(8)}"));
        throw new TimeoutException($"not ready after {timeout.TotalSeconds:0} s (last attempt: {last})\n{logs}");
    }

    protected static LoadTarget Loopback(int port, string host) => new(new IPEndPoint(IPAddress.Loopback, port), host, "/");

    /// <summary>Starts the processes in order and waits until the target answers; on any failure stops the ones
    /// already started, so nothing outlives a scenario that could not start.</summary>
    protected static async Task<RunningScenario> StartAllAsync(
        LoadTarget target, IEnumerable<Func<ManagedProcess>> starts, TimeSpan readyTimeout, CancellationToken cancellationToken)
    {
        var processes = new List<ManagedProcess>();
        try
        {
            foreach (Func<ManagedProcess> start in starts)
            {
                processes.Add(start());
            }

            await WaitReadyAsync(target, processes, readyTimeout, cancellationToken).ConfigureAwait(false);
            return new RunningScenario(target, processes);
        }
        catch
        {
            foreach (ManagedProcess process in processes)
            {
                await process.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }
}

/// <summary>A started scenario: where to send load, and the proxy processes whose cost is measured.</summary>
internal sealed class RunningScenario(LoadTarget target, IReadOnlyList<ManagedProcess> proxies) : IAsyncDisposable
{
    public LoadTarget Target { get; } = target;

    public IReadOnlyList<ManagedProcess> Proxies { get; } = proxies;

    /// <summary>The proxy processes and their workers, as they are now.</summary>
    public List<int> ProcessTree() => ProcStats.Tree(Proxies.Select(p => p.Id));

    public async ValueTask DisposeAsync()
    {
        foreach (ManagedProcess process in Proxies)
        {
            await process.DisposeAsync().ConfigureAwait(false);
        }
    }
}

internal sealed class DirectScenario() : Scenario("direct", "Direct to the app", "The load generator talks to the app itself: the baseline with no proxy.")
{
    public override Task<RunningScenario> StartAsync(ScenarioContext context, CancellationToken cancellationToken)
        => Task.FromResult(new RunningScenario(Loopback(context.AppPort, "app"), []));
}

/// <summary>Two <c>belizemesh-proxy</c> sidecars: frontend's outbound listener → (PQ channel or plaintext) →
/// backend's inbound listener (authorization) → app. The same policies the CLI emits, with the ports of this run.</summary>
internal sealed class BelizeMeshScenario(bool pq) : Scenario(
    pq ? "belizemesh-pq" : "belizemesh-plain",
    pq ? "BelizeMesh, 2 hops, PQ channel" : "BelizeMesh, 2 hops, plaintext",
    pq
        ? "frontend outbound → ML-KEM-1024 + P-256 channel with ML-DSA-87 certificates, AES-256-GCM, HTTP/2 inside → backend inbound (authorization) → app"
        : "the same two sidecars with inbound and outbound mode DISABLE (plaintext HTTP/1.1 between them): the cost of everything but the cryptography")
{
    public override async Task<RunningScenario> StartAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        string root = Path.Combine(context.Directory, Id);
        System.IO.Directory.CreateDirectory(root);
        string mode = pq ? "STRICT" : "DISABLE";
        if (pq)
        {
            using var ca = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=BelizeMesh Bench CA,O=BelizeMesh" });
            WriteCredentials(ca, "backend", Path.Combine(root, "backend", "certs"));
            WriteCredentials(ca, "frontend", Path.Combine(root, "frontend", "certs"));
        }
        else
        {
            System.IO.Directory.CreateDirectory(Path.Combine(root, "backend", "certs"));
            System.IO.Directory.CreateDirectory(Path.Combine(root, "frontend", "certs"));
        }

        int backendInbound = ManagedProcess.FreePort();
        // Both variants run one authorization rule, so the plaintext one differs only by the cryptography. A rule with
        // principals never matches a plaintext caller (Istio semantics), hence a path rule there.
        string authorization = pq
            ? $"authorization: {{ rules: [ {{ from: {{ principals: [\"cluster.local/ns/{ScenarioContext.Namespace}/sa/frontend\"] }} }} ] }}"
            : "authorization: { rules: [ { to: { paths: [\"/*\"] } } ] }";
        string backendPolicy = $$"""
            apiVersion: belizemesh.io/v1alpha1
            kind: SidecarPolicy
            metadata: { name: backend, namespace: {{ScenarioContext.Namespace}} }
            spec:
              identity: spiffe://cluster.local/ns/{{ScenarioContext.Namespace}}/sa/backend
              accessLog: {{(context.ProxyAccessLog ? "true" : "false")}}
              admin: { listen: "127.0.0.1:{{ManagedProcess.FreePort()}}" }
              inbound:
                listen: "127.0.0.1:{{backendInbound}}"
                app: "http://127.0.0.1:{{context.AppPort}}"
                mode: {{mode}}
                {{authorization}}
              outbound:
                listen: "127.0.0.1:{{ManagedProcess.FreePort()}}"
                routes: []
            """;
        int frontendOutbound = ManagedProcess.FreePort();
        string identity = pq ? $"\n        identity: spiffe://cluster.local/ns/{ScenarioContext.Namespace}/sa/backend" : "";
        string frontendPolicy = $$"""
            apiVersion: belizemesh.io/v1alpha1
            kind: SidecarPolicy
            metadata: { name: frontend, namespace: {{ScenarioContext.Namespace}} }
            spec:
              identity: spiffe://cluster.local/ns/{{ScenarioContext.Namespace}}/sa/frontend
              accessLog: {{(context.ProxyAccessLog ? "true" : "false")}}
              admin: { listen: "127.0.0.1:{{ManagedProcess.FreePort()}}" }
              inbound:
                listen: "127.0.0.1:{{ManagedProcess.FreePort()}}"
                app: "http://127.0.0.1:{{context.AppPort}}"
                mode: {{mode}}
              outbound:
                listen: "127.0.0.1:{{frontendOutbound}}"
                mode: {{mode}}{{(context.H2Upgrade is { } upgrade ? "\n    h2UpgradePolicy: " + upgrade : "")}}
                routes:
                  - host: {{ScenarioContext.BackendHost}}
                    endpoints: ["127.0.0.1:{{backendInbound}}"]{{identity}}
                    timeout: 30s
            """;

        return await StartAllAsync(
            Loopback(frontendOutbound, ScenarioContext.BackendHost),
            [() => StartSidecar(context, root, "backend", backendPolicy), () => StartSidecar(context, root, "frontend", frontendPolicy)],
            TimeSpan.FromSeconds(30),
            cancellationToken).ConfigureAwait(false);
    }

    private static ManagedProcess StartSidecar(ScenarioContext context, string root, string service, string policy)
    {
        string policyDirectory = Path.Combine(root, service, "policy");
        System.IO.Directory.CreateDirectory(policyDirectory);
        string policyPath = Path.Combine(policyDirectory, "policy.yaml");
        File.WriteAllText(policyPath, policy);
        string[] arguments = [.. context.Proxy.Prefix, "run", "--policy", policyPath, "--certs", Path.Combine(root, service, "certs"), "--access-log", context.ProxyAccessLog ? "true" : "false"];
        return ManagedProcess.Start(context.Proxy.FileName, arguments, Path.Combine(root, $"{service}.log"), context.ProxyEnvironment);
    }

    /// <summary>tls.crt, tls.key (mode 0600) and ca.crt of <paramref name="service"/>, as a mounted Secret holds them.</summary>
    internal static void WriteCredentials(CertificateAuthority ca, string service, string directory, string? bundle = null)
    {
        System.IO.Directory.CreateDirectory(directory);
        using IssuedCertificate issued = ca.Issue(new ServiceCertificateRequest { Service = service, Namespace = ScenarioContext.Namespace });
        File.WriteAllText(Path.Combine(directory, "tls.crt"), issued.CertificatePem);
        File.WriteAllText(Path.Combine(directory, "ca.crt"), bundle ?? ca.Certificate.ToPem());
        string keyPath = Path.Combine(directory, "tls.key");
        File.WriteAllText(keyPath, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        File.WriteAllText(keyPath, issued.ExportPrivateKeyPem());
    }
}

/// <summary>ECDSA P-256 certificates for the TLS 1.3 scenarios: a CA, a server certificate for the second hop and a
/// client certificate for the first (mutual TLS, as the mesh authenticates both sides).</summary>
internal sealed class TlsPki
{
    public required string CaPath { get; init; }

    public required string ServerCertPath { get; init; }

    public required string ServerKeyPath { get; init; }

    /// <summary>Certificate and key in one file, as HAProxy's <c>crt</c> wants.</summary>
    public required string ServerBundlePath { get; init; }

    public required string ClientCertPath { get; init; }

    public required string ClientKeyPath { get; init; }

    public required string ClientBundlePath { get; init; }

    public static TlsPki Create(string directory)
    {
        System.IO.Directory.CreateDirectory(directory);
        using ECDsa caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Bench TLS CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using X509Certificate2 ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));

        string Write(string name, string text)
        {
            string path = Path.Combine(directory, name);
            File.WriteAllText(path, text);
            return path;
        }

        (string Cert, string Key) Issue(string subject, bool server)
        {
            using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
                [server ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], false));
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName(server ? ScenarioContext.TlsServerName : "frontend.bench");
            request.CertificateExtensions.Add(san.Build());
            byte[] serial = RandomNumberGenerator.GetBytes(16);
            serial[0] &= 0x7F;
            using X509Certificate2 certificate = request.Create(ca, now.AddDays(-1), now.AddDays(29), serial);
            return (certificate.ExportCertificatePem() + "\n", key.ExportPkcs8PrivateKeyPem() + "\n");
        }

        (string serverCert, string serverKey) = Issue("CN=" + ScenarioContext.TlsServerName, server: true);
        (string clientCert, string clientKey) = Issue("CN=frontend.bench", server: false);
        return new TlsPki
        {
            CaPath = Write("ca.crt", ca.ExportCertificatePem() + "\n"),
            ServerCertPath = Write("server.crt", serverCert),
            ServerKeyPath = Write("server.key", serverKey),
            ServerBundlePath = Write("server.pem", serverCert + serverKey),
            ClientCertPath = Write("client.crt", clientCert),
            ClientKeyPath = Write("client.key", clientKey),
            ClientBundlePath = Write("client.pem", clientCert + clientKey),
        };
    }
}

/// <summary>Two nginx instances: the first takes plain HTTP/1.1 and proxies over TLS 1.3 (mutual, P-256, kept-alive
/// upstream connections) to the second, which proxies to the app.</summary>
internal sealed class NginxScenario() : Scenario(
    "nginx-tls",
    "nginx, 2 hops, TLS 1.3",
    "nginx → TLS 1.3 mutual auth (ECDSA P-256, AES-256-GCM), kept-alive upstream → nginx → app; worker_processes auto, access log off, proxy_buffering off with 64k buffers (streams like the sidecars)")
{
    public override string? Unavailable(ScenarioContext context)
        => context.Nginx is null ? "nginx not found: install the Debian package 'nginx' (apt-get install nginx)" : null;

    /// <summary>The main-context lines of an nginx instance <paramref name="name"/> kept under <paramref name="root"/>
    /// (runs in the foreground; as root, workers stay root so they can read the run's private folder).</summary>
    internal static string Prelude(string root, string name, bool runningAsRoot) => $$"""
        {{(runningAsRoot ? "user root;" : "")}}
        worker_processes auto;
        daemon off;
        pid {{root}}/{{name}}.pid;
        error_log {{root}}/{{name}}.error.log warn;
        events { worker_connections 8192; }
        """;

    /// <summary>The <c>http</c>-context lines every instance shares: no access log, temp paths inside the run's
    /// folder (made by <see cref="CreateTempDirectories"/>), long keep-alive.</summary>
    internal static string HttpCommon(string root, string name) => $$"""
            access_log off;
            client_body_temp_path {{root}}/{{name}}-tmp/body;
            proxy_temp_path {{root}}/{{name}}-tmp/proxy;
            fastcgi_temp_path {{root}}/{{name}}-tmp/fastcgi;
            uwsgi_temp_path {{root}}/{{name}}-tmp/uwsgi;
            scgi_temp_path {{root}}/{{name}}-tmp/scgi;
            keepalive_requests 1000000;
            keepalive_timeout 300s;
        """;

    internal static void CreateTempDirectories(string root, string name)
    {
        foreach (string temp in new[] { "body", "proxy", "fastcgi", "uwsgi", "scgi" })
        {
            System.IO.Directory.CreateDirectory(Path.Combine(root, $"{name}-tmp", temp));
        }
    }

    public override async Task<RunningScenario> StartAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        string root = Path.Combine(context.Directory, Id);
        TlsPki pki = TlsPki.Create(Path.Combine(root, "pki"));
        int front = ManagedProcess.FreePort();
        int back = ManagedProcess.FreePort();
        string Common(string name) => Prelude(root, name, context.RunningAsRoot);
        string Temp(string name) => HttpCommon(root, name);
        string frontConfig = $$"""
            {{Common("front")}}
            http {
            {{Temp("front")}}
                upstream hop2 { server 127.0.0.1:{{back}}; keepalive 256; keepalive_requests 1000000; }
                server {
                    listen 127.0.0.1:{{front}};
                    location / {
                        proxy_pass https://hop2;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_set_header Host {{ScenarioContext.TlsServerName}};
                        proxy_buffering off;
                        proxy_buffer_size 64k;
                        proxy_buffers 4 64k;
                        proxy_ssl_protocols TLSv1.3;
                        proxy_ssl_certificate {{pki.ClientCertPath}};
                        proxy_ssl_certificate_key {{pki.ClientKeyPath}};
                        proxy_ssl_trusted_certificate {{pki.CaPath}};
                        proxy_ssl_verify on;
                        proxy_ssl_name {{ScenarioContext.TlsServerName}};
                        proxy_ssl_server_name on;
                        proxy_ssl_session_reuse on;
                    }
                }
            }
            """;
        string backConfig = $$"""
            {{Common("back")}}
            http {
            {{Temp("back")}}
                upstream app { server 127.0.0.1:{{context.AppPort}}; keepalive 256; keepalive_requests 1000000; }
                server {
                    listen 127.0.0.1:{{back}} ssl;
                    ssl_protocols TLSv1.3;
                    ssl_certificate {{pki.ServerCertPath}};
                    ssl_certificate_key {{pki.ServerKeyPath}};
                    ssl_client_certificate {{pki.CaPath}};
                    ssl_verify_client on;
                    location / {
                        proxy_pass http://app;
                        proxy_buffering off;
                        proxy_buffer_size 64k;
                        proxy_buffers 4 64k;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                    }
                }
            }
            """;
        CreateTempDirectories(root, "back");
        CreateTempDirectories(root, "front");

        ManagedProcess Start(string name, string config)
        {
            string path = Path.Combine(root, $"{name}.conf");
            File.WriteAllText(path, config);
            return ManagedProcess.Start(context.Nginx!, ["-p", root, "-c", path, "-e", Path.Combine(root, $"{name}.error.log")], Path.Combine(root, $"{name}.log"));
        }

        return await StartAllAsync(
            Loopback(front, ScenarioContext.TlsServerName), [() => Start("back", backConfig), () => Start("front", frontConfig)], TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Two HAProxy instances, the same shape as the nginx scenario.</summary>
internal sealed class HaproxyScenario() : Scenario(
    "haproxy-tls",
    "HAProxy, 2 hops, TLS 1.3",
    "HAProxy → TLS 1.3 mutual auth (ECDSA P-256, AES-256-GCM), http-reuse always → HAProxy → app; nbthread = cores")
{
    public override string? Unavailable(ScenarioContext context)
        => context.Haproxy is null ? "haproxy not found: install the Debian package 'haproxy' (apt-get install haproxy)" : null;

    public override async Task<RunningScenario> StartAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        string root = Path.Combine(context.Directory, Id);
        TlsPki pki = TlsPki.Create(Path.Combine(root, "pki"));
        int front = ManagedProcess.FreePort();
        int back = ManagedProcess.FreePort();
        string Common() => $$"""
            global
                nbthread {{Environment.ProcessorCount}}
                maxconn 4096
                tune.ssl.default-dh-param 2048
            defaults
                mode http
                timeout connect 5s
                timeout client 300s
                timeout server 300s
                timeout http-keep-alive 300s
                option http-keep-alive
                http-reuse always
            """;
        string frontConfig = $$"""
            {{Common()}}
            frontend front
                bind 127.0.0.1:{{front}}
                default_backend hop2
            backend hop2
                server hop2 127.0.0.1:{{back}} ssl verify required ca-file {{pki.CaPath}} crt {{pki.ClientBundlePath}} sni str({{ScenarioContext.TlsServerName}}) ssl-min-ver TLSv1.3 alpn http/1.1
            """;
        string backConfig = $$"""
            {{Common()}}
            frontend back
                bind 127.0.0.1:{{back}} ssl crt {{pki.ServerBundlePath}} ca-file {{pki.CaPath}} verify required ssl-min-ver TLSv1.3 alpn http/1.1
                default_backend app
            backend app
                server app 127.0.0.1:{{context.AppPort}}
            """;
        ManagedProcess Start(string name, string config)
        {
            string path = Path.Combine(root, $"{name}.cfg");
            File.WriteAllText(path, config + "\n");
            return ManagedProcess.Start(context.Haproxy!, ["-db", "-f", path], Path.Combine(root, $"{name}.log"));
        }

        return await StartAllAsync(
            Loopback(front, ScenarioContext.TlsServerName), [() => Start("back", backConfig), () => Start("front", frontConfig)], TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false);
    }
}
