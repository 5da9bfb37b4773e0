using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Connections;

namespace BelizeMesh.Channel;

/// <summary>
/// Decides, before the server spends anything on a handshake, whether to run it (docs/protocol.md section 7.1). The
/// Kestrel face looks for this as a connection feature once the first bytes are a channel record (after the
/// PERMISSIVE sniff) and before it reads the ClientHello: a refusal costs one plaintext alert
/// (<see cref="ChannelFailure.Overloaded"/>) and the close — no ECDH, no ML-KEM, no certificate sent.
/// </summary>
public interface IHandshakeAdmission
{
    /// <summary>True to run the handshake; false with a reason (for the log) to refuse it.</summary>
    bool TryAdmit(ConnectionContext connection, [NotNullWhen(false)] out string? refusal);
}
