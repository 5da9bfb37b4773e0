using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using BelizeMesh.Channel;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Identity;
using Spectre.Console;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// <c>handshake-servers</c>: full handshakes against real server processes, a new connection per request — the
/// <c>belizemesh-proxy</c> inbound listener (bm1: P-256 + ML-KEM-1024, ML-DSA-87 certificates) against nginx and
/// HAProxy terminating TLS 1.3 with mutual ECDSA P-256 authentication, session resumption off on both ends. Each
/// connection: handshake, one GET forwarded to the app, close. Reports connections/s and the server processes' CPU
/// per handshake (from /proc), plus this client's CPU per handshake. All on 127.0.0.1; client and servers share the
/// machine's cores, so compare within one run.
/// </summary>
internal static class HandshakeServers
{
    private const string BackendIdentity = "spiffe://cluster.local/ns/bench/sa/backend";

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        double seconds = quick ? 3 : 10;
        int concurrency = 4;
        int rounds = 1;
        var proxies = new List<(string Name, string? Path)>();
        for (int i = 0; i + 1 < args.Length; i++)
        {
            if (args[i] == "--seconds")
            {
                seconds = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
            }
            else if (args[i] == "--concurrency")
            {
                concurrency = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            }
            else if (args[i] == "--rounds")
            {
                rounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            }
            else if (args[i] == "--proxy")
            {
                string value = args[i + 1];
                int equals = value.IndexOf('=', StringComparison.Ordinal);
                proxies.Add(equals > 0 ? (value[..equals], value[(equals + 1)..]) : (Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(value))) ?? value, value));
            }
        }

        if (proxies.Count == 0)
        {
            proxies.Add(("belizemesh-proxy", null));
        }

        string work = Directory.CreateTempSubdirectory("belizemesh-handshake-").FullName;
        try
        {
            return RunAsync(work, seconds, concurrency, Math.Max(1, rounds), proxies, peers: !args.Contains("--no-peers")).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or FileNotFoundException)
        {
            Console.Error.WriteLine($"handshake-servers: {ex.Message}");
            return 1;
        }
        finally
        {
            CompareCommand.TryDelete(work);
        }
    }

    private sealed record Row(string Server, double PerSecond, double ServerCpuMs, double ClientCpuMs, long Connections, long Errors, string? FirstError);

    /// <summary>One server under test, started once and kept for every round.</summary>
    private sealed record Target(string Name, IPEndPoint EndPoint, Func<Socket, Task<Stream>> Connect, List<ManagedProcess> Processes, bool IsBm1);

    private static async Task<int> RunAsync(string work, double seconds, int concurrency, int rounds, List<(string Name, string? Path)> proxies, bool peers)
    {
        var tools = CompareCommand.FindTools();
        ScenarioContext context = CompareCommand.CreateContext(work, tools, proxyPath: proxies[0].Path);
        Console.WriteLine($"handshake-servers: {concurrency} client loops for {seconds:0.#} s per server per round, {rounds} round(s), a new connection per request, loopback, {Environment.ProcessorCount} cores");
        await using ManagedProcess app = CompareCommand.StartApp(context, 128);
        var targets = new List<Target>();
        using var bench = new BenchPki(Path.Combine(work, "backend-certs"));
        try
        {
            // bm1 against each build's inbound listener (same certificates for every build).
            for (int b = 0; b < proxies.Count; b++)
            {
                var (fileName, prefix, build) = CompareCommand.LocateProxy(proxies[b].Path);
                string name = proxies.Count == 1 ? "belizemesh-proxy, bm1" : $"bm1 {proxies[b].Name}";
                Console.WriteLine($"  {name}: {build}");
                int inbound = ManagedProcess.FreePort();
                string policy = Path.Combine(work, $"backend-policy-{b}.yaml");
                // one source opens every connection here: measure the handshake, not the per-source guards
                File.WriteAllText(policy, BackendPolicy(inbound, context.AppPort,
                    "limits: { handshakesPerSecondPerSource: 0, maxPendingPerSource: 0 }",
                    $"authorization: {{ rules: [ {{ from: {{ principals: [\"cluster.local/ns/{ScenarioContext.Namespace}/sa/frontend\"] }} }} ] }}"));
                ManagedProcess sidecar = ManagedProcess.Start(fileName, [.. prefix, "run", "--policy", policy, "--certs", bench.BackendCerts], Path.Combine(work, $"sidecar-{b}.log"));
                targets.Add(new Target(name, new IPEndPoint(IPAddress.Loopback, inbound), Bm1(bench.ClientOptions, BackendIdentity), [sidecar], IsBm1: true));
            }

            if (peers)
            {
                await StartPeersAsync(work, context, targets).ConfigureAwait(false);
            }

            foreach (Target target in targets)
            {
                await WaitUntilServingAsync(target.EndPoint, target.Connect, target.Processes).ConfigureAwait(false);
            }

            // Warm-up: the JIT of the .NET ends (ours and the client), TLS libraries' first use.
            foreach (Target target in targets)
            {
                await LoopAsync(target.EndPoint, target.Connect, TimeSpan.FromSeconds(Math.Min(3, seconds / 2)), concurrency).ConfigureAwait(false);
            }

            var perTarget = targets.Select(_ => new List<Row>()).ToArray();
            for (int round = 0; round < rounds; round++)
            {
                var line = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"round {round + 1}:"));
                for (int k = 0; k < targets.Count; k++)
                {
                    int t = (k + round) % targets.Count;
                    Row row = await MeasureAsync(targets[t].Name, targets[t].EndPoint, targets[t].Connect, targets[t].Processes, seconds, concurrency).ConfigureAwait(false);
                    perTarget[t].Add(row);
                    line.Append(CultureInfo.InvariantCulture, $"  {targets[t].Name} {row.ServerCpuMs:0.000} ms ({row.Connections})");
                }

                if (rounds > 1)
                {
                    Console.WriteLine(line.ToString());
                }
            }

            List<Row> rows = [.. perTarget.Select(Median)];
            var table = new Table().AddColumns("server", "handshakes/s", "server CPU\nms/handshake", "client CPU\nms/handshake", "connections", "errors");
            table.Caption((rounds > 1 ? $"medians of {rounds} alternated rounds; " : "") +
                "bm1: P-256 + ML-KEM-1024, ML-DSA-87 certificates (validator cache on); TLS 1.3: mutual, ECDSA P-256, no resumption; each connection carries one GET to the app");
            foreach (Row row in rows)
            {
                table.AddRow(
                    Markup.Escape(row.Server),
                    row.PerSecond.ToString("N0", CultureInfo.InvariantCulture),
                    row.ServerCpuMs.ToString("0.000", CultureInfo.InvariantCulture),
                    row.ClientCpuMs.ToString("0.000", CultureInfo.InvariantCulture),
                    row.Connections.ToString("N0", CultureInfo.InvariantCulture),
                    Markup.Escape(row.Errors + (row.FirstError is null ? "" : $" ({row.FirstError})")));
            }

            AnsiConsole.Write(table);
            for (int b = 0; b < targets.Count; b++)
            {
                if (!targets[b].IsBm1)
                {
                    continue;
                }

                Row bm1 = rows[b];
                for (int t = 0; t < targets.Count; t++)
                {
                    if (t == b || (targets[t].IsBm1 && t > b))
                    {
                        continue;
                    }

                    string other = targets[t].IsBm1 ? targets[t].Name : targets[t].Name.Split(',')[0];
                    string perRound = rounds > 1
                        ? string.Create(CultureInfo.InvariantCulture, $" (median of per-round ratios {MedianRatio(perTarget[b], perTarget[t]):0.00}x)")
                        : "";
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{targets[b].Name} / {other}: handshakes/s {bm1.PerSecond / rows[t].PerSecond:0.00}x, server CPU per handshake {bm1.ServerCpuMs / rows[t].ServerCpuMs:0.00}x{perRound}"));
                }
            }

            return rows.Any(r => r.Errors > 0) ? 1 : 0;
        }
        finally
        {
            foreach (Target target in targets)
            {
                foreach (ManagedProcess process in target.Processes)
                {
                    await process.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    private static async Task StartPeersAsync(string work, ScenarioContext context, List<Target> targets)
    {
        TlsPki pki = TlsPki.Create(Path.Combine(work, "pki"));
        X509Certificate2 clientCertificate = LoadClientCertificate(pki);
        string serverThumbprint = X509Certificate2.CreateFromPem(File.ReadAllText(pki.ServerCertPath)).Thumbprint;
        var tlsOptions = new SslClientAuthenticationOptions
        {
            TargetHost = ScenarioContext.TlsServerName,
            EnabledSslProtocols = SslProtocols.Tls13,
            ClientCertificates = [clientCertificate],
            AllowTlsResume = false,
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && certificate.GetCertHashString() == serverThumbprint,
        };
        async Task<Stream> ConnectTls(Socket socket)
        {
            var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
            await tls.AuthenticateAsClientAsync(tlsOptions).ConfigureAwait(false);
            return tls;
        }

        foreach (var (name, start) in new (string, Func<int, Task<List<ManagedProcess>>>)[]
        {
            ("nginx, TLS 1.3", port => StartNginxAsync(context, pki, port)),
            ("HAProxy, TLS 1.3", port => StartHaproxyAsync(context, pki, port)),
        })
        {
            bool nginx = name.StartsWith("nginx", StringComparison.Ordinal);
            if ((nginx ? context.Nginx : context.Haproxy) is null)
            {
                Console.WriteLine($"skipped {name}: install the Debian package '{(nginx ? "nginx" : "haproxy")}'");
                continue;
            }

            int port = ManagedProcess.FreePort();
            List<ManagedProcess> servers = await start(port).ConfigureAwait(false);
            targets.Add(new Target(name, new IPEndPoint(IPAddress.Loopback, port), ConnectTls, servers, IsBm1: false));
        }
    }

    private static Row Median(List<Row> rows)
    {
        static double Mid(IEnumerable<double> values)
        {
            double[] sorted = [.. values.Order()];
            return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
        }

        return new Row(rows[0].Server, Mid(rows.Select(r => r.PerSecond)), Mid(rows.Select(r => r.ServerCpuMs)), Mid(rows.Select(r => r.ClientCpuMs)),
            rows.Sum(r => r.Connections), rows.Sum(r => r.Errors), rows.Select(r => r.FirstError).FirstOrDefault(e => e is not null));
    }

    private static double MedianRatio(List<Row> a, List<Row> b)
    {
        double[] ratios = [.. a.Zip(b, (x, y) => x.ServerCpuMs / y.ServerCpuMs).Order()];
        return ratios.Length % 2 == 1 ? ratios[ratios.Length / 2] : (ratios[(ratios.Length / 2) - 1] + ratios[ratios.Length / 2]) / 2;
    }

    private static X509Certificate2 LoadClientCertificate(TlsPki pki)
    {
        // SslStream on Linux wants a certificate whose key is not ephemeral: round-trip through PKCS#12.
        using X509Certificate2 pem = X509Certificate2.CreateFromPemFile(pki.ClientCertPath, pki.ClientKeyPath);
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
    }

    /// <summary>Connects a bm1 client channel over a socket and authenticates the server as <paramref name="identity"/>.</summary>
    internal static Func<Socket, Task<Stream>> Bm1(PqChannelOptions options, string identity) => async socket =>
    {
        var channel = new PqChannelStream(new NetworkStream(socket, ownsSocket: true), options);
        await channel.AuthenticateAsClientAsync(identity).ConfigureAwait(false);
        return channel;
    };

    /// <summary>Until one GET through <paramref name="connect"/> answers 200 (20 s at most; a server that exits fails at once).</summary>
    /// <summary>The measured bm1 server's policy (the backend sidecar: STRICT inbound in front of the app, no routes);
    /// <paramref name="limits"/> and <paramref name="authorization"/> are single lines of <c>spec.inbound</c> or empty.
    /// Shared by <c>handshake-servers</c> and <c>handshake-flood</c>.</summary>
    internal static string BackendPolicy(int inbound, int appPort, string limits, string authorization = "") => $$"""
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        metadata: { name: backend, namespace: {{ScenarioContext.Namespace}} }
        spec:
          identity: {{BackendIdentity}}
          accessLog: false
          admin: { listen: "127.0.0.1:{{ManagedProcess.FreePort()}}" }
          inbound:
            listen: "127.0.0.1:{{inbound}}"
            app: "http://127.0.0.1:{{appPort}}"
            mode: STRICT
            {{limits}}
            {{authorization}}
          outbound:
            listen: "127.0.0.1:{{ManagedProcess.FreePort()}}"
            routes: []
        """;

    internal static async Task WaitUntilServingAsync(IPEndPoint endPoint, Func<Socket, Task<Stream>> connect, IReadOnlyList<ManagedProcess> servers)
    {
        long deadline = Stopwatch.GetTimestamp() + (20 * Stopwatch.Frequency);
        string last = "no answer";
        while (Stopwatch.GetTimestamp() < deadline)
        {
            foreach (ManagedProcess server in servers)
            {
                if (server.HasExited)
                {
                    throw new InvalidOperationException($"a server exited during start-up (log {server.LogPath}):\n{server.Tail()}");
                }
            }

            try
            {
                await OneRequestAsync(endPoint, connect).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or PqChannelException)
            {
                last = ex.Message;
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        throw new TimeoutException($"{endPoint} did not serve within 20 s: {last}\n{string.Join('\n', servers.Select(s => s.Tail(8)))}");
    }

    private static readonly byte[] Request = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: backend.bench\r\nConnection: close\r\n\r\n");

    /// <summary>Connect, handshake, one GET with <c>Connection: close</c>, read to the end; throws unless 200.</summary>
    private static async Task OneRequestAsync(IPEndPoint endPoint, Func<Socket, Task<Stream>> connect)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        await using Stream stream = await connect(socket).ConfigureAwait(false);
        await stream.WriteAsync(Request).ConfigureAwait(false);
        await stream.FlushAsync().ConfigureAwait(false);
        byte[] buffer = new byte[4096];
        int total = 0;
        while (true)
        {
            int read = await stream.ReadAsync(buffer.AsMemory(total)).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            total += read;
            if (total == buffer.Length)
            {
                total = 0;      // only the status line matters, and it was in the first read
            }
        }

        if (!Encoding.ASCII.GetString(buffer, 0, Math.Min(12, buffer.Length)).StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
        {
            throw new IOException("response was not HTTP/1.1 200: " + Encoding.ASCII.GetString(buffer, 0, Math.Min(40, total)));
        }
    }

    private static async Task<Row> MeasureAsync(string name, IPEndPoint endPoint, Func<Socket, Task<Stream>> connect, IReadOnlyList<ManagedProcess> servers, double seconds, int concurrency)
    {
        List<int> tree = ProcStats.Tree(servers.Select(s => s.Id));
        double serverBefore = ProcStats.CpuSeconds(tree);
        TimeSpan clientBefore = Process.GetCurrentProcess().TotalProcessorTime;
        long started = Stopwatch.GetTimestamp();
        (long ok, long errors, string? firstError) = await LoopAsync(endPoint, connect, TimeSpan.FromSeconds(seconds), concurrency).ConfigureAwait(false);
        double elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        double serverCpu = ProcStats.CpuSeconds(tree) - serverBefore;
        double clientCpu = (Process.GetCurrentProcess().TotalProcessorTime - clientBefore).TotalSeconds;
        long count = Math.Max(1, ok);
        return new Row(name, ok / elapsed, serverCpu / count * 1000, clientCpu / count * 1000, ok, errors, firstError);
    }

    private static async Task<(long Ok, long Errors, string? FirstError)> LoopAsync(IPEndPoint endPoint, Func<Socket, Task<Stream>> connect, TimeSpan duration, int concurrency)
    {
        long end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long ok = 0, errors = 0;
        string? firstError = null;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < end)
            {
                try
                {
                    await OneRequestAsync(endPoint, connect).ConfigureAwait(false);
                    Interlocked.Increment(ref ok);
                }
                catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or PqChannelException)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, ex.Message, null);
                }
            }
        }))).ConfigureAwait(false);
        return (ok, errors, firstError);
    }

    private static async Task<List<ManagedProcess>> StartNginxAsync(ScenarioContext context, TlsPki pki, int port)
    {
        string root = Path.Combine(context.Directory, "nginx-handshake");
        NginxScenario.CreateTempDirectories(root, "nginx");
        string config = $$"""
            {{NginxScenario.Prelude(root, "nginx", context.RunningAsRoot)}}
            http {
            {{NginxScenario.HttpCommon(root, "nginx")}}
                upstream app { server 127.0.0.1:{{context.AppPort}}; keepalive 64; }
                server {
                    listen 127.0.0.1:{{port}} ssl;
                    ssl_protocols TLSv1.3;
                    ssl_certificate {{pki.ServerCertPath}};
                    ssl_certificate_key {{pki.ServerKeyPath}};
                    ssl_client_certificate {{pki.CaPath}};
                    ssl_verify_client on;
                    ssl_session_cache off;
                    ssl_session_tickets off;
                    location / {
                        proxy_pass http://app;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                    }
                }
            }
            """;
        string path = Path.Combine(root, "nginx.conf");
        await File.WriteAllTextAsync(path, config).ConfigureAwait(false);
        return [ManagedProcess.Start(context.Nginx!, ["-p", root, "-c", path, "-e", Path.Combine(root, "nginx.error.log")], Path.Combine(root, "nginx.log"))];
    }

    private static async Task<List<ManagedProcess>> StartHaproxyAsync(ScenarioContext context, TlsPki pki, int port)
    {
        string root = Path.Combine(context.Directory, "haproxy-handshake");
        Directory.CreateDirectory(root);
        string config = $$"""
            global
                nbthread {{Environment.ProcessorCount}}
                maxconn 4096
                tune.ssl.cachesize 0
                ssl-default-bind-options no-tls-tickets
            defaults
                mode http
                timeout connect 5s
                timeout client 30s
                timeout server 30s
            frontend tls
                bind 127.0.0.1:{{port}} ssl crt {{pki.ServerBundlePath}} ca-file {{pki.CaPath}} verify required ssl-min-ver TLSv1.3 alpn http/1.1
                default_backend app
            backend app
                http-reuse always
                server app 127.0.0.1:{{context.AppPort}}

            """;
        string path = Path.Combine(root, "haproxy.cfg");
        await File.WriteAllTextAsync(path, config).ConfigureAwait(false);
        return [ManagedProcess.Start(context.Haproxy!, ["-db", "-f", path], Path.Combine(root, "haproxy.log"))];
    }
}
