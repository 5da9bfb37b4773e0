using BelizeMesh.Perf.Faults;

namespace BelizeMesh.Perf;

public static partial class Program
{
    static partial void RegisterFaults(SortedDictionary<string, (string Description, Func<string[], int> Run)> commands)
        => commands["faults"] = (
            "Fault suite: steady load through two real sidecars (PQ channel) while policies reload, certificates rotate, the backend is replaced (SIGTERM), the app restarts, the backend is killed; counts failed requests. [--seconds S] [--soak-minutes M] [--proxy PATH]",
            FaultsCommand.Run);
}
