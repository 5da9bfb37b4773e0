using System.CommandLine;
using BelizeMesh.Identity;

namespace BelizeMesh.Cli.Commands;

/// <summary><c>belizemesh certs issue</c>: a service certificate with an ML-KEM-1024 key and its SPIFFE ID.</summary>
internal static class CertsIssueCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var ca = new Option<string>("--ca") { Description = "Directory holding the CA's ca.crt and ca.key (from 'certs root').", Required = true };
        var service = new Option<string>("--service") { Description = "Service name (a DNS label).", Required = true };
        var ns = new Option<string>("--namespace") { Description = "Namespace (a DNS label).", Required = true };
        var output = new Option<string>("--out") { Description = "Directory for tls.crt, tls.key and ca.crt (created if missing).", Required = true };
        var serviceAccount = new Option<string?>("--service-account") { Description = "Service account in the SPIFFE ID (default: the service name)." };
        var trustDomain = new Option<string>("--trust-domain") { Description = "SPIFFE trust domain.", DefaultValueFactory = _ => SpiffeId.DefaultTrustDomain };
        var days = new Option<int>("--days") { Description = "Validity in days.", DefaultValueFactory = _ => 90 };
        var dns = new Option<string[]>("--dns") { Description = "Extra DNS SAN (repeatable).", DefaultValueFactory = _ => [] };
        var force = new Option<bool>("--force") { Description = "Overwrite existing tls.crt, tls.key and ca.crt." };
        var command = new Command("issue", "Issue a service certificate: a fresh ML-KEM-1024 key (tls.key, PKCS#8, mode 0600), the certificate signed by the CA with ML-DSA-87 (tls.crt, URI SAN spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, DNS SANs of the service), and the CA certificate (ca.crt).")
        {
            ca, service, ns, output, serviceAccount, trustDomain, days, dns, force,
        };
        command.SetAction(parse => CertsCommands.Guard("issue", stderr, () =>
        {
            var request = new ServiceCertificateRequest
            {
                Service = parse.GetValue(service)!,
                Namespace = parse.GetValue(ns)!,
                ServiceAccount = parse.GetValue(serviceAccount),
                TrustDomain = parse.GetValue(trustDomain)!,
                Validity = TimeSpan.FromDays(Math.Max(parse.GetValue(days), 0)),
                ExtraDnsNames = parse.GetValue(dns) ?? [],
            };
            return Run(parse.GetValue(ca)!, request, parse.GetValue(days), parse.GetValue(output)!, parse.GetValue(force), stdout);
        }));
        return command;
    }

    private static int Run(string caDirectory, ServiceCertificateRequest request, int days, string directory, bool force, TextWriter stdout)
    {
        CertsCommands.RequireDnsLabel("--service", request.Service);
        CertsCommands.RequireDnsLabel("--namespace", request.Namespace);
        if (request.ServiceAccount is { } sa && !KubernetesNames.IsDnsSubdomain(sa))
        {
            throw new CertsUsageException($"--service-account '{sa}' is not {KubernetesNames.SubdomainRule}");
        }

        if (!SpiffeId.IsTrustDomain(request.TrustDomain))
        {
            throw new CertsUsageException($"--trust-domain '{request.TrustDomain}' is not a trust domain (lower-case letters, digits, '.', '-', '_'), e.g. cluster.local");
        }

        CertsCommands.RequirePositive("--days", days);
        foreach (string problem in request.Validate())
        {
            throw new CertsUsageException(problem);
        }

        string certificatePath = Path.Combine(directory, ServiceCredentials.CertificateFileName);
        string keyPath = Path.Combine(directory, ServiceCredentials.KeyFileName);
        string bundlePath = Path.Combine(directory, ServiceCredentials.TrustBundleFileName);
        CertsCommands.CheckNotExisting(force, certificatePath, keyPath, bundlePath);

        using var authority = CertificateAuthority.Load(caDirectory);
        using var issued = authority.Issue(request);
        CertsCommands.EnsureDirectory(directory);
        CredentialFiles.Write(keyPath, issued.ExportPrivateKeyPem(), isPrivate: true, overwrite: force);
        CredentialFiles.Write(certificatePath, issued.CertificatePem, isPrivate: false, overwrite: force);
        CredentialFiles.Write(bundlePath, authority.Certificate.ToPem(), isPrivate: false, overwrite: force);
        stdout.WriteLine($"wrote {certificatePath}, {keyPath} and {bundlePath}: {request.SpiffeId}, ML-KEM-1024, serial {issued.Certificate.SerialNumber}, valid until {issued.Certificate.NotAfter:u}");
        return 0;
    }
}
