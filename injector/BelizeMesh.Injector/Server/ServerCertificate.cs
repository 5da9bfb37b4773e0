using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BelizeMesh.Configuration;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Server;

/// <summary>
/// The webhook's serving certificate (classical TLS: the API server speaks it), from PEM files, on the shared
/// keep-last-good <see cref="WatchedStore{T}"/>. Reloaded when the mounted Secret changes (cert-manager rotation); a
/// bad pair is logged once per distinct content (an unreadable file at every look) and the last good one keeps serving.
/// </summary>
internal sealed partial class ServerCertificate : IDisposable
{
    private readonly string _certPath;
    private readonly string _keyPath;
    private readonly ILogger _logger;
    private readonly WatchedStore<X509Certificate2> _store;
    private bool _watching;

    /// <summary>Loads the pair; throws <see cref="InvalidOperationException"/> with the file names and the fix.</summary>
    public ServerCertificate(string certPath, string keyPath, ILogger logger)
    {
        _certPath = Path.GetFullPath(certPath);
        _keyPath = Path.GetFullPath(keyPath);
        _logger = logger;
        if (!TryRead(_certPath, _keyPath, out string? cert, out string? key, out Exception? error)
            || !TryCreate(cert, key, out X509Certificate2? initial, out error))
        {
            throw Problem(_certPath, _keyPath, error);
        }

        _store = new WatchedStore<X509Certificate2>(initial, Fingerprint(cert, key), Load, new WatchedStoreHooks<X509Certificate2>
        {
            // The previous instance may still be in use by handshakes in flight; left to the GC.
            Applied = (_, next) =>
            {
                LogCertificateReloaded(_logger, _certPath, next.NotAfter);
                Reloaded?.Invoke(true);
            },
            Rejected = (_, failure) =>
            {
                LogCertificateReloadFailed(_logger, failure.Reason);
                Reloaded?.Invoke(false);
            },
            Restored = current => LogCertificateBackInForce(_logger, _certPath, current.NotAfter),
        });
    }

    public X509Certificate2 Current => _store.Current;

    /// <summary>Whether the certificate files are the pair in force (<see cref="WatchedStore{T}.InputInForce"/>).</summary>
    public bool FilesInForce => _store.InputInForce;

    /// <summary>Raised after a reload attempt that saw a different pair, with whether it took effect.</summary>
    public event Action<bool>? Reloaded;

    /// <summary>Starts watching the certificate's directory (and polling it every <paramref name="pollInterval"/>).</summary>
    public void Watch(TimeSpan settle, TimeSpan pollInterval, TimeProvider time)
    {
        if (!_watching)
        {
            _watching = true;
            _store.Watch(Path.GetDirectoryName(_certPath)!, settle, pollInterval, time, (fault, e) => LogWatchFailed(_logger, fault, e));
        }
    }

    /// <summary>Re-reads the pair now (the watcher does this at every change and poll); returns true when a new
    /// certificate took effect.</summary>
    internal bool Reload() => _store.Reload() == ReloadOutcome.Applied;

    /// <summary>Reads and loads the PEM certificate and its private key (PKCS#8, RSA or EC).</summary>
    private WatchedLoad<X509Certificate2> Load(WatchedLoadContext<X509Certificate2> context)
    {
        if (!TryRead(_certPath, _keyPath, out string? cert, out string? key, out Exception? error))
        {
            return WatchedLoad<X509Certificate2>.Failed(ReloadFailure.FromReason(Problem(_certPath, _keyPath, error).Message), fingerprint: null);
        }

        string fingerprint = Fingerprint(cert, key);
        if (context.IsCurrent(fingerprint))
        {
            return WatchedLoad<X509Certificate2>.InForce; // e.g. a broken pair undone
        }

        if (context.WasRejected(fingerprint))
        {
            return WatchedLoad<X509Certificate2>.Unchanged; // reported once already
        }

        return TryCreate(cert, key, out X509Certificate2? next, out error)
            ? WatchedLoad<X509Certificate2>.Loaded(next, fingerprint)
            : WatchedLoad<X509Certificate2>.Failed(ReloadFailure.FromReason(Problem(_certPath, _keyPath, error).Message), fingerprint);
    }

    private static bool TryRead(string certPath, string keyPath, [NotNullWhen(true)] out string? cert, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out Exception? error)
    {
        try
        {
            cert = File.ReadAllText(certPath);
            key = File.ReadAllText(keyPath);
            error = null;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            (cert, key, error) = (null, null, e);
            return false;
        }
    }

    private static bool TryCreate(string cert, string key, [NotNullWhen(true)] out X509Certificate2? certificate, [NotNullWhen(false)] out Exception? error)
    {
        try
        {
            certificate = X509Certificate2.CreateFromPem(cert, key);
            error = null;
            return true;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            (certificate, error) = (null, e);
            return false;
        }
    }

    private static string Fingerprint(string cert, string key) => WatchedStore.Fingerprint(cert + "\n--- key ---\n" + key);

    private static InvalidOperationException Problem(string certPath, string keyPath, Exception e) => new(
        $"cannot load the TLS certificate {certPath} with key {keyPath}: {e.Message}. " +
        "Pass a PEM certificate (--tls-cert) and its matching PEM private key (--tls-key), e.g. tls.crt and tls.key of a kubernetes.io/tls Secret.", e);

    public void Dispose() => _store.Dispose();

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Serving certificate reloaded from {Path} (valid until {NotAfter:o})")]
    private static partial void LogCertificateReloaded(ILogger logger, string path, DateTime notAfter);

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "Serving certificate reload failed; keeping the current one: {Reason}")]
    private static partial void LogCertificateReloadFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "Serving certificate files {Path} hold the pair in force again (valid until {NotAfter:o}); they are no longer rejected")]
    private static partial void LogCertificateBackInForce(ILogger logger, string path, DateTime notAfter);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Watching the serving certificate failed ({Fault}); changes are picked up by the next poll")]
    private static partial void LogWatchFailed(ILogger logger, DirectoryWatchFault fault, Exception exception);
}
