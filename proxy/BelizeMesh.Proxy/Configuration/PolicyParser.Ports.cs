using YamlDotNet.RepresentationModel;

namespace BelizeMesh.Proxy.Configuration;

public static partial class PolicyParser
{
    private sealed partial class Reader
    {
        /// <summary><c>to.ports</c> / <c>to.notPorts</c>: app ports 1-65535 (numbers, or strings of digits as Istio writes them).</summary>
        private IReadOnlyList<int>? Ports(Fields f, string name, string path)
        {
            YamlNode? node = f.Value(name);
            if (node is null || !Sequence(node, path, out YamlSequenceNode? seq))
            {
                return null;
            }

            var ports = new List<int>(seq.Children.Count);
            for (int i = 0; i < seq.Children.Count; i++)
            {
                if (!Integer(seq.Children[i], $"{path}[{i}]", out int port))
                {
                    continue;
                }

                if (port is < 1 or > 65535)
                {
                    Error(seq.Children[i], $"{path}[{i}]: {port} is not a port; use 1-65535 (the app port: the port of inbound.app or of an inbound.apps entry's app)");
                    continue;
                }

                ports.Add(port);
            }

            return ports;
        }
    }
}
