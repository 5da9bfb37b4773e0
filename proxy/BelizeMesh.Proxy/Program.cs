namespace BelizeMesh.Proxy;

/// <summary>Entry point of <c>belizemesh-proxy</c>.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("belizemesh-proxy: the data path (run, demo) is not built yet; see issue 5 in the project tracker.");
        return 70;
    }
}
