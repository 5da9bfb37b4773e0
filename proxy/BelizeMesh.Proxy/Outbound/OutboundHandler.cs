using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Forwarding;
using BelizeMesh.Proxy.Hosting;
using BelizeMesh.Proxy.Metrics;
using BelizeMesh.Proxy.Policy.Authorization;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Outbound;

/// <summary>
/// The outbound side: the local app calls another service through the sidecar (HTTP/1.1 or h2c on
/// <c>spec.outbound.listen</c>). Steps: (1) find the route by <c>Host</c> and path prefix — an unknown host is a 404,
/// never a pass-through; (2) when the route has <c>http</c> rules, take the first that matches (none: 404), inject its
/// faults and draw its weighted destination; (3) forward to one of the destination's endpoints, retrying as its policy
/// says (through the PQ channel when it is plugged in). A client
/// cannot assert an identity: <see cref="ProxyHeaders.PeerIdentity"/> is stripped by the transformer.
/// </summary>
internal sealed class OutboundHandler(ForwardingEngine forwarding, TrafficRandom random, TimeProvider time, ProxyMetrics metrics)
{
    public async ValueTask<HandlerOutcome> HandleAsync(HttpContext context, ProxySnapshot snapshot, RequestState state)
    {
        if (HttpMethods.IsConnect(context.Request.Method) && !Inbound.WebSocketRequest.IsHttp2WebSocket(context))
        {
            // (An h2c app's WebSocket, an extended CONNECT, is a request like any other and goes on.)
            // A tunnel would carry bytes the sidecar cannot route, authorize or put on the PQ channel per request; an
            // HTTPS_PROXY client asks for one. Say so instead of failing upstream (it was a 502).
            await ProxyResponses.WriteAsync(context, StatusCodes.Status501NotImplemented,
                "CONNECT tunnels are not supported by the outbound listener; send plain HTTP to mesh services (as HTTP_PROXY clients do, absolute-form works) and leave HTTPS destinations out of the proxy (NO_PROXY)").ConfigureAwait(false);
            return "connect";
        }

        // Origin-form (Host header) and absolute-form (http://host/path, as HTTP_PROXY clients send) route alike:
        // Kestrel puts the URI's authority in Host and refuses a request whose Host header disagrees with it (400).
        string host = context.Request.Host.Host;
        OutboundRoute? route = snapshot.Outbound.Find(host, context.Request.Path.Value ?? "/");
        if (route is null)
        {
            await ProxyResponses.WriteAsync(context, StatusCodes.Status404NotFound,
                $"no outbound route for host '{host}'{(string.IsNullOrEmpty(host) ? "" : " and path " + context.Request.Path)}; add it to spec.outbound.routes").ConfigureAwait(false);
            return "unknown";
        }

        // the target goes upstream as received: the peer's inbound normalizes and authorizes it (and rejects %2F)
        string path = "/";
        if (RequestTarget.TrySplit(context, out path, out string query))
        {
            state.TargetPathAndQuery = query.Length == 0 ? path : path + query;
        }

        UpstreamTarget target = route.Target;
        state.Destination = target.Telemetry; // the Istio metrics' destination, also for a 404 or a fault below
        string label = route.Id;
        if (route.Rules.Length > 0)
        {
            // Rules match the normalized path without the query, as Envoy routes after Istio's path normalization;
            // a path the normalizer refuses is matched as sent (the peer's inbound answers it 400 anyway).
            string matchPath = PathNormalizer.TryNormalize(path.Length == 0 ? "/" : path, out string normalized) == PathRejection.None ? normalized : path;
            RouteRule? rule = route.Select(context, matchPath);
            if (rule is null)
            {
                await ProxyResponses.WriteAsync(context, StatusCodes.Status404NotFound,
                    $"no http rule of outbound route '{route.Id}' matches {context.Request.Method} {matchPath}; add a rule without 'match' last to catch the rest").ConfigureAwait(false);
                return route.Id;
            }

            label = rule.Label;
            if (rule.Fault is { } fault && await InjectFaultAsync(context, state, rule, fault).ConfigureAwait(false))
            {
                return label;
            }

            target = rule.PickDestination(random);
            state.Destination = target.Telemetry;
        }

        state.AppPort = target.AppPort; // the peer's app port this route is for (x-belizemesh-app-port)
        return new HandlerOutcome(label, forwarding.ForwardAsync(context, target, state, label));
    }

    /// <summary>
    /// Istio's HTTPFaultInjection, as Envoy's fault filter applies it: the delay first (its own draw), then the abort
    /// (its own draw). True when the request was aborted (answered here, never forwarded).
    /// </summary>
    private async ValueTask<bool> InjectFaultAsync(HttpContext context, RequestState state, RouteRule rule, FaultInjectionSpec fault)
    {
        bool delayed = false;
        if (fault.FixedDelay is { } delay && random.Chance(fault.DelayPercent))
        {
            delayed = true;
            state.Flag = ResponseFlag.DelayInjected;
            metrics.FaultInjected(rule.Label, "delay");
            await Task.Delay(delay, time, context.RequestAborted).ConfigureAwait(false);
        }

        if (fault.AbortStatus is { } status && random.Chance(fault.AbortPercent))
        {
            metrics.FaultInjected(rule.Label, "abort");
            state.Flag = delayed ? ResponseFlag.DelayAndAbort : ResponseFlag.FaultAbort;
            context.Response.StatusCode = status;
            context.Response.ContentType = "text/plain";
            await context.Response.WriteAsync("fault filter abort", context.RequestAborted).ConfigureAwait(false);
            return true;
        }

        return false;
    }
}
