using BelizeMesh.Perf.Certs;

namespace BelizeMesh.Perf;

public static partial class Program
{
    static partial void RegisterCerts(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands)
    {
        commands["certs"] = ("Certificate issue and chain verification (uncached, cached): medians", CertsBenchmark.Run);
    }
}
