using System.Net;
using k8s;
using k8s.Exceptions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Controller;

/// <summary>
/// <c>belizemesh-injector controller</c>: the certificate controller with a plain-HTTP listener for
/// <c>/metrics</c> (Prometheus text format), <c>/healthz</c> (alive) and <c>/readyz</c> (every cache listed).
/// </summary>
internal sealed partial class ControllerHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stop = new();
    private readonly ControllerKubernetes _client;
    private Task _run = Task.CompletedTask;

    private ControllerHost(WebApplication app, CertificateController controller, ControllerKubernetes client)
    {
        _app = app;
        Controller = controller;
        _client = client;
    }

    public CertificateController Controller { get; }

    /// <summary>The bound metrics endpoint (the real port when asked for port 0).</summary>
    public IPEndPoint Endpoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>The API server configuration: <paramref name="kubeconfig"/> when given, else the in-cluster service account.</summary>
    /// <exception cref="KubeConfigException">No kubeconfig and not in a cluster, or an unreadable kubeconfig.</exception>
    public static KubernetesClientConfiguration LoadClientConfiguration(string? kubeconfig)
    {
        if (kubeconfig is not null)
        {
            if (!File.Exists(kubeconfig))
            {
                throw new KubeConfigException($"--kubeconfig {kubeconfig}: file not found");
            }

            return KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig);
        }

        if (KubernetesClientConfiguration.IsInCluster())
        {
            return KubernetesClientConfiguration.InClusterConfig();
        }

        throw new KubeConfigException("not running in a cluster (no KUBERNETES_SERVICE_HOST and service-account token): pass --kubeconfig FILE");
    }

    public static async Task<ControllerHost> StartAsync(ControllerOptions options, KubernetesClientConfiguration clientConfiguration, IPEndPoint listen,
        TimeProvider? time = null, Action<ILoggingBuilder>? configureLogging = null, CancellationToken cancellationToken = default)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("System.Net.Http", LogLevel.Warning);
        if (configureLogging is null)
        {
            builder.Logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }
        else
        {
            configureLogging(builder.Logging);
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(listen, l => l.Protocols = HttpProtocols.Http1);
        });
        WebApplication app = builder.Build();
        ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("BelizeMesh.Injector.Controller");
        var client = new ControllerKubernetes(clientConfiguration);
        var controller = new CertificateController(client, options, time ?? TimeProvider.System, logger);
        var host = new ControllerHost(app, controller, client);
        app.Run(host.HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        host.Endpoint = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>() is { } addresses
            && addresses.Addresses.Count > 0 && Uri.TryCreate(addresses.Addresses.First(), UriKind.Absolute, out Uri? uri)
            ? new IPEndPoint(listen.Address, uri.Port)
            : listen;
        host._run = Task.Run(() => controller.RunAsync(host._stop.Token), CancellationToken.None);
        LogStarted(logger, host.Endpoint.ToString(), clientConfiguration.Host, options.Identity, $"{options.LeaseNamespace}/{options.LeaseName}",
            $"{options.RootSecretNamespace}/{options.RootSecretName}", ControllerOptions.FormatDuration(options.CertificateValidity), ControllerOptions.FormatDuration(options.RenewBefore));
        return host;
    }

    /// <summary>Completes when the host stops (SIGTERM, Ctrl+C) or the controller ends.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancellationToken = default)
    {
        await Task.WhenAny(_app.WaitForShutdownAsync(cancellationToken), _run).ConfigureAwait(false);
    }

    private async Task HandleAsync(HttpContext context)
    {
        string path = context.Request.Path.Value ?? "";
        (int status, string type, string body) = path switch
        {
            "/metrics" => (200, "text/plain; version=0.0.4; charset=utf-8", Controller.Metrics.Export()),
            "/healthz" => (200, "text/plain; charset=utf-8", "ok\n"),
            "/readyz" => Controller.Synced.IsCompletedSuccessfully
                ? (200, "text/plain; charset=utf-8", "ok\n")
                : (503, "text/plain; charset=utf-8", "caches not listed yet\n"),
            _ => (404, "text/plain; charset=utf-8", "not found: the controller serves GET /metrics, /healthz and /readyz\n"),
        };
        context.Response.StatusCode = status;
        context.Response.ContentType = type;
        await context.Response.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _run.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await _app.DisposeAsync().ConfigureAwait(false);
        Controller.Dispose();
        _client.Dispose();
        _stop.Dispose();
    }

    [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "Certificate controller started: metrics on http://{Endpoint}, API server {ApiServer}, identity {Identity}, Lease {Lease}, root Secret {RootSecret}, certificates {Validity} renewed {RenewBefore} before expiry")]
    private static partial void LogStarted(ILogger logger, string endpoint, string apiServer, string identity, string lease, string rootSecret, string validity, string renewBefore);
}
