using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Security.Authentication;
using BelizeMesh.Injector.Admission;
using BelizeMesh.Injector.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace BelizeMesh.Injector.Server;

/// <summary>What <c>serve</c> was asked to do.</summary>
internal sealed record ServeOptions(IPEndPoint Listen, string TlsCertPath, string TlsKeyPath, string? ConfigPath)
{
    /// <summary>How long the watchers wait for a burst of file events to settle before reloading.</summary>
    public TimeSpan ReloadSettle { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How often the watched files are re-read even without a file event (events can be lost).</summary>
    public TimeSpan ReloadPollInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The clock of the watchers' settle and poll timers.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary><c>belizemesh emit</c>'s exclusion list (<c>--exclusions</c>); absent file = none.</summary>
    public string? ExclusionsPath { get; init; }
}

/// <summary>
/// The HTTP layer: Kestrel over HTTPS, <c>POST /inject</c> (Content-Type, size limit, then the admission layer),
/// <c>GET /healthz</c> and <c>GET /metrics</c>.
/// </summary>
/// <remarks>
/// <list type="number">
/// <item>Content-Type must be <c>application/json</c> (415 otherwise).</item>
/// <item>The body must fit <c>maxRequestBytes</c>: a declared Content-Length over it is refused before reading, an
/// undeclared one is counted while reading (413).</item>
/// <item><see cref="AdmissionHandler"/> answers (400 for a body that is not an AdmissionReview v1).</item>
/// <item>The result, decision and latency are counted in <see cref="InjectorMetrics"/>.</item>
/// </list>
/// </remarks>
internal sealed partial class InjectorServer : IAsyncDisposable
{
    private static readonly byte[] Ok = "ok\n"u8.ToArray();

    private readonly WebApplication _app;
    private readonly AdmissionHandler _handler;
    private readonly ILogger _logger;

    private InjectorServer(WebApplication app, ConfigStore config, ServerCertificate certificate, InjectorMetrics metrics, ILogger logger)
    {
        _app = app;
        Config = config;
        Certificate = certificate;
        Metrics = metrics;
        _logger = logger;
        _handler = new AdmissionHandler(() => config.Current, logger);
    }

    public ConfigStore Config { get; }

    public ServerCertificate Certificate { get; }

    public InjectorMetrics Metrics { get; }

    /// <summary>The address Kestrel bound (the real port when asked for port 0).</summary>
    public IPEndPoint Endpoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>
    /// Loads the configuration and certificate (throwing <see cref="ConfigException"/> or
    /// <see cref="InvalidOperationException"/> with a clear message) and starts listening.
    /// </summary>
    public static async Task<InjectorServer> StartAsync(ServeOptions options, Action<ILoggingBuilder>? configureLogging = null, CancellationToken cancellationToken = default)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
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

        // Kestrel is configured once the certificate is loaded (below); the selector reads the holder on every
        // handshake so a rotated certificate is used without a restart.
        ServerCertificate? certificate = null;
        InjectorMetrics metrics = new();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null; // enforced by InjectAsync against the live configuration
            kestrel.Listen(options.Listen, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(new HttpsConnectionAdapterOptions
                {
                    SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    ServerCertificateSelector = (_, _) => certificate!.Current,
                });
            });
        });

        WebApplication app = builder.Build();
        ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("BelizeMesh.Injector");
        ConfigStore? config = null;
        try
        {
            config = new ConfigStore(options.ConfigPath, logger, metrics.RecordReload, options.ExclusionsPath);
            certificate = new ServerCertificate(options.TlsCertPath, options.TlsKeyPath, logger);
        }
        catch
        {
            config?.Dispose();
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        // whether each watched input is in force, read at each scrape (no sample for a file not in use)
        ConfigStore configStore = config;
        ServerCertificate serving = certificate;
        if (configStore.ConfigFileInForce is not null)
        {
            metrics.ObserveConfigFileInForce(() => configStore.ConfigFileInForce ?? true);
        }

        if (configStore.ExclusionsFileInForce is not null)
        {
            metrics.ObserveExclusionsFileInForce(() => configStore.ExclusionsFileInForce ?? true);
        }

        metrics.ObserveCertificateFilesInForce(() => serving.FilesInForce);
        serving.Reloaded += metrics.RecordCertificateReload;

        var server = new InjectorServer(app, config, certificate, metrics, logger);
        app.Run(server.HandleAsync);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        config.Watch(options.ReloadSettle, options.ReloadPollInterval, options.Time);
        certificate.Watch(options.ReloadSettle, options.ReloadPollInterval, options.Time);
        server.Endpoint = BoundEndpoint(app, options.Listen);
        LogListening(logger, server.Endpoint.ToString(), InjectorVersion.Value, options.ConfigPath ?? "(defaults)");
        return server;
    }

    /// <summary>Completes when the host stops (SIGTERM, Ctrl+C).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    private async Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        string path = request.Path.Value ?? "";
        switch (path)
        {
            case "/inject":
                if (!HttpMethods.IsPost(request.Method))
                {
                    context.Response.Headers.Allow = "POST";
                    await WriteAsync(context.Response, 405, "text/plain; charset=utf-8", "use POST with an AdmissionReview body\n"u8.ToArray()).ConfigureAwait(false);
                    return;
                }

                await InjectAsync(context).ConfigureAwait(false);
                return;
            case "/healthz":
                await WriteAsync(context.Response, 200, "text/plain; charset=utf-8", Ok).ConfigureAwait(false);
                return;
            case "/metrics":
                context.Response.StatusCode = 200;
                context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await Metrics.WriteAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
                return;
            default:
                await WriteAsync(context.Response, 404, "text/plain; charset=utf-8", "not found: the webhook serves POST /inject, GET /healthz and GET /metrics\n"u8.ToArray()).ConfigureAwait(false);
                return;
        }
    }

    private async Task InjectAsync(HttpContext context)
    {
        long started = Stopwatch.GetTimestamp();
        AdmissionOutcome outcome;
        long limit = Config.Current.Config.MaxRequestBytes;
        if (!IsJson(context.Request.ContentType))
        {
            outcome = new AdmissionOutcome(415,
                System.Text.Encoding.UTF8.GetBytes($"unsupported Content-Type '{context.Request.ContentType}': send application/json\n"),
                false, AdmissionResult.UnsupportedMediaType, null);
        }
        else if (context.Request.ContentLength > limit)
        {
            outcome = TooLarge(limit);
        }
        else
        {
            byte[]? rented = null;
            try
            {
                (rented, int length) = await ReadBodyAsync(context.Request.Body, context.Request.ContentLength, limit, context.RequestAborted).ConfigureAwait(false);
                outcome = length < 0 ? TooLarge(limit)
                    : length == 0 ? AdmissionHandler.BadRequest("the body is empty; send an admission.k8s.io/v1 AdmissionReview")
                    : _handler.Handle(rented.AsSpan(0, length));
            }
            finally
            {
                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
        }

        if (outcome.Result is AdmissionResult.BadRequest or AdmissionResult.PayloadTooLarge or AdmissionResult.UnsupportedMediaType)
        {
            LogRejected(_logger, outcome.StatusCode, System.Text.Encoding.UTF8.GetString(outcome.Body).TrimEnd());
        }

        await WriteAsync(context.Response, outcome.StatusCode, outcome.IsJson ? "application/json" : "text/plain; charset=utf-8", outcome.Body).ConfigureAwait(false);
        Metrics.RecordRequest(outcome.Result, outcome.Reason, Stopwatch.GetTimestamp() - started);
    }

    private static AdmissionOutcome TooLarge(long limit) =>
        new(413, System.Text.Encoding.UTF8.GetBytes($"the body is larger than {limit} bytes (maxRequestBytes in the injector configuration)\n"),
            false, AdmissionResult.PayloadTooLarge, null);

    /// <summary>Reads the whole body into a pooled buffer; length -1 when it exceeds <paramref name="limit"/>.</summary>
    private static async Task<(byte[] Buffer, int Length)> ReadBodyAsync(Stream body, long? declared, long limit, CancellationToken cancellationToken)
    {
        int initial = (int)Math.Min(declared is > 0 ? declared.Value + 1 : 16 * 1024, limit + 1);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initial, 4096));
        int length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (length > limit)
                {
                    return (buffer, -1);
                }

                byte[] bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, limit + 1));
                buffer.AsSpan(0, length).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = bigger;
            }

            int read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return (buffer, length > limit ? -1 : length);
            }

            length += read;
            if (length > limit)
            {
                return (buffer, -1);
            }
        }
    }

    private static bool IsJson(string? contentType) =>
        contentType is not null && MediaTypeHeaderValue.TryParse(contentType, out MediaTypeHeaderValue? media)
        && media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase);

    private static async Task WriteAsync(HttpResponse response, int status, string contentType, byte[] body)
    {
        response.StatusCode = status;
        response.ContentType = contentType;
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body).ConfigureAwait(false);
    }

    private static IPEndPoint BoundEndpoint(WebApplication app, IPEndPoint requested)
    {
        ICollection<string>? addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        if (addresses is not null)
        {
            foreach (string address in addresses)
            {
                if (Uri.TryCreate(address, UriKind.Absolute, out Uri? uri))
                {
                    return new IPEndPoint(requested.Address, uri.Port);
                }
            }
        }

        return requested;
    }

    public async ValueTask DisposeAsync()
    {
        Config.Dispose();
        Certificate.Dispose();
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "belizemesh-injector {Version} listening on https://{Endpoint} (configuration {Config})")]
    private static partial void LogListening(ILogger logger, string endpoint, string version, string config);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Rejected admission request with {Status}: {Reason}")]
    private static partial void LogRejected(ILogger logger, int status, string reason);
}
