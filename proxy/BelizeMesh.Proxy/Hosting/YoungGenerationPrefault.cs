using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Start-up (issue 11, exec to ready ≤ 50 ms; perf/README.md, "footprint, round 12"): the memory the garbage collector
/// hands out first — the rest of the young generation's first region — is filled in two steps before start-up
/// allocates into it, instead of one page fault per 4 KiB page.
/// </summary>
/// <remarks>
/// <para>Start-up allocates ~3.4 MB before <c>/healthz/ready</c> (the host, Kestrel, the DI container, the policy and
/// certificates), all of it into fresh memory of the first young-generation region: ~850 page faults, which on a
/// paravirtualised guest cost ~10 µs each (perf/page-fault-cost.c) — 29% of the main thread's start-up samples were the
/// GC's allocator clearing new memory. At the top of <c>Main</c> this finds that region (the mapping holding a
/// just-allocated object, when it starts on a region boundary and the GC's reserved, inaccessible range follows it to
/// the region's end), makes the rest of it readable and writable (what the GC's own commit does: <c>mprotect</c>
/// RW and <c>MADV_DODUMP</c>, so its later commits change nothing and the mapping stays one piece), asks for
/// transparent huge pages on it (<c>MADV_HUGEPAGE</c>: the region's second 2 MiB is then one fault), and fills the
/// rest of the first 2 MiB, which already holds 4 KiB pages, in one call (<c>MADV_POPULATE_WRITE</c>). The memory
/// stays zero-filled until the GC allocates there, as freshly committed memory is; the GC decommits it as usual
/// (a collection's decommit replaces the mapping).</para>
/// <para>Only for the GC's default layout: 4 MiB regions (its rule: the region range over 40 is at least 4 MiB, or
/// <c>GCRegionSize</c> set to 4 MiB). Anything else — another region size, a layout that does not match, a JIT process,
/// a call that fails — leaves the memory to be faulted in on first touch as before. <c>BELIZEMESH_PREFAULT=0</c> turns
/// it off with the type-data prefault (Native/startup_prefault.c); <c>BELIZEMESH_PREFAULT=nohuge</c> fills the first
/// 2 MiB without asking for a huge page.</para>
/// </remarks>
internal static partial class YoungGenerationPrefault
{
    internal const ulong RegionSize = 4 << 20;
    internal const ulong HugePageSize = 2 << 20;

    private const int ProtRead = 1;
    private const int ProtWrite = 2;
    private const int MadvHugePage = 14;
    private const int MadvDoDump = 17;
    private const int MadvPopulateWrite = 23;

    /// <summary>The part of the young generation's first region to prepare.</summary>
    /// <param name="Start">The region's first byte (a region boundary).</param>
    /// <param name="Committed">The end of what the GC has committed so far.</param>
    /// <param name="End">The region's end.</param>
    internal readonly record struct Plan(ulong Start, ulong Committed, ulong End);

    /// <summary>Prepares the region; returns the bytes made ready ahead of the GC (0 when nothing was done).</summary>
    public static long Apply()
    {
        string? setting = Environment.GetEnvironmentVariable("BELIZEMESH_PREFAULT");
        if (setting == "0" || !OperatingSystem.IsLinux() || RuntimeFeature.IsDynamicCodeSupported)
        {
            return 0; // off, or a JIT process (tests, dotnet run): its GC heap is not the shipped start-up
        }

        try
        {
            if (!UsesDefaultRegions(GC.GetConfigurationVariables()))
            {
                return 0;
            }

            ulong probe = AddressOfNewObject();
            if (Find(probe, File.ReadLines("/proc/self/maps")) is not { } plan
                || MProtect((nint)plan.Committed, (nuint)(plan.End - plan.Committed), ProtRead | ProtWrite) != 0)
            {
                return 0;
            }

            _ = MAdvise((nint)plan.Start, (nuint)RegionSize, MadvDoDump);
            if (setting != "nohuge")
            {
                _ = MAdvise((nint)plan.Start, (nuint)RegionSize, MadvHugePage);
            }

            ulong firstHugePageEnd = plan.Start + HugePageSize;
            if (plan.Committed < firstHugePageEnd)
            {
                _ = MAdvise((nint)plan.Committed, (nuint)(firstHugePageEnd - plan.Committed), MadvPopulateWrite);
            }

            return (long)(plan.End - plan.Committed);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or OverflowException or EntryPointNotFoundException or DllNotFoundException)
        {
            return 0; // a start-up nicety: never a reason not to start
        }
    }

    /// <summary>
    /// True when the GC lays the heap out in 4 MiB regions: <c>GCRegionSize</c> set to that, or unset with a region range
    /// of at least 160 MiB (the GC picks 4 MiB when range / 2 / 20 — half the range over the regions one heap needs at
    /// least — is 4 MiB or more). False under server GC (several heaps) or when the values are missing.
    /// </summary>
    internal static bool UsesDefaultRegions(IReadOnlyDictionary<string, object> configuration)
    {
        if (!configuration.TryGetValue("GCRegionSize", out object? size) || !configuration.TryGetValue("GCRegionRange", out object? range)
            || (configuration.TryGetValue("ServerGC", out object? server) && server is true))
        {
            return false;
        }

        ulong regionSize = Convert.ToUInt64(size, CultureInfo.InvariantCulture);
        ulong regionRange = Convert.ToUInt64(range, CultureInfo.InvariantCulture);
        return regionSize == RegionSize || (regionSize == 0 && regionRange / 40 >= RegionSize);
    }

    /// <summary>
    /// The region holding <paramref name="probe"/> from <c>/proc/self/maps</c> lines: the mapping that holds it must be
    /// readable and writable, start on a region boundary and end inside the region, and the next mapping must be the
    /// GC's reserve (<c>---p</c>, anonymous) reaching at least the region's end. Null when anything differs.
    /// </summary>
    internal static Plan? Find(ulong probe, IEnumerable<string> mapsLines)
    {
        ulong start = 0;
        ulong committed = 0;
        foreach (string line in mapsLines)
        {
            if (!ProcMapsLine.TryParse(line, out ProcMapsLine mapping))
            {
                return null;
            }

            if (committed == 0)
            {
                if (probe >= mapping.Start && probe < mapping.End)
                {
                    if (!mapping.Permissions.StartsWith("rw") || !mapping.Anonymous || mapping.Start % RegionSize != 0 || mapping.End - mapping.Start >= RegionSize)
                    {
                        return null;
                    }

                    start = mapping.Start;
                    committed = mapping.End;
                }

                continue;
            }

            return mapping.Start == committed && mapping.Permissions.SequenceEqual("---p") && mapping.Anonymous && mapping.End >= start + RegionSize
                ? new Plan(start, committed, start + RegionSize)
                : null;
        }

        return null;
    }

    /// <summary>Where a new small object lands: the young generation's current region.</summary>
    private static ulong AddressOfNewObject()
    {
        byte[] probe = new byte[1];
        GCHandle handle = GCHandle.Alloc(probe, GCHandleType.Pinned);
        try
        {
            return (ulong)handle.AddrOfPinnedObject();
        }
        finally
        {
            handle.Free();
        }
    }

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int MProtect(nint address, nuint length, int protection);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int MAdvise(nint address, nuint length, int advice);
}
