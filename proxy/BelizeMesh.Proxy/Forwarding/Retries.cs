using System.Net.Http;
using System.Net.Http.Headers;
using BelizeMesh.Configuration;
using BelizeMesh.Proxy.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// A compiled retry policy. Conditions follow Envoy's <c>retry_on</c> definitions:
/// <list type="bullet">
/// <item><c>connect-failure</c>: the TCP connect or the PQ handshake failed (nothing reached the endpoint);</item>
/// <item><c>reset</c>: no response at all — a reset, a disconnect, a per-try timeout (connect failures too);</item>
/// <item><c>5xx</c>: any 5xx response, and everything <c>reset</c> covers (Envoy counts a reset as a 5xx);</item>
/// <item><c>gateway-error</c>: a 502, 503 or 504 response, and everything <c>reset</c> covers (a per-try timeout is a 504);</item>
/// <item><c>retriable-4xx</c>: a 409 response;</item>
/// <item><c>refused-stream</c>: the HTTP/2 stream was refused (REFUSED_STREAM);</item>
/// <item><c>retriable-status-codes</c>: a response status in <see cref="StatusCodes"/>;</item>
/// <item>gRPC <c>cancelled</c>, <c>deadline-exceeded</c>, <c>internal</c>, <c>resource-exhausted</c>, <c>unavailable</c>:
/// that <c>grpc-status</c> in the response headers.</item>
/// </list>
/// </summary>
internal sealed class RetryPlan(int attempts, TimeSpan perTryTimeout, RetryConditions conditions, int[] statusCodes, bool idempotentOnly)
{
    public int Attempts { get; } = attempts;

    /// <summary>Time from sending an attempt until its response headers; <see cref="TimeSpan.Zero"/> = none.</summary>
    public TimeSpan PerTryTimeout { get; } = perTryTimeout;

    public RetryConditions Conditions { get; } = conditions;

    public int[] StatusCodes { get; } = statusCodes;

    /// <summary>The original rule of policies without <c>retryOn</c>: connect failures of idempotent methods only.</summary>
    public bool IdempotentOnly { get; } = idempotentOnly;

    /// <summary>The base interval of the back-off before each retry (<see cref="RetryBackoff"/>): <c>retries.backoff</c>,
    /// else 25 ms.</summary>
    public TimeSpan BackoffBase { get; init; } = RetryBackoff.DefaultBase;

    /// <summary>A plan from a policy; <c>retryOn</c> absent keeps the original behaviour (connect failures, idempotent methods).</summary>
    public static RetryPlan? From(RetryPolicySpec? spec)
    {
        if (spec is null || spec.Attempts == 0)
        {
            return null;
        }

        TimeSpan backoff = spec.Backoff ?? RetryBackoff.DefaultBase;
        return spec.Conditions is { } conditions
            ? new RetryPlan(spec.Attempts, spec.PerTryTimeout ?? TimeSpan.Zero, conditions, [.. spec.StatusCodes], idempotentOnly: false) { BackoffBase = backoff }
            : new RetryPlan(spec.Attempts, spec.PerTryTimeout ?? TimeSpan.Zero, RetryConditions.ConnectFailure, [], idempotentOnly: true) { BackoffBase = backoff };
    }

    /// <summary>Whether a response with this status (and headers) is retried.</summary>
    public bool RetriesResponse(int status, HttpResponseMessage response)
    {
        RetryConditions c = Conditions;
        if ((c & RetryConditions.FiveXx) != 0 && status is >= 500 and <= 599)
        {
            return true;
        }

        if ((c & RetryConditions.GatewayError) != 0 && status is 502 or 503 or 504)
        {
            return true;
        }

        if ((c & RetryConditions.Retriable4xx) != 0 && status == 409)
        {
            return true;
        }

        if ((c & RetryConditions.RetriableStatusCodes) != 0 && Array.IndexOf(StatusCodes, status) >= 0)
        {
            return true;
        }

        const RetryConditions grpc = RetryConditions.GrpcCancelled | RetryConditions.GrpcDeadlineExceeded | RetryConditions.GrpcInternal
            | RetryConditions.GrpcResourceExhausted | RetryConditions.GrpcUnavailable;
        if ((c & grpc) != 0 && response.Headers.NonValidated.TryGetValues("grpc-status", out HeaderStringValues values))
        {
            foreach (string value in values)
            {
                RetryConditions needed = value switch
                {
                    "1" => RetryConditions.GrpcCancelled,
                    "4" => RetryConditions.GrpcDeadlineExceeded,
                    "8" => RetryConditions.GrpcResourceExhausted,
                    "13" => RetryConditions.GrpcInternal,
                    "14" => RetryConditions.GrpcUnavailable,
                    _ => RetryConditions.None,
                };
                return (c & needed) != 0;
            }
        }

        return false;
    }

    /// <summary>Whether an attempt that got no response is retried.</summary>
    public bool RetriesFailure(AttemptFailure failure)
    {
        const RetryConditions anyReset = RetryConditions.Reset | RetryConditions.FiveXx | RetryConditions.GatewayError;
        return failure switch
        {
            AttemptFailure.ConnectFailure => (Conditions & (anyReset | RetryConditions.ConnectFailure)) != 0,
            AttemptFailure.RefusedStream => (Conditions & (anyReset | RetryConditions.RefusedStream)) != 0,
            AttemptFailure.Reset or AttemptFailure.Timeout => (Conditions & anyReset) != 0,
            _ => false,
        };
    }
}

/// <summary>How an attempt failed without a response.</summary>
internal enum AttemptFailure
{
    None,
    ConnectFailure,
    RefusedStream,
    Reset,

    /// <summary>The per-try timeout expired before the response headers (retried like a reset).</summary>
    Timeout,

    /// <summary>The route's idle timeout expired (never retried, as Envoy's route timeout).</summary>
    RouteTimeout,
}

/// <summary>
/// A route's retry budget (Envoy's <c>retry_budget</c>): retries in flight may be at most <c>percent</c> of the route's
/// requests in flight, and at least <c>minConcurrency</c>. A retry the budget refuses is not made: the caller gets the
/// failed attempt's answer, and <c>belizemesh_proxy_retry_budget_exhausted_total</c> counts it. So a failing upstream
/// sees at most (1 + percent/100) times the load the callers send, not (1 + attempts) times.
/// </summary>
internal sealed class RetryBudget(double percent, int minConcurrency)
{
    private int _active;
    private int _retries;

    public int ActiveRequests => Volatile.Read(ref _active);

    public int ActiveRetries => Volatile.Read(ref _retries);

    public void RequestStarted() => Interlocked.Increment(ref _active);

    public void RequestCompleted() => Interlocked.Decrement(ref _active);

    /// <summary>Claims a retry slot; false when the budget is spent.</summary>
    public bool TryStartRetry()
    {
        int limit = Math.Max(minConcurrency, (int)(Volatile.Read(ref _active) * percent / 100));
        while (true)
        {
            int current = Volatile.Read(ref _retries);
            if (current >= limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _retries, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    public void RetryCompleted() => Interlocked.Decrement(ref _retries);
}

/// <summary>
/// Per-request retry state the transformer consults when response headers arrive: a retriable response is not copied
/// to the client (the engine retries instead) when another attempt is allowed and the budget grants one.
/// </summary>
internal sealed class RetryAttemptFeature(RetryPlan plan, RetryBudget? budget)
{
    public RetryPlan Plan { get; } = plan;

    /// <summary>The attempt being made, 1-based (sent upstream as <c>x-envoy-attempt-count</c>).</summary>
    public int Attempt { get; set; }

    /// <summary>Whether this attempt may still be retried (attempts left, the body can be replayed).</summary>
    public bool MayRetry { get; set; }

    /// <summary>The per-try timer of this attempt, stopped when its response headers arrive.</summary>
    public CancellationTokenSource? PerTry { get; set; }

    /// <summary>True once this attempt's response headers arrived.</summary>
    public bool ResponseArrived { get; set; }

    /// <summary>The status of a response held back for a retry (a budget slot is then held); 0 when none.</summary>
    public int RetriedStatus { get; set; }

    /// <summary>True when a retriable response had to be passed through because the budget was spent.</summary>
    public bool BudgetExhausted { get; set; }

    /// <summary>Called by the transformer with an attempt's response: true = hold it back and retry.</summary>
    public bool TryRetryResponse(int status, HttpResponseMessage response)
    {
        ResponseArrived = true;
        PerTry?.CancelAfter(Timeout.InfiniteTimeSpan);
        if (!MayRetry || !Plan.RetriesResponse(status, response))
        {
            return false;
        }

        if (budget is not null && !budget.TryStartRetry())
        {
            BudgetExhausted = true;
            return false;
        }

        RetriedStatus = status;
        return true;
    }
}

/// <summary>
/// Whether a request body can be sent again. Retries are only made for requests that have no body, or whose
/// <c>Content-Length</c> is at most <see cref="MaxBufferedBody"/>: such a body is buffered (memory) before the first
/// attempt and replayed from the start on each retry. A larger body, or one of unknown length (chunked, HTTP/2 without
/// content-length, an upgrade), streams through once and is never retried, whatever the policy says.
/// </summary>
internal static class RequestReplay
{
    public const int MaxBufferedBody = 64 * 1024;

    public static async ValueTask<bool> PrepareAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false } || request.ContentLength == 0)
        {
            return true;
        }

        if (request.ContentLength is not { } length || length > MaxBufferedBody)
        {
            return false;
        }

        // Read it whole now, so a retry never depends on how far a failed attempt got.
        request.EnableBuffering(bufferThreshold: MaxBufferedBody, bufferLimit: MaxBufferedBody);
        await request.Body.DrainAsync(context.RequestAborted).ConfigureAwait(false);
        request.Body.Position = 0;
        return true;
    }
}
