using System.Net;
using System.Net.Http;
using BelizeMesh.Configuration;
using BelizeMesh.Proxy.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
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

    /// <summary>The retry policy; null keeps the original rule (<see cref="RetryAttempts"/> connect-failure retries of
    /// idempotent methods).</summary>
    public RetryPlan? Retry { get; init; }

    /// <summary>The route's retry budget (shared by all its rules and destinations); null = unlimited (inbound).</summary>
    public RetryBudget? Budget { get; init; }

    /// <summary>The destination's Istio labels (outbound targets; null for the local app).</summary>
    public Metrics.DestinationTelemetry? Telemetry { get; init; }

    /// <summary>The settings for an HTTP/1.x request when they differ from <see cref="Config"/>: a STRICT route that keeps
    /// the client's protocol (<c>h2UpgradePolicy</c> not <c>UPGRADE</c>) sends HTTP/2 requests as HTTP/2 with
    /// <see cref="Config"/> and HTTP/1.x requests as HTTP/1.1 with this, one request at a time on each pooled channel.
    /// Null: every request uses <see cref="Config"/>.</summary>
    public ForwarderRequestConfig? Http1Config { get; init; }

    /// <summary>With <see cref="Http1Config"/>: HTTP/1.x requests go as HTTP/1.1 until more than this many requests are
    /// in flight to the endpoint (this one included), then as HTTP/2 multiplexed on the endpoint's HTTP/2 channel until
    /// the count falls back to <see cref="AdaptiveHttp1ResumeInFlight"/> (per endpoint: <see cref="EndpointState.StaysHttp1"/>)
    /// — unless they ask for a protocol upgrade (WebSocket), which always stays HTTP/1.1.
    /// <see cref="int.MaxValue"/>: always HTTP/1.1 (<c>DO_NOT_UPGRADE</c>). See <see cref="AdaptiveHttp1InFlight"/>.</summary>
    public int Http1InFlightLimit { get; init; } = int.MaxValue;

    /// <summary>
    /// The in-flight bar of the sidecar's own choice (<c>h2UpgradePolicy</c> left unset). HTTP/1.1 inside the channel
    /// is the cheap path at ordinary rates: one request per channel, no HTTP/2 stream hand-offs between threads (at
    /// 1,000 req/s the pair spent 0.45x the CPU and a third of the context switches of HTTP/2 inside). Under many
    /// concurrent requests to one endpoint HTTP/2 is cheaper: its frames from many streams share records and
    /// <c>sendto</c> calls (2.2 per request through the pair against 4 at 64 connections), and one channel replaces
    /// dozens of handshakes. A mix of the two to one endpoint costs more than either (~10% at 16 connections with a
    /// single bar of 4 or 8), hence two bars: HTTP/2 beyond this one, HTTP/1.1 again at or below
    /// <see cref="AdaptiveHttp1ResumeInFlight"/>. Re-measured with the lean HTTP/1.1 client (seventh session): HTTP/1.1
    /// for every request cost 1.17x / 1.14x / 0.97x the CPU of these bars at 64 connections and less throughput in all three
    /// compare runs (0.81x / 0.74x / 0.65x nginx against 0.87x / 0.82x / 0.77x); HTTP/2 for every request 2.5x at 1,000 req/s. The bar
    /// also bounds the HTTP/1.1 pool: at most this many HTTP/1.1 requests, hence channels, to one endpoint at once.
    /// perf/README.md ("data path", third, fourth and seventh sessions) has the figures.
    /// </summary>
    public const int AdaptiveHttp1InFlight = 16;

    /// <summary>Once an endpoint went HTTP/2 (beyond <see cref="AdaptiveHttp1InFlight"/>), HTTP/1.x requests return to
    /// HTTP/1.1 when at most this many requests are in flight to it.</summary>
    public const int AdaptiveHttp1ResumeInFlight = 4;

    /// <summary>The settings for a request that arrived as <paramref name="protocol"/> (<c>HttpRequest.Protocol</c>), with
    /// <paramref name="inFlight"/> requests (this one included) in flight to <paramref name="endpoint"/>.</summary>
    public ForwarderRequestConfig ConfigFor(HttpContext context, string protocol, EndpointState endpoint, int inFlight)
    {
        if (Http1Config is not { } http1 || HttpProtocol.IsHttp2(protocol) || HttpProtocol.IsHttp3(protocol))
        {
            return Config;
        }

        return endpoint.StaysHttp1(inFlight, Http1InFlightLimit, AdaptiveHttp1ResumeInFlight) || context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } ? http1 : Config;
    }

    /// <summary>YARP settings for a route: <paramref name="timeout"/> is an idle timeout, 0 = none (streams, WebSockets).
    /// <paramref name="http2"/>: HTTP/2 exactly (inside the PQ channel, one channel multiplexes many requests); else
    /// HTTP/1.1 (or lower: plaintext, and HTTP/1.x requests inside the PQ channel when the route keeps the client's
    /// protocol, see <see cref="Http1Config"/>).</summary>
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
/// eject/retry, (5) otherwise report the error; and as it ends, whatever the outcome, record the request
/// (<see cref="RequestState.Recorder"/>: the dispatcher hands this task to Kestrel instead of awaiting it). Before each
/// retry it waits a back-off (<see cref="RetryBackoff"/>) drawn from <c>random</c> (null = <see cref="Random.Shared"/>) on
/// the clock <c>time</c> (null = <see cref="TimeProvider.System"/>), which also runs the per-try timer.</para>
/// </remarks>
internal sealed partial class ForwardingEngine(IHttpForwarder forwarder, ProxyMetrics metrics, ILogger<ForwardingEngine> logger, TrafficRandom? random = null, TimeProvider? time = null)
{
    private readonly TrafficRandom _random = random ?? new TrafficRandom();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Forwards the request; labelled <paramref name="route"/> in its metrics, which are recorded as it ends
    /// (<see cref="RequestState.Recorder"/>), whatever the outcome.</summary>
    public async Task ForwardAsync(HttpContext context, UpstreamTarget target, RequestState state, string route)
    {
        state.Route = route;
        try
        {
            Direction direction = state.Direction;
            EndpointSet endpoints = target.Endpoints;
            if (!endpoints.Ready.IsCompleted)
            {
                // a DNS endpoint's first resolution is under way (just after start or a reload): pick among its pods
                await endpoints.Ready.WaitAsync(context.RequestAborted).ConfigureAwait(false);
            }

            RetryPlan? plan = target.Retry;
            int attempts = plan?.Attempts ?? target.RetryAttempts;
            bool canRetry = attempts > 0 && ((plan is null || plan.IdempotentOnly)
                ? IsIdempotent(context.Request.Method)
                : await RequestReplay.PrepareAsync(context).ConfigureAwait(false));
            RetryAttemptFeature? retryState = null;
            if (plan is not null && canRetry && !plan.IdempotentOnly)
            {
                retryState = new RetryAttemptFeature(plan, target.Budget);
                state.Retry = retryState;
            }

            RetryBudget? budget = target.Budget;
            budget?.RequestStarted();
            bool holdingRetry = false;
            try
            {
                // the endpoints earlier attempts failed on (allocated on a first retry only): retries avoid them all
                EndpointState[]? failed = null;
                int failedCount = 0;
                for (int attempt = 0; ; attempt++)
                {
                    // (0) a retry waits first, as Envoy's: a fully jittered exponential back-off. Its budget slot is
                    // held meanwhile (an active retry), the per-try timer starts after it, and a client that goes away
                    // meanwhile ends the request without another attempt.
                    if (attempt > 0)
                    {
                        TimeSpan wait = RetryBackoff.Interval(plan?.BackoffBase ?? RetryBackoff.DefaultBase, attempt, _random.NextDouble());
                        if (wait > TimeSpan.Zero)
                        {
                            await Task.Delay(wait, _time, context.RequestAborted).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                        }

                        if (context.RequestAborted.IsCancellationRequested)
                        {
                            Log.RetryAbandoned(logger, target.RouteId, attempt, attempts);
                            state.Flag = ResponseFlag.DownstreamTermination;
                            return;
                        }

                        ResetResponse(context);
                    }

                    // (1) pick
                    EndpointState endpoint = target.Balancer.Pick(context, endpoints.Current, failed.AsSpan(0, failedCount));
                    bool mayRetry = canRetry && attempt < attempts;
                    CancellationTokenSource? perTry = null;
                    if (retryState is not null)
                    {
                        retryState.Attempt = attempt + 1;
                        retryState.MayRetry = mayRetry;
                        retryState.ResponseArrived = false;
                        retryState.RetriedStatus = 0;
                        retryState.BudgetExhausted = false;
                        if (plan!.PerTryTimeout > TimeSpan.Zero)
                        {
                            perTry = new CancellationTokenSource(plan.PerTryTimeout, _time);
                            retryState.PerTry = perTry;
                        }

                        if (attempt > 0 && context.Request.Body.CanSeek)
                        {
                            context.Request.Body.Position = 0;
                        }
                    }

                    // (2) send
                    ForwarderError error;
                    bool perTryExpired;
                    int inFlight = endpoint.RequestStarted();
                    state.ForwardError = null;
                    try
                    {
                        error = await forwarder.SendAsync(context, endpoint.DestinationPrefix, target.Client, target.ConfigFor(context, context.Request.Protocol, endpoint, inFlight), ForwardingTransformer.Instance, perTry?.Token ?? CancellationToken.None).ConfigureAwait(false);
                    }
                    finally
                    {
                        endpoint.RequestCompleted();
                        perTryExpired = perTry is not null && perTry.IsCancellationRequested && retryState is { ResponseArrived: false } && !context.RequestAborted.IsCancellationRequested;
                        perTry?.Dispose();
                        if (retryState is not null)
                        {
                            retryState.PerTry = null;
                        }

                        if (holdingRetry)
                        {
                            budget!.RetryCompleted();
                            holdingRetry = false;
                        }
                    }

                    // (3) a response: the transformer held back a retriable one (and claimed a budget slot) or passed it on
                    if (error == ForwarderError.None)
                    {
                        int status = retryState is { RetriedStatus: > 0 } ? retryState.RetriedStatus : context.Response.StatusCode;
                        if (status is StatusCodes.Status502BadGateway or StatusCodes.Status503ServiceUnavailable or StatusCodes.Status504GatewayTimeout)
                        {
                            ReportFailure(target, endpoint);
                        }
                        else
                        {
                            endpoint.ReportSuccess();
                        }

                        if (retryState is { BudgetExhausted: true })
                        {
                            metrics.RetryBudgetExhausted(target.RouteId);
                        }

                        if (retryState is { RetriedStatus: > 0 })
                        {
                            Log.RetryingResponse(logger, target.RouteId, endpoint.Address.ToString(), status, attempt + 1, attempts);
                            metrics.Retried(target.RouteId);
                            holdingRetry = budget is not null;
                            failed ??= new EndpointState[attempts];
                            failed[failedCount++] = endpoint;
                            continue;
                        }

                        return;
                    }

                    IForwarderErrorFeature? errorFeature = context.Features.Get<IForwarderErrorFeature>();
                    state.ForwardError = errorFeature;
                    AttemptFailure failure = perTryExpired ? AttemptFailure.Timeout : Classify(error, errorFeature?.Exception);

                    // (4) no response: count it against the endpoint's health, then retry elsewhere when the policy says so
                    if (failure is AttemptFailure.ConnectFailure or AttemptFailure.Timeout or AttemptFailure.RouteTimeout)
                    {
                        ReportFailure(target, endpoint);
                    }

                    if (failure == AttemptFailure.ConnectFailure)
                    {
                        endpoints.RefreshSoon(); // the pod may be gone: look again (at most once a second)
                    }

                    bool retriable = plan is null || plan.IdempotentOnly ? failure == AttemptFailure.ConnectFailure : plan.RetriesFailure(failure);
                    if (retriable && mayRetry && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
                    {
                        if (budget is null || budget.TryStartRetry())
                        {
                            Log.Retrying(logger, target.RouteId, endpoint.Address.ToString(), failure, attempt + 1, attempts);
                            metrics.Retried(target.RouteId);
                            holdingRetry = budget is not null;
                            failed ??= new EndpointState[attempts];
                            failed[failedCount++] = endpoint;
                            continue;
                        }

                        metrics.RetryBudgetExhausted(target.RouteId);
                    }

                    // (5) report
                    if (perTryExpired && !context.Response.HasStarted)
                    {
                        metrics.ForwardError(direction, "PerTryTimeout");
                        Log.ForwardError(logger, target.RouteId, endpoint.Address.ToString(), error, errorFeature?.Exception);
                        ResetResponse(context);
                        state.ForwardError = null;
                        context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
                        context.Response.ContentType = "text/plain; charset=utf-8";
                        await context.Response.WriteAsync($"belizemesh: upstream {endpoint.Address} of route {target.RouteId} timed out (no response within the per-try timeout {plan!.PerTryTimeout.TotalMilliseconds}ms)\n", context.RequestAborted).ConfigureAwait(false);
                        return;
                    }

                    await ReportErrorAsync(context, target, endpoint, error, errorFeature?.Exception, direction).ConfigureAwait(false);
                    return;
                }
            }
            finally
            {
                if (holdingRetry)
                {
                    budget!.RetryCompleted();
                }

                budget?.RequestCompleted();
            }
        }
        finally
        {
            // the request ends here: the dispatcher returned this task to Kestrel instead of awaiting it
            state.Recorder?.Record(context, state);
        }
    }

    /// <summary>Forgets a failed attempt's answer (nothing was sent to the client yet) before the next attempt.</summary>
    private static void ResetResponse(HttpContext context)
    {
        context.Features.Set<IForwarderErrorFeature>(null);
        context.Response.Clear();
        context.Response.StatusCode = StatusCodes.Status200OK;
    }

    private static AttemptFailure Classify(ForwarderError error, Exception? exception)
    {
        // The route's idle timeout is the route timeout in Istio's sense: counted against the endpoint, never retried
        // (Envoy retries per-try timeouts only).
        if (error == ForwarderError.RequestTimedOut)
        {
            return AttemptFailure.RouteTimeout;
        }

        if (error is ForwarderError.Request or ForwarderError.RequestBodyDestination)
        {
            if (IsConnectFailure(exception))
            {
                return AttemptFailure.ConnectFailure;
            }

            for (Exception? e = exception; e is not null; e = e.InnerException)
            {
                if (e is HttpProtocolException { ErrorCode: 0x7 })
                {
                    return AttemptFailure.RefusedStream;
                }
            }

            return AttemptFailure.Reset;
        }

        return AttemptFailure.None;
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
        [LoggerMessage(100, LogLevel.Information, "Retrying route {Route}: the attempt on {Endpoint} failed ({Failure}) (retry {Attempt} of {Attempts}).", EventName = "Retrying")]
        public static partial void Retrying(ILogger logger, string route, string endpoint, AttemptFailure failure, int attempt, int attempts);

        [LoggerMessage(104, LogLevel.Information, "Retrying route {Route}: {Endpoint} answered {Status} (retry {Attempt} of {Attempts}).", EventName = "RetryingResponse")]
        public static partial void RetryingResponse(ILogger logger, string route, string endpoint, int status, int attempt, int attempts);

        [LoggerMessage(105, LogLevel.Debug, "Retry {Attempt} of {Attempts} on route {Route} not made: the client went away during the back-off.", EventName = "RetryAbandoned")]
        public static partial void RetryAbandoned(ILogger logger, string route, int attempt, int attempts);

        [LoggerMessage(101, LogLevel.Warning, "Ejected endpoint {Endpoint} of route {Route} after {Failures} consecutive failures, for {EjectionTime}.", EventName = "EndpointEjected")]
        public static partial void EndpointEjected(ILogger logger, string route, string endpoint, int failures, TimeSpan ejectionTime);

        [LoggerMessage(102, LogLevel.Warning, "Forwarding on route {Route} to {Endpoint} failed: {Error}.", EventName = "ForwardError")]
        public static partial void ForwardError(ILogger logger, string route, string endpoint, ForwarderError error, Exception? exception);

        [LoggerMessage(103, LogLevel.Debug, "Forwarding on route {Route} to {Endpoint} ended by the client: {Error}.", EventName = "ClientForwardError")]
        public static partial void ClientForwardError(ILogger logger, string route, string endpoint, ForwarderError error, Exception? exception);
    }
}
