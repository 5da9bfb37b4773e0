using System.Net;
using k8s;
using k8s.Autorest;

namespace BelizeMesh.Injector.Controller;

/// <summary>
/// KubernetesClient's <see cref="Kubernetes"/> with one addition: a raw streaming GET for watches. The AOT flavour of
/// KubernetesClient (<c>KubernetesClient.Aot</c>, the one that links into a native image) leaves out <c>Watcher</c>
/// and <c>LeaderElector</c>; every other call here is the library's generated typed API, and the watch request goes
/// through the same pipeline (base URI, TLS, bearer token, delegating handlers).
/// </summary>
internal sealed class ControllerKubernetes : k8s.Kubernetes
{
    public ControllerKubernetes(KubernetesClientConfiguration config, params DelegatingHandler[] handlers)
        : base(config, handlers)
    {
    }

    /// <summary>
    /// Sends a GET and returns the response once its headers arrived (the body is read as a stream).
    /// </summary>
    /// <exception cref="HttpOperationException">The status is not 2xx (a 410 Gone among them).</exception>
    public Task<HttpResponseMessage> GetStreamingAsync(string relativeUri, CancellationToken cancellationToken) =>
        SendRequest<object?>(relativeUri, HttpMethod.Get, customHeaders: null!, body: null, cancellationToken);
}

/// <summary>HTTP status helpers for the API's answers.</summary>
internal static class ApiErrors
{
    public static bool IsStatus(Exception e, HttpStatusCode code) =>
        e is HttpOperationException { Response: { } response } && response.StatusCode == code;

    public static bool IsNotFound(Exception e) => IsStatus(e, HttpStatusCode.NotFound);

    public static bool IsConflict(Exception e) => IsStatus(e, HttpStatusCode.Conflict);

    /// <summary>
    /// The wait a 429 Too Many Requests asks for: the Status's <c>details.retryAfterSeconds</c>, else the
    /// <c>Retry-After</c> header (whole seconds), else <paramref name="fallback"/>; never less than a second.
    /// </summary>
    public static TimeSpan RetryAfter(HttpOperationException e, TimeSpan fallback)
    {
        int? seconds = null;
        if (!string.IsNullOrEmpty(e.Response?.Content))
        {
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(e.Response.Content);
                if (doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                    && doc.RootElement.TryGetProperty("details", out var details) && details.ValueKind == System.Text.Json.JsonValueKind.Object
                    && details.TryGetProperty("retryAfterSeconds", out var value) && value.TryGetInt32(out int s))
                {
                    seconds = s;
                }
            }
            catch (System.Text.Json.JsonException)
            {
            }
        }

        if (seconds is null && e.Response?.Headers is { } headers && headers.TryGetValue("Retry-After", out var values))
        {
            foreach (string v in values)
            {
                if (int.TryParse(v, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int s))
                {
                    seconds = s;
                    break;
                }
            }
        }

        TimeSpan wait = seconds is { } n ? TimeSpan.FromSeconds(n) : fallback;
        return wait < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : wait;
    }

    /// <summary>A short description of an API failure for logs: status and the Status message, never a request body.</summary>
    public static string Describe(Exception e) => e switch
    {
        HttpOperationException { Response: { } r } => $"HTTP {(int)r.StatusCode} {r.StatusCode}: {Truncate(StatusMessage(r.Content))}",
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    private static string StatusMessage(string? content)
    {
        if (string.IsNullOrEmpty(content))
        {
            return "";
        }

        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(content);
            return doc.RootElement.TryGetProperty("message", out var message) && message.ValueKind == System.Text.Json.JsonValueKind.String
                ? message.GetString() ?? ""
                : "";
        }
        catch (System.Text.Json.JsonException)
        {
            return "";
        }
    }

    private static string Truncate(string s) => s.Length <= 300 ? s : s[..300] + "…";
}
