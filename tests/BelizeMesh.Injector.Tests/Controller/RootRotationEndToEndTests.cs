using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using BelizeMesh.Channel;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Identity;
using BelizeMesh.Proxy.Configuration;
using BelizeMesh.Proxy.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Tests.Controller;

/// <summary>
/// A root rotation driven only through the root Secret, end to end: the controller rewrites the workloads' Secrets,
/// a kubelet stand-in projects each Secret into a volume (timestamped directory + <c>..data</c> symlink swap), real
/// sidecars (<see cref="ProxyHost"/>) hot-reload them, and requests keep flowing with none failing.
/// </summary>
public sealed partial class RootRotationEndToEndTests
{
    private const string Ns = "shop";
    private const string Nawal = "spiffe://cluster.local/ns/shop/sa/nawal";

    [Fact]
    public async Task Root_rotation_through_the_root_secret_keeps_real_sidecars_serving_with_zero_failed_requests()
    {
        await using var h = await ControllerHarness.StartAsync();
        h.Api.AddNamespace(Ns, optedIn: true);
        foreach (string sa in new[] { "nawal", "pakit", "kinich" })
        {
            h.Api.AddServiceAccount(Ns, sa);
        }

        var controller = h.Start("a");
        await h.Api.WaitForAsync(() => h.Serial(Ns, "nawal") is not null && h.Serial(Ns, "pakit") is not null && h.Serial(Ns, "kinich") is not null, "issued under root 1");

        using var stop = new CancellationTokenSource();
        await using var nawalVolume = KubeletVolume.Start(h, Ns, "belizemesh-certs-nawal", stop.Token);
        await using var pakitVolume = KubeletVolume.Start(h, Ns, "belizemesh-certs-pakit", stop.Token);
        await nawalVolume.WaitForContentAsync(d => d is not null);
        await pakitVolume.WaitForContentAsync(d => d is not null);

        await using var app = await EchoApp.StartAsync();
        await using var backend = await SidecarProcess.StartAsync(BackendPolicy(app.Url), nawalVolume.Path);
        await using var frontend = await SidecarProcess.StartAsync(FrontendPolicy(backend.Host.InboundEndPoint), pakitVolume.Path);
        await using var traffic = Traffic.Start(h, frontend, backend);
        await traffic.WaitForProgressAsync();

        using var root2 = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=Test Root 2,O=BelizeMesh" });
        string root1Serial = h.Root.Certificate.SerialNumber;

        // 1. Publish the new root next to the old one; nothing is signed with it yet.
        h.PutRootSecret(h.Root, root2.Certificate);
        await WaitForBundleAsync(h, backend, frontend, roots: 2);
        await traffic.WaitForProgressAsync();

        // 2. Sign with the new root: every certificate is reissued, both roots stay trusted.
        h.PutRootSecret(root2, h.Root.Certificate);
        await h.Api.WaitForAsync(() => backend.IssuerSerial != root1Serial && frontend.IssuerSerial != root1Serial, "both sidecars run on root-2 certificates", timeoutSeconds: 60);
        await traffic.WaitForProgressAsync();

        // 3. Drop the old root.
        h.PutRootSecret(root2);
        await WaitForBundleAsync(h, backend, frontend, roots: 1);
        await traffic.WaitForProgressAsync();

        await traffic.StopAsync();
        Assert.Empty(traffic.Failures);
        Assert.True(traffic.Completed > 30, $"only {traffic.Completed} requests completed");
        Assert.True(traffic.NewChannels > 3, $"only {traffic.NewChannels} new channels were opened");
        Assert.Equal(0, controller.Metrics.Failed);
        Assert.Equal(3, controller.Metrics.Renewed(Injector.Controller.RenewalReason.RootRotated));
    }

    private static async Task WaitForBundleAsync(ControllerHarness h, SidecarProcess backend, SidecarProcess frontend, int roots) =>
        await h.Api.WaitForAsync(() => backend.TrustedRoots == roots && frontend.TrustedRoots == roots, $"both sidecars trust {roots} root(s)", timeoutSeconds: 60);

    private static string BackendPolicy(string appUrl) => $"""
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        metadata: {"{"} name: nawal, namespace: {Ns} {"}"}
        spec:
          identity: {Nawal}
          admin: {"{"} listen: "127.0.0.1:0" {"}"}
          accessLog: false
          inbound:
            listen: "127.0.0.1:0"
            app: "{appUrl}"
            mode: STRICT
          outbound:
            listen: "127.0.0.1:0"
            routes: []
        """;

    private static string FrontendPolicy(IPEndPoint backend) => $"""
        apiVersion: belizemesh.io/v1alpha1
        kind: SidecarPolicy
        metadata: {"{"} name: pakit, namespace: {Ns} {"}"}
        spec:
          identity: spiffe://cluster.local/ns/{Ns}/sa/pakit
          admin: {"{"} listen: "127.0.0.1:0" {"}"}
          accessLog: false
          inbound:
            listen: "127.0.0.1:0"
            app: "http://127.0.0.1:1"
            mode: DISABLE
          outbound:
            mode: STRICT
            listen: "127.0.0.1:0"
            routes:
              - host: nawal.test
                endpoints: ["127.0.0.1:{backend.Port}"]
                identity: {Nawal}
        """;

    /// <summary>
    /// What the kubelet does for a Secret volume: each version of the Secret's data goes into a new timestamped
    /// directory, <c>..data</c> is switched to it with one rename(2), the user-visible names are symlinks through
    /// <c>..data</c>, and the previous version is removed.
    /// </summary>
    private sealed partial class KubeletVolume : IAsyncDisposable
    {
        private readonly ControllerHarness _h;
        private readonly string _ns;
        private readonly string _name;
        private Task _sync = Task.CompletedTask;
        private string? _current;
        private volatile Dictionary<string, string>? _content;

        private KubeletVolume(ControllerHarness h, string ns, string name)
        {
            _h = h;
            _ns = ns;
            _name = name;
            Path = Directory.CreateTempSubdirectory("belizemesh-kubelet-").FullName;
        }

        public string Path { get; }

        [LibraryImport("libc", EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8)]
        private static partial int Rename(string oldPath, string newPath);

        public static KubeletVolume Start(ControllerHarness h, string ns, string name, CancellationToken stop)
        {
            var volume = new KubeletVolume(h, ns, name);
            volume._sync = Task.Run(() => volume.SyncAsync(stop));
            return volume;
        }

        public Task WaitForContentAsync(Func<Dictionary<string, string>?, bool> condition) =>
            _h.Api.WaitForAsync(() => condition(_content), $"{_name} projected");

        private async Task SyncAsync(CancellationToken stop)
        {
            string? projected = null;
            while (!stop.IsCancellationRequested)
            {
                Task change = _h.Api.NextChangeAsync();
                string? version = _h.Api.Get("secrets", _ns, _name)?["metadata"]?["resourceVersion"]?.GetValue<string>();
                if (version is not null && version != projected && _h.SecretData(_ns, _name) is { } data)
                {
                    Publish(data);
                    projected = version;
                }

                try
                {
                    await change.WaitAsync(stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        private void Publish(Dictionary<string, string> data)
        {
            string version = "..".ToString() + DateTime.UtcNow.ToString("yyyy_MM_dd_HH_mm_ss.fffffff", CultureInfo.InvariantCulture) + "_" + Guid.NewGuid().ToString("N")[..6];
            Directory.CreateDirectory(System.IO.Path.Combine(Path, version));
            foreach (var (file, text) in data)
            {
                File.WriteAllText(System.IO.Path.Combine(Path, version, file), text);
            }

            string staged = System.IO.Path.Combine(Path, "..data_tmp");
            File.CreateSymbolicLink(staged, version);
            Assert.Equal(0, Rename(staged, System.IO.Path.Combine(Path, "..data")));
            foreach (string file in data.Keys)
            {
                var link = new FileInfo(System.IO.Path.Combine(Path, file));
                if (link.LinkTarget is null)
                {
                    File.CreateSymbolicLink(link.FullName, "..data/" + file);
                }
            }

            if (_current is not null)
            {
                Directory.Delete(System.IO.Path.Combine(Path, _current), recursive: true);
            }

            _current = version;
            _content = data;
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await _sync.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
            }

            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>A sidecar (<see cref="ProxyHost"/>, the program's own host) on a policy file and a certificates volume.</summary>
    private sealed class SidecarProcess : IAsyncDisposable
    {
        private readonly string _directory;

        private SidecarProcess(ProxyHost host, string directory)
        {
            Host = host;
            _directory = directory;
        }

        public ProxyHost Host { get; }

        public int TrustedRoots => Host.Certificates!.Current.Service.TrustBundle.Roots.Count;

        public string IssuerSerial
        {
            get
            {
                MeshCertificate leaf = Host.Certificates!.Current.Certificate;
                foreach (MeshCertificate root in Host.Certificates.Current.Service.TrustBundle.Roots)
                {
                    if (root.SubjectKeyIdentifier.Span.SequenceEqual(leaf.AuthorityKeyIdentifier.Span))
                    {
                        return root.SerialNumber;
                    }
                }

                return "";
            }
        }

        public static async Task<SidecarProcess> StartAsync(string policy, string certs)
        {
            string directory = Directory.CreateTempSubdirectory("belizemesh-sidecar-").FullName;
            string path = System.IO.Path.Combine(directory, "policy.yaml");
            await File.WriteAllTextAsync(path, policy);
            ProxyHost? host = ProxyHost.Create(
                new ProxyHostOptions
                {
                    PolicyPath = path,
                    CertsPath = certs,
                    WatchDebounce = TimeSpan.FromMilliseconds(50),
                    ConfigureLogging = logging => logging.SetMinimumLevel(LogLevel.Warning).ClearProviders(),
                },
                out IReadOnlyList<PolicyError> errors);
            Assert.True(host is not null, "policy rejected:\n" + string.Join("\n", errors));
            await host.StartAsync();
            return new SidecarProcess(host, directory);
        }

        public async ValueTask DisposeAsync()
        {
            await Host.DisposeAsync();
            Directory.Delete(_directory, recursive: true);
        }
    }

    /// <summary>
    /// Requests until stopped: three loops through the frontend's outbound listener (a pooled channel to the backend),
    /// and one that opens a new PQ channel to the backend for every request, as a third workload (kinich) whose
    /// credentials are read from its Secret at each request, so handshakes cross every phase of the rotation.
    /// </summary>
    private sealed class Traffic : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly HttpClient _http;
        private readonly Task[] _loops;
        private readonly ControllerHarness _h;
        private readonly SidecarProcess _backend;
        private int _completed;
        private int _newChannels;

        private Traffic(ControllerHarness h, SidecarProcess frontend, SidecarProcess backend)
        {
            _h = h;
            _backend = backend;
            int port = frontend.Host.OutboundEndPoint.Port;
            _http = new HttpClient(new SocketsHttpHandler
            {
                UseProxy = false,
                ConnectCallback = async (_, ct) =>
                {
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            })
            { Timeout = TimeSpan.FromSeconds(30) };
            _loops = [Run(OutboundAsync), Run(OutboundAsync), Run(OutboundAsync), Run(NewChannelAsync)];
        }

        public ConcurrentQueue<string> Failures { get; } = new();

        public int Completed => Volatile.Read(ref _completed);

        public int NewChannels => Volatile.Read(ref _newChannels);

        public static Traffic Start(ControllerHarness h, SidecarProcess frontend, SidecarProcess backend) => new(h, frontend, backend);

        private async Task<int> OutboundAsync()
        {
            using HttpResponseMessage response = await _http.GetAsync("http://nawal.test/echo");
            return (int)response.StatusCode;
        }

        private async Task<int> NewChannelAsync()
        {
            Dictionary<string, string> data = _h.SecretData(Ns, "belizemesh-certs-kinich")!;
            using ServiceCredentials own = ServiceCredentials.FromPem(data["tls.crt"], data["tls.key"], data["ca.crt"]);
            var verifier = new MeshCertificateVerifier(own.Validator);
            var options = new PqChannelOptions
            {
                Credentials = ChannelCredentials.Create(own.Certificate.RawData, own.PrivateKey, verifier),
                Verifier = verifier,
            };
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(_backend.Host.InboundEndPoint);
            await using var channel = new PqChannelStream(new NetworkStream(socket, ownsSocket: true), options);
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await channel.AuthenticateAsClientAsync(Nawal, deadline.Token);
            await channel.WriteAsync(Encoding.ASCII.GetBytes("GET /echo HTTP/1.1\r\nHost: nawal.test\r\nConnection: close\r\n\r\n"), deadline.Token);
            var response = new MemoryStream();
            await channel.CopyToAsync(response, deadline.Token);
            Interlocked.Increment(ref _newChannels);
            string text = Encoding.ASCII.GetString(response.ToArray());
            return text.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) ? int.Parse(text.AsSpan(9, 3), CultureInfo.InvariantCulture) : 0;
        }

        private Task Run(Func<Task<int>> request) => Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    int status = await request();
                    if (status != 200)
                    {
                        Failures.Enqueue($"status {status}");
                    }
                }
#pragma warning disable CA1031 // every kind of failure is what the test counts
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Failures.Enqueue(ex.ToString());
                }

                Interlocked.Increment(ref _completed);
            }
        });

        /// <summary>Waits until a few more requests of every kind have completed (so some ran after the last change).</summary>
        public async Task WaitForProgressAsync()
        {
            int target = Completed + 8;
            int channels = NewChannels + 2;
            await _h.Api.WaitForAsync(() => Completed >= target && NewChannels >= channels, "requests keep completing", timeoutSeconds: 60);
        }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(30));
        }

        public async ValueTask DisposeAsync()
        {
            if (!_stop.IsCancellationRequested)
            {
                await StopAsync();
            }

            _http.Dispose();
            _stop.Dispose();
        }
    }

    /// <summary>The application behind the backend sidecar: 200 "echo" on every path.</summary>
    private sealed class EchoApp : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private EchoApp(WebApplication app, string url)
        {
            _app = app;
            Url = url;
        }

        public string Url { get; }

        public static async Task<EchoApp> StartAsync()
        {
            WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            WebApplication app = builder.Build();
            app.Run(context => context.Response.WriteAsync("echo"));
            await app.StartAsync();
            return new EchoApp(app, app.Urls.First().Replace("[::1]", "127.0.0.1", StringComparison.Ordinal));
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
