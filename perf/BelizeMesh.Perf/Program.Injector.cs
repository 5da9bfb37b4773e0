using BelizeMesh.Perf.Injector;

namespace BelizeMesh.Perf;

public static partial class Program
{
    static partial void RegisterInjector(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands)
    {
        commands["injector"] = ("Admission reviews/s, p50/p99 latency and RSS of belizemesh-injector serve over HTTPS", InjectorBenchmark.Run);
    }
}
