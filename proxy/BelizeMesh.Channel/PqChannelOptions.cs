namespace BelizeMesh.Channel;

/// <summary>Settings for one side of the channel, shared by the Stream and the Kestrel middleware.</summary>
public sealed class PqChannelOptions
{
    /// <summary>This side's certificate and private key. Required.</summary>
    public ChannelCredentials? Credentials { get; set; }

    /// <summary>Verifies the peer's certificate (trust bundle, validity, algorithm). Required.</summary>
    public IPeerCertificateVerifier? Verifier { get; set; }

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
    internal long RecordsPerKey { get; set; } = 1L << 24;

    /// <summary>Plaintext bytes protected with one key before a key update.</summary>
    internal long BytesPerKey { get; set; } = 1L << 34;

    /// <summary>A copy of every setting (the credentials and verifier are shared, not copied), to derive a variant such
    /// as the <see cref="AllowPlaintext"/> listener of the sidecar's PERMISSIVE mode.</summary>
    public PqChannelOptions Clone() => (PqChannelOptions)MemberwiseClone();

    /// <summary>Throws when a required setting is missing or out of range, naming it and how to fix it.</summary>
    public void Validate()
    {
        if (Credentials is null)
        {
            throw new InvalidOperationException($"{nameof(PqChannelOptions)}.{nameof(Credentials)} is required: load the certificate and key with {nameof(ChannelCredentials)}.{nameof(ChannelCredentials.Create)}.");
        }

        if (Verifier is null)
        {
            throw new InvalidOperationException($"{nameof(PqChannelOptions)}.{nameof(Verifier)} is required: pass the trust bundle's certificate verifier.");
        }

        if (HandshakeTimeout <= TimeSpan.Zero && HandshakeTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new InvalidOperationException($"{nameof(PqChannelOptions)}.{nameof(HandshakeTimeout)} must be positive (or infinite), got {HandshakeTimeout}.");
        }

        if (RecordsPerKey <= 0 || BytesPerKey <= 0)
        {
            throw new InvalidOperationException("key update thresholds must be positive");
        }
    }
}
