using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using BelizeMesh.Channel;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Identity;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// <c>handshake-flood</c> (issue 14 item 7): what an unauthenticated client can make the sidecar's inbound listener
/// do. A real client's ClientHello is captured once and replayed by N loops from 127.0.0.1 — connect, send it, read
/// the server's flight (ServerHello + certificate) or its refusal, reset — the cheapest flood there is, since the
/// attacker does no cryptography. Meanwhile a legitimate caller from 127.0.0.2 runs a full handshake and one GET every
/// 50 ms. Each configuration runs a quiet phase (the caller alone) and a flood phase, against the sidecar with its
/// default limits and with the per-source guards off. Reports per phase: hellos/s sent, answered with a flight,
/// refused; server CPU (utime+stime of the sidecar from /proc) per hello and in cores; bytes out per byte in; the
/// legitimate caller's handshake+GET latency (median, p99) and failures.
/// </summary>
internal static class HandshakeFlood
{
    private const string BackendIdentity = "spiffe://cluster.local/ns/bench/sa/backend";
    private static readonly IPAddress LegitimateSource = IPAddress.Parse("127.0.0.2");
    private static readonly byte[] Request = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: backend.bench\r\nConnection: close\r\n\r\n");

    private sealed record Row(string Config, string Phase, double HellosPerSecond, double AnsweredPerSecond, double RefusedPerSecond,
        double ServerCores, double ServerCpuMsPerHello, double Amplification, double LegitMedianMs, double LegitP99Ms, int LegitOk, int LegitFailed);

    public static int Run(string[] args)
    {
        double seconds = 10;
        int flooders = 8;
        for (int i = 0; i + 1 < args.Length; i++)
        {
            if (args[i] == "--seconds")
            {
                seconds = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
            }
            else if (args[i] == "--flooders")
            {
                flooders = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            }
        }

        string work = Directory.CreateTempSubdirectory("belizemesh-flood-").FullName;
        try
        {
            return RunAsync(work, seconds, flooders).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or FileNotFoundException or SocketException)
        {
            Console.Error.WriteLine($"handshake-flood: {ex.Message}");
            return 1;
        }
        finally
        {
            CompareCommand.TryDelete(work);
        }
    }

    private static async Task<int> RunAsync(string work, double seconds, int flooders)
    {
        var tools = CompareCommand.FindTools();
        ScenarioContext context = CompareCommand.CreateContext(work, tools, proxyPath: null);
        Console.WriteLine($"handshake-flood: {flooders} flood loops from 127.0.0.1, a caller from 127.0.0.2 every 50 ms, {seconds:0.#} s per phase, {Environment.ProcessorCount} cores, sidecar build: {context.Proxy.Build}");
        await using ManagedProcess app = CompareCommand.StartApp(context, 128);
        using var pki = new BenchPki(Path.Combine(work, "backend-certs"));
        string certs = pki.BackendCerts;
        PqChannelOptions options = pki.ClientOptions;
        byte[] hello = await CaptureClientHelloAsync(options).ConfigureAwait(false);
        Console.WriteLine($"captured ClientHello: {hello.Length} bytes");

        var rows = new List<Row>();
        foreach (var (config, limits) in new[]
        {
            ("default limits", ""),
            ("guards off", "limits: { handshakesPerSecondPerSource: 0, maxPendingPerSource: 0 }"),
        })
        {
            int inbound = ManagedProcess.FreePort();
            string policy = Path.Combine(work, "policy.yaml");
            File.WriteAllText(policy, HandshakeServers.BackendPolicy(inbound, context.AppPort, limits));
            await using ManagedProcess sidecar = ManagedProcess.Start(
                context.Proxy.FileName, [.. context.Proxy.Prefix, "run", "--policy", policy, "--certs", certs], Path.Combine(work, $"sidecar-{rows.Count}.log"));
            var endPoint = new IPEndPoint(IPAddress.Loopback, inbound);
            await HandshakeServers.WaitUntilServingAsync(endPoint, HandshakeServers.Bm1(options, BackendIdentity), [sidecar]).ConfigureAwait(false);
            List<int> tree = ProcStats.Tree([sidecar.Id]);
            // Warm-up: both paths once (the JIT build compiles them; the AOT build has nothing to warm).
            await PhaseAsync(endPoint, options, hello, tree, flooders, 2, flood: true).ConfigureAwait(false);
            rows.Add(await PhaseAsync(endPoint, options, hello, tree, flooders, seconds, flood: false).ConfigureAwait(false) with { Config = config });
            rows.Add(await PhaseAsync(endPoint, options, hello, tree, flooders, seconds, flood: true).ConfigureAwait(false) with { Config = config });
        }

        // A Markdown table (docs/protocol.md 7.1 quotes it as printed).
        Console.WriteLine();
        Console.WriteLine("| sidecar | phase | hellos/s sent | answered/s | refused/s | server cores | server CPU ms/hello | bytes out per byte in | caller p50 ms | caller p99 ms | caller ok / failed |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (Row r in rows)
        {
            bool flood = r.HellosPerSecond > 0;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Config} | {r.Phase} | {r.HellosPerSecond:N0} | {r.AnsweredPerSecond:N0} | {r.RefusedPerSecond:N0} | {r.ServerCores:0.00} | {(flood ? r.ServerCpuMsPerHello.ToString("0.000", CultureInfo.InvariantCulture) : "-")} | {(flood ? r.Amplification.ToString("0.00", CultureInfo.InvariantCulture) : "-")} | {r.LegitMedianMs:0.0} | {r.LegitP99Ms:0.0} | {r.LegitOk} / {r.LegitFailed} |"));
        }

        Console.WriteLine();
        Console.WriteLine("flood: a captured ClientHello replayed (no cryptography on the attacker's side), the answer read, the connection reset; caller: a full bm1 handshake + one GET from 127.0.0.2 every 50 ms. Server CPU is the sidecar's utime+stime from /proc over the phase.");
        return rows.Any(r => r.LegitFailed > 0 && r.Config == "default limits") ? 1 : 0;
    }

    /// <summary>A real client's first flight, recorded by a listener that answers nothing.</summary>
    internal static async Task<byte[]> CaptureClientHelloAsync(PqChannelOptions options)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint).ConfigureAwait(false);
        using Socket server = await listener.AcceptSocketAsync().ConfigureAwait(false);
        var channel = new PqChannelStream(new NetworkStream(client, ownsSocket: false), options);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Task handshake = channel.AuthenticateAsClientAsync(BackendIdentity, cts.Token);
        byte[] header = new byte[5];
        await ReadExactlyAsync(server, header).ConfigureAwait(false);
        int length = (header[3] << 8) | header[4];
        byte[] record = new byte[5 + length];
        header.CopyTo(record, 0);
        await ReadExactlyAsync(server, record.AsMemory(5)).ConfigureAwait(false);
        await cts.CancelAsync().ConfigureAwait(false);
        try
        {
            await handshake.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or PqChannelException)
        {
            // expected: the recording listener never answers
        }

        await channel.DisposeAsync().ConfigureAwait(false);
        return record;
    }

    private static async Task ReadExactlyAsync(Socket socket, Memory<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            int read = await socket.ReceiveAsync(buffer).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("closed early");
            }

            buffer = buffer[read..];
        }
    }

    private static async Task<Row> PhaseAsync(IPEndPoint endPoint, PqChannelOptions options, byte[] hello, List<int> tree, int flooders, double seconds, bool flood)
    {
        long end = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        long sent = 0, answered = 0, refused = 0, bytesIn = 0, bytesOut = 0;
        double cpuBefore = ProcStats.CpuSeconds(tree);
        long started = Stopwatch.GetTimestamp();
        Task[] loops = flood
            ? [.. Enumerable.Range(0, flooders).Select(_ => Task.Run(async () =>
            {
                byte[] buffer = new byte[16 * 1024];
                while (Stopwatch.GetTimestamp() < end)
                {
                    (bool gotFlight, int received) = await HelloAsync(endPoint, hello, buffer).ConfigureAwait(false);
                    Interlocked.Increment(ref sent);
                    Interlocked.Add(ref bytesOut, hello.Length);
                    Interlocked.Add(ref bytesIn, received);
                    Interlocked.Increment(ref gotFlight ? ref answered : ref refused);
                }
            }))]
            : [];
        var latencies = new List<double>();
        int failed = 0;
        while (Stopwatch.GetTimestamp() < end)
        {
            long t0 = Stopwatch.GetTimestamp();
            try
            {
                await LegitimateRequestAsync(endPoint, options).ConfigureAwait(false);
                latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            catch (Exception ex) when (ex is IOException or SocketException or PqChannelException or OperationCanceledException)
            {
                failed++;
            }

            TimeSpan rest = TimeSpan.FromMilliseconds(50) - Stopwatch.GetElapsedTime(t0);
            if (rest > TimeSpan.Zero)
            {
                await Task.Delay(rest).ConfigureAwait(false);
            }
        }

        await Task.WhenAll(loops).ConfigureAwait(false);
        double elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        double cpu = ProcStats.CpuSeconds(tree) - cpuBefore;
        latencies.Sort();
        double P(double q) => latencies.Count == 0 ? double.NaN : latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))];
        return new Row("", flood ? "flood" : "quiet", sent / elapsed, answered / elapsed, refused / elapsed, cpu / elapsed,
            sent == 0 ? 0 : cpu / sent * 1000, bytesOut == 0 ? 0 : (double)bytesIn / bytesOut, P(0.5), P(0.99), latencies.Count, failed);
    }

    /// <summary>Connect from 127.0.0.1, send the hello, read records until the server's two-record flight, an alert or the close; reset.</summary>
    private static async Task<(bool GotFlight, int Received)> HelloAsync(IPEndPoint endPoint, byte[] hello, byte[] buffer)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, LingerState = new LingerOption(true, 0) };
        int received = 0;
        try
        {
            await socket.ConnectAsync(endPoint).ConfigureAwait(false);
            await socket.SendAsync(hello).ConfigureAwait(false);
            int records = 0, offset = 0;
            while (records < 2)
            {
                int read = await socket.ReceiveAsync(buffer.AsMemory(received)).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                received += read;
                while (received - offset >= 5)
                {
                    if (buffer[offset] == 0x03)
                    {
                        return (false, received); // an alert: refused
                    }

                    int length = 5 + ((buffer[offset + 3] << 8) | buffer[offset + 4]);
                    if (received - offset < length)
                    {
                        break;
                    }

                    offset += length;
                    records++;
                }

                if (received == buffer.Length)
                {
                    break;
                }
            }

            return (records >= 2, received);
        }
        catch (SocketException)
        {
            return (false, received);
        }
    }

    private static async Task LegitimateRequestAsync(IPEndPoint endPoint, PqChannelOptions options)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Bind(new IPEndPoint(LegitimateSource, 0));
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(endPoint, deadline.Token).ConfigureAwait(false);
        await using var channel = new PqChannelStream(new NetworkStream(socket, ownsSocket: true), options);
        await channel.AuthenticateAsClientAsync(BackendIdentity, deadline.Token).ConfigureAwait(false);
        await channel.WriteAsync(Request, deadline.Token).ConfigureAwait(false);
        byte[] buffer = new byte[4096];
        int total = 0;
        while (true)
        {
            int read = await channel.ReadAsync(buffer.AsMemory(total), deadline.Token).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            total = Math.Min(total + read, buffer.Length - 1024);
        }

        if (!Encoding.ASCII.GetString(buffer, 0, 12).StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
        {
            throw new IOException("response was not HTTP/1.1 200");
        }
    }
}
