using BelizeMesh.Perf.Crypto;

namespace BelizeMesh.Perf;

public static partial class Program
{
    static partial void RegisterCrypto(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands)
    {
        commands["crypto"] = (
            "ML-KEM / ML-DSA single-threaded medians (p10, p90), bytes allocated per op, beside OpenSSL 3.5 and @noble/post-quantum. [--quick]",
            CryptoBenchmark.Run);
    }
}
