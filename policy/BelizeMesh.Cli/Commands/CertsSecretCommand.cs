using System.CommandLine;
using System.Text;
using BelizeMesh.Identity;

namespace BelizeMesh.Cli.Commands;

/// <summary><c>belizemesh certs secret</c>: the kubernetes.io/tls Secret a sidecar mounts at /etc/belizemesh/certs.</summary>
internal static class CertsSecretCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var certs = new Option<string>("--certs") { Description = "Directory holding tls.crt, tls.key and ca.crt (from 'certs issue').", Required = true };
        var name = new Option<string>("--name") { Description = "Secret name, by convention belizemesh-certs-<service-account>.", Required = true };
        var ns = new Option<string>("--namespace") { Description = "Namespace of the Secret.", Required = true };
        var command = new Command("secret", "Print a kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) as YAML on stdout, after checking that the key matches the certificate and the certificate validates against ca.crt.")
        {
            certs, name, ns,
        };
        command.SetAction(parse => CertsCommands.Guard("secret", stderr, () => Run(parse.GetValue(certs)!, parse.GetValue(name)!, parse.GetValue(ns)!, stdout)));
        return command;
    }

    private static int Run(string directory, string name, string ns, TextWriter stdout)
    {
        if (!KubernetesNames.IsDnsSubdomain(name))
        {
            throw new CertsUsageException($"--name '{name}' is not {KubernetesNames.SubdomainRule}");
        }

        CertsCommands.RequireDnsLabel("--namespace", ns);

        // The same checks a sidecar makes when it loads the mounted Secret; the trust domain is the certificate's own.
        string trustDomain = SpiffeId.DefaultTrustDomain;
        string certificatePath = Path.Combine(directory, ServiceCredentials.CertificateFileName);
        try
        {
            if (MeshCertificate.ParsePem(CredentialFiles.Read(certificatePath)).SpiffeId is { } id)
            {
                trustDomain = id.TrustDomain;
            }
        }
        catch (CertificateFormatException e)
        {
            throw new CredentialsException($"{certificatePath}: {e.Message}", CertificateRejection.Malformed, e);
        }

        using var credentials = ServiceCredentials.Load(directory, new CertificateValidatorOptions { TrustDomain = trustDomain });
        var yaml = new StringBuilder();
        yaml.Append("apiVersion: v1\n");
        yaml.Append("kind: Secret\n");
        yaml.Append("metadata:\n");
        yaml.Append("  name: ").Append(name).Append('\n');
        yaml.Append("  namespace: ").Append(ns).Append('\n');
        yaml.Append("  labels:\n");
        yaml.Append("    ").Append(ServiceCertificateSecret.ManagedByLabel).Append(": ").Append(ServiceCertificateSecret.ManagedByValue).Append('\n');
        yaml.Append("  annotations:\n");
        yaml.Append("    ").Append(ServiceCertificateSecret.SpiffeIdAnnotation).Append(": \"").Append(credentials.SpiffeId).Append("\"\n");
        yaml.Append("    ").Append(ServiceCertificateSecret.NotAfterAnnotation).Append(": \"").Append(ServiceCertificateSecret.FormatNotAfter(credentials.Certificate.NotAfter)).Append("\"\n");
        yaml.Append("type: ").Append(ServiceCertificateSecret.Type).Append('\n');
        yaml.Append("data:\n");
        foreach (string file in ServiceCertificateSecret.DataKeys)
        {
            // base64 of the files' bytes: what 'kubectl create secret tls' stores.
            string path = Path.Combine(directory, file);
            yaml.Append("  ").Append(file).Append(": ").Append(Convert.ToBase64String(File.ReadAllBytes(path))).Append('\n');
        }

        stdout.Write(yaml.ToString());
        return 0;
    }
}
