using BelizeMesh.Proxy.Hosting;
using Xunit;

namespace BelizeMesh.Proxy.Tests.EndToEnd;

/// <summary>
/// The release of NativeAOT's compressed type data (perf/README.md, "footprint, round 5") must never touch anything but
/// a read-only, private mapping of the executable: these cover the checks that guard the <c>madvise</c>. The release
/// itself runs only in the AOT binary (measured by <c>perf footprint</c>); under the tests' JIT it releases nothing.
/// </summary>
public class DehydratedDataReleaseTests
{
    private const string Exe = "/app/belizemesh-proxy";

    private static readonly string[] Maps =
    [
        "5617fd6da000-5617fd6f5000 r--p 00000000 fe:00 247270                     /app/belizemesh-proxy",
        "5617fd6f5000-5617fdecd000 r-xp 0001b000 fe:00 247270                     /app/belizemesh-proxy",
        "5617fdecd000-5617fe2de000 r--p 007f3000 fe:00 247270                     /app/belizemesh-proxy",
        "5617fe603000-5617fe634000 rw-p 00f28000 fe:00 247270                     /app/belizemesh-proxy",
        "5617fe634000-5617fea28000 rw-p 00000000 00:00 0 ",
        "7f7157400000-7f71574c5000 r--p 00000000 fe:00 1234                       /usr/lib/x86_64-linux-gnu/libcrypto.so.3",
    ];

    [Fact]
    public void Maps_parsing_keeps_only_the_executables_mappings()
    {
        var mappings = DehydratedDataRelease.ParseMaps(Maps, Exe);

        Assert.Equal(4, mappings.Count);
        Assert.Equal(0x5617fd6da000UL, mappings[0].Start);
        Assert.Equal(0UL, mappings[0].Offset);
        Assert.Equal("r--p", mappings[2].Permissions);
        Assert.Equal(0x7f3000UL, mappings[2].Offset);
    }

    [Fact]
    public void Only_a_range_inside_one_read_only_mapping_of_the_executable_may_be_released()
    {
        var mappings = DehydratedDataRelease.ParseMaps(Maps, Exe);

        Assert.True(DehydratedDataRelease.Contains(mappings, 0x5617fded0000, 0x5617fe0c0000, readOnly: true));
        Assert.False(DehydratedDataRelease.Contains(mappings, 0x5617fe604000, 0x5617fe610000, readOnly: true)); // writable data
        Assert.False(DehydratedDataRelease.Contains(mappings, 0x5617fe640000, 0x5617fe650000, readOnly: true)); // anonymous (.hydrated)
        Assert.False(DehydratedDataRelease.Contains(mappings, 0x5617fded0000, 0x5617fe300000, readOnly: true)); // runs past the mapping
        Assert.False(DehydratedDataRelease.Contains(mappings, 0x7f7157401000, 0x7f7157402000, readOnly: true)); // another file
        Assert.True(DehydratedDataRelease.Contains(mappings, 0x5617fe604000, 0x5617fe610000, readOnly: false));
    }

    [Fact]
    public void Only_whole_pages_inside_the_range_are_released()
    {
        ulong page = (ulong)Environment.SystemPageSize;

        Assert.Equal((page, 3 * page), DehydratedDataRelease.PageInterior(page - 10, (3 * page) + 10));
        Assert.Null(DehydratedDataRelease.PageInterior(page + 1, (2 * page) - 1));
    }

    [Fact]
    public void Section_lookup_reads_elf_section_names_and_refuses_other_files()
    {
        string dir = Directory.CreateTempSubdirectory("bm-elf-").FullName;
        try
        {
            string notElf = Path.Combine(dir, "not-elf");
            File.WriteAllBytes(notElf, new byte[128]);
            Assert.Null(DehydratedDataRelease.FindSectionAddress(notElf, "__modules"));

            string elf = Path.Combine(dir, "tiny.elf");
            File.WriteAllBytes(elf, TinyElf(("__modules", 0xf59d88UL), (".data", 0xf29000UL)));
            Assert.Equal(0xf59d88UL, DehydratedDataRelease.FindSectionAddress(elf, "__modules"));
            Assert.Equal(0xf29000UL, DehydratedDataRelease.FindSectionAddress(elf, ".data"));
            Assert.Null(DehydratedDataRelease.FindSectionAddress(elf, "__module"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Under_the_jit_nothing_is_released()
    {
        Assert.Equal(0, DehydratedDataRelease.Release());
    }

    /// <summary>An ELF64 little-endian header, a string table and one section header per name (plus the null one).</summary>
    private static byte[] TinyElf(params (string Name, ulong Address)[] sections)
    {
        var strings = new List<byte> { 0 };
        var nameOffsets = new List<int>();
        foreach (var (name, _) in sections)
        {
            nameOffsets.Add(strings.Count);
            strings.AddRange(System.Text.Encoding.ASCII.GetBytes(name));
            strings.Add(0);
        }

        int shstrtabName = strings.Count;
        strings.AddRange(System.Text.Encoding.ASCII.GetBytes(".shstrtab"));
        strings.Add(0);

        int count = sections.Length + 2; // null, sections..., .shstrtab
        int stringsOffset = 64;
        int headersOffset = stringsOffset + strings.Count;
        byte[] file = new byte[headersOffset + (count * 64)];
        file[0] = 0x7F;
        file[1] = (byte)'E';
        file[2] = (byte)'L';
        file[3] = (byte)'F';
        file[4] = 2;
        file[5] = 1;
        BitConverter.TryWriteBytes(file.AsSpan(0x28), (ulong)headersOffset);
        BitConverter.TryWriteBytes(file.AsSpan(0x3A), (ushort)64);
        BitConverter.TryWriteBytes(file.AsSpan(0x3C), (ushort)count);
        BitConverter.TryWriteBytes(file.AsSpan(0x3E), (ushort)(count - 1));
        strings.CopyTo(file, stringsOffset);
        for (int i = 0; i < sections.Length; i++)
        {
            Span<byte> header = file.AsSpan(headersOffset + ((i + 1) * 64), 64);
            BitConverter.TryWriteBytes(header, (uint)nameOffsets[i]);
            BitConverter.TryWriteBytes(header[0x10..], sections[i].Address);
        }

        Span<byte> names = file.AsSpan(headersOffset + ((count - 1) * 64), 64);
        BitConverter.TryWriteBytes(names, (uint)shstrtabName);
        BitConverter.TryWriteBytes(names[0x18..], (ulong)stringsOffset);
        BitConverter.TryWriteBytes(names[0x20..], (ulong)strings.Count);
        return file;
    }
}
