using System.Globalization;

namespace BelizeMesh.Perf.Compare;

/// <summary>
/// CPU time and resident memory of a set of processes and their descendants (nginx and HAProxy fork workers), read
/// from Linux <c>/proc</c>: <c>/proc/&lt;pid&gt;/stat</c> fields 14–15 (utime, stime, in clock ticks) and
/// <c>/proc/&lt;pid&gt;/status</c> <c>VmRSS</c> / <c>VmHWM</c>.
/// </summary>
internal static class ProcStats
{
    // sysconf(_SC_CLK_TCK) is 100 on every Linux architecture .NET runs on.
    private const double ClockTicksPerSecond = 100;

    public static bool Available => OperatingSystem.IsLinux() && Directory.Exists("/proc/self");

    /// <summary>The given processes and every live descendant.</summary>
    public static List<int> Tree(IEnumerable<int> roots)
    {
        var parents = new Dictionary<int, int>();
        foreach (string directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
                && TryReadStat(pid, out int parent, out _))
            {
                parents[pid] = parent;
            }
        }

        var result = new List<int>(roots);
        for (int i = 0; i < result.Count; i++)
        {
            foreach (var (pid, parent) in parents)
            {
                if (parent == result[i] && !result.Contains(pid))
                {
                    result.Add(pid);
                }
            }
        }

        return result;
    }

    /// <summary>User + system CPU seconds used so far by the processes (those that exited count 0).</summary>
    public static double CpuSeconds(IEnumerable<int> pids)
    {
        double total = 0;
        foreach (int pid in pids)
        {
            if (TryReadStat(pid, out _, out long ticks))
            {
                total += ticks / ClockTicksPerSecond;
            }
        }

        return total;
    }

    /// <summary>Sum of a <c>/proc/&lt;pid&gt;/status</c> field in MiB (<c>VmRSS</c> now, <c>VmHWM</c> the peak).</summary>
    public static double MemoryMiB(IEnumerable<int> pids, string field)
    {
        double kib = 0;
        foreach (int pid in pids)
        {
            try
            {
                foreach (string line in File.ReadLines($"/proc/{pid}/status"))
                {
                    if (line.StartsWith(field, StringComparison.Ordinal) && line.Length > field.Length && line[field.Length] == ':')
                    {
                        string value = line[(field.Length + 1)..].Trim();
                        kib += double.Parse(value.Split(' ')[0], CultureInfo.InvariantCulture);
                        break;
                    }
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return kib / 1024;
    }

    private static bool TryReadStat(int pid, out int parent, out long cpuTicks)
    {
        parent = 0;
        cpuTicks = 0;
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }

        // "pid (comm) state ppid ..." where comm may hold spaces and parentheses: fields start after the last ')'.
        int close = stat.LastIndexOf(')');
        if (close < 0)
        {
            return false;
        }

        string[] fields = stat[(close + 2)..].Split(' ');

        // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
        if (fields.Length < 13
            || !int.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out parent)
            || !long.TryParse(fields[11], NumberStyles.Integer, CultureInfo.InvariantCulture, out long user)
            || !long.TryParse(fields[12], NumberStyles.Integer, CultureInfo.InvariantCulture, out long system))
        {
            return false;
        }

        cpuTicks = user + system;
        return true;
    }
}
