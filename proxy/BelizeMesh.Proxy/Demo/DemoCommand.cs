using System.Net;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Demo;

/// <summary>Runs <see cref="DemoMesh"/>, shows that it works, and prints the curl commands to try it by hand.</summary>
internal static class DemoCommand
{
    public static async Task<int> RunAsync(DemoOptions options, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        DemoMesh mesh;
        try
        {
            // Kestrel warns that h2c is "not enabled" on cleartext listeners; the sidecar negotiates it itself
            // (Hosting/H2cPriorKnowledge), so that warning is noise for a newcomer. The generic host logs a failed start
            // (a port in use) with its whole stack trace before the demo can say what to do: the demo says it instead.
            mesh = await DemoMesh.StartAsync(
                options,
                logging => logging.ClearProviders().AddSimpleConsole().SetMinimumLevel(LogLevel.Warning)
                    .AddFilter("Microsoft.AspNetCore.Server.Kestrel", LogLevel.Error)
                    .AddFilter("Microsoft.Extensions.Hosting", LogLevel.None),
                cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            stderr.WriteLine($"belizemesh-proxy demo: cannot bind a listener ({ex.Message}). Is port {options.OutboundPort} in use? Pick another with --outbound-port PORT, or 0 for any free port.");
            return Program.ConfigurationError;
        }

        await using (mesh.ConfigureAwait(false))
        {
            string outbound = $"http://{mesh.Outbound}";
            stdout.WriteLine("BelizeMesh demo: a CA, two sidecars (frontend, backend) and a demo app, all on loopback.");
            stdout.WriteLine($"  frontend outbound  {mesh.Outbound}  (your app's side: plain HTTP in)");
            stdout.WriteLine($"  frontend admin     {mesh.FrontendAdmin}  (/metrics, /healthz/ready)");
            stdout.WriteLine($"  backend inbound    {mesh.BackendInbound}  (post-quantum channel: ML-KEM-1024 + ECDH P-256, ML-DSA-87 certificates, AES-256-GCM)");
            stdout.WriteLine($"  backend admin      {mesh.BackendAdmin}  (/metrics, /healthz/ready)");
            stdout.WriteLine();

            bool ok = await CheckAsync(outbound, stdout).ConfigureAwait(false);
            if (options.CheckOnly)
            {
                // The listeners close as the command returns: curl commands for them would only fail.
                stdout.WriteLine();
                stdout.WriteLine("--check: the demo stops now. Run it without --check to keep it up and try it yourself with curl.");
                return ok ? 0 : 1;
            }

            stdout.WriteLine();
            stdout.WriteLine("Try it yourself:");
            stdout.WriteLine($"  curl -s {outbound}/api/hello -H 'Host: {DemoMesh.BackendHost}'                      # allowed: the app sees the caller's SPIFFE ID");
            stdout.WriteLine($"  curl -si {outbound}/admin/secret -H 'Host: {DemoMesh.BackendHost}'                  # denied: 403, no rule allows /admin/*");
            stdout.WriteLine($"  for i in $(seq 8); do curl -s -o /dev/null -w '%{{http_code}} ' {outbound}/api/burst -H 'Host: {DemoMesh.BackendHost}'; done; echo   # {DemoMesh.BurstLimit} x 200, then 429 (1 token/s refill)");
            stdout.WriteLine($"  curl -s {outbound}/ -H 'Host: unknown.demo.svc.cluster.local'                        # 404: no outbound route for that host");
            stdout.WriteLine($"  curl -s http://{mesh.BackendAdmin}/metrics | grep belizemesh_                        # Prometheus metrics");

            stdout.WriteLine();
            stdout.WriteLine("Press Ctrl+C to stop (the demo's keys and certificates are deleted on exit).");
            var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (cancellationToken.Register(() => stopped.TrySetResult()))
            {
                ConsoleCancelEventHandler onCancel = (_, e) =>
                {
                    e.Cancel = true;
                    stopped.TrySetResult();
                };
                Console.CancelKeyPress += onCancel;
                using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
                    System.Runtime.InteropServices.PosixSignal.SIGTERM,
                    context =>
                    {
                        context.Cancel = true;
                        stopped.TrySetResult();
                    });
                await stopped.Task.ConfigureAwait(false);
                Console.CancelKeyPress -= onCancel;
            }

            return ok ? 0 : 1;
        }
    }

    /// <summary>The three requests the README promises: allowed, denied, rate-limited. Prints what happened.</summary>
    private static async Task<bool> CheckAsync(string outbound, TextWriter stdout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        bool ok = true;

        (HttpStatusCode status, string body) = await GetAsync(client, $"{outbound}/api/hello").ConfigureAwait(false);
        bool allowed = status == HttpStatusCode.OK && body.Contains("spiffe://cluster.local/ns/demo/sa/frontend", StringComparison.Ordinal);
        ok &= allowed;
        stdout.WriteLine($"  {Mark(allowed)} GET /api/hello    -> {(int)status} {body.Trim()}");

        (status, body) = await GetAsync(client, $"{outbound}/admin/secret").ConfigureAwait(false);
        bool denied = status == HttpStatusCode.Forbidden;
        ok &= denied;
        stdout.WriteLine($"  {Mark(denied)} GET /admin/secret -> {(int)status} {body.Trim()}");

        var codes = new List<int>();
        for (int i = 0; i < DemoMesh.BurstLimit + 3; i++)
        {
            (status, _) = await GetAsync(client, $"{outbound}/api/burst").ConfigureAwait(false);
            codes.Add((int)status);
        }

        bool limited = codes.Contains(429) && codes[0] == 200;
        ok &= limited;
        stdout.WriteLine($"  {Mark(limited)} GET /api/burst x{codes.Count} -> {string.Join(' ', codes)}");
        return ok;
    }

    private static string Mark(bool ok) => ok ? "ok  " : "FAIL";

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient client, string url)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Host = DemoMesh.BackendHost;
        try
        {
            using HttpResponseMessage response = await client.SendAsync(request).ConfigureAwait(false);
            return (response.StatusCode, await response.Content.ReadAsStringAsync().ConfigureAwait(false));
        }
        catch (HttpRequestException ex)
        {
            return (0, ex.Message);
        }
    }
}
