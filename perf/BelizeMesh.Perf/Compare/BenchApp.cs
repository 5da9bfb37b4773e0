using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// The workload behind every scenario of <c>compare</c>: a Kestrel app in its own process that answers any request
/// with 200 and a fixed body (<c>Content-Length</c> framing). Its cost is the same in every scenario, so the
/// differences between scenarios are the proxies'.
/// <c>BelizeMesh.Perf app --port N [--bytes B]</c>; prints <c>listening on N</c> when ready.
/// </summary>
internal static class BenchApp
{
    public static int Run(string[] args)
    {
        int port = 0;
        int bytes = 128;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--port":
                    port = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--bytes":
                    bytes = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                default:
                    Console.Error.WriteLine($"app: unknown option {args[i]}; usage: app --port N [--bytes B]");
                    return 64;
            }
        }

        byte[] body = new byte[bytes];
        Array.Fill(body, (byte)'x');
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
        WebApplication app = builder.Build();
        // GET /bulk/<bytes>: a large body, streamed in 64 KiB writes with Content-Length (the bulk phase).
        byte[] chunk = new byte[64 * 1024];
        Array.Fill(chunk, (byte)'b');
        app.Run(context =>
        {
            if (context.Request.Path.StartsWithSegments("/bulk", out PathString rest)
                && long.TryParse(rest.Value?.TrimStart('/'), NumberStyles.None, CultureInfo.InvariantCulture, out long size))
            {
                return StreamAsync(context, chunk, size);
            }

            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = body.Length;
            return context.Response.Body.WriteAsync(body).AsTask();
        });
        app.Start();
        Console.WriteLine($"listening on {new Uri(app.Urls.First()).Port}");
        app.WaitForShutdown();
        return 0;
    }

    private static async Task StreamAsync(HttpContext context, byte[] chunk, long size)
    {
        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = size;
        for (long left = size; left > 0; left -= chunk.Length)
        {
            await context.Response.Body.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, left)), context.RequestAborted).ConfigureAwait(false);
        }
    }
}
