using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BelizeMesh.Channel;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Identity;

namespace BelizeMesh.Perf.Channel;

/// <summary>
/// Channel benchmarks on 127.0.0.1, both ends in this process (so CPU figures cover client and server together),
/// each beside .NET's SslStream with TLS 1.3 measured in the same run the same way:
/// <list type="bullet">
/// <item><c>handshake</c>: sequential full handshakes on fresh TCP connections; wall time and process CPU per handshake.
/// TLS: mutual authentication with ECDSA P-256 certificates, resumption disabled, certificate check by thumbprint
/// (as cheap as our cached validator).</item>
/// <item><c>bulk</c>: one connection, 64 KiB writes, MB/s client→server then server→client, repeated (median and
/// range): plain TCP (the loopback ceiling), our Stream face on both ends, SslStream TLS_AES_256_GCM_SHA384, and our
/// Stream client against the Kestrel connection middleware (the sidecar's inbound face).</item>
/// </list>
/// </summary>
internal static class ChannelBenchmark
{
    private const string ServerId = "spiffe://cluster.local/ns/bench/sa/server";

    public static int Handshake(string[] args)
    {
        bool quick = args.Contains("--quick");
        int count = IntOption(args, "--count") ?? (quick ? 20 : 200);
        using var pki = BenchPki.Create();
        Console.WriteLine($"handshake: {count} sequential full handshakes each, loopback, client and server in one process ({Environment.ProcessorCount} cores)");

        var pq = MeasureHandshakes(count, async (client, server) =>
        {
            var c = new PqChannelStream(client, pki.ClientOptions);
            var s = new PqChannelStream(server, pki.ServerOptions);
            await Task.WhenAll(c.AuthenticateAsClientAsync(ServerId), s.AuthenticateAsServerAsync());
            return (c, s);
        });
        Print("bm1 hybrid KEMTLS (P-256 + ML-KEM-1024)", pq);

        var tls = MeasureHandshakes(count, async (client, server) =>
        {
            var c = new SslStream(client);
            var s = new SslStream(server);
            await Task.WhenAll(c.AuthenticateAsClientAsync(pki.TlsClientOptions()), s.AuthenticateAsServerAsync(pki.TlsServerOptions()));
            return (c, s);
        });
        Print("SslStream TLS 1.3 mutual (ECDSA P-256)", tls);
        Console.WriteLine($"ratio bm1/TLS: wall {pq.WallMs / tls.WallMs:0.00}x, CPU {pq.CpuMs / tls.CpuMs:0.00}x (targets: <= 1.0 wall, <= 1.5 CPU)");
        NodeTlsBaseline.Print(quick, pq);
        return 0;
    }

    public static int Bulk(string[] args)
    {
        bool quick = args.Contains("--quick");
        int megabytes = IntOption(args, "--mb") ?? (quick ? 64 : 512);
        int repeats = IntOption(args, "--repeat") ?? (quick ? 1 : 5);
        using var pki = BenchPki.Create();
        Console.WriteLine($"bulk: {megabytes} MiB per direction over one loopback connection, 64 KiB writes, {repeats} run(s) each, median (min–max) in MB/s = 10^6 bytes/s");

        var raw = MeasureBulk(megabytes, repeats, (client, server) => Task.FromResult<(Stream, Stream)>((client, server)));
        PrintBulk("TCP without encryption (the ceiling)", raw);

        var pq = MeasureBulk(megabytes, repeats, async (client, server) =>
        {
            var c = new PqChannelStream(client, pki.ClientOptions);
            var s = new PqChannelStream(server, pki.ServerOptions);
            await Task.WhenAll(c.AuthenticateAsClientAsync(ServerId), s.AuthenticateAsServerAsync());
            return (c, s);
        });
        PrintBulk("bm1 Stream <-> Stream", pq);

        var tls = MeasureBulk(megabytes, repeats, async (client, server) =>
        {
            var c = new SslStream(client);
            var s = new SslStream(server);
            await Task.WhenAll(c.AuthenticateAsClientAsync(pki.TlsClientOptions()), s.AuthenticateAsServerAsync(pki.TlsServerOptions()));
            return (c, s);
        });
        PrintBulk("SslStream TLS 1.3 AES-256-GCM", tls);

        var kestrel = MeasureKestrelBulk(megabytes, repeats, pki).GetAwaiter().GetResult();
        PrintBulk("bm1 Stream <-> Kestrel middleware", kestrel);

        static double M(BulkRun[] runs) => Median([.. runs.Select(r => r.MegabytesPerSecond)]);
        Console.WriteLine($"ratio bm1/TLS (Stream face): {M(pq.Up) / M(tls.Up):0.00}x up, {M(pq.Down) / M(tls.Down):0.00}x down; " +
            $"Kestrel face: {M(kestrel.Up) / M(tls.Up):0.00}x up, {M(kestrel.Down) / M(tls.Down):0.00}x down (targets: >= 1500 MB/s and >= 0.8x)");
        return 0;
    }

    private static void PrintBulk(string name, (BulkRun[] Up, BulkRun[] Down) f)
    {
        double[] up = [.. f.Up.Select(r => r.MegabytesPerSecond)];
        double[] down = [.. f.Down.Select(r => r.MegabytesPerSecond)];
        double cpu = Median([.. f.Up.Concat(f.Down).Select(r => r.CpuSecondsPerGigabyte)]);
        Console.WriteLine($"  {name,-38} client->server {Median(up),6:0} ({up.Min():0}–{up.Max():0})   server->client {Median(down),6:0} ({down.Min():0}–{down.Max():0})   " +
            $"CPU {cpu:0.00} s/GB (both ends; {Environment.ProcessorCount} cores allow at most {Environment.ProcessorCount / cpu * 1000:0} MB/s)");
    }

    /// <summary>One timed transfer: MB/s (10^6 bytes/s) and the process's CPU seconds (both ends, user + system) per GB.</summary>
    internal readonly record struct BulkRun(double MegabytesPerSecond, double CpuSecondsPerGigabyte)
    {
        public static BulkRun Measure(long bytes, long startTimestamp, TimeSpan cpuBefore)
        {
            double seconds = Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;
            double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
            return new BulkRun(bytes / seconds / 1e6, cpu / (bytes / 1e9));
        }
    }

    private static double Median(double[] values)
    {
        double[] sorted = [.. values];
        Array.Sort(sorted);
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static async Task<(BulkRun[] Up, BulkRun[] Down)> MeasureKestrelBulk(int megabytes, int repeats, BenchPki pki)
    {
        await using KestrelBulk bench = await KestrelBulk.StartAsync(pki.ServerOptions, pki.ClientOptions, ServerId);
        await bench.UploadAsync(16);     // warm-up
        await bench.DownloadAsync(16);
        var up = new BulkRun[repeats];
        var down = new BulkRun[repeats];
        for (int i = 0; i < repeats; i++)
        {
            up[i] = await bench.UploadAsync(megabytes);
            down[i] = await bench.DownloadAsync(megabytes);
        }

        return (up, down);
    }

    internal sealed record HandshakeFigures(double WallMs, double CpuMs, double P90Ms, int Count);

    private static void Print(string name, HandshakeFigures f) =>
        Console.WriteLine($"  {name,-42} {1000 / f.WallMs,8:0.0} handshakes/s   wall median {f.WallMs,7:0.00} ms (p90 {f.P90Ms:0.00})   CPU {f.CpuMs,7:0.00} ms/handshake");

    private static HandshakeFigures MeasureHandshakes(int count, Func<NetworkStream, NetworkStream, Task<(Stream, Stream)>> handshake)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var endpoint = (IPEndPoint)listener.LocalEndpoint;
        for (int i = 0; i < Math.Max(3, count / 10); i++)
        {
            Once().GetAwaiter().GetResult(); // warm-up: JIT, certificate cache
        }

        var times = new double[count];
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        for (int i = 0; i < count; i++)
        {
            times[i] = Once().GetAwaiter().GetResult();
        }

        double cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds;
        Array.Sort(times);
        return new HandshakeFigures(times[count / 2], cpuMs / count, times[(int)(count * 0.9)], count);

        async Task<double> Once()
        {
            var clientSocket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            long t0 = Stopwatch.GetTimestamp();
            Task connect = clientSocket.ConnectAsync(endpoint);
            Socket serverSocket = await listener.AcceptSocketAsync();
            await connect;
            serverSocket.NoDelay = true;
            var (c, s) = await handshake(new NetworkStream(clientSocket, ownsSocket: true), new NetworkStream(serverSocket, ownsSocket: true));
            double elapsed = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            await c.DisposeAsync();
            await s.DisposeAsync();
            return elapsed;
        }
    }

    private static (BulkRun[] Up, BulkRun[] Down) MeasureBulk(int megabytes, int repeats, Func<NetworkStream, NetworkStream, Task<(Stream, Stream)>> handshake)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var clientSocket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Task connect = clientSocket.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        Socket serverSocket = listener.AcceptSocket();
        connect.GetAwaiter().GetResult();
        var (client, server) = handshake(new NetworkStream(clientSocket, ownsSocket: true), new NetworkStream(serverSocket, ownsSocket: true)).GetAwaiter().GetResult();
        try
        {
            Transfer(client, server, 16); // warm-up
            Transfer(server, client, 16);
            var up = new BulkRun[repeats];
            var down = new BulkRun[repeats];
            for (int i = 0; i < repeats; i++)
            {
                up[i] = Transfer(client, server, megabytes);
                down[i] = Transfer(server, client, megabytes);
            }

            return (up, down);
        }
        finally
        {
            client.Dispose();
            server.Dispose();
        }
    }

    /// <summary>Writes <paramref name="megabytes"/> MiB from one side while the other reads them.</summary>
    private static BulkRun Transfer(Stream writer, Stream reader, int megabytes)
    {
        long total = (long)megabytes * 1024 * 1024;
        byte[] chunk = RandomNumberGenerator.GetBytes(64 * 1024);
        TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        long t0 = Stopwatch.GetTimestamp();
        Task write = Task.Run(async () =>
        {
            for (long sent = 0; sent < total; sent += chunk.Length)
            {
                await writer.WriteAsync(chunk);
            }

            await writer.FlushAsync();
        });
        Task read = Task.Run(() => DrainAsync(reader, new byte[64 * 1024], total));
        Task.WaitAll(write, read);
        return BulkRun.Measure(total, t0, cpu0);
    }

    /// <summary>Reads and discards exactly <paramref name="total"/> bytes.</summary>
    internal static async Task DrainAsync(Stream reader, byte[] buffer, long total)
    {
        long received = 0;
        while (received < total)
        {
            int n = await reader.ReadAsync(buffer);
            if (n == 0)
            {
                throw new IOException($"the stream ended after {received} of {total} bytes");
            }

            received += n;
        }
    }

    private static int? IntOption(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int v) ? v : null;
    }

    /// <summary>Mesh certificates from a real CA for the channel, and ECDSA P-256 self-signed certificates for TLS.</summary>
    private sealed class BenchPki : IDisposable
    {
        private readonly CertificateAuthority _ca;
        private readonly IssuedCertificate _server;
        private readonly IssuedCertificate _client;
        private readonly X509Certificate2 _tlsServer;
        private readonly X509Certificate2 _tlsClient;

        private BenchPki()
        {
            _ca = CertificateAuthority.CreateRoot();
            _server = _ca.Issue(new ServiceCertificateRequest { Service = "server", Namespace = "bench" });
            _client = _ca.Issue(new ServiceCertificateRequest { Service = "client", Namespace = "bench" });
            var verifier = new MeshCertificateVerifier(new CertificateValidator(_ca.TrustBundle, new CertificateValidatorOptions()));
            ServerOptions = new PqChannelOptions { Credentials = ChannelCredentials.Create(_server.Certificate.RawData, _server.PrivateKey, verifier), Verifier = verifier };
            ClientOptions = new PqChannelOptions { Credentials = ChannelCredentials.Create(_client.Certificate.RawData, _client.PrivateKey, verifier), Verifier = verifier };
            _tlsServer = SelfSigned("CN=server.bench");
            _tlsClient = SelfSigned("CN=client.bench");
        }

        public PqChannelOptions ServerOptions { get; }

        public PqChannelOptions ClientOptions { get; }

        public static BenchPki Create() => new();

        public SslServerAuthenticationOptions TlsServerOptions() => new()
        {
            ServerCertificateContext = SslStreamCertificateContext.Create(_tlsServer, additionalCertificates: null, offline: true),
            EnabledSslProtocols = SslProtocols.Tls13,
            ClientCertificateRequired = true,
            AllowTlsResume = false,
            CipherSuitesPolicy = OperatingSystem.IsWindows() ? null : new CipherSuitesPolicy([TlsCipherSuite.TLS_AES_256_GCM_SHA384]),
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && certificate.GetCertHashString() == _tlsClient.Thumbprint,
        };

        public SslClientAuthenticationOptions TlsClientOptions() => new()
        {
            TargetHost = "server.bench",
            EnabledSslProtocols = SslProtocols.Tls13,
            ClientCertificates = [_tlsClient],
            AllowTlsResume = false,
            CipherSuitesPolicy = OperatingSystem.IsWindows() ? null : new CipherSuitesPolicy([TlsCipherSuite.TLS_AES_256_GCM_SHA384]),
            RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && certificate.GetCertHashString() == _tlsServer.Thumbprint,
        };

        private static X509Certificate2 SelfSigned(string subject)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
            using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), password: null);
        }

        public void Dispose()
        {
            _server.Dispose();
            _client.Dispose();
            _ca.Dispose();
            _tlsServer.Dispose();
            _tlsClient.Dispose();
        }
    }
}
