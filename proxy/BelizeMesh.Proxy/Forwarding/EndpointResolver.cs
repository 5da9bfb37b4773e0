using System.Net;
using System.Net.Sockets;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// Turns a DNS name of an outbound endpoint into its addresses (A and AAAA records). The seam tests use to inject
/// records; the sidecar uses <see cref="SystemEndpointResolver"/>.
/// </summary>
internal interface IEndpointResolver
{
    /// <summary>The name's addresses; an empty array or an exception is a failed resolution.</summary>
    Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken);
}

/// <summary>
/// The operating system's resolver (<see cref="Dns.GetHostAddressesAsync(string, AddressFamily, CancellationToken)"/>:
/// getaddrinfo on Linux, so <c>/etc/resolv.conf</c> search domains, <c>ndots</c> and <c>/etc/hosts</c> apply as for
/// any program in the pod). It does not report record TTLs, so the sidecar re-resolves on a fixed interval instead
/// (<c>dnsRefresh</c>, docs/policy.md).
/// </summary>
internal sealed class SystemEndpointResolver : IEndpointResolver
{
    public static readonly SystemEndpointResolver Instance = new();

    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
        => Dns.GetHostAddressesAsync(host, AddressFamily.Unspecified, cancellationToken);
}
