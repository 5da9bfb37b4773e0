using BelizeMesh.Perf.Compare;

namespace BelizeMesh.Perf;

public static partial class Program
{
    static partial void RegisterCompare(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands)
    {
        commands["compare"] = (
            "Direct vs BelizeMesh (PQ and plaintext) vs nginx vs HAProxy, two hops each: throughput, latency, CPU, memory. [--quick] (see compare --help)",
            args => args.Contains("--help") ? Help() : CompareCommand.Run(args));
        commands["load"] = ("The harness's HTTP/1.1 load generator alone: load --target IP:PORT [--host H] [-c 64] [-d 10] [--rate R].", Load.LoadCommand.Run);
        commands["app"] = ("The benchmark app that compare starts: app --port N [--bytes B].", BenchApp.Run);
    }

    private static int Help()
    {
        Console.WriteLine(CompareOptions.Usage);
        return 0;
    }
}
