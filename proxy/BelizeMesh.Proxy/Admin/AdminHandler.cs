using BelizeMesh.Proxy.Metrics;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Admin;

/// <summary>The admin listener: <c>GET /metrics</c> (Prometheus text 0.0.4) and <c>GET /healthz/ready</c>; the status
/// listener (<c>--status-listen</c>, reachable on the pod IP for the kubelet): <c>GET /healthz/ready</c> only.</summary>
internal sealed class AdminHandler(PrometheusExporter exporter, Readiness readiness)
{
    public Task HandleAsync(HttpContext context, bool statusOnly = false)
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
            case "/metrics" when !statusOnly:
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
                return response.WriteAsync(
                    statusOnly
                        ? "belizemesh: the status listener serves only GET /healthz/ready (metrics are on the admin listener, spec.admin.listen)\n"
                        : "belizemesh: admin endpoints are GET /metrics and GET /healthz/ready\n",
                    context.RequestAborted);
        }
    }
}
