using System.Globalization;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// One line of <c>/proc/self/maps</c>, <c>START-END PERMS OFFSET DEV INODE [PATH]</c>, read without allocating: the
/// start-up code that looks at the process's own mappings (<see cref="DehydratedDataRelease"/>,
/// <see cref="YoungGenerationPrefault"/>) parses it here.
/// </summary>
internal readonly ref struct ProcMapsLine
{
    public ulong Start { get; private init; }

    public ulong End { get; private init; }

    /// <summary>Four characters, e.g. <c>r--p</c>.</summary>
    public ReadOnlySpan<char> Permissions { get; private init; }

    public ulong Offset { get; private init; }

    /// <summary>What follows the inode, trimmed: the mapped file, a kernel name such as <c>[heap]</c>, or empty.</summary>
    public ReadOnlySpan<char> Path { get; private init; }

    /// <summary>Anonymous memory: inode 0 and nothing after it.</summary>
    public bool Anonymous { get; private init; }

    /// <summary>Parses <paramref name="line"/>; false when it does not have the six fields' shape.</summary>
    public static bool TryParse(string line, out ProcMapsLine parsed)
    {
        parsed = default;
        ReadOnlySpan<char> rest = line;
        int dash = rest.IndexOf('-');
        int space = rest.IndexOf(' ');
        if (dash <= 0 || space <= dash
            || !ulong.TryParse(rest[..dash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong start)
            || !ulong.TryParse(rest[(dash + 1)..space], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong end))
        {
            return false;
        }

        rest = rest[(space + 1)..];
        if (rest.Length < 4)
        {
            return false;
        }

        ReadOnlySpan<char> permissions = rest[..4];
        rest = rest[4..].TrimStart();
        int offsetEnd = rest.IndexOf(' ');
        if (offsetEnd < 0 || !ulong.TryParse(rest[..offsetEnd], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong offset))
        {
            return false;
        }

        rest = rest[(offsetEnd + 1)..].TrimStart();
        int deviceEnd = rest.IndexOf(' '); // the device
        if (deviceEnd < 0)
        {
            return false;
        }

        rest = rest[(deviceEnd + 1)..].TrimStart();
        int inodeEnd = rest.IndexOf(' ');
        ReadOnlySpan<char> inode = inodeEnd < 0 ? rest : rest[..inodeEnd];
        ReadOnlySpan<char> path = inodeEnd < 0 ? default : rest[inodeEnd..].Trim();
        parsed = new ProcMapsLine
        {
            Start = start,
            End = end,
            Permissions = permissions,
            Offset = offset,
            Path = path,
            Anonymous = inode.SequenceEqual("0") && path.IsEmpty,
        };
        return true;
    }
}
