using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace BelizeMesh.Perf.Injector;

/// <summary>
/// Load test of the real <c>belizemesh-injector serve</c>: the injector runs as its own process (so its resident memory
/// is its own), HTTPS on loopback with a throwaway ECDSA certificate; N concurrent clients POST realistic pod
/// AdmissionReviews for a fixed time and every answer is checked (200, allowed, a JSONPatch). Prints throughput,
/// latency percentiles and the server's RSS. Targets: at least 5,000 reviews/s, p99 at most 5 ms, RSS at most 60 MB.
/// </summary>
/// <remarks>
/// Options: <c>--seconds N</c> (measured run, default 10), <c>--warmup N</c> (default 3), <c>--concurrency N</c>
/// (default 8), <c>--http2</c> (one multiplexed connection instead of N HTTP/1.1 connections), <c>--server PATH</c>
/// (run a published <c>belizemesh-injector</c> executable instead of the referenced build's dll). Client and server
/// share the machine's cores, so the figures are a floor for the server alone.
/// </remarks>
internal static class InjectorBenchmark
{
    public static int Run(string[] args)
    {
        int seconds = IntOption(args, "--seconds", 10);
        int warmup = IntOption(args, "--warmup", 3);
        int concurrency = IntOption(args, "--concurrency", 8);
        bool http2 = args.Contains("--http2");

        int serverIndex = Array.IndexOf(args, "--server");
        string? published = serverIndex >= 0 && serverIndex + 1 < args.Length ? Path.GetFullPath(args[serverIndex + 1]) : null;
        string? dll = published ?? FindInjector();
        if (dll is null || !File.Exists(dll))
        {
            Console.Error.WriteLine("belizemesh-injector.dll not found: build injector/BelizeMesh.Injector (the perf project references it).");
            return 1;
        }

        string dir = Directory.CreateTempSubdirectory("bm-injector-perf-").FullName;
        Process? server = null;
        try
        {
            var (certPath, keyPath, thumbprint) = WriteCertificate(dir);
            int port = FreePort();
            string[] serve = ["serve", "--listen", $"127.0.0.1:{port}", "--tls-cert", certPath, "--tls-key", keyPath];
            var psi = new ProcessStartInfo(published ?? "dotnet", published is null ? [dll, .. serve] : serve)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            server = Process.Start(psi)!;
            server.OutputDataReceived += (_, _) => { };
            server.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("server: " + e.Data); } };
            server.BeginOutputReadLine();
            server.BeginErrorReadLine();

            using HttpClient client = CreateClient(port, thumbprint, concurrency, http2);
            WaitUntilHealthy(client, server);
            long idleRss = ReadStatus(server.Id, "VmRSS");

            byte[] body = Encoding.UTF8.GetBytes(ReviewJson());
            Console.WriteLine($"injector benchmark: server {(published ?? "dotnet " + dll)}");
            Console.WriteLine($"injector benchmark: {(http2 ? "HTTP/2, 1 connection" : $"HTTP/1.1, {concurrency} connections")}, {concurrency} concurrent clients, review {body.Length} bytes, server pid {server.Id}");
            Load(client, body, concurrency, TimeSpan.FromSeconds(warmup), out _, out _);
            List<long> latencies = Load(client, body, concurrency, TimeSpan.FromSeconds(seconds), out long errors, out TimeSpan elapsed);

            long rss = ReadStatus(server.Id, "VmRSS");
            long peak = ReadStatus(server.Id, "VmHWM");
            long anon = ReadStatus(server.Id, "RssAnon");
            latencies.Sort();
            double perSecond = latencies.Count / elapsed.TotalSeconds;
            double p50 = Percentile(latencies, 0.50), p90 = Percentile(latencies, 0.90), p99 = Percentile(latencies, 0.99), max = Ms(latencies[^1]);
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(inv, $"requests      {latencies.Count} in {elapsed.TotalSeconds:F1} s, errors {errors}"));
            Console.WriteLine(string.Create(inv, $"throughput    {perSecond:F0} reviews/s   (target >= 5000: {(perSecond >= 5000 ? "met" : "NOT met")})"));
            Console.WriteLine(string.Create(inv, $"latency       p50 {p50:F3} ms, p90 {p90:F3} ms, p99 {p99:F3} ms, max {max:F3} ms   (target p99 <= 5 ms: {(p99 <= 5 ? "met" : "NOT met")})"));
            Console.WriteLine(string.Create(inv, $"server RSS    idle {idleRss / 1024.0:F1} MB, after load {rss / 1024.0:F1} MB, peak {peak / 1024.0:F1} MB   (target <= 60 MB: {(peak / 1024.0 <= 60 ? "met" : "NOT met")}); private (RssAnon) {anon / 1024.0:F1} MB"));
            (double sum, double count) = ServerSideTotals(client);
            if (count > 0)
            {
                Console.WriteLine(string.Create(inv, $"server side   mean {sum / count * 1000:F3} ms per review inside the handler (from /metrics, {count:F0} reviews incl. warm-up)"));
            }

            return errors == 0 ? 0 : 1;
        }
        finally
        {
            if (server is { HasExited: false })
            {
                server.Kill(entireProcessTree: true);
                server.WaitForExit(5000);
            }

            server?.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static List<long> Load(HttpClient client, byte[] body, int concurrency, TimeSpan duration, out long errors, out TimeSpan elapsed)
    {
        var all = new List<long>[concurrency];
        long failed = 0;
        long deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long started = Stopwatch.GetTimestamp();
        var tasks = new Task[concurrency];
        for (int w = 0; w < concurrency; w++)
        {
            int worker = w;
            all[worker] = new List<long>(1 << 16);
            tasks[w] = Task.Run(async () =>
            {
                while (Stopwatch.GetTimestamp() < deadline)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    using var content = new ByteArrayContent(body);
                    content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    using HttpResponseMessage response = await client.PostAsync("/inject", content).ConfigureAwait(false);
                    byte[] answer = await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                    long t1 = Stopwatch.GetTimestamp();
                    if (response.StatusCode != HttpStatusCode.OK || answer.AsSpan().IndexOf("\"patchType\":\"JSONPatch\""u8) < 0)
                    {
                        Interlocked.Increment(ref failed);
                        continue;
                    }

                    all[worker].Add(t1 - t0);
                }
            });
        }

        Task.WaitAll(tasks);
        elapsed = Stopwatch.GetElapsedTime(started);
        errors = failed;
        var merged = new List<long>();
        foreach (List<long> list in all)
        {
            merged.AddRange(list);
        }

        return merged;
    }

    /// <summary>The injector's own latency histogram sum and count: handler time without the client or the queueing.</summary>
    private static (double Sum, double Count) ServerSideTotals(HttpClient client)
    {
        double sum = 0, count = 0;
        foreach (string line in client.GetStringAsync("/metrics").GetAwaiter().GetResult().Split('\n'))
        {
            if (line.StartsWith("belizemesh_injector_request_duration_seconds_sum ", StringComparison.Ordinal))
            {
                sum = double.Parse(line.AsSpan(line.IndexOf(' ') + 1), CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("belizemesh_injector_request_duration_seconds_count ", StringComparison.Ordinal))
            {
                count = double.Parse(line.AsSpan(line.IndexOf(' ') + 1), CultureInfo.InvariantCulture);
            }
        }

        return (sum, count);
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    private static double Percentile(List<long> sorted, double p) => Ms(sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)]);

    private static HttpClient CreateClient(int port, string thumbprint, int concurrency, bool http2)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = http2 ? 1 : concurrency, EnableMultipleHttp2Connections = false };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == thumbprint;
        return new HttpClient(handler)
        {
            BaseAddress = new Uri($"https://127.0.0.1:{port}"),
            DefaultRequestVersion = http2 ? HttpVersion.Version20 : HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    private static void WaitUntilHealthy(HttpClient client, Process server)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"belizemesh-injector exited with {server.ExitCode} before answering /healthz");
            }

            try
            {
                using HttpResponseMessage response = client.GetAsync("/healthz").GetAwaiter().GetResult();
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            Thread.Sleep(100); // start-up poll, not part of any measurement
        }

        throw new TimeoutException("belizemesh-injector did not answer /healthz within 30 s");
    }

    private static (string Cert, string Key, string Thumbprint) WriteCertificate(string dir)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=belizemesh-injector.belizemesh-system.svc", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        string certPath = Path.Combine(dir, "tls.crt");
        string keyPath = Path.Combine(dir, "tls.key");
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath, certificate.GetCertHashString());
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>A kB figure from /proc/PID/status (VmRSS, VmHWM).</summary>
    private static long ReadStatus(int pid, string field)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(field.Length + 1).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }

    private static string? FindInjector()
    {
        string local = Path.Combine(AppContext.BaseDirectory, "belizemesh-injector.dll");
        if (File.Exists(local) && File.Exists(Path.Combine(AppContext.BaseDirectory, "belizemesh-injector.runtimeconfig.json")))
        {
            return local;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (string configuration in new[] { "Release", "Debug" })
            {
                string candidate = Path.Combine(dir.FullName, "injector", "BelizeMesh.Injector", "bin", configuration, "net10.0", "belizemesh-injector.dll");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    private static int IntOption(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : fallback;
    }

    /// <summary>A realistic review: a three-container pod with probes, env, volumes and annotations, as a ReplicaSet creates it.</summary>
    private static string ReviewJson() => """
        {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},
        "requestKind":{"group":"","version":"v1","kind":"Pod"},"requestResource":{"group":"","version":"v1","resource":"pods"},
        "namespace":"belizechain","operation":"CREATE","userInfo":{"username":"system:serviceaccount:kube-system:replicaset-controller","uid":"a1b2","groups":["system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"]},
        "object":{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"pakit-7d9f8c6b5-","namespace":"belizechain",
        "labels":{"app":"pakit","pod-template-hash":"7d9f8c6b5","version":"v1"},
        "annotations":{"prometheus.io/scrape":"true","prometheus.io/port":"9102","checksum/config":"6f1ed002ab5595859014ebf0951522d9"},
        "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"pakit-7d9f8c6b5","uid":"8c1c7e0a-1111-2222-3333-444455556666","controller":true,"blockOwnerDeletion":true}]},
        "spec":{"serviceAccountName":"pakit","terminationGracePeriodSeconds":45,"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler",
        "securityContext":{"fsGroup":2000},
        "containers":[
        {"name":"pakit","image":"ghcr.io/belizechain/pakit:2.4.1","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"},{"name":"grpc","containerPort":9090,"protocol":"TCP"}],
         "env":[{"name":"ENABLE_UPLOADS","value":"true"},{"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}}],
         "readinessProbe":{"httpGet":{"path":"/ready","port":"http","scheme":"HTTP"},"periodSeconds":10,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3},
         "livenessProbe":{"grpc":{"port":9090,"service":""},"initialDelaySeconds":15,"periodSeconds":10,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3},
         "resources":{"requests":{"cpu":"250m","memory":"256Mi"},"limits":{"cpu":"1","memory":"1Gi"}},
         "volumeMounts":[{"name":"data","mountPath":"/data"},{"name":"kube-api-access-x7k2p","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],
         "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"},
        {"name":"log-shipper","image":"fluent/fluent-bit:3.1","args":["-c","/fluent-bit/etc/fluent-bit.conf"],"ports":[{"name":"metrics","containerPort":2020,"protocol":"TCP"}],"resources":{},
         "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"},
        {"name":"cache","image":"redis:7.4","command":["redis-server","--port","6379"],"startupProbe":{"tcpSocket":{"port":6379},"failureThreshold":30,"periodSeconds":2},"resources":{},
         "terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],
        "volumes":[{"name":"data","persistentVolumeClaim":{"claimName":"pakit-data"}},
         {"name":"kube-api-access-x7k2p","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}}],"defaultMode":420}}],
        "tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],
        "enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority","priority":0},"status":{}},
        "oldObject":null,"dryRun":false,"options":{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"}}}
        """;
}
