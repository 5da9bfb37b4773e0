using BelizeMesh.Channel;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// The PQ channel settings for this sidecar, built at start-up from the certificates directory: the same options (own
/// certificate and ML-KEM key, trust bundle verifier, metrics) serve the inbound listener (server side) and the
/// outbound connections (client side); the PERMISSIVE listener gets a copy (<see cref="WithPlaintext"/>).
/// <see cref="Options"/> is null when no listener or route uses the channel (mode DISABLE everywhere), and then the
/// certificates are not read.
/// </summary>
/// <remarks>
/// A certificate rotation (<see cref="CertificateStore"/>) must reach every options object a face reads: the copy
/// made for PERMISSIVE holds its own reference to the credentials, so this class remembers every object it handed out
/// and <see cref="UpdateCredentials"/> updates them all. Each face reads its options once per handshake, so the next
/// handshake on any face uses the new pair.
/// </remarks>
internal sealed class ChannelSetup
{
    private readonly Lock _gate = new();
    private readonly List<PqChannelOptions> _handedOut = [];

    public ChannelSetup(PqChannelOptions? options)
    {
        Options = options;
        if (options is not null)
        {
            _handedOut.Add(options);
        }
    }

    public PqChannelOptions? Options { get; }

    public PqChannelOptions RequireOptions()
        => Options ?? throw new InvalidOperationException("the PQ channel is not configured: no listener or route uses mode STRICT or PERMISSIVE");

    /// <summary>The server options of the inbound listener in mode PERMISSIVE: a copy that also admits plaintext.</summary>
    public PqChannelOptions WithPlaintext()
    {
        lock (_gate)
        {
            // Under the lock: a copy taken while an update runs would otherwise keep the old pair and miss the update.
            PqChannelOptions permissive = RequireOptions().Clone();
            permissive.AllowPlaintext = true;
            _handedOut.Add(permissive);
            return permissive;
        }
    }

    /// <summary>Replaces the credentials and verifier, together, in every options object, for new handshakes.</summary>
    public void UpdateCredentials(ChannelCredentials credentials, IPeerCertificateVerifier verifier)
    {
        lock (_gate)
        {
            foreach (PqChannelOptions options in _handedOut)
            {
                options.UpdateCredentials(credentials, verifier);
            }
        }
    }
}
