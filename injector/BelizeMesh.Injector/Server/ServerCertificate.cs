using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BelizeMesh.Configuration;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Injector.Server;

/// <summary>
/// The webhook's serving certificate (classical TLS: the API server speaks it), from PEM files. Reloaded when the
/// mounted Secret changes (cert-manager rotation); a bad pair is logged and the last good one keeps serving.
/// </summary>
internal sealed partial class ServerCertificate : IDisposable
{
    private readonly string _certPath;
    private readonly string _keyPath;
    private readonly ILogger _logger;
    private readonly object _lock = new();
    private DirectoryWatcher? _watcher;
    private volatile X509Certificate2 _current;

    /// <summary>Loads the pair; throws <see cref="InvalidOperationException"/> with the file names and the fix.</summary>
    public ServerCertificate(string certPath, string keyPath, ILogger logger)
    {
        _certPath = Path.GetFullPath(certPath);
        _keyPath = Path.GetFullPath(keyPath);
        _logger = logger;
        _current = Load(_certPath, _keyPath);
    }

    public X509Certificate2 Current => _current;

    /// <summary>Raised after a reload attempt that saw a different pair, with whether it took effect.</summary>
    public event Action<bool>? Reloaded;

    /// <summary>Starts watching the certificate's directory (and polling it every <paramref name="pollInterval"/>).</summary>
    public void Watch(TimeSpan settle, TimeSpan pollInterval, TimeProvider time) =>
        _watcher ??= DirectoryWatcher.ForFile(_certPath, settle, pollInterval, ReloadAsync, time, (fault, e) => LogWatchFailed(_logger, fault, e));

    private Task ReloadAsync()
    {
        Reload();
        return Task.CompletedTask;
    }

    /// <summary>Loads a PEM certificate and its private key (PKCS#8, RSA or EC).</summary>
    public static X509Certificate2 Load(string certPath, string keyPath)
    {
        try
        {
            return X509Certificate2.CreateFromPemFile(certPath, keyPath);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException(
                $"cannot load the TLS certificate {certPath} with key {keyPath}: {e.Message}. " +
                "Pass a PEM certificate (--tls-cert) and its matching PEM private key (--tls-key), e.g. tls.crt and tls.key of a kubernetes.io/tls Secret.", e);
        }
    }

    private void Reload()
    {
        lock (_lock)
        {
            try
            {
                X509Certificate2 next = Load(_certPath, _keyPath);
                if (next.Thumbprint == _current.Thumbprint)
                {
                    next.Dispose();
                    return;
                }

                _current = next; // the previous instance may still be in use by handshakes in flight; left to the GC
                LogCertificateReloaded(_logger, _certPath, next.NotAfter);
                Reloaded?.Invoke(true);
            }
            catch (InvalidOperationException e)
            {
                LogCertificateReloadFailed(_logger, e.Message);
                Reloaded?.Invoke(false);
            }
        }
    }

    public void Dispose() => _watcher?.Dispose();

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Serving certificate reloaded from {Path} (valid until {NotAfter:o})")]
    private static partial void LogCertificateReloaded(ILogger logger, string path, DateTime notAfter);

    [LoggerMessage(EventId = 301, Level = LogLevel.Error, Message = "Serving certificate reload failed; keeping the current one: {Reason}")]
    private static partial void LogCertificateReloadFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Watching the serving certificate failed ({Fault}); changes are picked up by the next poll")]
    private static partial void LogWatchFailed(ILogger logger, DirectoryWatchFault fault, Exception exception);
}
