namespace BelizeMesh.Injector.Injection;

/// <summary>Why the injector did (or did not) change a pod. Each value is one metric label.</summary>
internal enum InjectionReason
{
    /// <summary>The sidecar was added.</summary>
    Injected,

    /// <summary><c>belizemesh.io/status</c> is present: a second injection changes nothing.</summary>
    AlreadyInjected,

    /// <summary><c>belizemesh.io/inject: "false"</c> on the pod (label or annotation).</summary>
    OptedOut,

    /// <summary>The pod's namespace is in <c>ignoredNamespaces</c> (kube-system, kube-public).</summary>
    IgnoredNamespace,

    /// <summary><c>hostNetwork: true</c>: the sidecar's ports would be the node's ports.</summary>
    HostNetwork,

    /// <summary>A Windows pod (<c>spec.os.name</c> or the <c>kubernetes.io/os</c> node selector): the sidecar is Linux-only.</summary>
    WindowsPod,

    /// <summary>A container named <c>belizemesh-proxy</c> exists without the status annotation (hand-written); left as is.</summary>
    SidecarPresent,

    /// <summary>The pod already uses one of the sidecar's ports, port names or volume names. A failure.</summary>
    Conflict,

    /// <summary>The object is not a usable pod (no spec, containers not a list...). A failure.</summary>
    InvalidPod,

    /// <summary>The pod matches a <c>quantum: false</c> workload of the mesh (<c>belizemesh emit</c>'s exclusion list).</summary>
    Excluded,

    /// <summary>The review was for another kind, or a sub-resource (admission layer only).</summary>
    NotAPod,

    /// <summary>The review was not a CREATE (admission layer only).</summary>
    NotCreate,
}

/// <summary>The core's answer for one pod: a reason, the patch (empty unless injected) and a message for skips.</summary>
internal sealed record InjectionResult(InjectionReason Reason, IReadOnlyList<PatchOperation> Patch, string? Message)
{
    /// <summary>True when the pod asked for the sidecar but cannot get it; the failure policy decides what happens.</summary>
    public bool IsFailure => Reason is InjectionReason.Conflict or InjectionReason.InvalidPod;

    /// <summary>True when the skip is worth telling the pod's author (a warning in the admission response).</summary>
    public bool Warn => Message is not null && Reason is not (InjectionReason.AlreadyInjected or InjectionReason.OptedOut or InjectionReason.Excluded);

    public static InjectionResult Skip(InjectionReason reason, string? message = null) => new(reason, [], message);

    /// <summary>The metric label for a reason.</summary>
    public static string Label(InjectionReason reason) => reason switch
    {
        InjectionReason.Injected => "injected",
        InjectionReason.AlreadyInjected => "already_injected",
        InjectionReason.OptedOut => "opted_out",
        InjectionReason.Excluded => "excluded",
        InjectionReason.IgnoredNamespace => "ignored_namespace",
        InjectionReason.HostNetwork => "host_network",
        InjectionReason.WindowsPod => "windows_pod",
        InjectionReason.SidecarPresent => "sidecar_present",
        InjectionReason.Conflict => "conflict",
        InjectionReason.InvalidPod => "invalid_pod",
        InjectionReason.NotAPod => "not_a_pod",
        _ => "not_create",
    };
}
