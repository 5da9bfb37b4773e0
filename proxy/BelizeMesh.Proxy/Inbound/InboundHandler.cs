using BelizeMesh.Proxy.Forwarding;
using BelizeMesh.Proxy.Hosting;
using BelizeMesh.Proxy.Metrics;
using BelizeMesh.Proxy.Policy.Authentication;
using BelizeMesh.Proxy.Policy.Authorization;
using BelizeMesh.Proxy.Policy.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Inbound;

/// <summary>
/// The inbound side: a caller (through the PQ channel, or plaintext in DISABLE mode) reaches the local app.
/// Steps: (1) normalize the path, rejecting encoded slashes; (2) learn the caller's identity and validate its JWT, if
/// any (<c>jwtRules</c>: an invalid token is a 401, as Envoy's <c>jwt_authn</c>); (3) authorize (DENY, then ALLOW);
/// (4) rate limit; (5) forward to <c>spec.inbound.app</c> (or the <c>spec.inbound.apps</c> entry for the port in
/// <c>Host</c>) with the verified identity in
/// <see cref="ProxyHeaders.PeerIdentity"/> and exactly the normalized path that was authorized (plus the query as
/// received): no decode/re-encode step in between (<see cref="RequestState.TargetPathAndQuery"/>).
/// </summary>
internal sealed partial class InboundHandler(
    ForwardingEngine forwarding,
    ProxyMetrics metrics,
    ILogger<InboundHandler> logger)
{
    public const string RouteLabel = "inbound";

    /// <summary>Handles one request; <paramref name="state"/> carries the caller's identity (looked up by the dispatcher
    /// through <see cref="IPeerIdentityAccessor"/>) and takes the target and identity to forward.</summary>
    public async ValueTask<HandlerOutcome> HandleAsync(HttpContext context, ProxySnapshot snapshot, RequestState state)
    {
        // (1) normalize
        if (!RequestTarget.TrySplit(context, out string rawPath, out string query))
        {
            await ProxyResponses.WriteAsync(context, StatusCodes.Status400BadRequest, "the request target must be a path (origin form)").ConfigureAwait(false);
            return RouteLabel;
        }

        PathRejection rejection = PathNormalizer.TryNormalize(rawPath, out string path);
        if (rejection != PathRejection.None)
        {
            Log.PathRejected(logger, rawPath, rejection);
            await ProxyResponses.WriteAsync(context, StatusCodes.Status400BadRequest, rejection switch
            {
                PathRejection.EncodedSlash => "encoded '/' or '\\' (%2F, %5C) is not allowed in the path",
                PathRejection.DotSegmentParameters => "a '.' or '..' path segment with ';' parameters is not allowed",
                _ => "the path is malformed (raw '\\', control character or bad percent-escape)",
            }).ConfigureAwait(false);
            return RouteLabel;
        }

        context.Request.Path = PathString.FromUriComponent(path);
        state.TargetPathAndQuery = query.Length == 0 ? path : path + query;

        // (2) identity
        PeerIdentity? peer = state.Peer;
        string? principal = peer?.Principal;
        string method = WebSocketRequest.AuthorizedMethod(context);

        // (2b) request authentication: JWT, as Istio's RequestAuthentication (no token = no request principal)
        string? requestPrincipal = null;
        if (snapshot.Jwt.Enabled)
        {
            JwtResult jwt = snapshot.Jwt.Authenticate(context.Request);
            if (jwt.Refused)
            {
                metrics.JwtFailed(jwt.Status.Reason());
                Log.JwtRefused(logger, principal ?? "(unauthenticated)", method, path, jwt.Status.Reason());

                // As Envoy: Bearer realm="<request URL>", error="invalid_token" (the URL without its query).
                context.Response.Headers.WWWAuthenticate = $"Bearer realm=\"http://{context.Request.Host.Value}{path}\", error=\"invalid_token\"";
                await ProxyResponses.WriteAsync(context, jwt.Status.HttpStatus(), jwt.Status.Message()).ConfigureAwait(false);
                return RouteLabel;
            }

            requestPrincipal = jwt.RequestPrincipal;
        }

        // (3) authorize; the app port the caller asked for (its route's appPort, else the Host's port) picks the app:
        // spec.inbound.apps, else spec.inbound.app; that app's port is what to.ports rules match
        UpstreamTarget app = snapshot.InboundAppFor(AppPort(context), out int appPort);
        AuthorizationDecision decision = snapshot.Authorization.Evaluate(principal, requestPrincipal, method, path, appPort);
        if (!decision.Allowed)
        {
            metrics.AuthorizationDenied(decision.ByDenyRule ? "deny_rule" : principal is null ? "unauthenticated" : "no_matching_rule");
            Log.Denied(logger, principal ?? "(unauthenticated)", method, path, decision.Reason);
            await ProxyResponses.WriteAsync(context, StatusCodes.Status403Forbidden, "RBAC: access denied: " + decision.Reason).ConfigureAwait(false);
            return RouteLabel;
        }

        // (4) rate limit
        RateLimitDecision limit = snapshot.RateLimits.Evaluate(principal, method, path, context.Request.Headers);
        if (!limit.Allowed)
        {
            metrics.RateLimited(limit.RuleName!);
            context.Response.Headers.RetryAfter = limit.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await ProxyResponses.WriteAsync(context, StatusCodes.Status429TooManyRequests, $"rate limit '{limit.RuleName}' exceeded; retry after {limit.RetryAfterSeconds}s").ConfigureAwait(false);
            return RouteLabel;
        }

        // (5) forward
        state.ForwardedIdentity = peer?.SpiffeId;
        return new HandlerOutcome(RouteLabel, forwarding.ForwardAsync(context, app, state, RouteLabel));
    }

    /// <summary>The port in <see cref="ProxyHeaders.AppPort"/> when it is one valid port, else the <c>Host</c>'s port (or null).</summary>
    private static int? AppPort(HttpContext context)
    {
        Microsoft.Extensions.Primitives.StringValues values = context.Request.Headers[ProxyHeaders.AppPort];
        if (values.Count == 1 && int.TryParse(values[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) && port is > 0 and <= 65535)
        {
            return port;
        }

        return context.Request.Host.Port;
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Information, "Rejected inbound path {Path}: {Reason}.", EventName = "PathRejected")]
        public static partial void PathRejected(ILogger logger, string path, PathRejection reason);

        [LoggerMessage(21, LogLevel.Information, "Denied {Principal}: {Method} {Path}: {Reason}.", EventName = "AuthorizationDenied")]
        public static partial void Denied(ILogger logger, string principal, string method, string path, string reason);

        // Never the token or its claims: only why it was refused.
        [LoggerMessage(22, LogLevel.Information, "Refused a JWT from {Principal}: {Method} {Path}: {Reason}.", EventName = "JwtRefused")]
        public static partial void JwtRefused(ILogger logger, string principal, string method, string path, string reason);
    }
}
