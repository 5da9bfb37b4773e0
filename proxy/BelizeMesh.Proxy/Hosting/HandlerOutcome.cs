namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// What an inbound or outbound handler decided: the request's route label and, when it forwards, the forwarding still
/// under way, which <see cref="ProxyDispatcher"/> hands to Kestrel (the engine records the request as it ends). Handing the forwarding back instead of awaiting it inside the
/// handler means a handler that answers or forwards without waiting completes synchronously, so its state machine is
/// never boxed: one async layer less per request (perf/README.md, "data path").
/// </summary>
internal readonly struct HandlerOutcome(string route, Task? forwarding)
{
    public string Route { get; } = route;

    /// <summary>The forwarding to await; null when the handler answered the request itself.</summary>
    public Task? Forwarding { get; } = forwarding;

    /// <summary>A request the handler answered itself (an error, a fault, a refusal): only its label.</summary>
    public static implicit operator HandlerOutcome(string route) => new(route, null);
}
