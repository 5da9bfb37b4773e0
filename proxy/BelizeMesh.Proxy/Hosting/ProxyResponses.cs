using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>Responses the proxy produces itself: a status and one line of text saying why, prefixed <c>belizemesh:</c>.</summary>
internal static class ProxyResponses
{
    public static Task WriteAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers["x-belizemesh-reason"] = StatusReason(status);
        if (status is 404 or 429)
        {
            // the Istio metrics' response_flags: Envoy's NR (no route) and RL (rate limited)
            if (context.Features.Get<Forwarding.RequestState>() is { } state)
            {
                state.Flag = status == 404 ? Metrics.ResponseFlag.NoRoute : Metrics.ResponseFlag.RateLimited;
            }
        }

        byte[] body = System.Text.Encoding.UTF8.GetBytes("belizemesh: " + message + "\n");
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private static string StatusReason(int status) => status switch
    {
        400 => "bad-path",
        401 => "unauthenticated",
        403 => "denied",
        404 => "no-route",
        429 => "rate-limited",
        _ => "proxy",
    };
}
