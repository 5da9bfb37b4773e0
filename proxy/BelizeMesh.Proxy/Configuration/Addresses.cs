using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;

namespace BelizeMesh.Proxy.Configuration;

// Address syntax lives on the address types: the policy parser reports where a bad one is, these say what is valid.

public sealed partial record ListenAddress
{
    /// <summary>Parses <c>ip:port</c> (<c>[v6]:port</c> for IPv6): an IP literal and a port 0-65535 (0 = any free port).</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out ListenAddress? address)
    {
        address = null;
        if (!HostPort.TrySplit(text, out string host, out int port) || !IPAddress.TryParse(host, out IPAddress? ip) || port < 0)
        {
            return false;
        }

        address = new ListenAddress(ip, port);
        return true;
    }
}

public sealed partial record EndpointAddress
{
    /// <summary>Parses <c>host:port</c> (<c>[v6]:port</c> for IPv6): a DNS name or IP literal and a port 1-65535; the
    /// host is lower-cased.</summary>
    public static bool TryParse(string text, [NotNullWhen(true)] out EndpointAddress? address)
    {
        address = null;
        if (!HostPort.TrySplit(text, out string host, out int port) || port < 1)
        {
            return false;
        }

        if (!IPAddress.TryParse(host, out _) && Uri.CheckHostName(host) != UriHostNameType.Dns)
        {
            return false;
        }

        address = new EndpointAddress(host.ToLowerInvariant(), port);
        return true;
    }
}

/// <summary>Splits <c>host:port</c> / <c>[v6]:port</c>.</summary>
internal static class HostPort
{
    public static bool TrySplit(string text, out string host, out int port)
    {
        host = "";
        port = -1;
        int colon;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf("]:", StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }

            host = text[1..close];
            colon = close + 1;
        }
        else
        {
            colon = text.LastIndexOf(':');
            if (colon <= 0 || text.IndexOf(':') != colon)
            {
                return false;
            }

            host = text[..colon];
        }

        ReadOnlySpan<char> portText = text.AsSpan(colon + 1);
        if (portText.Length == 0 || portText.Length > 5)
        {
            return false;
        }

        foreach (char c in portText)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        port = int.Parse(portText, CultureInfo.InvariantCulture);
        return host.Length > 0 && port <= 65535;
    }
}
