using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace BelizeMesh.Perf.Load;

/// <summary>
/// Every open-loop request's times, when <c>BELIZEMESH_LOAD_DUMP=FILE</c> is set: one line per request,
/// <c>due sent done</c> in microseconds from the first request's due time (due: the intended send time; sent: when the
/// generator wrote it; done: when the response was read), after a line <c># origin NS</c>: the first due time on the
/// machine's monotonic clock, which lines up the dumps of two generators run at once (perf/stall-pairs.py). For finding
/// whether slow requests cluster in time (a stall that delays every request in flight) or come one by one, and whether
/// the generator sent them late.
/// </summary>
internal static class RequestDump
{
    private static readonly string? s_path = Environment.GetEnvironmentVariable("BELIZEMESH_LOAD_DUMP");
    private static readonly ConcurrentQueue<(long Due, long Sent, long Done)> s_entries = new();

    public static void Add(long due, long sent, long done)
    {
        if (s_path is not null)
        {
            s_entries.Enqueue((due, sent, done));
        }
    }

    /// <summary>Writes what was recorded (sorted by due time) and forgets it.</summary>
    public static void Write()
    {
        if (s_path is null || s_entries.IsEmpty)
        {
            return;
        }

        var entries = new List<(long Due, long Sent, long Done)>(s_entries);
        s_entries.Clear();
        entries.Sort((a, b) => a.Due.CompareTo(b.Due));
        long origin = entries[0].Due;
        double us = 1e6 / Stopwatch.Frequency;
        using var writer = new StreamWriter(s_path, append: true);
        // the first request's due time on the machine's monotonic clock (ns): lines up two generators' dumps
        writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# origin {origin * (1e9 / Stopwatch.Frequency):0}"));
        foreach ((long due, long sent, long done) in entries)
        {
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(due - origin) * us:0} {(sent - origin) * us:0} {(done - origin) * us:0}"));
        }
    }
}
