using System.Net;
using System.Net.Http;
using BelizeMesh.Proxy.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>Where one request goes: endpoints, the client to send through and YARP's per-request settings.</summary>
internal sealed class UpstreamTarget(
    string routeId,
    EndpointSet endpoints,
    LoadBalancer balancer,
    HttpMessageInvoker client,
    ForwarderRequestConfig config,
    int retryAttempts,
    int outlierThreshold,
    TimeSpan ejectionTime)
{
    public string RouteId { get; } = routeId;

    /// <summary>The endpoints to balance across (resolved per pod for a DNS name; read <see cref="EndpointSet.Current"/> per pick).</summary>
    public EndpointSet Endpoints { get; } = endpoints;

    public LoadBalancer Balancer { get; } = balancer;

    public HttpMessageInvoker Client { get; } = client;

    public ForwarderRequestConfig Config { get; } = config;

    public int RetryAttempts { get; } = retryAttempts;

    public int OutlierThreshold { get; } = outlierThreshold;

    public TimeSpan EjectionTime { get; } = ejectionTime;

    /// <summary>The route's <c>appPort</c> as the feature the transformer sends to the peer; null when not set.</summary>
    public ForwardedAppPortFeature? AppPort { get; init; }

    /// <summary>YARP settings for a route: <paramref name="timeout"/> is an idle timeout, 0 = none (streams, WebSockets).
    /// Plaintext uses HTTP/1.1 (or lower); inside the PQ channel HTTP/2 exactly, so one channel carries many requests.</summary>
    public static ForwarderRequestConfig CreateConfig(TimeSpan timeout, bool http2)
        => new()
        {
            ActivityTimeout = timeout == TimeSpan.Zero ? Timeout.InfiniteTimeSpan : timeout,
            Version = http2 ? HttpVersion.Version20 : HttpVersion.Version11,
            VersionPolicy = http2 ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower,
            AllowResponseBuffering = false,
        };
}

/// <summary>
/// Forwards a request with YARP's <see cref="IHttpForwarder"/>: pick an endpoint, send, record passive health,
/// retry on connect failures for idempotent methods, and turn YARP errors into a short explanatory body.
/// </summary>
/// <remarks>
/// Why <see cref="IHttpForwarder"/> rather than <c>AddReverseProxy().LoadFromMemory</c>: the routes come from our
/// own policy snapshot (swapped atomically as one object with authorization and rate limits), each route needs its
/// own connect step (the PQ handshake with the route's expected identity) and retries, which YARP's pipeline does
/// not do, and consistent hashing by header, which it does not offer. With the forwarder we keep YARP's proven part —
/// header and body copying, upgrades, streaming without buffering, error classification — and own the routing.
/// <para>Steps: (1) pick an endpoint, (2) send, (3) on success record health from the status, (4) on a connect failure
/// eject/retry, (5) otherwise report the error.</para>
/// </remarks>
internal sealed partial class ForwardingEngine(IHttpForwarder forwarder, ProxyMetrics metrics, ILogger<ForwardingEngine> logger)
{
    public async Task ForwardAsync(HttpContext context, UpstreamTarget target, Direction direction)
    {
        bool canRetry = target.RetryAttempts > 0 && IsIdempotent(context.Request.Method);
        EndpointState? failed = null;
        EndpointSet endpoints = target.Endpoints;
        if (!endpoints.Ready.IsCompleted)
        {
            // a DNS endpoint's first resolution is under way (just after start or a reload): pick among its pods
            await endpoints.Ready.WaitAsync(context.RequestAborted).ConfigureAwait(false);
        }

        for (int attempt = 0; ; attempt++)
        {
            // (1) pick
            EndpointState endpoint = target.Balancer.Pick(context, endpoints.Current, failed);

            // (2) send
            ForwarderError error;
            endpoint.RequestStarted();
            try
            {
                error = await forwarder.SendAsync(context, endpoint.DestinationPrefix, target.Client, target.Config, ForwardingTransformer.Instance).ConfigureAwait(false);
            }
            finally
            {
                endpoint.RequestCompleted();
            }

            // (3) success: a gateway error from upstream still counts against the endpoint's health
            if (error == ForwarderError.None)
            {
                int status = context.Response.StatusCode;
                if (status is StatusCodes.Status502BadGateway or StatusCodes.Status503ServiceUnavailable or StatusCodes.Status504GatewayTimeout)
                {
                    ReportFailure(target, endpoint);
                }
                else
                {
                    endpoint.ReportSuccess();
                }

                return;
            }

            IForwarderErrorFeature? errorFeature = context.Features.Get<IForwarderErrorFeature>();
            bool connectFailure = error == ForwarderError.Request && IsConnectFailure(errorFeature?.Exception);

            // (4) connect failure: nothing reached the endpoint, so an idempotent request may go again elsewhere
            if (connectFailure || error == ForwarderError.RequestTimedOut)
            {
                ReportFailure(target, endpoint);
            }

            if (connectFailure)
            {
                endpoints.RefreshSoon(); // the pod may be gone: look again (at most once a second)
            }

            if (connectFailure && canRetry && attempt < target.RetryAttempts && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                Log.Retrying(logger, target.RouteId, endpoint.Address.ToString(), attempt + 1, target.RetryAttempts);
                metrics.Retried(target.RouteId);
                context.Features.Set<IForwarderErrorFeature>(null);
                context.Response.StatusCode = StatusCodes.Status200OK;
                failed = endpoint;
                continue;
            }

            // (5) report
            await ReportErrorAsync(context, target, endpoint, error, errorFeature?.Exception, direction).ConfigureAwait(false);
            return;
        }
    }

    private void ReportFailure(UpstreamTarget target, EndpointState endpoint)
    {
        if (endpoint.ReportFailure(target.OutlierThreshold, target.EjectionTime))
        {
            Log.EndpointEjected(logger, target.RouteId, endpoint.Address.ToString(), target.OutlierThreshold, target.EjectionTime);
            metrics.EndpointEjected(target.RouteId, endpoint.Address.ToString());
        }
    }

    private async Task ReportErrorAsync(HttpContext context, UpstreamTarget target, EndpointState endpoint, ForwarderError error, Exception? exception, Direction direction)
    {
        metrics.ForwardError(direction, error.ToString());
        bool clientCaused = error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
            or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient or ForwarderError.UpgradeRequestCanceled
            or ForwarderError.UpgradeRequestClient or ForwarderError.UpgradeResponseCanceled or ForwarderError.UpgradeResponseClient;
        if (clientCaused)
        {
            Log.ClientForwardError(logger, target.RouteId, endpoint.Address.ToString(), error, exception);
            return;
        }

        Log.ForwardError(logger, target.RouteId, endpoint.Address.ToString(), error, exception);
        if (context.Response.HasStarted)
        {
            return;
        }

        string reason = error switch
        {
            ForwarderError.RequestTimedOut => "timed out (no activity within the route's timeout)",
            ForwarderError.Request when IsConnectFailure(exception) => "is unreachable (connection failed)",
            _ => "failed (" + error + ")",
        };
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync($"belizemesh: upstream {endpoint.Address} of route {target.RouteId} {reason}\n", context.RequestAborted).ConfigureAwait(false);
    }

    private static bool IsConnectFailure(Exception? exception)
        => exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError };

    /// <summary>RFC 9110 9.2.2: methods whose repetition has the same effect as one request.</summary>
    private static bool IsIdempotent(string method)
        => HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method)
        || HttpMethods.IsPut(method) || HttpMethods.IsDelete(method);

    private static partial class Log
    {
        [LoggerMessage(100, LogLevel.Information, "Retrying route {Route}: connecting to {Endpoint} failed (retry {Attempt} of {Attempts}).", EventName = "Retrying")]
        public static partial void Retrying(ILogger logger, string route, string endpoint, int attempt, int attempts);

        [LoggerMessage(101, LogLevel.Warning, "Ejected endpoint {Endpoint} of route {Route} after {Failures} consecutive failures, for {EjectionTime}.", EventName = "EndpointEjected")]
        public static partial void EndpointEjected(ILogger logger, string route, string endpoint, int failures, TimeSpan ejectionTime);

        [LoggerMessage(102, LogLevel.Warning, "Forwarding on route {Route} to {Endpoint} failed: {Error}.", EventName = "ForwardError")]
        public static partial void ForwardError(ILogger logger, string route, string endpoint, ForwarderError error, Exception? exception);

        [LoggerMessage(103, LogLevel.Debug, "Forwarding on route {Route} to {Endpoint} ended by the client: {Error}.", EventName = "ClientForwardError")]
        public static partial void ClientForwardError(ILogger logger, string route, string endpoint, ForwarderError error, Exception? exception);
    }
}
