using System.Security.Cryptography;
using BelizeMesh.Quantum;
using MLKemParameterSet = BelizeMesh.Quantum.MLKemParameterSet;

namespace BelizeMesh.Channel;

/// <summary>
/// This side's certificate (DER, with an ML-KEM-1024 public key) and the matching ML-KEM-1024 private key.
/// <see cref="Create"/> checks that they belong together, so a mismatched Secret fails when it is loaded.
/// The private key stays owned by the caller; <see cref="Retire"/> tells the caller when it may dispose it after a
/// rotation.
/// </summary>
public sealed class ChannelCredentials
{
    // Handshakes that hold these credentials (the private key is used until the handshake completes or fails), plus
    // RetiredFlag once Retire was called. One word, changed only by interlocked operations, so "retired and no
    // holder left" is observed by exactly one thread: the one that runs the callback.
    private const int RetiredFlag = 1 << 30;
    private int _leases;
    private static readonly Action s_ran = static () => { };
    private Action? _whenUnused;

    private ChannelCredentials(ReadOnlyMemory<byte> certificateDer, MLKemKey privateKey, string identity)
    {
        CertificateDer = certificateDer;
        PrivateKey = privateKey;
        Identity = identity;
    }

    /// <summary>The leaf certificate, DER.</summary>
    public ReadOnlyMemory<byte> CertificateDer { get; }

    /// <summary>The ML-KEM-1024 private key of the certificate.</summary>
    public MLKemKey PrivateKey { get; }

    /// <summary>This side's SPIFFE ID, read from the certificate.</summary>
    public string Identity { get; }

    /// <summary>
    /// Checks the certificate with <paramref name="verifier"/> (this side must be trusted by the same bundle it
    /// trusts peers with) and that <paramref name="privateKey"/> is the private half of the certificate's key.
    /// </summary>
    /// <exception cref="PqChannelException">The certificate is rejected (its reason), or the key does not match
    /// (<see cref="ChannelFailure.KeyMismatch"/>).</exception>
    public static ChannelCredentials Create(ReadOnlyMemory<byte> certificateDer, MLKemKey privateKey, IPeerCertificateVerifier verifier)
    {
        ArgumentNullException.ThrowIfNull(privateKey);
        ArgumentNullException.ThrowIfNull(verifier);
        if (certificateDer.Length is 0 or > Protocol.ProtocolConstants.MaxCertificateLength)
        {
            throw new PqChannelException(ChannelFailure.BadCertificate,
                $"own certificate is {certificateDer.Length} bytes; it must be 1..{Protocol.ProtocolConstants.MaxCertificateLength}");
        }

        if (!privateKey.HasPrivateKey || privateKey.Algorithm != MLKemParameterSet.MLKem1024)
        {
            throw new PqChannelException(ChannelFailure.KeyMismatch,
                $"own private key must be an ML-KEM-1024 private key, got {(privateKey.HasPrivateKey ? "" : "a public ")}{privateKey.Algorithm.Name} key");
        }

        PeerVerification own = verifier.Verify(certificateDer.Span);
        if (!own.IsValid)
        {
            throw new PqChannelException(own.Failure!.Value, $"own certificate rejected: {own.Detail}");
        }

        Span<byte> ek = stackalloc byte[Protocol.ProtocolConstants.KemEncapsulationKeyLength];
        privateKey.ExportEncapsulationKey(ek);
        if (!CryptographicOperations.FixedTimeEquals(ek, own.KemPublicKey.Span))
        {
            throw new PqChannelException(ChannelFailure.KeyMismatch,
                $"the private key does not belong to the certificate of {own.Identity}: its ML-KEM-1024 encapsulation key differs from the certificate's; check that tls.key and tls.crt come from the same issue");
        }

        return new ChannelCredentials(certificateDer, privateKey, own.Identity!);
    }

    /// <summary>True once <see cref="Retire"/> was called: no new handshake can use these credentials.</summary>
    public bool IsRetired => (Volatile.Read(ref _leases) & RetiredFlag) != 0;

    /// <summary>
    /// Ends the use of these credentials after a rotation: no handshake can start with them any more, and
    /// <paramref name="whenUnused"/> (typically disposing the private key) runs once the last handshake still holding
    /// them has completed or failed — at once, on this thread, when none does; otherwise on the thread of that
    /// handshake. Established channels are not waited for: they never use the private key again. Replace the
    /// credentials in every <see cref="PqChannelOptions"/> (<see cref="PqChannelOptions.UpdateCredentials"/>) first;
    /// a handshake that finds retired credentials in its options fails.
    /// </summary>
    /// <exception cref="InvalidOperationException">Already retired.</exception>
    public void Retire(Action? whenUnused)
    {
        Action callback = whenUnused ?? (static () => { });
        if (Interlocked.CompareExchange(ref _whenUnused, callback, null) is not null)
        {
            throw new InvalidOperationException("these channel credentials are already retired");
        }

        if (Interlocked.Add(ref _leases, RetiredFlag) == RetiredFlag)
        {
            RunWhenUnused();
        }
    }

    /// <summary>Takes a lease for one handshake; false once retired.</summary>
    internal bool TryLease()
    {
        int current = Volatile.Read(ref _leases);
        while ((current & RetiredFlag) == 0)
        {
            int seen = Interlocked.CompareExchange(ref _leases, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    /// <summary>Ends a lease taken by <see cref="TryLease"/>; the last one after <see cref="Retire"/> runs its callback.</summary>
    internal void ReleaseLease()
    {
        if (Interlocked.Decrement(ref _leases) == RetiredFlag)
        {
            RunWhenUnused();
        }
    }

    // The counting above reaches "retired, no holder" exactly once; the sentinel (never null again) keeps a second
    // Retire detectable and drops the reference to the caller's key once the callback has run.
    private void RunWhenUnused() => Interlocked.Exchange(ref _whenUnused, s_ran)?.Invoke();

    /// <summary>Test seam: skips the consistency checks so tests can present a certificate with the wrong private key.</summary>
    internal static ChannelCredentials CreateUnchecked(ReadOnlyMemory<byte> certificateDer, MLKemKey privateKey, string identity) =>
        new(certificateDer, privateKey, identity);
}
