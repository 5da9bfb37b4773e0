using System.Security.Cryptography;
using System.Text;
using BelizeMesh.Channel;
using BelizeMesh.Channel.Identity;
using BelizeMesh.Configuration;
using BelizeMesh.Identity;
using BelizeMesh.Proxy.Metrics;
using BelizeMesh.Quantum;
using Microsoft.Extensions.Logging;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// One loaded, fully checked certificate set: the service credentials (certificate, ML-KEM-1024 private key, trust
/// bundle and its validator), the channel's view of them, and the SHA-256 of the three files it came from.
/// </summary>
internal sealed class CertificateSet
{
    private CertificateSet(ServiceCredentials service, ChannelCredentials channel, MeshCertificateVerifier verifier, string contentHash)
    {
        Service = service;
        Channel = channel;
        Verifier = verifier;
        ContentHash = contentHash;
    }

    public ServiceCredentials Service { get; }

    public ChannelCredentials Channel { get; }

    /// <summary>Verifies peers against this set's <c>ca.crt</c>.</summary>
    public MeshCertificateVerifier Verifier { get; }

    public string ContentHash { get; }

    public MeshCertificate Certificate => Service.Certificate;

    public string Identity => Channel.Identity;

    /// <summary>
    /// Reads <c>tls.crt</c>, <c>tls.key</c> and <c>ca.crt</c> (through any symlink) and checks everything the channel
    /// relies on: each file parses, the certificate is a service certificate issued by a root of this <c>ca.crt</c>
    /// and valid now, the key is its private half, and — when <paramref name="expectedIdentity"/> is given — it names
    /// that SPIFFE ID (<paramref name="identitySource"/> says where that comes from). Never throws for bad files: <paramref name="problem"/> says what is wrong and how to fix it.
    /// </summary>
    /// <remarks>Validity is judged, and peers are later verified, on the clock <paramref name="time"/> (the host's).
    /// <paramref name="notYetValid"/> is true when what is wrong is a validity window that has not started yet: the
    /// same files become good with time alone.</remarks>
    public static bool TryLoad(CertificateFiles files, string? expectedIdentity, string identitySource, TimeProvider time, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CertificateSet? set, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem, out bool notYetValid)
    {
        set = null;
        notYetValid = false;
        if (files.ReadError is { } readError)
        {
            problem = readError + "; the Secret must hold tls.crt, tls.key and ca.crt";
            return false;
        }

        ServiceCredentials? service = null;
        try
        {
            // Peers are checked against this sidecar's trust domain: the one of spec.identity, else the certificate's
            // own (a mesh issued with --trust-domain example.org works like one on cluster.local).
            service = ServiceCredentials.FromPem(files.Certificate!, files.Key, files.TrustBundle!, new CertificateValidatorOptions { TrustDomain = TrustDomainOf(expectedIdentity, files.Certificate!), Time = time });
            var verifier = new MeshCertificateVerifier(service.Validator);
            ChannelCredentials channel = ChannelCredentials.Create(service.Certificate.RawData, service.PrivateKey, verifier);
            if (expectedIdentity is not null && !string.Equals(channel.Identity, expectedIdentity, StringComparison.Ordinal))
            {
                problem = $"{ServiceCredentials.CertificateFileName}: the certificate is for {channel.Identity}, but this sidecar is {expectedIdentity} " +
                    $"({identitySource}); issue the certificate for this sidecar's service account";
                service.Dispose();
                return false;
            }

            set = new CertificateSet(service, channel, verifier, files.ContentHash);
            problem = null;
            return true;
        }
        catch (CredentialsException ex)
        {
            problem = ex.Message + Fix(ex.Reason);
            notYetValid = ex.Reason == CertificateRejection.NotYetValid;
        }
        catch (PqChannelException ex)
        {
            problem = $"{ServiceCredentials.CertificateFileName}: {ex.Message}";
        }
        catch (Exception ex) when (ex is CertificateFormatException or CryptographicException or FormatException or ArgumentException)
        {
            // Defence in depth: the Identity parsers report bad input as CredentialsException.
            problem = $"{ex.Message}; check that tls.crt, tls.key and ca.crt are complete PEM files";
        }

        service?.Dispose();
        return false;
    }

    /// <summary>The trust domain of <paramref name="expectedIdentity"/> (a SPIFFE ID), else of the certificate's own URI SAN.</summary>
    private static string TrustDomainOf(string? expectedIdentity, string certificatePem)
    {
        if (SpiffeId.TryParse(expectedIdentity, out SpiffeId? expected))
        {
            return expected.TrustDomain;
        }

        try
        {
            return MeshCertificate.ParsePem(certificatePem).SpiffeId?.TrustDomain ?? SpiffeId.DefaultTrustDomain;
        }
        catch (CertificateFormatException)
        {
            return SpiffeId.DefaultTrustDomain; // the load that follows reports the bad file
        }
    }

    /// <summary>
    /// Why <paramref name="next"/> may not replace <paramref name="current"/>, or null. Its certificate must chain to a
    /// root of the <c>ca.crt</c> in force: peers trust what this sidecar trusts (one bundle is published mesh-wide), so
    /// a leaf from a root outside it would cut the sidecar off from the mesh while it still looked healthy. A root
    /// rotation therefore goes through a bundle holding both roots (docs/policy.md, Certificates); a restart accepts
    /// any valid set.
    /// </summary>
    public static string? ContinuityProblem(CertificateSet current, CertificateSet next)
    {
        CertificateValidationResult result = current.Service.Validator.Validate(next.Certificate);
        if (result.IsValid || result.Reason is not (CertificateRejection.UnknownIssuer or CertificateRejection.BadSignature or CertificateRejection.WrongTrustDomain))
        {
            return null; // time-related results were already judged against the new set; only the trust anchor matters here
        }

        string roots = string.Join(", ", current.Service.TrustBundle.Roots.Select(r => r.Subject));
        return $"{ServiceCredentials.CertificateFileName}: issued by '{next.Certificate.Issuer}', which is not a root of the ca.crt in force ({roots}): {result.Detail}; " +
            "to move to a new root, first publish ca.crt with both the old and the new root, then reissue tls.crt from the new root, then drop the old root (or restart the sidecar to accept an unrelated CA on purpose)";
    }

    private static string Fix(CertificateRejection reason) => reason switch
    {
        CertificateRejection.Malformed => "; write complete PEM files (belizemesh certs issue writes all three); a set caught half-written is read again at its next change",
        CertificateRejection.UnknownIssuer or CertificateRejection.BadSignature or CertificateRejection.WrongTrustDomain or CertificateRejection.NotACertificateAuthority =>
            "; tls.crt must be issued by a root in ca.crt: to rotate the root, first publish ca.crt with the old and the new root, then reissue tls.crt from the new root",
        CertificateRejection.Expired => "; reissue the certificate (belizemesh certs issue) and update the Secret",
        CertificateRejection.NotYetValid => "; its validity starts in the future (check the clock of the machine that issued it): a running sidecar takes these files once it starts, at its next poll, while a restart before then does not start",
        CertificateRejection.None => "",
        _ => "; issue service certificates with 'belizemesh certs issue'",
    };
}

/// <summary>
/// The three files of a certificates directory as read at one moment, with their combined SHA-256. The private key's
/// PEM text is held only in a pinned array that <see cref="Dispose"/> zeroes (never in a string, which could not be).
/// </summary>
internal sealed class CertificateFiles : IDisposable
{
    private readonly char[]? _key;

    private CertificateFiles(string? certificate, char[]? key, string? trustBundle, string? readError, string contentHash)
    {
        Certificate = certificate;
        _key = key;
        TrustBundle = trustBundle;
        ReadError = readError;
        ContentHash = contentHash;
    }

    public string? Certificate { get; }

    /// <summary>tls.key's PEM text; valid until <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<char> Key => _key;

    public bool HasKey => _key is not null;

    public string? TrustBundle { get; }

    /// <summary>Why a file could not be read (it names the file), or null.</summary>
    public string? ReadError { get; }

    /// <summary>SHA-256 over the three files (length-prefixed, a missing file marked), hex: equal hashes, equal sets.</summary>
    public string ContentHash { get; }

    public static CertificateFiles Read(string directory)
    {
        using var hash = new Sha256();
        string? readError = null;
        byte[]? certificate = ReadOne(directory, ServiceCredentials.CertificateFileName, hash, ref readError);
        byte[]? key = ReadOne(directory, ServiceCredentials.KeyFileName, hash, ref readError);
        byte[]? bundle = ReadOne(directory, ServiceCredentials.TrustBundleFileName, hash, ref readError);
        char[]? keyText = null;
        if (key is not null)
        {
            keyText = GC.AllocateUninitializedArray<char>(Encoding.UTF8.GetCharCount(key), pinned: true);
            Encoding.UTF8.GetChars(key, keyText);
            CryptographicOperations.ZeroMemory(key);
        }

        return new CertificateFiles(
            certificate is null ? null : Encoding.UTF8.GetString(certificate),
            keyText,
            bundle is null ? null : Encoding.UTF8.GetString(bundle),
            readError,
            Convert.ToHexString(hash.GetHashAndReset()));
    }

    /// <summary>Zeroes the private key's text.</summary>
    public void Dispose()
    {
        if (_key is not null)
        {
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_key.AsSpan()));
        }
    }

    private static byte[]? ReadOne(string directory, string name, Sha256 hash, ref string? readError)
    {
        Span<byte> length = stackalloc byte[4];
        try
        {
            byte[] bytes = CredentialFiles.ReadBytes(Path.Combine(directory, name));
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
            hash.Append(length);
            hash.Append(bytes);
            return bytes;
        }
        catch (CredentialsException ex)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, -1);
            hash.Append(length);

            // "DIR/tls.key: file not found" → "tls.key: file not found": the log line names the directory already.
            string path = Path.Combine(directory, name);
            readError ??= ex.Message.StartsWith(path + ": ", StringComparison.Ordinal) ? name + ex.Message[path.Length..] : ex.Message;
            return null;
        }
    }
}

/// <summary>
/// Holds the certificate set in force for new channels and reloads it from the certificates directory (a mounted
/// <c>kubernetes.io/tls</c> Secret) on the shared keep-last-good <see cref="WatchedStore{T}"/>, like <see cref="PolicyStore"/>: a valid change is swapped in for new
/// handshakes on every face at once and counted (<c>belizemesh_certificate_reloads_total{result="success"}</c>); an
/// invalid one is logged with the file, the reason and the fix, counted (<c>{result="failure"}</c>) once per distinct
/// content, and the last good set stays in force.
/// </summary>
/// <remarks>
/// <para>The swap: <see cref="ChannelSetup.UpdateCredentials"/> replaces the credentials and the verifier (the new
/// <c>ca.crt</c>, so a root rotation takes effect) together in the STRICT/PERMISSIVE listener options and the outbound
/// client options, which every handshake reads once when it starts. Established channels derived their traffic keys
/// at their handshake and never look at the credentials again, so they run on undisturbed.</para>
/// <para>The old private key is zeroed (<see cref="ServiceCredentials.Dispose"/>) through
/// <see cref="ChannelCredentials.Retire"/>: each handshake holds a lease on the credentials it started with until it
/// completes or fails, so the key is disposed when the last handshake that started before the swap is over, and
/// never under one. Not earlier: a handshake's decapsulation may still be running.</para>
/// <para>The sidecar's identity does not change at a reload: a set for another SPIFFE ID is rejected (peers route to
/// this identity and authorize it; it is also <c>spec.identity</c>, checked at start-up).</para>
/// </remarks>
internal sealed partial class CertificateStore : IDisposable
{
    private readonly string _directory;
    private readonly string _identity;
    private readonly ChannelSetup _channel;
    private readonly ProxyMetrics _metrics;
    private readonly ILogger _logger;
    private readonly WatchedStore<CertificateSet> _store;
    private readonly TimeProvider _time;

    // The content hash of the rejected set when its only fault was a validity that had not started: time alone makes
    // the same files good, so each look judges them again (quietly) instead of treating them as known-bad.
    private string? _notYetValid;

    /// <summary>Creates the store; validity is judged on <paramref name="time"/> (the host's clock).</summary>
    public CertificateStore(string directory, CertificateSet initial, ChannelSetup channel, ProxyMetrics metrics, ILogger<CertificateStore> logger, TimeProvider time)
    {
        _directory = directory;
        _time = time;
        _identity = initial.Identity;
        _channel = channel;
        _metrics = metrics;
        _logger = logger;
        _store = new WatchedStore<CertificateSet>(initial, initial.ContentHash, Load, new WatchedStoreHooks<CertificateSet>
        {
            Applied = OnApplied,
            Rejected = (current, failure) =>
            {
                _metrics.CertificateReloaded(success: false);
                Log.ReloadRejected(_logger, _directory, failure.Reason, current.Identity, current.Certificate.SerialNumber, current.Certificate.NotAfter);
            },
            Restored = current => Log.BackInForce(_logger, _directory, current.Identity, current.Certificate.SerialNumber),
            // Zeroes the key in force once no handshake holds it (at host shutdown, after the listeners stopped).
            Released = current => current.Channel.Retire(current.Service.Dispose),
        });
        metrics.CertificateInForce(initial.Certificate.NotAfter);
        metrics.ObserveCertificateFilesInForce(() => _store.InputInForce);
    }

    public string Directory => _directory;

    /// <summary>The set new handshakes use.</summary>
    public CertificateSet Current => _store.Current;

    /// <summary>Loads the set at start-up; <paramref name="problem"/> is the reason the sidecar cannot start.</summary>
    public static bool TryLoadInitial(string directory, string? specIdentity, TimeProvider time, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CertificateSet? set, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        using CertificateFiles files = CertificateFiles.Read(directory);
        return CertificateSet.TryLoad(files, specIdentity, "spec.identity in the policy", time, out set, out problem, out _);
    }

    /// <summary>Re-reads the three files (through the <c>..data</c> symlink) and swaps in a valid new set.</summary>
    public Task<ReloadResult> ReloadAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(ReloadResults.From(_store.Reload()));
    }

    /// <summary>Reloads on every change in the certificates directory (and at every poll) until the watcher is disposed.</summary>
    public DirectoryWatcher Watch(string directory, ProxyHostOptions options, ILogger logger) => DirectoryWatchers.Watch(_store, directory, options, logger);

    private WatchedLoad<CertificateSet> Load(WatchedLoadContext<CertificateSet> context)
    {
        using CertificateFiles files = CertificateFiles.Read(_directory);
        if (context.IsCurrent(files.ContentHash))
        {
            return WatchedLoad<CertificateSet>.InForce; // e.g. a rejected change undone: the files hold the set in force again
        }

        bool waiting = context.WasRejected(files.ContentHash) && string.Equals(files.ContentHash, _notYetValid, StringComparison.Ordinal);
        if (context.WasRejected(files.ContentHash) && !waiting)
        {
            return WatchedLoad<CertificateSet>.Unchanged; // a rejected set is reported and counted once, not at every poll
        }

        if (CertificateSet.TryLoad(files, _identity, "its identity is fixed at start-up; restart the sidecar to change it", _time, out CertificateSet? next, out string? problem, out bool notYetValid)
            && CertificateSet.ContinuityProblem(context.Current, next) is { } continuity)
        {
            next.Service.Dispose();
            (next, problem) = (null, continuity);
        }

        if (next is not null)
        {
            _notYetValid = null;
            return WatchedLoad<CertificateSet>.Loaded(next, files.ContentHash);
        }

        if (waiting && notYetValid)
        {
            return WatchedLoad<CertificateSet>.Unchanged; // still not valid: reported and counted once already
        }

        // The files are read one by one; an updater that is not atomic (or a swap that landed between two reads) can
        // show a mix of two sets. Judge only content that holds still: if it moved, its own change event (or the poll)
        // brings the next reload.
        using CertificateFiles again = CertificateFiles.Read(_directory);
        if (again.ContentHash != files.ContentHash)
        {
            return WatchedLoad<CertificateSet>.Unchanged;
        }

        _notYetValid = notYetValid ? files.ContentHash : null;
        return WatchedLoad<CertificateSet>.Failed(ReloadFailure.FromReason(problem!), files.ContentHash);
    }

    private void OnApplied(CertificateSet previous, CertificateSet next)
    {
        _channel.UpdateCredentials(next.Channel, next.Verifier);
        _metrics.CertificateInForce(next.Certificate.NotAfter);
        _metrics.CertificateReloaded(success: true);
        Log.Reloaded(_logger, _directory, next.Identity, next.Certificate.SerialNumber, next.Certificate.NotAfter, next.ContentHash[..12]);

        // No new handshake can take the old key any more (every face now hands out the new one); it is zeroed once the
        // handshakes that already hold it are over.
        previous.Channel.Retire(previous.Service.Dispose);
    }

    /// <summary>Stops reloading and zeroes the key in force once no handshake holds it (at host shutdown, after the
    /// listeners stopped).</summary>
    public void Dispose() => _store.Dispose();

    private static partial class Log
    {
        [LoggerMessage(400, LogLevel.Information, "Certificates in {Directory} reloaded: {Identity}, serial {Serial}, valid until {NotAfter:u} (sha256 {Hash}); new channels use them, established channels keep running.", EventName = "CertificatesReloaded")]
        public static partial void Reloaded(ILogger logger, string directory, string identity, string serial, DateTimeOffset notAfter, string hash);

        [LoggerMessage(401, LogLevel.Error, "Certificate reload rejected, keeping the certificate in force ({Identity}, serial {Serial}, valid until {NotAfter:u}): {Directory}: {Reason}", EventName = "CertificateReloadRejected")]
        public static partial void ReloadRejected(ILogger logger, string directory, string reason, string identity, string serial, DateTimeOffset notAfter);

        [LoggerMessage(402, LogLevel.Information, "Certificates in {Directory} are the set in force again ({Identity}, serial {Serial}); they are no longer rejected.", EventName = "CertificatesBackInForce")]
        public static partial void BackInForce(ILogger logger, string directory, string identity, string serial);
    }
}
