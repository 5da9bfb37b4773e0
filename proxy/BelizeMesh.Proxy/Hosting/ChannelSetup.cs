using BelizeMesh.Channel;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// The PQ channel settings for this sidecar, built once at start-up from the certificates directory: the same
/// options (own certificate and ML-KEM key, trust bundle verifier, metrics) serve the inbound listener (server side)
/// and the outbound connections (client side). <see cref="Options"/> is null when no listener or route uses the
/// channel (mode DISABLE everywhere), and then the certificates are not read.
/// </summary>
internal sealed class ChannelSetup(PqChannelOptions? options)
{
    public PqChannelOptions? Options { get; } = options;

    public PqChannelOptions RequireOptions()
        => Options ?? throw new InvalidOperationException("the PQ channel is not configured: no listener or route uses mode STRICT or PERMISSIVE");

    /// <summary>The server options of the inbound listener in mode PERMISSIVE: a copy that also admits plaintext.</summary>
    public static PqChannelOptions WithPlaintext(PqChannelOptions options)
    {
        PqChannelOptions permissive = options.Clone();
        permissive.AllowPlaintext = true;
        return permissive;
    }
}
