using System.Diagnostics;
using BelizeMesh.Proxy.Admin;
using BelizeMesh.Proxy.Forwarding;
using BelizeMesh.Proxy.Inbound;
using BelizeMesh.Proxy.Metrics;
using BelizeMesh.Proxy.Outbound;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>Which listener accepted a connection; set as a connection feature by the listener's connection middleware.</summary>
internal sealed class ListenerRoleFeature(ListenerRole role)
{
    public static readonly ListenerRoleFeature Admin = new(ListenerRole.Admin);
    public static readonly ListenerRoleFeature Inbound = new(ListenerRole.Inbound);
    public static readonly ListenerRoleFeature Outbound = new(ListenerRole.Outbound);
    public static readonly ListenerRoleFeature Status = new(ListenerRole.Status);

    public ListenerRole Role { get; } = role;
}

/// <summary>The three listeners, and the optional status listener (<c>--status-listen</c>).</summary>
internal enum ListenerRole
{
    Admin,
    Inbound,
    Outbound,
    Status,
}

/// <summary>
/// The single request delegate: dispatches by listener, reads the policy snapshot once per request, and records
/// metrics and the access log around the inbound and outbound handlers.
/// </summary>
/// <remarks>
/// Not an async method on the request path: when a handler decides synchronously and forwards (the common case), the
/// dispatcher returns the engine's task to Kestrel as it is, and <see cref="ForwardingEngine.ForwardAsync"/> records
/// the request as it ends (<see cref="RequestState.Recorder"/>): one async state machine and one continuation less per
/// request than awaiting the forwarding here (perf/README.md, "data path, sixth session"). A request the handler
/// answered itself is recorded here; a handler that had to wait, and a request refused here, take the async path.
/// </remarks>
internal sealed class ProxyDispatcher(
    PolicyStore store,
    InboundHandler inbound,
    OutboundHandler outbound,
    AdminHandler admin,
    ProxyMetrics metrics,
    IstioRequestMetrics istio,
    IPeerIdentityAccessor identities,
    ProxyHostOptions options,
    AccessLog accessLog) : IRequestRecorder
{
    public Task InvokeAsync(HttpContext context)
    {
        ListenerRole role = context.Features.Get<ListenerRoleFeature>()?.Role ?? ListenerRole.Admin;
        if (role is ListenerRole.Admin or ListenerRole.Status)
        {
            return admin.HandleAsync(context, statusOnly: role == ListenerRole.Status);
        }

        ProxySnapshot snapshot = store.Current;
        Direction direction = role == ListenerRole.Inbound ? Direction.Inbound : Direction.Outbound;
        var state = new RequestState(direction, istio.LocalFeature, direction == Direction.Inbound ? Caller(context) : null)
        {
            Start = Stopwatch.GetTimestamp(),
            Route = direction == Direction.Inbound ? InboundHandler.RouteLabel : "unknown",
            Recorder = this,
            AccessLog = options.AccessLog ?? snapshot.AccessLog,
        };
        context.Features.Set(state);
        metrics.RequestStarted(direction);
        istio.BeginRequest(context, state);
        ValueTask<HandlerOutcome> handling;
        try
        {
            if (RequestMethods.NonCanonicalSpelling(context.Request.Method) is { } canonical)
            {
                return RefuseMethodAsync(context, state, canonical);
            }

            handling = direction == Direction.Inbound
                ? inbound.HandleAsync(context, snapshot, state)
                : outbound.HandleAsync(context, snapshot, state);
        }
        catch
        {
            Record(context, state);
            throw;
        }

        if (!handling.IsCompletedSuccessfully)
        {
            return AwaitHandlerAsync(context, state, handling);
        }

        HandlerOutcome outcome = handling.Result;
        if (outcome.Forwarding is { } forwarding)
        {
            return forwarding; // the engine records the request as it ends
        }

        state.Route = outcome.Route;
        Record(context, state);
        return Task.CompletedTask;
    }

    /// <summary>Records a request that ended: its metrics, its Istio metrics and its access-log line (once).</summary>
    public void Record(HttpContext context, RequestState state)
    {
        if (state.Recorded)
        {
            return;
        }

        state.Recorded = true;
        int status = context.Response.StatusCode;
        Direction direction = state.Direction;
        metrics.RequestCompleted(direction, state.Route, status, state.Start);
        istio.RecordRequest(context, state, status, state.Start);
        if (state.AccessLog)
        {
            accessLog.Write(direction == Direction.Inbound ? "inbound" : "outbound", context.Request.Method, context.Request.Host.Value ?? "",
                context.Request.Path.Value ?? "", context.Request.Protocol, status, state.Route, Stopwatch.GetElapsedTime(state.Start).TotalMilliseconds,
                state.Peer?.SpiffeId ?? "", TraceContext.TraceIdSpan(context));
        }
    }

    /// <summary>A handler that did not decide synchronously (a fault delay, a refusal being written): wait for it, then
    /// for the forwarding it started, if any (the engine records that one).</summary>
    private async Task AwaitHandlerAsync(HttpContext context, RequestState state, ValueTask<HandlerOutcome> handling)
    {
        HandlerOutcome outcome;
        try
        {
            outcome = await handling.ConfigureAwait(false);
        }
        catch
        {
            Record(context, state);
            throw;
        }

        if (outcome.Forwarding is { } forwarding)
        {
            await forwarding.ConfigureAwait(false);
            return;
        }

        state.Route = outcome.Route;
        Record(context, state);
    }

    private async Task RefuseMethodAsync(HttpContext context, RequestState state, string canonical)
    {
        try
        {
            metrics.ListenerRejected(state.Direction == Direction.Inbound ? "inbound" : "outbound", "method_case");
            await ProxyResponses.WriteAsync(context, StatusCodes.Status400BadRequest,
                $"method '{context.Request.Method}' must be spelled '{canonical}' (HTTP methods are case-sensitive)").ConfigureAwait(false);
        }
        finally
        {
            Record(context, state);
        }
    }

    /// <summary>The inbound caller's verified identity; null for a plaintext caller.</summary>
    private PeerIdentity? Caller(HttpContext context) => identities.TryGetPeer(context, out PeerIdentity peer) ? peer : null;
}
