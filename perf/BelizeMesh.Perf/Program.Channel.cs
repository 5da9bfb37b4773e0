using BelizeMesh.Perf.Channel;

namespace BelizeMesh.Perf;

public static partial class Program
{
    static partial void RegisterChannel(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands)
    {
        commands["handshake"] = (
            "PQ channel full handshakes/s and CPU per handshake on loopback, beside SslStream TLS 1.3 mutual auth (ECDSA P-256). [--quick] [--count N]",
            ChannelBenchmark.Handshake);
        commands["handshake-crypto"] = (
            "The cryptography of one bm1 server handshake in-process, step by step (P-256 ECDH both ways, ML-KEM-1024, key schedule, transcript): CPU µs per operation. DOTNET_TieredCompilation=0 recommended; DOTNET_EnableAVX2=0 shows the scalar paths. [--quick]",
            HandshakeCryptoBenchmark.Run);
        commands["bulk"] = (
            "PQ channel one-connection bulk throughput per direction (Stream face and Kestrel face), beside plain TCP and SslStream TLS 1.3 AES-256-GCM; median of repeats. [--quick] [--mb N] [--repeat N]",
            ChannelBenchmark.Bulk);
    }
}
