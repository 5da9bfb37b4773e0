namespace BelizeMesh.Configuration;

/// <summary>
/// The names and numbers the components agree on: what <c>belizemesh emit</c> writes, the injector places in a pod and
/// the sidecar listens on or reads. One place for each, so the three cannot drift apart. Changing a value here changes
/// what running clusters see: every one is documented (docs/injector.md, docs/mesh.md, docs/policy.md).
/// </summary>
public static class MeshNames
{
    /// <summary>The <c>apiVersion</c> of every BelizeMesh document (<c>SidecarPolicy</c>, <c>Mesh</c>).</summary>
    public const string ApiVersion = "belizemesh.io/v1alpha1";

    // ---- ports ----

    /// <summary>The inbound post-quantum channel port every sidecar listens on and every <c>-pq</c> Service exposes.</summary>
    public const int InboundPort = 16443;

    /// <summary>The outbound listener (loopback) the app's HTTP_PROXY points at.</summary>
    public const int OutboundPort = 16001;

    /// <summary>The admin port: <c>/metrics</c> and <c>/healthz/ready</c>.</summary>
    public const int AdminPort = 16090;

    /// <summary>The sidecar's status listener (<c>run --status-listen</c>, <c>/healthz/ready</c> only) the injector
    /// starts and probes on the pod IP.</summary>
    public const int StatusPort = 16021;

    /// <summary>The sidecar's readiness endpoint on the admin port (the injected readiness probe).</summary>
    public const string ReadinessPath = "/healthz/ready";

    // ---- request headers the sidecars own ----

    /// <summary>The caller's verified SPIFFE ID, set by the inbound sidecar (reserved: clients' copies are removed).</summary>
    public const string PeerIdentityHeader = "x-belizemesh-peer-identity";

    /// <summary>The peer's app port a request is for, set by the outbound sidecar from the route's <c>appPort</c>.</summary>
    public const string AppPortHeader = "x-belizemesh-app-port";

    /// <summary>The caller's workload metadata, sent by one sidecar to the other over the PQ channel for the peer labels
    /// of Istio's request metrics; believed only from an authenticated peer and stripped before the app.</summary>
    public const string WorkloadHeader = "x-belizemesh-workload";

    // ---- pod: container, volumes, mounts ----

    /// <summary>The sidecar container's name (also the proxy's program name).</summary>
    public const string SidecarContainerName = "belizemesh-proxy";

    /// <summary>The pod volume holding the SidecarPolicy ConfigMap.</summary>
    public const string PolicyVolumeName = "belizemesh-policy";

    /// <summary>The pod volume holding the service certificate Secret.</summary>
    public const string CertsVolumeName = "belizemesh-certs";

    /// <summary>The SidecarPolicy ConfigMap of a service account: this prefix and the account's name.</summary>
    public const string PolicyConfigMapPrefix = "belizemesh-policy-";

    /// <summary>The service certificate Secret of a service account: this prefix and the account's name.</summary>
    public const string CertsSecretPrefix = "belizemesh-certs-";

    /// <summary>Where the policy volume is mounted in the sidecar.</summary>
    public const string PolicyMountPath = "/etc/belizemesh/policy";

    /// <summary>The SidecarPolicy file in the policy volume (the ConfigMap's data key).</summary>
    public const string PolicyFile = PolicyMountPath + "/policy.yaml";

    /// <summary>Where the certificate volume is mounted in the sidecar.</summary>
    public const string CertsMountPath = "/etc/belizemesh/certs";

    // ---- identities and the certificate Secret (BelizeMesh.Identity's constants are these) ----

    /// <summary>The scheme of a workload identity, <c>spiffe://&lt;trust-domain&gt;/ns/&lt;namespace&gt;/sa/&lt;account&gt;</c>.</summary>
    public const string SpiffeScheme = "spiffe://";

    /// <summary>The trust domain when none is configured: Kubernetes' and Istio's default.</summary>
    public const string DefaultTrustDomain = "cluster.local";

    /// <summary>The type of the service certificate Secret (<see cref="CertsSecretPrefix"/>).</summary>
    public const string CertsSecretType = "kubernetes.io/tls";

    /// <summary>The service certificate: a data key of the certificate Secret and a file in <see cref="CertsMountPath"/>.</summary>
    public const string CertificateFile = "tls.crt";

    /// <summary>The service's private key (ML-KEM-1024, PKCS#8): a data key of the certificate Secret and a file in
    /// <see cref="CertsMountPath"/>.</summary>
    public const string KeyFile = "tls.key";

    /// <summary>The trust bundle (the mesh's root certificates): a data key of the certificate Secret, a file in
    /// <see cref="CertsMountPath"/>, and the root certificate's file in a CA directory.</summary>
    public const string TrustBundleFile = "ca.crt";

    /// <summary>Annotation on the certificate Secret: the certificate's SPIFFE ID.</summary>
    public const string SpiffeIdAnnotation = "belizemesh.io/spiffe-id";

    /// <summary>Annotation on the certificate Secret: the certificate's NotAfter, RFC 3339 UTC to the second.</summary>
    public const string NotAfterAnnotation = "belizemesh.io/not-after";

    // ---- labels, annotations, namespaces ----

    /// <summary>The namespace label that turns injection on (<c>belizemesh-injection: enabled</c>).</summary>
    public const string NamespaceLabel = "belizemesh-injection";

    /// <summary>The label every object BelizeMesh writes carries …</summary>
    public const string ManagedByLabel = "app.kubernetes.io/managed-by";

    /// <summary>… with this value.</summary>
    public const string ManagedByValue = "belizemesh";

    /// <summary>The namespace <c>deploy/</c> installs the injector and the certificate controller into.</summary>
    public const string SystemNamespace = "belizemesh-system";

    /// <summary>The ConfigMap (in <see cref="SystemNamespace"/>) with emit's list of workloads left without a sidecar.</summary>
    public const string InjectorExclusionsConfigMap = "belizemesh-injector-exclusions";

    /// <summary>The sidecar's idle <c>timeout</c> of a route or an app entry that writes none (docs/policy.md Timeouts):
    /// the parser's default and what the mesh CLI writes where an entry must not inherit a gRPC port's 0s.</summary>
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Environment variables the injector sets on the sidecar container and the sidecar reads for the
    /// workload labels of Istio's request metrics (docs/observability.md).</summary>
    public static class WorkloadEnv
    {
        public const string WorkloadName = "BELIZEMESH_WORKLOAD_NAME";
        public const string Namespace = "BELIZEMESH_POD_NAMESPACE";
        public const string App = "BELIZEMESH_APP";
        public const string Version = "BELIZEMESH_VERSION";
        public const string CanonicalService = "BELIZEMESH_CANONICAL_SERVICE";
        public const string CanonicalRevision = "BELIZEMESH_CANONICAL_REVISION";
        public const string Cluster = "BELIZEMESH_CLUSTER_ID";
        public const string PodName = "BELIZEMESH_POD_NAME";
        public const string PodTemplateHash = "BELIZEMESH_POD_TEMPLATE_HASH";
    }
}
