using System.Net;
using System.Text;
using BelizeMesh.Identity;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Demo;

/// <summary>How to run the demo mesh.</summary>
internal sealed record DemoOptions
{
    /// <summary>Port of the frontend sidecar's outbound listener, the one the curl commands use (0 = any free port).</summary>
    public int OutboundPort { get; init; } = MeshNames.OutboundPort;

    /// <summary>Run the three checks, print them, and stop instead of waiting for Ctrl+C.</summary>
    public bool CheckOnly { get; init; }
}

/// <summary>
/// <c>belizemesh-proxy demo</c>: a complete mesh on loopback in one process. A CA and two service certificates are
/// made in memory (written to a private temporary folder only because the sidecars read mounted files, and deleted on
/// exit); the demo app serves as the workload behind both sidecars; <c>frontend</c>'s outbound listener routes
/// <c>backend.demo.svc.cluster.local</c> through the post-quantum channel to <c>backend</c>'s inbound listener, which
/// authorizes, rate-limits and forwards to the app.
/// </summary>
/// <remarks>
/// <code>
///  curl ──HTTP──▶ frontend outbound ══ PQ channel (ML-KEM-1024 + P-256, ML-DSA-87 certs) ══▶ backend inbound ──▶ demo app
///                 127.0.0.1:16001                                                          authz, rate limit
/// </code>
/// </remarks>
internal sealed class DemoMesh : IAsyncDisposable
{
    public const string Namespace = "demo";
    public const string BackendHost = "backend.demo.svc.cluster.local";
    public const int BurstLimit = 5;

    private readonly string _directory;
    private readonly WebApplication _app;
    private readonly ProxyHost _backend;
    private readonly ProxyHost _frontend;

    private DemoMesh(string directory, WebApplication app, ProxyHost backend, ProxyHost frontend)
    {
        _directory = directory;
        _app = app;
        _backend = backend;
        _frontend = frontend;
    }

    public IPEndPoint Outbound => _frontend.OutboundEndPoint;

    public IPEndPoint BackendAdmin => _backend.AdminEndPoint;

    public IPEndPoint FrontendAdmin => _frontend.AdminEndPoint;

    public IPEndPoint BackendInbound => _backend.InboundEndPoint;

    /// <summary>Builds the CA and certificates, starts the app and both sidecars.</summary>
    public static async Task<DemoMesh> StartAsync(DemoOptions options, Action<ILoggingBuilder> logging, CancellationToken cancellationToken)
    {
        string directory = Directory.CreateTempSubdirectory("belizemesh-demo-").FullName;
        WebApplication? app = null;
        ProxyHost? backend = null;
        ProxyHost? frontend = null;
        bool started = false;
        try
        {
            using (var ca = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=BelizeMesh Demo CA,O=BelizeMesh" }))
            {
                WriteCredentials(ca, "backend", Path.Combine(directory, "backend", "certs"));
                WriteCredentials(ca, "frontend", Path.Combine(directory, "frontend", "certs"));
            }

            app = StartApp(logging);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            int appPort = new Uri(app.Urls.First()).Port;

            backend = CreateSidecar(directory, "backend", BackendPolicy(appPort), logging);
            await backend.StartAsync(cancellationToken).ConfigureAwait(false);

            frontend = CreateSidecar(directory, "frontend", FrontendPolicy(appPort, options.OutboundPort, backend.InboundEndPoint.Port), logging);
            await frontend.StartAsync(cancellationToken).ConfigureAwait(false);

            started = true;
            return new DemoMesh(directory, app, backend, frontend);
        }
        finally
        {
            if (!started)
            {
                // Start-up failed: nothing of the demo may outlive it, least of all its private keys.
                if (frontend is not null)
                {
                    await frontend.DisposeAsync().ConfigureAwait(false);
                }

                if (backend is not null)
                {
                    await backend.DisposeAsync().ConfigureAwait(false);
                }

                if (app is not null)
                {
                    await app.DisposeAsync().ConfigureAwait(false);
                }

                TryDelete(directory);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _frontend.DisposeAsync().ConfigureAwait(false);
        await _backend.DisposeAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        TryDelete(_directory);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static void WriteCredentials(CertificateAuthority ca, string service, string directory)
    {
        Directory.CreateDirectory(directory);
        using IssuedCertificate issued = ca.Issue(new ServiceCertificateRequest { Service = service, Namespace = Namespace });
        File.WriteAllText(Path.Combine(directory, MeshNames.CertificateFile), issued.CertificatePem);
        File.WriteAllText(Path.Combine(directory, MeshNames.TrustBundleFile), ca.Certificate.ToPem());
        string keyPath = Path.Combine(directory, MeshNames.KeyFile);
        File.WriteAllText(keyPath, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.WriteAllText(keyPath, issued.ExportPrivateKeyPem());
    }

    private static ProxyHost CreateSidecar(string directory, string service, string policyYaml, Action<ILoggingBuilder> logging)
    {
        string policyDirectory = Path.Combine(directory, service, "policy");
        Directory.CreateDirectory(policyDirectory);
        string policyPath = Path.Combine(policyDirectory, "policy.yaml");
        File.WriteAllText(policyPath, policyYaml);
        ProxyHost? host = ProxyHost.Create(
            new ProxyHostOptions
            {
                PolicyPath = policyPath,
                CertsPath = Path.Combine(directory, service, "certs"),
                AccessLog = false,
                ConfigureLogging = logging,
            },
            out IReadOnlyList<PolicyError> errors);
        return host ?? throw new InvalidOperationException(
            $"the demo's own {service} policy is invalid (a bug): {string.Join("; ", errors.Select(e => e.ToString()))}");
    }

    private static string BackendPolicy(int appPort) => $$"""
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        metadata: { name: backend, namespace: {{Namespace}} }
        spec:
          identity: spiffe://cluster.local/ns/{{Namespace}}/sa/backend
          admin: { listen: "127.0.0.1:0" }
          inbound:
            listen: "127.0.0.1:0"
            app: "http://127.0.0.1:{{appPort}}"
            mode: STRICT
            authorization:
              rules:
                - from: { principals: ["cluster.local/ns/{{Namespace}}/sa/frontend"] }
                  to: { methods: [GET], paths: ["/api/*"] }
            rateLimits:
              - name: burst-demo
                match: { paths: ["/api/burst"] }
                key: sourcePrincipal
                requestsPerSecond: 1
                burst: {{BurstLimit}}
          outbound:
            listen: "127.0.0.1:0"
            routes: []
        """;

    private static string FrontendPolicy(int appPort, int outboundPort, int backendInboundPort) => $$"""
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        metadata: { name: frontend, namespace: {{Namespace}} }
        spec:
          identity: spiffe://cluster.local/ns/{{Namespace}}/sa/frontend
          admin: { listen: "127.0.0.1:0" }
          inbound:
            listen: "127.0.0.1:0"
            app: "http://127.0.0.1:{{appPort}}"
            mode: STRICT
            authorization:
              rules: []
          outbound:
            listen: "127.0.0.1:{{outboundPort}}"
            routes:
              - host: {{BackendHost}}
                endpoints: ["127.0.0.1:{{backendInboundPort}}"]
                identity: spiffe://cluster.local/ns/{{Namespace}}/sa/backend
                timeout: 10s
        """;

    /// <summary>The workload behind the sidecars: echoes who called it, as the sidecar told it.</summary>
    private static WebApplication StartApp(Action<ILoggingBuilder> logging)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        logging(builder.Logging);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        WebApplication app = builder.Build();
        app.Run(async context =>
        {
            string caller = context.Request.Headers[MeshNames.PeerIdentityHeader].ToString();
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(
                $"hello from the demo app: {context.Request.Method} {context.Request.Path}, caller {(caller.Length == 0 ? "(none)" : caller)}\n",
                Encoding.UTF8).ConfigureAwait(false);
        });
        return app;
    }
}
