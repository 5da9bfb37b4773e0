namespace BelizeMesh.Identity;

/// <summary>What a service certificate says: the service, its namespace and identity, its DNS names and lifetime.</summary>
public sealed record ServiceCertificateRequest
{
    /// <summary>The Kubernetes service name (a DNS label).</summary>
    public required string Service { get; init; }

    /// <summary>The namespace (a DNS label).</summary>
    public required string Namespace { get; init; }

    /// <summary>The service account of the SPIFFE ID; defaults to <see cref="Service"/>.</summary>
    public string? ServiceAccount { get; init; }

    /// <summary>The SPIFFE trust domain.</summary>
    public string TrustDomain { get; init; } = SpiffeId.DefaultTrustDomain;

    /// <summary>How long the certificate is valid.</summary>
    public TimeSpan Validity { get; init; } = TimeSpan.FromDays(90);

    /// <summary>DNS names to add after the four service names.</summary>
    public IReadOnlyList<string> ExtraDnsNames { get; init; } = [];

    /// <summary>The identity written in the URI SAN.</summary>
    public SpiffeId SpiffeId => new(TrustDomain, Namespace, ServiceAccount ?? Service);

    /// <summary>The DNS SANs: <c>svc</c>, <c>svc.ns</c>, <c>svc.ns.svc</c>, <c>svc.ns.svc.cluster.local</c>, then <see cref="ExtraDnsNames"/>.</summary>
    public IReadOnlyList<string> DnsNames
    {
        get
        {
            var names = new List<string> { Service, $"{Service}.{Namespace}", $"{Service}.{Namespace}.svc", $"{Service}.{Namespace}.svc.cluster.local" };
            foreach (string extra in ExtraDnsNames)
            {
                if (!names.Contains(extra))
                {
                    names.Add(extra);
                }
            }

            return names;
        }
    }

    /// <summary>Every problem with the request, each a complete sentence naming the field; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (!KubernetesNames.IsDnsLabel(Service))
        {
            problems.Add($"service '{Service}' is not {KubernetesNames.LabelRule}");
        }

        if (!KubernetesNames.IsDnsLabel(Namespace))
        {
            problems.Add($"namespace '{Namespace}' is not {KubernetesNames.LabelRule}");
        }

        if (ServiceAccount is not null && !KubernetesNames.IsDnsSubdomain(ServiceAccount))
        {
            problems.Add($"service account '{ServiceAccount}' is not {KubernetesNames.SubdomainRule}");
        }

        if (!SpiffeId.IsTrustDomain(TrustDomain ?? ""))
        {
            problems.Add($"trust domain '{TrustDomain}' is not valid (lower-case letters, digits, '.', '-', '_')");
        }

        if (Validity <= TimeSpan.Zero)
        {
            problems.Add($"validity {Validity} is not positive");
        }

        foreach (string extra in ExtraDnsNames)
        {
            string bare = extra.StartsWith("*.", StringComparison.Ordinal) ? extra[2..] : extra;
            if (!KubernetesNames.IsDnsSubdomain(bare))
            {
                problems.Add($"DNS name '{extra}' is not {KubernetesNames.SubdomainRule} (a leading '*.' is allowed)");
            }
        }

        return problems;
    }
}
