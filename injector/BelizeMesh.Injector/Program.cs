namespace BelizeMesh.Injector;

/// <summary>Entry point of <c>belizemesh-injector</c>.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // SKELETON: the injector helper replaces this with serve, inject and webhook-config.
        Console.Error.WriteLine("belizemesh-injector: not built yet.");
        return 70;
    }
}
