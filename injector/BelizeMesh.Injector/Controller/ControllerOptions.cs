using System.Globalization;
using BelizeMesh.Configuration;
using BelizeMesh.Identity;

namespace BelizeMesh.Injector.Controller;

/// <summary>What <c>belizemesh-injector controller</c> was asked to do (see docs/injector.md, Certificate controller).</summary>
internal sealed record ControllerOptions
{
    /// <summary>Data key of the signing root's certificate in the root Secret (the file <c>belizemesh certs root</c> writes).</summary>
    public const string RootCertificateKey = CertificateAuthority.CertificateFileName;

    /// <summary>Data key of the signing root's ML-DSA-87 key in the root Secret.</summary>
    public const string RootKeyKey = CertificateAuthority.KeyFileName;

    /// <summary>Optional data key: further roots to publish in every <c>ca.crt</c> (a root rotation in progress).</summary>
    public const string ExtraRootsKey = "extra-roots.crt";

    /// <summary>Label (and annotation) naming the service account a controller-written Secret belongs to.</summary>
    public const string ServiceAccountLabel = "belizemesh.io/service-account";

    /// <summary>Namespace of the root Secret (and, by default, of the Lease).</summary>
    public string RootSecretNamespace { get; init; } = MeshNames.SystemNamespace;

    /// <summary>Name of the root Secret.</summary>
    public string RootSecretName { get; init; } = "belizemesh-root-ca";

    /// <summary>SPIFFE trust domain of the issued identities.</summary>
    public string TrustDomain { get; init; } = SpiffeId.DefaultTrustDomain;

    /// <summary>Lifetime of an issued certificate (default 90 days, as the QBITEL seed's certificate manager).</summary>
    public TimeSpan CertificateValidity { get; init; } = TimeSpan.FromDays(90);

    /// <summary>A certificate is renewed this long before it expires (default 30 days).</summary>
    public TimeSpan RenewBefore { get; init; } = TimeSpan.FromDays(30);

    /// <summary>The namespaces whose service accounts get certificates: the label the injector's webhook selects on.</summary>
    public string NamespaceSelector { get; init; } = MeshNames.NamespaceLabel + "=enabled";

    /// <summary>Namespace of the Lease.</summary>
    public string LeaseNamespace { get; init; } = MeshNames.SystemNamespace;

    /// <summary>Name of the Lease.</summary>
    public string LeaseName { get; init; } = "belizemesh-cert-controller";

    /// <summary>This replica's name in the Lease (the pod name).</summary>
    public string Identity { get; init; } = Environment.MachineName;

    /// <summary>How long a Lease holds without renewal before another replica may take it.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The leader stops writing when it has not renewed for this long (less than <see cref="LeaseDuration"/>).</summary>
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the Lease is tried (followers) or renewed (the leader).</summary>
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Server-side timeout of one watch request; the watch then resumes from its resourceVersion.</summary>
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a service account whose issuance failed waits before the next try.</summary>
    public TimeSpan FailureBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Every problem with the options, each naming the flag; empty when valid.</summary>
    public List<string> Validate()
    {
        var problems = new List<string>();
        if (!KubernetesNames.IsDnsLabel(RootSecretNamespace))
        {
            problems.Add($"--root-secret-namespace '{RootSecretNamespace}' is not {KubernetesNames.LabelRule}");
        }

        if (!KubernetesNames.IsDnsSubdomain(RootSecretName))
        {
            problems.Add($"--root-secret '{RootSecretName}' is not {KubernetesNames.SubdomainRule}");
        }

        if (!KubernetesNames.IsDnsLabel(LeaseNamespace))
        {
            problems.Add($"--lease-namespace '{LeaseNamespace}' is not {KubernetesNames.LabelRule}");
        }

        if (!KubernetesNames.IsDnsSubdomain(LeaseName))
        {
            problems.Add($"--lease-name '{LeaseName}' is not {KubernetesNames.SubdomainRule}");
        }

        if (string.IsNullOrWhiteSpace(Identity))
        {
            problems.Add("--identity is empty: pass the pod name (the downward API's metadata.name)");
        }

        if (!SpiffeId.IsTrustDomain(TrustDomain))
        {
            problems.Add($"--trust-domain '{TrustDomain}' is not a trust domain (lower-case letters, digits, '.', '-', '_'), e.g. cluster.local");
        }

        if (CertificateValidity < TimeSpan.FromMinutes(2))
        {
            problems.Add($"--cert-validity {FormatDuration(CertificateValidity)} is too short: at least 2m");
        }

        if (RenewBefore <= TimeSpan.Zero || RenewBefore >= CertificateValidity)
        {
            problems.Add($"--renew-before {FormatDuration(RenewBefore)} must be positive and shorter than --cert-validity {FormatDuration(CertificateValidity)} (e.g. 30d for 90d certificates, 20m for 1h)");
        }

        if (!TryParseSelector(NamespaceSelector, out _, out _))
        {
            problems.Add($"--namespace-selector '{NamespaceSelector}' is not KEY=VALUE (e.g. belizemesh-injection=enabled)");
        }

        if (LeaseDuration <= RenewDeadline || RenewDeadline <= RetryPeriod || RetryPeriod <= TimeSpan.Zero)
        {
            problems.Add($"lease timings must satisfy --lease-duration ({FormatDuration(LeaseDuration)}) > --renew-deadline ({FormatDuration(RenewDeadline)}) > --retry-period ({FormatDuration(RetryPeriod)}) > 0");
        }

        return problems;
    }

    /// <summary>Splits <c>KEY=VALUE</c>.</summary>
    public static bool TryParseSelector(string selector, out string key, out string value)
    {
        key = value = "";
        int eq = selector.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0 || eq == selector.Length - 1 || selector.IndexOf(',', StringComparison.Ordinal) >= 0)
        {
            return false;
        }

        key = selector[..eq];
        value = selector[(eq + 1)..];
        return true;
    }

    /// <summary>Parses a duration: a positive integer with a unit <c>s</c>, <c>m</c>, <c>h</c> or <c>d</c> (<c>90d</c>, <c>1h</c>, <c>20m</c>).</summary>
    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (text.Length < 2 || !long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n <= 0 || n > 100_000)
        {
            return false;
        }

        duration = text[^1] switch
        {
            's' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMinutes(n),
            'h' => TimeSpan.FromHours(n),
            'd' => TimeSpan.FromDays(n),
            _ => TimeSpan.Zero,
        };
        return duration > TimeSpan.Zero;
    }

    /// <summary>The inverse of <see cref="TryParseDuration"/> for messages (the largest whole unit).</summary>
    public static string FormatDuration(TimeSpan duration) =>
        duration.Ticks % TimeSpan.TicksPerDay == 0 ? $"{duration.Ticks / TimeSpan.TicksPerDay}d"
        : duration.Ticks % TimeSpan.TicksPerHour == 0 ? $"{duration.Ticks / TimeSpan.TicksPerHour}h"
        : duration.Ticks % TimeSpan.TicksPerMinute == 0 ? $"{duration.Ticks / TimeSpan.TicksPerMinute}m"
        : $"{duration.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)}s";
}
