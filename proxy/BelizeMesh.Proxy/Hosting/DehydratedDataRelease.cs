using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Drops the native AOT binary's compressed type data from the process's resident set once the runtime has rebuilt it
/// (issue 11, idle ≤ 25 MB; perf/README.md, "footprint, round 5"). NativeAOT stores its type data "dehydrated" in the
/// executable's read-only data (2.0 MB for the sidecar) and expands it into private memory before <c>Main</c>; the
/// compressed copy is read exactly once, at that moment, and its pages then stay mapped and resident for the life of
/// the process. <c>madvise(MADV_DONTNEED)</c> on them unmaps the pages from this process only: they are clean pages of
/// the executable file (nothing is lost; a later read would fault them back from the file), so this changes no
/// behaviour and keeps the executable position-independent.
/// <para>The range comes from the runtime's own module header (the <c>__modules</c> section points at it; its section
/// 207 is the dehydrated data). Every step is checked — ELF header, section name, header signature and version, entry
/// size — and the range is released only when it lies inside one read-only, private mapping of the executable. Anything
/// unexpected (a JIT process, another runtime version, a layout this does not know) releases nothing.</para>
/// </summary>
internal static partial class DehydratedDataRelease
{
    /// <summary>The module header's signature, 'RTR'.</summary>
    internal const uint HeaderSignature = 0x00525452;

    /// <summary>The module header major version of the .NET 10 NativeAOT runtime this was checked against.</summary>
    internal const ushort HeaderMajorVersion = 16;

    /// <summary><c>ReadyToRunSectionType.DehydratedData</c>.</summary>
    internal const int DehydratedDataSection = 207;

    private const int MadvDontNeed = 4;

    /// <summary>Releases the dehydrated type data's pages; returns the bytes released (0 when nothing was).</summary>
    public static long Release()
    {
        if (!OperatingSystem.IsLinux() || RuntimeFeature.IsDynamicCodeSupported || Environment.ProcessPath is not { } exe)
        {
            return 0; // JIT: no dehydrated data
        }

        try
        {
            IReadOnlyList<Mapping> mappings = ParseMaps(File.ReadAllLines("/proc/self/maps"), exe);
            Mapping? image = null;
            foreach (Mapping m in mappings)
            {
                if (m.Offset == 0)
                {
                    image = m;
                    break;
                }
            }

            if (image is null || FindSectionAddress(exe, "__modules") is not { } modulesAddress)
            {
                return 0;
            }

            nint modules = (nint)(image.Value.Start + modulesAddress);
            if (!Contains(mappings, (ulong)modules, (ulong)modules + 8, readOnly: false))
            {
                return 0;
            }

            nint header = Marshal.ReadIntPtr(modules);
            if (!Contains(mappings, (ulong)header, (ulong)header + 16, readOnly: false)
                || FindSection(header, mappings) is not { } range
                || PageInterior(range.Start, range.End) is not { } pages
                || !Contains(mappings, range.Start, range.End, readOnly: true))
            {
                return 0;
            }

            return MAdvise((nint)pages.Start, (nuint)(pages.End - pages.Start), MadvDontNeed) == 0 ? (long)(pages.End - pages.Start) : 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or OverflowException or EntryPointNotFoundException or DllNotFoundException)
        {
            return 0; // a footprint nicety: never a reason not to start
        }
    }

    /// <summary>The mapping of the executable in <c>/proc/self/maps</c> lines.</summary>
    internal readonly record struct Mapping(ulong Start, ulong End, string Permissions, ulong Offset);

    internal static IReadOnlyList<Mapping> ParseMaps(IEnumerable<string> lines, string path)
    {
        var result = new List<Mapping>();
        foreach (string line in lines)
        {
            // 5617fd6da000-5617fd6f5000 r--p 00000000 fe:00 247270    /path/to/exe
            if (ProcMapsLine.TryParse(line, out ProcMapsLine mapping) && mapping.Path.SequenceEqual(path))
            {
                result.Add(new Mapping(mapping.Start, mapping.End, mapping.Permissions.ToString(), mapping.Offset));
            }
        }

        return result;
    }

    /// <summary>True when [start, end) lies inside one mapping (read-only private when <paramref name="readOnly"/>).</summary>
    internal static bool Contains(IReadOnlyList<Mapping> mappings, ulong start, ulong end, bool readOnly)
    {
        foreach (Mapping m in mappings)
        {
            if (start >= m.Start && end <= m.End && start < end)
            {
                return !readOnly || m.Permissions == "r--p";
            }
        }

        return false;
    }

    /// <summary>The whole pages inside [start, end); null when there are none.</summary>
    internal static (ulong Start, ulong End)? PageInterior(ulong start, ulong end)
    {
        ulong page = (ulong)Environment.SystemPageSize;
        ulong first = (start + page - 1) & ~(page - 1);
        ulong last = end & ~(page - 1);
        return last > first ? (first, last) : null;
    }

    /// <summary>The virtual address of the named section in an ELF64 little-endian file; null when absent or not ELF64.</summary>
    internal static ulong? FindSectionAddress(string file, string name)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        Span<byte> ident = stackalloc byte[64];
        stream.ReadExactly(ident);
        if (ident[0] != 0x7F || ident[1] != (byte)'E' || ident[2] != (byte)'L' || ident[3] != (byte)'F' || ident[4] != 2 || ident[5] != 1)
        {
            return null;
        }

        ulong sectionHeaders = BinaryPrimitives.ReadUInt64LittleEndian(ident[0x28..]);
        int entrySize = BinaryPrimitives.ReadUInt16LittleEndian(ident[0x3A..]);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(ident[0x3C..]);
        int names = BinaryPrimitives.ReadUInt16LittleEndian(ident[0x3E..]);
        if (entrySize < 64 || count is 0 or > 1024 || names >= count)
        {
            return null;
        }

        byte[] table = new byte[entrySize * count];
        stream.Position = checked((long)sectionHeaders);
        stream.ReadExactly(table);
        ReadOnlySpan<byte> nameSection = table.AsSpan(names * entrySize, entrySize);
        ulong namesSize = BinaryPrimitives.ReadUInt64LittleEndian(nameSection[0x20..]);
        if (namesSize > 1 << 20)
        {
            return null;
        }

        byte[] strings = new byte[namesSize];
        stream.Position = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(nameSection[0x18..]));
        stream.ReadExactly(strings);
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> section = table.AsSpan(i * entrySize, entrySize);
            uint nameOffset = BinaryPrimitives.ReadUInt32LittleEndian(section);
            if (nameOffset >= strings.Length)
            {
                continue;
            }

            ReadOnlySpan<byte> rest = strings.AsSpan((int)nameOffset);
            int end = rest.IndexOf((byte)0);
            if (end == name.Length && System.Text.Encoding.ASCII.GetString(rest[..end]) == name)
            {
                return BinaryPrimitives.ReadUInt64LittleEndian(section[0x10..]);
            }
        }

        return null;
    }

    /// <summary>The dehydrated data's [start, end) from the runtime's module header at <paramref name="header"/>.</summary>
    private static (ulong Start, ulong End)? FindSection(nint header, IReadOnlyList<Mapping> mappings)
    {
        if ((uint)Marshal.ReadInt32(header) != HeaderSignature || (ushort)Marshal.ReadInt16(header, 4) != HeaderMajorVersion)
        {
            return null;
        }

        int sections = (ushort)Marshal.ReadInt16(header, 12);
        int entrySize = Marshal.ReadByte(header, 14);
        if (entrySize != 24 || sections > 256 || !Contains(mappings, (ulong)header, (ulong)header + 16 + (ulong)(sections * entrySize), readOnly: false))
        {
            return null;
        }

        for (int i = 0; i < sections; i++)
        {
            nint row = header + 16 + (i * entrySize);
            if (Marshal.ReadInt32(row) == DehydratedDataSection && (Marshal.ReadInt32(row, 4) & 1) != 0)
            {
                return ((ulong)Marshal.ReadIntPtr(row, 8), (ulong)Marshal.ReadIntPtr(row, 16));
            }
        }

        return null;
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int MAdvise(nint address, nuint length, int advice);
}
