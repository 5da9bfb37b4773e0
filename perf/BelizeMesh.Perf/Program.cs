namespace BelizeMesh.Perf;

/// <summary>Entry point: <c>dotnet run -c Release --project perf/BelizeMesh.Perf -- &lt;command&gt;</c>.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // SKELETON: benchmark commands register here (crypto, certs, emit, ...).
        Console.Error.WriteLine("usage: BelizeMesh.Perf <command>");
        return 64;
    }
}
