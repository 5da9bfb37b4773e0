using System.CommandLine;
using BelizeMesh.Identity;

namespace BelizeMesh.Cli.Commands;

/// <summary><c>belizemesh certs root --out DIR</c>: a new ML-DSA-87 root CA (ca.crt, ca.key).</summary>
internal static class CertsRootCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var output = new Option<string>("--out") { Description = "Directory for ca.crt and ca.key (created if missing).", Required = true };
        var subject = new Option<string>("--subject") { Description = "Subject distinguished name.", DefaultValueFactory = _ => RootCertificateOptions.DefaultSubject };
        var days = new Option<int>("--days") { Description = "Validity in days.", DefaultValueFactory = _ => 3650 };
        var force = new Option<bool>("--force") { Description = "Overwrite existing ca.crt and ca.key." };
        var command = new Command("root", "Create the mesh root CA: an ML-DSA-87 key (DIR/ca.key, PKCS#8, mode 0600) and its self-signed certificate (DIR/ca.crt).")
        {
            output, subject, days, force,
        };
        command.SetAction(parse => CertsCommands.Guard("root", stderr, () => Run(
            parse.GetValue(output)!, parse.GetValue(subject)!, parse.GetValue(days), parse.GetValue(force), stdout)));
        return command;
    }

    private static int Run(string directory, string subject, int days, bool force, TextWriter stdout)
    {
        CertsCommands.RequirePositive("--days", days);
        string certificatePath = Path.Combine(directory, CertificateAuthority.CertificateFileName);
        string keyPath = Path.Combine(directory, CertificateAuthority.KeyFileName);
        CertsCommands.CheckNotExisting(force, certificatePath, keyPath);
        using var ca = CertificateAuthority.CreateRoot(new RootCertificateOptions { Subject = subject, Validity = TimeSpan.FromDays(days) });
        CertsCommands.EnsureDirectory(directory);
        CredentialFiles.Write(keyPath, ca.ExportPrivateKeyPem(), isPrivate: true, overwrite: force);
        CredentialFiles.Write(certificatePath, ca.Certificate.ToPem(), isPrivate: false, overwrite: force);
        stdout.WriteLine($"wrote {certificatePath} and {keyPath}: {ca.Certificate.Subject}, ML-DSA-87, serial {ca.Certificate.SerialNumber}, valid until {ca.Certificate.NotAfter:u}");
        return 0;
    }
}
