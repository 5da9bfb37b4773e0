using BelizeMesh.Proxy.Metrics;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Admin;

/// <summary>The admin listener: <c>GET /metrics</c> (Prometheus text 0.0.4) and <c>GET /healthz/ready</c>.</summary>
internal sealed class AdminHandler(PrometheusExporter exporter, Readiness readiness)
{
    public Task HandleAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        HttpResponse response = context.Response;
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return Task.CompletedTask;
        }

        switch (request.Path.Value)
        {
            case "/metrics":
                response.ContentType = PrometheusExporter.ContentType;
                return exporter.WriteAsync(response.Body, context.RequestAborted);
            case "/healthz/ready":
                string? reason = readiness.NotReadyReason;
                response.StatusCode = reason is null ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
                response.ContentType = "text/plain; charset=utf-8";
                return response.WriteAsync(reason is null ? "ready\n" : "not ready: " + reason + "\n", context.RequestAborted);
            default:
                response.StatusCode = StatusCodes.Status404NotFound;
                response.ContentType = "text/plain; charset=utf-8";
                return response.WriteAsync("belizemesh: admin endpoints are GET /metrics and GET /healthz/ready\n", context.RequestAborted);
        }
    }
}
