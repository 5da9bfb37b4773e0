namespace BelizeMesh.Channel;

/// <summary>Settings for one side of the channel, shared by the Stream and the Kestrel middleware.</summary>
public sealed class PqChannelOptions
{
    // The credentials and the verifier live in one immutable pair behind a volatile reference, so that a handshake
    // reads both with one load (LeaseCredentials) and a rotation (UpdateCredentials) replaces both at once: no
    // handshake ever mixes the old certificate with the new trust bundle or the other way round.
    private volatile CredentialSet _credentialSet = CredentialSet.Empty;

    private const string CredentialsRequired = $"{nameof(PqChannelOptions)}.{nameof(Credentials)} is required: load the certificate and key with {nameof(ChannelCredentials)}.{nameof(ChannelCredentials.Create)}.";

    private const string VerifierRequired = $"{nameof(PqChannelOptions)}.{nameof(Verifier)} is required: pass the trust bundle's certificate verifier.";

    /// <summary>
    /// This side's certificate and private key. Required. Each handshake reads it once, when it starts; to rotate
    /// while handshakes run, use <see cref="UpdateCredentials"/> (which replaces it and <see cref="Verifier"/> together).
    /// </summary>
    public ChannelCredentials? Credentials
    {
        get => _credentialSet.Credentials;
        set => _credentialSet = new CredentialSet(value, _credentialSet.Verifier);
    }

    /// <summary>Verifies the peer's certificate (trust bundle, validity, algorithm). Required. Read once per handshake, like <see cref="Credentials"/>.</summary>
    public IPeerCertificateVerifier? Verifier
    {
        get => _credentialSet.Verifier;
        set => _credentialSet = new CredentialSet(_credentialSet.Credentials, value);
    }

    /// <summary>Deadline for the whole handshake; 10 seconds by default.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Server side, Kestrel middleware only (the sidecar's <c>PERMISSIVE</c> mode): a connection whose first bytes are not
    /// a channel record (plaintext HTTP, TLS, …) is passed on unencrypted, without an <see cref="IPqChannelFeature"/>,
    /// instead of being closed. False by default (<c>STRICT</c>).
    /// </summary>
    public bool AllowPlaintext { get; set; }

    /// <summary>Where handshake and traffic figures go; null for none.</summary>
    public ChannelMetrics? Metrics { get; set; }

    /// <summary>Records protected with one key before a key update (docs/protocol.md 2.2). Tests lower it.</summary>
    internal long RecordsPerKey { get; set; } = Protocol.ProtocolConstants.MaxRecordsPerKey;

    /// <summary>Plaintext bytes protected with one key before a key update.</summary>
    internal long BytesPerKey { get; set; } = Protocol.ProtocolConstants.MaxBytesPerKey;

    /// <summary>A copy of every setting (the credentials and verifier are shared, not copied), to derive a variant such
    /// as the <see cref="AllowPlaintext"/> listener of the sidecar's PERMISSIVE mode. A later
    /// <see cref="UpdateCredentials"/> on one of the two does not reach the other: update both.</summary>
    public PqChannelOptions Clone() => (PqChannelOptions)MemberwiseClone();

    /// <summary>
    /// Replaces <see cref="Credentials"/> and <see cref="Verifier"/> together, atomically, for the handshakes that start
    /// from now on (certificate rotation, trust bundle rotation). Handshakes in progress finish with the pair they
    /// started with; established channels never use either again. Once no options object hands out the old credentials
    /// any more, <see cref="ChannelCredentials.Retire"/> them to learn when their private key can be disposed.
    /// </summary>
    public void UpdateCredentials(ChannelCredentials credentials, IPeerCertificateVerifier verifier)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentNullException.ThrowIfNull(verifier);
        _credentialSet = new CredentialSet(credentials, verifier);
    }

    /// <summary>
    /// For one handshake: the credentials and verifier in force, with a lease on the credentials (released by
    /// <see cref="ChannelCredentials.ReleaseLease"/>) so that retiring them cannot dispose the private key under it.
    /// </summary>
    /// <exception cref="InvalidOperationException">A required setting is missing, or the credentials in force were retired.</exception>
    internal CredentialSet LeaseCredentials()
    {
        CredentialSet set = _credentialSet;
        while (true)
        {
            if (set.Credentials is null)
            {
                throw new InvalidOperationException(CredentialsRequired);
            }

            if (set.Verifier is null)
            {
                throw new InvalidOperationException(VerifierRequired);
            }

            if (set.Credentials.TryLease())
            {
                return set;
            }

            // Retired between our read and the lease: a rotation replaced the pair before retiring it, so the next
            // read sees the replacement. If it does not, the caller retired credentials it still hands out.
            CredentialSet next = _credentialSet;
            if (ReferenceEquals(next, set))
            {
                throw new InvalidOperationException($"{nameof(PqChannelOptions)}.{nameof(Credentials)} were retired while still in use: call {nameof(UpdateCredentials)} with their replacement before {nameof(ChannelCredentials)}.{nameof(ChannelCredentials.Retire)}.");
            }

            set = next;
        }
    }

    /// <summary>Throws when a required setting is missing or out of range, naming it and how to fix it.</summary>
    public void Validate()
    {
        CredentialSet set = _credentialSet;
        if (set.Credentials is null)
        {
            throw new InvalidOperationException(CredentialsRequired);
        }

        if (set.Verifier is null)
        {
            throw new InvalidOperationException(VerifierRequired);
        }

        if (HandshakeTimeout <= TimeSpan.Zero && HandshakeTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new InvalidOperationException($"{nameof(PqChannelOptions)}.{nameof(HandshakeTimeout)} must be positive (or infinite), got {HandshakeTimeout}.");
        }

        if (RecordsPerKey <= 0 || BytesPerKey <= 0 || RecordsPerKey > Protocol.ProtocolConstants.MaxRecordsPerKey || BytesPerKey > Protocol.ProtocolConstants.MaxBytesPerKey)
        {
            throw new InvalidOperationException("key update thresholds must be positive and within the protocol's 2^24 records / 2^34 bytes per key");
        }
    }
}

/// <summary>The credentials and verifier a handshake runs with, read together.</summary>
internal sealed class CredentialSet(ChannelCredentials? credentials, IPeerCertificateVerifier? verifier)
{
    public static readonly CredentialSet Empty = new(null, null);

    public ChannelCredentials? Credentials { get; } = credentials;

    public IPeerCertificateVerifier? Verifier { get; } = verifier;
}
