namespace BelizeMesh.Proxy.Outbound;

/// <summary>
/// Outbound routes indexed by host (case-insensitive); within one host, routes with a path prefix are tried longest
/// first, then the route without one. Built once per policy snapshot.
/// </summary>
internal sealed class OutboundRouteTable
{
    private readonly Dictionary<string, Entry[]> _byHost;

    public OutboundRouteTable(IEnumerable<(string Host, string? PathPrefix, OutboundRoute Route)> routes)
    {
        var groups = new Dictionary<string, List<Entry>>(StringComparer.OrdinalIgnoreCase);
        foreach ((string host, string? prefix, OutboundRoute target) in routes)
        {
            if (!groups.TryGetValue(host, out List<Entry>? list))
            {
                groups[host] = list = [];
            }

            list.Add(new Entry(prefix, target));
        }

        _byHost = new Dictionary<string, Entry[]>(StringComparer.OrdinalIgnoreCase);
        foreach (KeyValuePair<string, List<Entry>> group in groups)
        {
            group.Value.Sort(static (a, b) => (b.PathPrefix?.Length ?? -1).CompareTo(a.PathPrefix?.Length ?? -1));
            _byHost[group.Key] = [.. group.Value];
        }
    }

    public int Count => _byHost.Count;

    public OutboundRoute? Find(string host, string path)
    {
        if (!_byHost.TryGetValue(host, out Entry[]? entries))
        {
            return null;
        }

        foreach (Entry entry in entries)
        {
            if (entry.PathPrefix is null || IsUnderPrefix(path, entry.PathPrefix))
            {
                return entry.Target;
            }
        }

        return null;
    }

    /// <summary>Segment-aware: <c>/api</c> covers <c>/api</c> and <c>/api/x</c>, not <c>/apix</c>.</summary>
    private static bool IsUnderPrefix(string path, string prefix)
        => path.StartsWith(prefix, StringComparison.Ordinal)
        && (path.Length == prefix.Length || prefix[^1] == '/' || path[prefix.Length] == '/');

    private readonly record struct Entry(string? PathPrefix, OutboundRoute Target);
}
