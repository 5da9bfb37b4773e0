using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Configuration;

public static partial class PolicyParser
{
    private sealed partial class Reader
    {
        /// <summary><c>to.ports</c> / <c>to.notPorts</c>: app ports 1-65535 (numbers, or strings of digits as Istio writes them).</summary>
        private IReadOnlyList<int>? Ports(Fields f, string name, string path) => Items(f, name, path, (YamlNode item, string at, out int port) =>
        {
            if (!Integer(item, at, out port))
            {
                return false;
            }

            if (port is < 1 or > 65535)
            {
                Error(item, $"{at}: {port} is not a port; use 1-65535 (the app port: the port of inbound.app or of an inbound.apps entry's app)");
                return false;
            }

            return true;
        });
    }
}
