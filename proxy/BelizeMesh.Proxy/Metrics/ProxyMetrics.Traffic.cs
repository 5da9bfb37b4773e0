using System.Diagnostics.Metrics;

namespace BelizeMesh.Proxy.Metrics;

/// <summary>Metrics of the outbound traffic rules: retries the budget refused, injected faults.</summary>
internal sealed partial class ProxyMetrics
{
    private Counter<long>? _retryBudgetExhausted;
    private Counter<long>? _faults;

    private Counter<long> RetryBudgetExhaustedCounter => LazyInitializer.EnsureInitialized(ref _retryBudgetExhausted,
        () => Meter.CreateCounter<long>("belizemesh.proxy.retry_budget.exhausted", "{request}", "Retries not made because the route's retry budget was spent, by route."));

    private Counter<long> FaultsCounter => LazyInitializer.EnsureInitialized(ref _faults,
        () => Meter.CreateCounter<long>("belizemesh.proxy.faults", "{request}", "Faults injected by an outbound rule, by route and kind (delay, abort)."));

    public void RetryBudgetExhausted(string route)
    {
        Counter<long> counter = RetryBudgetExhaustedCounter;
        if (counter.Enabled)
        {
            counter.Add(1, new KeyValuePair<string, object?>("route", route));
        }
    }

    public void FaultInjected(string route, string kind)
    {
        Counter<long> counter = FaultsCounter;
        if (counter.Enabled)
        {
            counter.Add(1, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("kind", kind));
        }
    }
}
