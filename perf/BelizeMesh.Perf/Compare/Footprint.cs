using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Text;
using BelizeMesh.Channel;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Identity;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// <c>footprint</c> (issue 11 part 3): one sidecar's memory and start-up, under each GC/allocator setting given —
/// exec to <c>/healthz/ready</c> 200 (median of 10 starts), idle RSS, RSS per idle established PQ channel (N channels,
/// each with one request done, then idle), and whether memory comes back after a burst of 4,000 half-open handshakes
/// (RSS sampled every 5 s for a minute after they close) — twice: in the sidecar that also held the channels (the
/// stricter figure: 10,000 + 4,000 connections came and went), and in a fresh sidecar that sees only the burst (the
/// issue's definition: "after 4,000 connections have come and gone"). Settings are environment variables of the sidecar
/// (<c>DOTNET_GCgen0size</c>, <c>DOTNET_GCConserveMemory</c>, <c>MALLOC_ARENA_MAX</c>, …): <c>--env NAME=VALUE[,NAME=VALUE]</c>
/// adds a configuration; the default one runs first. The per-source guards are off in its policy: one source opens
/// everything here.
/// </summary>
internal static class Footprint
{
    private const string Identity = "spiffe://cluster.local/ns/bench/sa/backend";
    private static readonly byte[] Request = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: backend.bench\r\n\r\n");

    private sealed record Row(string Config, double ReadyMs, double IdleMiB, double ChannelsMiB, double KiBPerChannel, double SettledKiBPerChannel,
        double BurstPeakMiB, double After60sMiB, double ReturnedWithinS, double FreshIdleMiB, double FreshPeakMiB, double FreshAfter60sMiB, double FreshReturnedWithinS);

    public static int Run(string[] args)
    {
        int channels = 10_000, burst = 4_000, starts = 10, settle = 0;
        string? proxyPath = null;
        var configs = new List<(string Name, Dictionary<string, string> Env)> { ("default", []) };
        for (int i = 0; i + 1 < args.Length; i++)
        {
            switch (args[i])
            {
                case "--channels": channels = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--burst": burst = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--starts": starts = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--settle": settle = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--proxy": proxyPath = args[++i]; break;
                case "--env":
                    string spec = args[++i];
                    configs.Add((spec, spec.Split(',').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1])));
                    break;
            }
        }

        string work = Directory.CreateTempSubdirectory("belizemesh-footprint-").FullName;
        try
        {
            return RunAsync(work, proxyPath, configs, channels, burst, starts, settle).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or FileNotFoundException or SocketException)
        {
            Console.Error.WriteLine($"footprint: {ex.Message}");
            return 1;
        }
        finally
        {
            CompareCommand.TryDelete(work);
        }
    }

    private static async Task<int> RunAsync(string work, string? proxyPath, List<(string Name, Dictionary<string, string> Env)> configs, int channels, int burst, int starts, int settle)
    {
        var tools = CompareCommand.FindTools();
        ScenarioContext context = CompareCommand.CreateContext(work, tools, proxyPath);
        Console.WriteLine($"footprint: sidecar build {context.Proxy.Build}; {starts} starts, {channels:N0} idle channels, a burst of {burst:N0} half-open handshakes; {Environment.ProcessorCount} cores");
        CpuProbe startProbe = CpuSpeed.Measure("vCPU probe, start");
        Console.WriteLine(startProbe);
        await using ManagedProcess app = CompareCommand.StartApp(context, 128);
        using var pki = new BenchPki(Path.Combine(work, "certs"));
        string certs = pki.BackendCerts;
        PqChannelOptions options = pki.ClientOptions;
        byte[] hello = await HandshakeFlood.CaptureClientHelloAsync(options).ConfigureAwait(false);

        var rows = new List<Row>();
        foreach (var (name, env) in configs)
        {
            Console.WriteLine($"-- {name}");
            var readies = new List<double>();
            var idles = new List<double>();
            for (int s = 0; s < starts; s++)
            {
                (int admin, int inbound) = WritePolicy(work, context);
                long t0 = Stopwatch.GetTimestamp();
                await using ManagedProcess sidecar = ManagedProcess.Start(context.Proxy.FileName, [.. context.Proxy.Prefix, "run", "--policy", Path.Combine(work, "policy.yaml"), "--certs", certs], Path.Combine(work, "sidecar.log"), env);
                await WaitReadyAsync(admin, sidecar).ConfigureAwait(false);
                readies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                await Task.Delay(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                idles.Add(Rss(sidecar));
                if (s < starts - 1)
                {
                    continue;
                }

                // The last start also carries the channel and burst measurements.
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"   exec to ready, each start (ms): {string.Join(" ", readies.Select(r => r.ToString("0", CultureInfo.InvariantCulture)))}"));
                var endPoint = new IPEndPoint(IPAddress.Loopback, inbound);
                double idle = Median(idles);
                List<Stream> open = await OpenChannelsAsync(endPoint, options, channels).ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromSeconds(3)).ConfigureAwait(false);
                double withChannels = Rss(sidecar);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"   {open.Count:N0} channels open: RSS {withChannels:0.0} MiB"));

                // --settle S: the handshakes' garbage is still on the heap 3 s after them; the idle trimmer (10 s looks)
                // collects it once the sidecar is quiet, and what an idle channel costs for as long as it stays idle is
                // what is left. (The trim then sets the trimmer's floor at this level: the burst phase below measures
                // something else after it.)
                double settled = withChannels;
                if (settle > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds(settle)).ConfigureAwait(false);
                    settled = Rss(sidecar);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"   {settle} s later, still open and idle: RSS {settled:0.0} MiB"));
                }
                foreach (Stream stream in open)
                {
                    await stream.DisposeAsync().ConfigureAwait(false);
                }

                await Task.Delay(TimeSpan.FromSeconds(3)).ConfigureAwait(false);
                Burst after = await BurstAsync(sidecar, endPoint, hello, burst, idle, $"after the channels, {burst:N0} half-open handshakes").ConfigureAwait(false);

                // The issue's definition: a sidecar that only saw the burst (the one above also held the channels; its
                // own policy file stays as it is).
                (int freshAdmin, int freshInbound) = WritePolicy(work, context, "policy-fresh.yaml");
                await using ManagedProcess fresh = ManagedProcess.Start(context.Proxy.FileName, [.. context.Proxy.Prefix, "run", "--policy", Path.Combine(work, "policy-fresh.yaml"), "--certs", certs], Path.Combine(work, "sidecar-fresh.log"), env);
                await WaitReadyAsync(freshAdmin, fresh).ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                double freshIdle = Rss(fresh);
                Burst alone = await BurstAsync(fresh, new IPEndPoint(IPAddress.Loopback, freshInbound), hello, burst, freshIdle, $"a fresh sidecar (idle {freshIdle:0.0} MiB), {burst:N0} half-open handshakes").ConfigureAwait(false);
                rows.Add(new Row(name, Median(readies), idle, withChannels, (withChannels - idle) * 1024 / Math.Max(1, open.Count), (settled - idle) * 1024 / Math.Max(1, open.Count),
                    after.Peak, after.Last, after.ReturnedAt, freshIdle, alone.Peak, alone.Last, alone.ReturnedAt));
            }
        }

        Console.WriteLine();
        Console.WriteLine($"| setting | ready ms (median of {starts}) | idle RSS MiB | RSS with {channels:N0} channels | KiB per channel (3 s; after --settle) | RSS peak, {burst:N0} half-open | RSS 60 s later | back within 20% of idle after | burst alone: idle → peak → 60 s later MiB | back within 20% after |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (Row r in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Config} | {r.ReadyMs:0} | {r.IdleMiB:0.0} | {r.ChannelsMiB:0.0} | {r.KiBPerChannel:0.0}; {r.SettledKiBPerChannel:0.0} | {r.BurstPeakMiB:0.0} | {r.After60sMiB:0.0} | {Within(r.ReturnedWithinS)} | {r.FreshIdleMiB:0.0} → {r.FreshPeakMiB:0.0} → {r.FreshAfter60sMiB:0.0} ({(r.FreshAfter60sMiB / r.FreshIdleMiB - 1) * 100:+0.0;-0.0}%) | {Within(r.FreshReturnedWithinS)} |"));
        }

        Console.WriteLine("targets (issue 11): ready ≤ 50 ms, idle ≤ 25 MB, ≤ 64 KB per idle channel, back within 20% of idle within a minute");
        CpuProbe endProbe = CpuSpeed.Measure("vCPU probe, end");
        Console.WriteLine(endProbe);
        if (startProbe.Uneven || endProbe.Uneven)
        {
            Console.WriteLine("the vCPUs were uneven (one slowed by the host): exec-to-ready and the timed figures are not comparable with an even run (perf/README.md, \"the vCPUs\")");
        }
        return 0;
    }

    private static string Within(double seconds) => double.IsNaN(seconds) ? "not in 60 s" : seconds.ToString(CultureInfo.InvariantCulture) + " s";

    private readonly record struct Burst(double Peak, double Last, double ReturnedAt);

    /// <summary><paramref name="count"/> half-open handshakes at once, closed together; then RSS every 5 s for a minute,
    /// and when it first came back within 20% of <paramref name="idle"/>.</summary>
    private static async Task<Burst> BurstAsync(ManagedProcess sidecar, IPEndPoint endPoint, byte[] hello, int count, double idle, string label)
    {
        List<Socket> halfOpen = await HalfOpenAsync(endPoint, hello, count).ConfigureAwait(false);
        double peak = Rss(sidecar);
        foreach (Socket socket in halfOpen)
        {
            socket.Dispose();
        }

        double returnedAt = double.NaN, last = peak;
        var samples = new List<string>();
        for (int t = 5; t <= 60; t += 5)
        {
            await Task.Delay(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            last = Rss(sidecar);
            samples.Add(last.ToString("0.0", CultureInfo.InvariantCulture));
            if (double.IsNaN(returnedAt) && last <= idle * 1.2)
            {
                returnedAt = t;
            }
        }

        Console.WriteLine($"   {label} ({halfOpen.Count:N0} opened): peak {peak:0.0} MiB; every 5 s after they closed: {string.Join(' ', samples)}");
        return new Burst(peak, last, returnedAt);
    }

    private static (int Admin, int Inbound) WritePolicy(string work, ScenarioContext context, string file = "policy.yaml")
    {
        int admin = ManagedProcess.FreePort(), inbound = ManagedProcess.FreePort();
        File.WriteAllText(Path.Combine(work, file), $$"""
            apiVersion: belizemesh.io/v1alpha1
            kind: SidecarPolicy
            metadata: { name: backend, namespace: {{ScenarioContext.Namespace}} }
            spec:
              identity: {{Identity}}
              accessLog: false
              admin: { listen: "127.0.0.1:{{admin}}" }
              inbound:
                listen: "127.0.0.1:{{inbound}}"
                app: "http://127.0.0.1:{{context.AppPort}}"
                mode: STRICT
                # one source opens every connection here: measure memory, not the per-source guards
                limits: { handshakesPerSecondPerSource: 0, maxPendingPerSource: 0, maxConnections: 0 }
              outbound:
                listen: "127.0.0.1:{{ManagedProcess.FreePort()}}"
                routes: []
            """);
        return (admin, inbound);
    }

    private static double Rss(ManagedProcess process) => ProcStats.MemoryMiB([process.Id], "VmRSS");

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    private static async Task WaitReadyAsync(int admin, ManagedProcess sidecar)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        var url = new Uri($"http://127.0.0.1:{admin}/healthz/ready");
        long deadline = Stopwatch.GetTimestamp() + (20 * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (sidecar.HasExited)
            {
                throw new InvalidOperationException($"the sidecar exited during start-up (log {sidecar.LogPath}):\n{sidecar.Tail()}");
            }

            try
            {
                using HttpResponseMessage response = await http.GetAsync(url).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(1).ConfigureAwait(false);
        }

        throw new TimeoutException($"not ready within 20 s:\n{sidecar.Tail(8)}");
    }

    /// <summary>N channels, 8 at a time: handshake, one keep-alive GET read to its end, then left idle.</summary>
    private static async Task<List<Stream>> OpenChannelsAsync(IPEndPoint endPoint, PqChannelOptions options, int count)
    {
        var open = new List<Stream>(count);
        int next = 0, failed = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            byte[] buffer = new byte[4096];
            while (Interlocked.Increment(ref next) <= count)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(endPoint).ConfigureAwait(false);
                    var channel = new PqChannelStream(new NetworkStream(socket, ownsSocket: true), options);
                    await channel.AuthenticateAsClientAsync(Identity).ConfigureAwait(false);
                    await channel.WriteAsync(Request).ConfigureAwait(false);
                    await ReadResponseAsync(channel, buffer).ConfigureAwait(false);
                    lock (open)
                    {
                        open.Add(channel);
                    }
                }
                catch (Exception ex) when (ex is IOException or SocketException or PqChannelException)
                {
                    socket.Dispose();
                    if (Interlocked.Increment(ref failed) == 1)
                    {
                        Console.WriteLine($"   a channel failed: {ex.Message}");
                    }
                }
            }
        }))).ConfigureAwait(false);
        return open;
    }

    /// <summary>Reads one HTTP/1.1 response with Content-Length (the bench app sends one).</summary>
    private static async Task ReadResponseAsync(Stream stream, byte[] buffer)
    {
        int total = 0;
        while (true)
        {
            int read = await stream.ReadAsync(buffer.AsMemory(total)).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("closed before the response ended");
            }

            total += read;
            string text = Encoding.ASCII.GetString(buffer, 0, total);
            int headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (headerEnd < 0)
            {
                continue;
            }

            int at = text.IndexOf("Content-Length: ", StringComparison.OrdinalIgnoreCase);
            int length = at < 0 ? 0 : int.Parse(text.AsSpan(at + 16, text.IndexOf('\r', at) - at - 16), CultureInfo.InvariantCulture);
            if (total >= headerEnd + 4 + length)
            {
                return;
            }
        }
    }

    /// <summary>Connections that send a ClientHello, read the server's flight, and then say nothing more.</summary>
    private static async Task<List<Socket>> HalfOpenAsync(IPEndPoint endPoint, byte[] hello, int count)
    {
        var sockets = new List<Socket>(count);
        int next = 0;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            byte[] buffer = new byte[16 * 1024];
            while (Interlocked.Increment(ref next) <= count)
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, LingerState = new LingerOption(true, 0) };
                try
                {
                    await socket.ConnectAsync(endPoint).ConfigureAwait(false);
                    await socket.SendAsync(hello).ConfigureAwait(false);
                    int received = 0;
                    while (received < 5000)
                    {
                        int read = await socket.ReceiveAsync(buffer.AsMemory(received)).ConfigureAwait(false);
                        if (read == 0)
                        {
                            break;
                        }

                        received += read;
                    }

                    lock (sockets)
                    {
                        sockets.Add(socket);
                    }
                }
                catch (SocketException)
                {
                    socket.Dispose();
                }
            }
        }))).ConfigureAwait(false);
        return sockets;
    }
}
