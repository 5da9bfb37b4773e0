using System.Net;
using BelizeMesh.Channel;
using BelizeMesh.Proxy.Admin;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Forwarding;
using BelizeMesh.Proxy.Inbound;
using BelizeMesh.Proxy.Metrics;
using BelizeMesh.Proxy.Outbound;
using BelizeMesh.Proxy.Policy.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>How to run one sidecar.</summary>
internal sealed class ProxyHostOptions
{
    public required string PolicyPath { get; init; }

    public required string CertsPath { get; init; }

    /// <summary>Overrides <c>spec.accessLog</c> when set (the <c>--access-log</c> flag).</summary>
    public bool? AccessLog { get; init; }

    /// <summary>An extra plaintext listener that answers only <c>GET /healthz/ready</c> (the <c>--status-listen</c> flag):
    /// the injector points the kubelet's readiness probe at it on the pod IP, so a policy whose admin listener stays on
    /// loopback still becomes ready in a pod. Null: no status listener.</summary>
    public ListenAddress? StatusListen { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The random source of weighted destinations and fault percentages; null = <see cref="Random.Shared"/>
    /// (tests pass a seeded one).</summary>
    public Random? TrafficRandom { get; init; }

    public PolicyParserOptions ParserOptions { get; init; } = new() { PqChannelAvailable = true, PermissiveAvailable = true };

    /// <summary>How <c>jwtRules[].jwksUri</c> key sets are fetched (tests shorten the cache duration and retries).</summary>
    public BelizeMesh.Proxy.Policy.Authentication.RemoteJwksOptions RemoteJwks { get; init; } = new();

    /// <summary>Watch the policy file (tests that reload by hand turn this off).</summary>
    public bool WatchPolicy { get; init; } = true;

    /// <summary>Watch the certificates directory when the PQ channel is in use (tests that reload by hand turn this off).</summary>
    public bool WatchCertificates { get; init; } = true;

    /// <summary>How long the policy and certificate watchers wait for a burst of file events to settle.</summary>
    public TimeSpan WatchDebounce { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The watchers' safety-net poll interval.</summary>
    public TimeSpan WatchPollInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Resolves outbound endpoints given as DNS names; null = the system resolver (tests inject records).</summary>
    public IEndpointResolver? Resolver { get; init; }

    /// <summary>Where the access log goes; null = stdout (tests capture it).</summary>
    public Stream? AccessLogOutput { get; init; }

    /// <summary>Called on the request's thread with the request's path after its access-log line is queued (tests).</summary>
    public Action<string>? AccessLogObserver { get; init; }

    /// <summary>Logging set-up; the default is one JSON object per line on stdout.</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }

    /// <summary>The workload's name, app, version, ... for the Istio metrics' labels; null = from the environment
    /// variables the injector sets (<see cref="WorkloadMetadata.FromEnvironment"/>).</summary>
    public WorkloadMetadata? Workload { get; init; }

    /// <summary>Serve HTTP/2 that arrives through the PQ channel on the inbound listener with the sidecar's own server
    /// (<see cref="Inbound.Http2Server.LeanHttp2Server"/>) instead of Kestrel's HTTP/2 layer; null = the environment: on
    /// unless <c>BELIZEMESH_LEAN_H2_SERVER=0</c>.</summary>
    public bool? LeanHttp2Server { get; init; }
}

/// <summary>
/// One running sidecar: a Kestrel server with three listeners (admin, inbound, outbound), one request delegate
/// (<see cref="ProxyDispatcher"/>), the policy store and its watcher. Created only from a valid policy file.
/// </summary>
internal sealed partial class ProxyHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ListenOptions[] _listeners;
    private BelizeMesh.Configuration.DirectoryWatcher? _watcher;
    private BelizeMesh.Configuration.DirectoryWatcher? _certificateWatcher;
    private IdleMemoryTrimmer? _trimmer;
    private readonly Lock _watchersGate = new();
    private bool _stopping;
    private Task _watchersStarted = Task.CompletedTask;

    private ProxyHost(WebApplication app, ListenOptions[] listeners)
    {
        _app = app;
        _listeners = listeners;
    }

    public IServiceProvider Services => _app.Services;

    public PolicyStore Policy => _app.Services.GetRequiredService<PolicyStore>();

    /// <summary>Open connections of the "inbound" or "outbound" listener.</summary>
    public int ConnectionCount(string listener)
    {
        ListenerGuards guards = _app.Services.GetRequiredService<ListenerGuards>();
        return (listener == "inbound" ? guards.Inbound : guards.Outbound).Connections;
    }

    /// <summary>Connections from <paramref name="source"/> on the "inbound" or "outbound" listener that have not reached HTTP yet.</summary>
    public int PendingFrom(string listener, IPAddress source)
    {
        ListenerGuards guards = _app.Services.GetRequiredService<ListenerGuards>();
        return (listener == "inbound" ? guards.Inbound : guards.Outbound).PendingFrom(source);
    }

    /// <summary>The certificates in force; null when no listener or route uses the PQ channel.</summary>
    public CertificateStore? Certificates => _app.Services.GetService<CertificateStore>();

    public IPEndPoint AdminEndPoint => _listeners[0].IPEndPoint!;

    public IPEndPoint InboundEndPoint => _listeners[1].IPEndPoint!;

    public IPEndPoint OutboundEndPoint => _listeners[2].IPEndPoint!;

    /// <summary>The status listener's bound address, or null when <see cref="ProxyHostOptions.StatusListen"/> is not set.</summary>
    public IPEndPoint? StatusEndPoint => _listeners.Length > 3 ? _listeners[3].IPEndPoint : null;

    /// <summary>Parses the policy file; on success builds (but does not start) the host, else returns every error.</summary>
    public static ProxyHost? Create(ProxyHostOptions options, out IReadOnlyList<PolicyError> errors)
    {
        string text;
        try
        {
            text = File.ReadAllText(options.PolicyPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors = [new PolicyError(options.PolicyPath, 1, 1, $"cannot read the policy file: {ex.Message.TrimEnd('.')}; pass --policy FILE")];
            return null;
        }

        PolicyParseResult parsed = PolicyParser.Parse(text, options.PolicyPath, options.ParserOptions);
        errors = parsed.Errors;
        if (!parsed.Succeeded)
        {
            return null;
        }

        SidecarPolicy policy = parsed.Policy!;
        if (BelizeMesh.Proxy.Policy.Authentication.JwksFiles.CheckAtStart(policy) is { Count: > 0 } jwksErrors)
        {
            errors = jwksErrors;
            return null;
        }

        bool usesChannel = policy.Spec.Inbound.Mode != ChannelMode.Disable || policy.Spec.Outbound.Mode != ChannelMode.Disable;
        CertificateSet? certificates = null;
        if (usesChannel && !CertificateStore.TryLoadInitial(options.CertsPath, policy.Spec.Identity, options.Time, out certificates, out string? certificatesProblem))
        {
            errors = [new PolicyError(options.CertsPath, 0, 0, $"cannot load the certificates (tls.crt, tls.key, ca.crt) the PQ channel needs: {certificatesProblem}")];
            return null;
        }

        WebApplicationBuilder builder = CreateBuilder();

        // ASP.NET Core starts an Activity for every request whenever this category is enabled at any level, listener
        // or not: about 600 B per request per sidecar (13.9 KB instead of 12.7 KB allocated in one process for a
        // request through two sidecars). The sidecar takes no part in traces (TraceContext) and the category writes
        // only per-request lines the access log replaces, so it is off. An ActivityListener would still create one.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        if (options.ConfigureLogging is { } configureLogging)
        {
            configureLogging(builder.Logging);
        }
        else
        {
            AddDefaultLogging(builder.Logging);
        }

        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = policy.Spec.DrainTimeout);

        // Kestrel's socket transport, measured through two sidecars with the PQ channel (perf/README.md, "data path"):
        // - a receive waits for data with a zero-byte read before it takes a buffer: no more system calls per request
        //   than reading at once (4.2 recvfrom either way; .NET tries the read first and waits on epoll when there is
        //   nothing), no more CPU, and an idle connection holds no 32 KiB receive block (98 → 79 KiB per idle channel);
        // - continuations run where the socket operation completed (a thread-pool thread: socket completions are not
        //   inlined on the epoll thread) instead of being queued once more for the HTTP layer and for every send:
        //   0.86-0.97x the CPU per request (loaded machine). Nothing on the sidecar's request path blocks a thread.
        builder.WebHost.UseSockets(sockets =>
        {
            sockets.WaitForDataBeforeAllocatingBuffer = true;
            sockets.UnsafePreferInlineScheduling = true;
        });

        // Receive blocks that hold whole channel records (32 KiB instead of Kestrel's 4 KiB): a 16 KiB record arrives
        // in one receive instead of four, which doubles one connection's inbound throughput (perf bulk, Kestrel face).
        builder.Services.AddPqChannelMemoryPool();

        var listeners = new ListenOptions[options.StatusListen is null ? 3 : 4];
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null; // a proxy streams bodies; the app sets its own limits
            kestrel.AllowAlternateSchemes = true; // h2c requests carry :scheme http on a connection Kestrel thinks negotiated h2

            // Kestrel holds these once for every listener: the stricter of spec.inbound.limits and spec.outbound.limits
            kestrel.Limits.RequestHeadersTimeout = KestrelTimeout(policy.Spec.Inbound.Limits.HeaderTimeout, policy.Spec.Outbound.Limits.HeaderTimeout);
            kestrel.Limits.KeepAliveTimeout = KestrelTimeout(policy.Spec.Inbound.Limits.IdleTimeout, policy.Spec.Outbound.Limits.IdleTimeout);
            kestrel.Listen(policy.Spec.Admin.Listen.ToEndPoint(), listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.Use(next => connection =>
                {
                    connection.Features.Set(ListenerRoleFeature.Admin);
                    return next(connection);
                });
                listeners[0] = listen;
            });
            kestrel.Listen(policy.Spec.Inbound.Listen.ToEndPoint(), listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.Use(listen.ApplicationServices.GetRequiredService<ListenerGuards>().Inbound.Arm);

                // STRICT: every connection must complete the PQ handshake first; the channel publishes the peer as
                // IPqChannelFeature. HTTP/1.1 or HTTP/2 (prior knowledge, as the outbound side sends) run inside.
                // PERMISSIVE: the same, except that a connection whose first bytes cannot start a channel record
                // (plaintext HTTP) is passed on as it is, with no identity: rules with principals never match it.
                if (policy.Spec.Inbound.Mode is ChannelMode.Strict or ChannelMode.Permissive)
                {
                    ChannelSetup setup = listen.ApplicationServices.GetRequiredService<ChannelSetup>();
                    listen.UsePqChannel(policy.Spec.Inbound.Mode == ChannelMode.Permissive ? setup.WithPlaintext() : setup.RequireOptions());
                }

                listen.Use(H2cPriorKnowledge.Middleware);
                listen.Use(ListenerGuard.Disarm);
                listen.Use(next => connection =>
                {
                    connection.Features.Set(ListenerRoleFeature.Inbound);
                    return next(connection);
                });
                if (policy.Spec.Inbound.Mode is ChannelMode.Strict or ChannelMode.Permissive
                    && (options.LeanHttp2Server ?? Environment.GetEnvironmentVariable("BELIZEMESH_LEAN_H2_SERVER") != "0"))
                {
                    // HTTP/2 inside the PQ channel is served by the sidecar's own server (Inbound/Http2Server): Kestrel's
                    // HTTP/2 layer hands every stream to the thread pool and writes through its own frame-writer loop.
                    // Plaintext (PERMISSIVE) connections and HTTP/1.1 inside the channel stay with Kestrel.
                    var leanOptions = new Inbound.Http2Server.LeanHttp2ServerOptions
                    {
                        KeepAliveTimeout = KestrelTimeout(policy.Spec.Inbound.Limits.IdleTimeout, policy.Spec.Outbound.Limits.IdleTimeout),
                        RequestHeadersTimeout = KestrelTimeout(policy.Spec.Inbound.Limits.HeaderTimeout, policy.Spec.Outbound.Limits.HeaderTimeout),
                        EnableExtendedConnect = true, // WebSockets cross the channel as extended CONNECTs (Inbound/WebSocketRequest.cs)
                    };
                    listen.Use(next =>
                    {
                        ConnectionDelegate? lean = null; // built on the first channel connection: the dispatcher is resolved then
                        return connection =>
                        {
                            if (connection.Features.Get<IPqChannelFeature>() is null)
                            {
                                return next(connection);
                            }

                            lean ??= Inbound.Http2Server.LeanHttp2Server.Middleware(
                                listen.ApplicationServices.GetRequiredService<ProxyDispatcher>().InvokeAsync,
                                leanOptions,
                                listen.ApplicationServices.GetService<ILoggerFactory>())(next);
                            return lean(connection);
                        };
                    });
                }

                listeners[1] = listen;
            });
            kestrel.Listen(policy.Spec.Outbound.Listen.ToEndPoint(), listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.Use(listen.ApplicationServices.GetRequiredService<ListenerGuards>().Outbound.Arm);
                listen.Use(H2cPriorKnowledge.Middleware);
                listen.Use(ListenerGuard.Disarm);
                listen.Use(next => connection =>
                {
                    connection.Features.Set(ListenerRoleFeature.Outbound);
                    return next(connection);
                });
                listeners[2] = listen;
            });
            if (options.StatusListen is { } status)
            {
                kestrel.Listen(status.ToEndPoint(), listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    listen.Use(next => connection =>
                    {
                        connection.Features.Set(ListenerRoleFeature.Status);
                        return next(connection);
                    });
                    listeners[3] = listen;
                });
            }
        });

        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton<ListenerGuards>();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(options.Time);
        builder.Services.AddSingleton<ProxyMetrics>();
        builder.Services.AddSingleton(sp => new AccessLog(options.AccessLogOutput, options.Time, sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), options.AccessLogObserver));
        builder.Services.AddSingleton(sp => new PrometheusExporter(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        builder.Services.AddSingleton(sp => new IstioRequestMetrics(
            sp.GetRequiredService<PrometheusExporter>(),
            (options.Workload ?? WorkloadMetadata.FromEnvironment()).ToLabels(certificates?.Identity ?? policy.Spec.Identity, policy.Namespace),
            policy.Namespace,
            sp.GetRequiredService<ProxyMetrics>()));
        builder.Services.AddSingleton(sp => new ProcessMetrics(sp.GetRequiredService<PrometheusExporter>()));
        builder.Services.AddSingleton(new Readiness(options.Time));
        builder.Services.AddSingleton<UpstreamClientFactory>();
        builder.Services.AddSingleton(sp => new RateLimiterRegistry(options.Time, sp.GetRequiredService<ProxyMetrics>()));
        builder.Services.AddSingleton(sp => new EndpointStateRegistry(options.Time));
        builder.Services.AddSingleton(sp => new EndpointSetRegistry(
            options.Resolver ?? SystemEndpointResolver.Instance,
            options.Time,
            sp.GetRequiredService<ProxyMetrics>(),
            sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton<BelizeMesh.Proxy.Policy.Authentication.JwksFiles>();
        builder.Services.AddSingleton(sp => new BelizeMesh.Proxy.Policy.Authentication.RemoteJwksRegistry(
            options.RemoteJwks, options.Time, sp.GetRequiredService<ProxyMetrics>(), sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton<SnapshotBuilder>();
        builder.Services.AddSingleton<IPeerIdentityAccessor, PqChannelPeerIdentityAccessor>();
        builder.Services.AddSingleton(sp => new ChannelMetrics(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        builder.Services.AddSingleton(sp => new ChannelSetup(certificates is null ? null : new PqChannelOptions
        {
            Credentials = certificates.Channel,
            Verifier = certificates.Verifier,
            Metrics = sp.GetRequiredService<ChannelMetrics>(),
        }));
        if (certificates is not null)
        {
            // Created by the container (a factory, not an instance), so the container disposes it: that zeroes the key.
            builder.Services.AddSingleton(sp => new CertificateStore(
                options.CertsPath,
                certificates,
                sp.GetRequiredService<ChannelSetup>(),
                sp.GetRequiredService<ProxyMetrics>(),
                sp.GetRequiredService<ILogger<CertificateStore>>(),
                options.Time));
        }

        builder.Services.AddSingleton(new TrafficRandom(options.TrafficRandom));
        builder.Services.AddSingleton<ForwardingEngine>();
        builder.Services.AddSingleton<InboundHandler>();
        builder.Services.AddSingleton<OutboundHandler>();
        builder.Services.AddSingleton<AdminHandler>();
        builder.Services.AddSingleton<ProxyDispatcher>();
        builder.Services.AddSingleton(sp => new PolicyStore(
            options.PolicyPath,
            options.ParserOptions,
            sp.GetRequiredService<SnapshotBuilder>(),
            sp.GetRequiredService<SnapshotBuilder>().Build(policy, PolicyStore.Hash(text)),
            sp.GetRequiredService<ProxyMetrics>(),
            sp.GetRequiredService<ILogger<PolicyStore>>()));

        WebApplication app = builder.Build();

        // Now, and before anything that uses the channel: the store owns the key from here on (disposing the host
        // zeroes it even if the host never starts), and singletons are disposed in reverse order of creation, so the
        // store goes last, after the server and the outbound clients stopped starting handshakes.
        _ = app.Services.GetService<CertificateStore>();

        // The exporter listens before the first snapshot is built: building it starts DNS resolutions, which count.
        _ = app.Services.GetRequiredService<PrometheusExporter>();
        _ = app.Services.GetRequiredService<ProcessMetrics>();
        ProxyDispatcher dispatcher = app.Services.GetRequiredService<ProxyDispatcher>();
        app.Run(dispatcher.InvokeAsync);
        return new ProxyHost(app, listeners);
    }

    /// <summary>The sidecar's own logging (no <see cref="ProxyHostOptions.ConfigureLogging"/>): one JSON object per line
    /// on stdout.</summary>
    internal static void AddDefaultLogging(ILoggingBuilder logging)
    {
        logging.AddJsonConsole(o => o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ");

        // ASP.NET Core's and YARP's own per-request Information lines ("Request starting", "Proxying to",
        // "Received HTTP/2.0 response") duplicate the access log and cost more than the forwarding itself: two
        // sidecars writing four JSON lines per request cut throughput to a third. Warnings and errors still show.
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging.AddFilter("Yarp", LogLevel.Warning);
    }

    /// <summary>
    /// The web application builder with only what the sidecar uses (perf/README.md, "footprint, round 6"): Kestrel with
    /// its socket transport, the host's lifetime (SIGTERM/SIGINT drain), logging, and environment variables as the one
    /// configuration source (docs/policy.md, "Logs": <c>Logging__LogLevel__…</c>). The slim builder's extras are left
    /// out: <c>appsettings.json</c> files, user secrets, the <c>Kestrel</c> configuration section, routing, and its
    /// console logger (<see cref="AddDefaultLogging"/>'s JSON console replaces it).
    /// </summary>
    internal static WebApplicationBuilder CreateBuilder()
    {
        WebApplicationBuilder builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore();
        builder.Configuration.AddEnvironmentVariables();
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        return builder;
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        IServiceProvider services = _app.Services;
        Readiness readiness = services.GetRequiredService<Readiness>();
        PolicyStore store = services.GetRequiredService<PolicyStore>();
        ProxyHostOptions options = services.GetRequiredService<ProxyHostOptions>();
        _ = services.GetRequiredService<PrometheusExporter>(); // start listening before the first measurement
        ILogger logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("BelizeMesh.Proxy.Hosting");
        readiness.PolicyLoaded();

        IHostApplicationLifetime lifetime = services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(readiness.Stopping);

        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        readiness.ListenersBound();

        // The certificates directory is a Secret volume, updated by the same ..data symlink swap as the policy's
        // ConfigMap: the same watcher, debounce and poll; the store re-reads all three files and swaps them for new
        // handshakes only when the whole set is valid.
        CertificateStore? certificates = services.GetService<CertificateStore>();
        if (certificates is not null)
        {
            CertificateSet current = certificates.Current;
            services.GetRequiredService<ProxyMetrics>().CertificatesInUse(current.Certificate.NotAfter);
            readiness.TrackCertificate(() => certificates.Current);
            Log.Certificates(logger, certificates.Directory, current.Identity, current.Certificate.SerialNumber, current.Certificate.NotAfter);
        }

        // Ready from here. The watchers start a little later, off the start-up path (StartWatchersAsync).
        bool watchPolicy = options.WatchPolicy;
        bool watchCertificates = options.WatchCertificates && certificates is not null;
        if (watchPolicy || watchCertificates)
        {
            _watchersStarted = StartWatchersAsync(store, watchPolicy, watchCertificates ? certificates : null, options, logger);
        }

        // OpenSSL loads a little after ready (CryptoWarmUp): nothing before this point needs it.
        _ = CryptoWarmUp.RunAfterDelayAsync(lifetime.ApplicationStopping);

        var pools = services.GetService<Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>>() as BelizeMesh.Channel.Middleware.RecordSizedMemoryPoolFactory;
        ListenerGuards guards = services.GetRequiredService<ListenerGuards>();
        _trimmer = new IdleMemoryTrimmer(options.Time, services.GetRequiredService<ILoggerFactory>().CreateLogger<IdleMemoryTrimmer>(), pools is null ? null : pools.ReleaseRetainedBlocks,
            () => guards.Inbound.Connections + guards.Outbound.Connections);

        SidecarPolicy policy = store.Current.Policy;
        Log.Started(logger, policy.Namespace, policy.Name, AdminEndPoint.ToString(), InboundEndPoint.ToString(), OutboundEndPoint.ToString(), policy.Spec.Inbound.Mode.ToString().ToUpperInvariant());
        if (policy.Spec.Inbound.Mode == ChannelMode.Disable)
        {
            Log.Plaintext(logger, options.CertsPath);
        }
    }

    /// <summary>Stops accepting, lets in-flight requests finish up to <c>spec.drainTimeout</c>, then closes.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        _trimmer?.Dispose();
        StopWatching();
        return _app.StopAsync(cancellationToken);
    }

    /// <summary>
    /// Completes when the policy and certificate watchers run (at once when nothing is watched); a change made before
    /// then is not missed, since starting them looks at the files once.
    /// </summary>
    internal Task WatchersStarted => _watchersStarted;

    /// <summary>True while a policy or certificate watcher runs.</summary>
    internal bool IsWatching
    {
        get
        {
            lock (_watchersGate)
            {
                return _watcher is not null || _certificateWatcher is not null;
            }
        }
    }

    /// <summary>How long after start-up the watchers start (<see cref="StartWatchersAsync"/>).</summary>
    internal static readonly TimeSpan WatchersStartDelay = TimeSpan.FromMilliseconds(300);

    /// <summary>
    /// Starts the policy and certificate watchers <see cref="WatchersStartDelay"/> after the sidecar became ready, then
    /// looks at the watched files once, so a change made since they were loaded is applied as if the watcher had seen
    /// it. Off the start-up path because of the collection that precedes them
    /// (<see cref="IdleMemoryTrimmer.CollectBeforeLongPins"/>: a compacting gen0 collection of start-up's garbage, which
    /// stopped every thread for ~10 ms between binding the listeners and the first ready answer; perf/README.md,
    /// "footprint, round 8"). Runs on the real clock: the watchers' own debounce and poll use the host's.
    /// </summary>
    private async Task StartWatchersAsync(PolicyStore policy, bool watchPolicy, CertificateStore? certificates, ProxyHostOptions options, ILogger logger)
    {
        try
        {
            await Task.Delay(WatchersStartDelay).ConfigureAwait(false);
            lock (_watchersGate)
            {
                if (_stopping)
                {
                    return;
                }

                // Made before the trimmer's start-up trim (1 s after start), which must not take it for traffic.
                if (_trimmer is { } trimmer)
                {
                    trimmer.RunOwnCollection(IdleMemoryTrimmer.CollectBeforeLongPins);
                }
                else
                {
                    IdleMemoryTrimmer.CollectBeforeLongPins();
                }

                if (watchPolicy)
                {
                    _watcher = policy.Watch(Path.GetDirectoryName(Path.GetFullPath(options.PolicyPath))!, options, logger);
                }

                if (certificates is not null)
                {
                    _certificateWatcher = certificates.Watch(Path.GetFullPath(certificates.Directory), options, logger);
                }
            }

            if (watchPolicy)
            {
                await policy.ReloadAsync().ConfigureAwait(false);
            }

            if (certificates is not null)
            {
                await certificates.ReloadAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Stopped meanwhile (a disposed store), or the directory is gone: the sidecar keeps serving what it loaded.
            Log.WatchersFailed(logger, ex);
        }
    }

    private void StopWatching()
    {
        BelizeMesh.Configuration.DirectoryWatcher? policy, certificates;
        lock (_watchersGate)
        {
            _stopping = true;
            (policy, _watcher) = (_watcher, null);
            (certificates, _certificateWatcher) = (_certificateWatcher, null);
        }

        policy?.Dispose();
        certificates?.Dispose();
    }

    /// <summary>Runs until SIGTERM/SIGINT (the generic host's console lifetime), then drains.</summary>
    public async Task RunAsync()
    {
        await StartAsync().ConfigureAwait(false);
        await _app.WaitForShutdownAsync().ConfigureAwait(false);
        _trimmer?.Dispose();
        StopWatching();
    }

    public async ValueTask DisposeAsync()
    {
        _trimmer?.Dispose();
        StopWatching();
        await _app.DisposeAsync().ConfigureAwait(false); // disposes the singletons: clients, limiters, exporter
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "belizemesh-proxy {Namespace}/{Name} listening: admin {Admin}, inbound {Inbound} ({Mode}), outbound {Outbound}.", EventName = "Started")]
        public static partial void Started(ILogger logger, string @namespace, string name, string admin, string inbound, string outbound, string mode);

        [LoggerMessage(3, LogLevel.Information, "PQ channel certificates from {Directory}: {Identity}, serial {Serial}, valid until {NotAfter:u}; the directory is watched and a valid new set replaces them without a restart.", EventName = "Certificates")]
        public static partial void Certificates(ILogger logger, string directory, string identity, string serial, DateTimeOffset notAfter);

        [LoggerMessage(4, LogLevel.Error, "Starting the policy and certificate watchers failed; the sidecar keeps the policy and certificates it loaded, and changes to them need a restart.", EventName = "WatchersFailed")]
        public static partial void WatchersFailed(ILogger logger, Exception exception);

        [LoggerMessage(2, LogLevel.Warning, "Inbound mode DISABLE: plaintext, callers are unauthenticated and rules with principals never match; certificates in {Certs} are not used.", EventName = "Plaintext")]
        public static partial void Plaintext(ILogger logger, string certs);
    }

    /// <summary>The smaller of two limits; 0 (none) only when both are 0.</summary>
    private static TimeSpan KestrelTimeout(TimeSpan a, TimeSpan b)
        => a <= TimeSpan.Zero ? (b <= TimeSpan.Zero ? Timeout.InfiniteTimeSpan : b) : b <= TimeSpan.Zero ? a : (a < b ? a : b);
}
