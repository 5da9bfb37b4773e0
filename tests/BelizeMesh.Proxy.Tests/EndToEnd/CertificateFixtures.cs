using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using BelizeMesh.Channel;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Identity;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>One issued service certificate as the files of a Secret hold it.</summary>
internal sealed record IssuedPem(string Certificate, string Key, MeshCertificate Parsed)
{
    public string Fingerprint => Convert.ToHexString(Parsed.Sha256Fingerprint.Span);
}

/// <summary>
/// Roots for rotation tests, created once per run: <see cref="RootA"/> (in force), <see cref="RootB"/> (the next
/// root, same subject name as a real rotation keeps it, told apart by its key identifier) and an unrelated
/// <see cref="Rogue"/>. The roots issue on a clock the caller sets per certificate (expired ones are issued in the past).
/// </summary>
internal sealed class RotationPki
{
    private static readonly Lazy<RotationPki> s_instance = new(() => new RotationPki());

    private readonly Lock _gate = new();
    private readonly SettableClock _clock = new();

    private RotationPki()
    {
        _clock.Now = DateTimeOffset.UtcNow.AddDays(-1000);
        RootA = CertificateAuthority.CreateRoot(new RootCertificateOptions { Time = _clock });
        RootB = CertificateAuthority.CreateRoot(new RootCertificateOptions { Time = _clock });
        Rogue = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = "CN=Rogue CA,O=Elsewhere", Time = _clock });
    }

    public static RotationPki Instance => s_instance.Value;

    public CertificateAuthority RootA { get; }

    public CertificateAuthority RootB { get; }

    public CertificateAuthority Rogue { get; }

    /// <summary>A fresh key and certificate for <c>spiffe://cluster.local/ns/belizechain/sa/{service}</c>, issued <paramref name="age"/> ago.</summary>
    public IssuedPem Issue(CertificateAuthority root, string service, TimeSpan? validity = null, TimeSpan? age = null, string trustDomain = SpiffeId.DefaultTrustDomain)
    {
        lock (_gate)
        {
            _clock.Now = DateTimeOffset.UtcNow - (age ?? TimeSpan.FromMinutes(1));
            using IssuedCertificate issued = root.Issue(new ServiceCertificateRequest { Service = service, Namespace = "belizechain", TrustDomain = trustDomain, Validity = validity ?? TimeSpan.FromDays(90) });
            return new IssuedPem(issued.CertificatePem, issued.ExportPrivateKeyPem(), issued.Certificate);
        }
    }

    public static string Bundle(params CertificateAuthority[] roots) => string.Concat(roots.Select(r => r.Certificate.ToPem()));

    public static MeshCertificateVerifier Trusting(params CertificateAuthority[] roots)
        => new(new CertificateValidator(TrustBundle.Parse(Bundle(roots)), new CertificateValidatorOptions()));

    public static MeshCertificateVerifier Trusting(string trustDomain, params CertificateAuthority[] roots)
        => new(new CertificateValidator(TrustBundle.Parse(Bundle(roots)), new CertificateValidatorOptions { TrustDomain = trustDomain }));

    /// <summary>Credentials for a test client or server of the channel (dispose: zeroes the key).</summary>
    public static ServiceCredentials Load(IssuedPem issued, params CertificateAuthority[] roots) => ServiceCredentials.FromPem(issued.Certificate, issued.Key, Bundle(roots));

    private sealed class SettableClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; }

        public override DateTimeOffset GetUtcNow() => Now;
    }
}

/// <summary>
/// A certificates directory laid out and updated as the kubelet does for a Secret volume: the files live in a
/// versioned directory <c>..vN</c>, <c>..data</c> points at it, <c>tls.crt</c> → <c>..data/tls.crt</c> (and so on); an
/// update writes <c>..vN+1</c>, swaps <c>..data</c> with one rename(2) and deletes the old version.
/// </summary>
internal sealed partial class SecretVolume : IDisposable
{
    private static readonly string[] s_files = [ServiceCredentials.CertificateFileName, ServiceCredentials.KeyFileName, ServiceCredentials.TrustBundleFileName];

    private int _version;
    private string? _current;

    private SecretVolume(string path) => Path = path;

    public string Path { get; }

    // rename(2) replaces the ..data symlink atomically; File.Move would follow the link to the directory.
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "rename", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int Rename(string oldPath, string newPath);

    public static SecretVolume Create(IssuedPem leaf, string bundle)
    {
        var volume = new SecretVolume(Directory.CreateTempSubdirectory("belizemesh-certs-").FullName);
        volume.Publish(leaf, bundle);
        return volume;
    }

    public void Publish(IssuedPem leaf, string bundle) => Publish(leaf.Certificate, leaf.Key, bundle);

    /// <summary>Atomically replaces the whole set; a null file is absent from the new version.</summary>
    public void Publish(string? certificate, string? key, string? bundle)
    {
        string version = $"..v{++_version}";
        Directory.CreateDirectory(System.IO.Path.Combine(Path, version));
        string?[] contents = [certificate, key, bundle];
        for (int i = 0; i < s_files.Length; i++)
        {
            if (contents[i] is { } text)
            {
                File.WriteAllText(System.IO.Path.Combine(Path, version, s_files[i]), text);
            }
        }

        string staged = System.IO.Path.Combine(Path, "..data_tmp");
        File.CreateSymbolicLink(staged, version);
        Assert.Equal(0, Rename(staged, System.IO.Path.Combine(Path, "..data")));
        foreach (string name in s_files)
        {
            // The user-visible links, made once (or again after WriteInPlace replaced one with a plain file).
            var entry = new FileInfo(System.IO.Path.Combine(Path, name));
            if (entry.LinkTarget is null)
            {
                entry.Delete();
                File.CreateSymbolicLink(entry.FullName, "..data/" + name);
            }
        }

        if (_current is not null)
        {
            Directory.Delete(System.IO.Path.Combine(Path, _current), recursive: true);
        }

        _current = version;
    }

    /// <summary>Replaces one file in place, not atomically, as an updater that writes the files one by one.</summary>
    public void WriteInPlace(string name, string content)
    {
        string path = System.IO.Path.Combine(Path, name);
        File.Delete(path); // the link, not its target
        File.WriteAllText(path, content);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Verifies through <paramref name="inner"/> and remembers the last certificate the peer presented.</summary>
internal sealed class RecordingVerifier(IPeerCertificateVerifier inner) : IPeerCertificateVerifier
{
    private volatile byte[]? _last;

    /// <summary>SHA-256 of the last certificate verified, hex.</summary>
    public string? LastFingerprint => _last is { } der ? Convert.ToHexString(SHA256.HashData(der)) : null;

    public PeerVerification Verify(ReadOnlySpan<byte> certificateDer)
    {
        _last = certificateDer.ToArray();
        return inner.Verify(certificateDer);
    }
}

/// <summary>A caller that opens a new PQ channel for every request, so each request is a new handshake.</summary>
internal static class ChannelClient
{
    /// <summary>One HTTP/1.1 GET over a fresh channel; the status and the fingerprint of the certificate the server presented.</summary>
    public static async Task<(int Status, string ServerFingerprint)> GetAsync(IPEndPoint endpoint, ServiceCredentials own, IPeerCertificateVerifier trust, string expectedIdentity, string path = "/echo", IPAddress? source = null)
    {
        var recorder = new RecordingVerifier(trust);
        var options = new PqChannelOptions
        {
            Credentials = ChannelCredentials.Create(own.Certificate.RawData, own.PrivateKey, new MeshCertificateVerifier(own.Validator)),
            Verifier = recorder,
        };
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (source is not null)
        {
            socket.Bind(new IPEndPoint(source, 0)); // another loopback address is another source to the server
        }

        await socket.ConnectAsync(endpoint);
        await using var channel = new PqChannelStream(new NetworkStream(socket, ownsSocket: true), options);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await channel.AuthenticateAsClientAsync(expectedIdentity, deadline.Token);
        await channel.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: nawal.test\r\nConnection: close\r\n\r\n"), deadline.Token);
        var response = new MemoryStream();
        await channel.CopyToAsync(response, deadline.Token);
        string text = Encoding.ASCII.GetString(response.ToArray());
        Assert.StartsWith("HTTP/1.1 ", text, StringComparison.Ordinal);
        return (int.Parse(text.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture), recorder.LastFingerprint!);
    }
}

/// <summary>
/// A PQ channel server of the test's own (Kestrel, HTTP/2 inside, answers 200 "probe") that records the certificate
/// each client presents: an outbound sidecar's first request to it opens a new channel, which shows what that
/// sidecar presents and trusts for new handshakes.
/// </summary>
internal sealed class ProbeServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly RecordingVerifier _clients;

    private ProbeServer(WebApplication app, RecordingVerifier clients, int port)
    {
        _app = app;
        _clients = clients;
        Endpoint = $"127.0.0.1:{port}";
    }

    public string Endpoint { get; }

    public string? LastClientFingerprint => _clients.LastFingerprint;

    public static async Task<ProbeServer> StartAsync(ServiceCredentials own, IPeerCertificateVerifier trust)
    {
        var clients = new RecordingVerifier(trust);
        var options = new PqChannelOptions
        {
            Credentials = ChannelCredentials.Create(own.Certificate.RawData, own.PrivateKey, new MeshCertificateVerifier(own.Validator)),
            Verifier = clients,
        };
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http2; // routes to it set h2UpgradePolicy: UPGRADE, so HTTP/1.1 requests arrive as HTTP/2
            listen.UsePqChannel(options);
        }));
        WebApplication app = builder.Build();
        app.Run(context => context.Response.WriteAsync("probe\n"));
        await app.StartAsync();
        return new ProbeServer(app, clients, new Uri(app.Urls.First()).Port);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Keeps every log entry (the sidecar's own minimum level applies).</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner.Entries.Enqueue((logLevel, formatter(state, exception)));
    }
}
