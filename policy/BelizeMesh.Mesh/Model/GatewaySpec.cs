using BelizeMesh.Configuration;

namespace BelizeMesh.Mesh.Model;

/// <summary>An ingress gateway: the public hosts it serves, its TLS credential and whether plain HTTP redirects to HTTPS.</summary>
public sealed record GatewaySpec
{
    public required string Name { get; init; }

    public required string Namespace { get; init; }

    /// <summary>Labels of the gateway pods; <c>istio: ingressgateway</c> unless set.</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Selector { get; init; }

    /// <summary>The Kubernetes TLS Secret (in the gateway's namespace) holding the certificate; null serves HTTP only.</summary>
    public string? CredentialName { get; init; }

    public bool HttpsRedirect { get; init; }

    public required IReadOnlyList<GatewayHost> Hosts { get; init; }

    public SourcePosition Position { get; init; }
}

/// <summary>One public host of a gateway and the service that answers it.</summary>
public sealed record GatewayHost(string Host, ServiceRef Service, SourcePosition Position);

/// <summary>A resolved reference to a service of the mesh.</summary>
public sealed record ServiceRef(string Name, string Namespace, SourcePosition Position);
