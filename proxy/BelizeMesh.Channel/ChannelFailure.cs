namespace BelizeMesh.Channel;

/// <summary>
/// Why a channel failed (docs/protocol.md, section 6). The numeric value is the code carried in alerts, so
/// values are fixed; the name is what logs and the <c>reason</c> metric label show.
/// </summary>
public enum ChannelFailure : byte
{
    /// <summary>A malformed or unexpected record or handshake message, a bad length, trailing bytes.</summary>
    ProtocolViolation = 1,

    /// <summary>A record failed authentication: tampered, reordered, replayed or cut.</summary>
    BadRecordMac = 2,

    /// <summary>The peer certificate was not issued by a CA in the trust bundle.</summary>
    UnknownCa = 3,

    /// <summary>The peer certificate is malformed, badly signed, of the wrong algorithm or has no SPIFFE ID.</summary>
    BadCertificate = 4,

    /// <summary>The peer certificate's notAfter is in the past.</summary>
    CertificateExpired = 5,

    /// <summary>The peer certificate's notBefore is in the future.</summary>
    CertificateNotYetValid = 6,

    /// <summary>The server's SPIFFE ID is not the identity the client expected for this route.</summary>
    IdentityMismatch = 7,

    /// <summary>A side could not derive the keys its certificate implies: its private key does not match its certificate.</summary>
    KeyMismatch = 8,

    /// <summary>The handshake did not finish before its deadline.</summary>
    Timeout = 9,

    /// <summary>The transport closed without an authenticated close_notify.</summary>
    Truncated = 10,

    /// <summary>No common protocol version or suite.</summary>
    NoCommonParameters = 11,

    /// <summary>The peer does not speak this protocol (TLS, plaintext HTTP, garbage).</summary>
    NotPqChannel = 12,

    /// <summary>A local failure, for example credentials that cannot be used.</summary>
    InternalError = 13,

    /// <summary>
    /// The server refused to start the handshake before doing any work for it: the caller's address is over the
    /// listener's handshake rate (<see cref="IHandshakeAdmission"/>). Sent as a plaintext alert; try again later or
    /// another endpoint.
    /// </summary>
    Overloaded = 14,
}
