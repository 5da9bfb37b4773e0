namespace BelizeMesh.Perf;

/// <summary>
/// Entry point: <c>dotnet run -c Release --project perf/BelizeMesh.Perf -- &lt;command&gt; [options]</c>.
/// Each area registers its commands in its own partial file (<c>RegisterCrypto</c>, <c>RegisterCerts</c>, ...).
/// Benchmarks print figures; nothing here asserts a timing.
/// </summary>
public static partial class Program
{
    internal const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] is "compare" or "load" && Environment.GetEnvironmentVariable(InlineCompletions) is null)
        {
            // The load generator: run socket continuations on the epoll thread instead of hopping to the thread pool.
            // Read once when the socket engine starts, so it must be set before the first socket; it measured
            // 13k → 15k req/s through HAProxy here, level with wrk. Child processes do not inherit it (ManagedProcess).
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
        }

        var commands = new SortedDictionary<string, (string Description, Func<string[], int> Run)>(StringComparer.Ordinal);
        RegisterCrypto(commands);
        RegisterCerts(commands);
        RegisterMesh(commands);
        RegisterInjector(commands);
        RegisterChannel(commands);
        RegisterCompare(commands);
        RegisterFaults(commands);

        if (args.Length == 0 || !commands.TryGetValue(args[0], out var command))
        {
            Console.Error.WriteLine("usage: BelizeMesh.Perf <command> [options]");
            foreach (var (name, (description, _)) in commands)
            {
                Console.Error.WriteLine($"  {name,-12} {description}");
            }

            return 64;
        }

        if (args[0] != "compare" && (args.Contains("--help") || args.Contains("-h")))
        {
            // Every command's options are in its description (compare has a longer usage of its own). Without this a
            // command that does not know --help ignores it and runs its whole measurement.
            Console.WriteLine($"{args[0]}: {command.Description}");
            return 0;
        }

        return command.Run(args[1..]);
    }

    static partial void RegisterCrypto(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands);

    static partial void RegisterCerts(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands);

    static partial void RegisterMesh(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands);

    static partial void RegisterInjector(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands);

    static partial void RegisterChannel(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands);

    static partial void RegisterCompare(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands);

    static partial void RegisterFaults(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands);
}
