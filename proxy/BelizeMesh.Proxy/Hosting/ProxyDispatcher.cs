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
internal sealed class ProxyDispatcher(
    PolicyStore store,
    InboundHandler inbound,
    OutboundHandler outbound,
    AdminHandler admin,
    ProxyMetrics metrics,
    IstioRequestMetrics istio,
    IPeerIdentityAccessor identities,
    ProxyHostOptions options,
    AccessLog accessLog)
{
    public async Task InvokeAsync(HttpContext context)
    {
        ListenerRole role = context.Features.Get<ListenerRoleFeature>()?.Role ?? ListenerRole.Admin;
        if (role is ListenerRole.Admin or ListenerRole.Status)
        {
            await admin.HandleAsync(context, statusOnly: role == ListenerRole.Status).ConfigureAwait(false);
            return;
        }

        ProxySnapshot snapshot = store.Current;
        Direction direction = role == ListenerRole.Inbound ? Direction.Inbound : Direction.Outbound;
        long start = Stopwatch.GetTimestamp();
        string route = direction == Direction.Inbound ? InboundHandler.RouteLabel : "unknown";
        var state = new RequestState(direction, istio.LocalFeature, direction == Direction.Inbound ? Caller(context) : null);
        context.Features.Set(state);
        metrics.RequestStarted(direction);
        istio.BeginRequest(context, state);
        try
        {
            if (RequestMethods.NonCanonicalSpelling(context.Request.Method) is { } canonical)
            {
                metrics.ListenerRejected(direction == Direction.Inbound ? "inbound" : "outbound", "method_case");
                await ProxyResponses.WriteAsync(context, StatusCodes.Status400BadRequest,
                    $"method '{context.Request.Method}' must be spelled '{canonical}' (HTTP methods are case-sensitive)").ConfigureAwait(false);
                return;
            }

            HandlerOutcome outcome = direction == Direction.Inbound
                ? await inbound.HandleAsync(context, snapshot, state).ConfigureAwait(false)
                : await outbound.HandleAsync(context, snapshot, state).ConfigureAwait(false);
            route = outcome.Route;
            if (outcome.Forwarding is { } forwarding)
            {
                await forwarding.ConfigureAwait(false);
            }
        }
        finally
        {
            int status = context.Response.StatusCode;
            metrics.RequestCompleted(direction, route, status, start);
            istio.RecordRequest(context, state, status, start);
            if (options.AccessLog ?? snapshot.AccessLog)
            {
                accessLog.Write(direction == Direction.Inbound ? "inbound" : "outbound", context.Request.Method, context.Request.Host.Value ?? "",
                    context.Request.Path.Value ?? "", context.Request.Protocol, status, route, Stopwatch.GetElapsedTime(start).TotalMilliseconds,
                    state.Peer?.SpiffeId ?? "", TraceContext.TraceIdSpan(context));
            }
        }
    }

    /// <summary>The inbound caller's verified identity; null for a plaintext caller. (Not inline in
    /// <see cref="InvokeAsync"/>, whose state machine would keep the out variable.)</summary>
    private PeerIdentity? Caller(HttpContext context) => identities.TryGetPeer(context, out PeerIdentity peer) ? peer : null;
}
