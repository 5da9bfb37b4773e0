using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using BelizeMesh.Cli;

namespace BelizeMesh.Identity.Tests;

/// <summary><c>belizemesh certs …</c> run in-process, against real files.</summary>
public sealed class CertsCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private string CaDir => _dir.File("ca");

    private string SvcDir => _dir.File("svc");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Root_writes_the_CA_certificate_and_a_private_key_readable_only_by_its_owner()
    {
        var (exit, stdout, stderr) = Run("certs", "root", "--out", CaDir);

        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        var certificate = MeshCertificate.ParsePem(File.ReadAllText(Path.Combine(CaDir, "ca.crt")));
        Assert.Equal("CN=BelizeMesh Root CA, O=BelizeMesh", certificate.Subject);
        Assert.True(certificate.IsCertificateAuthority);
        Assert.Equal(3650, (certificate.NotAfter - certificate.NotBefore).TotalDays);
        Assert.StartsWith($"wrote {Path.Combine(CaDir, "ca.crt")} and {Path.Combine(CaDir, "ca.key")}: CN=BelizeMesh Root CA, O=BelizeMesh, ML-DSA-87, serial {certificate.SerialNumber}", stdout, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(CaDir, "ca.key")));
        using var authority = CertificateAuthority.Load(CaDir);
    }

    [Fact]
    public void Root_takes_subject_and_days()
    {
        var (exit, _, stderr) = Run("certs", "root", "--out", CaDir, "--subject", "CN=Belize Test CA,O=Belize", "--days", "30");

        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        var certificate = MeshCertificate.ParsePem(File.ReadAllText(Path.Combine(CaDir, "ca.crt")));
        Assert.Equal("CN=Belize Test CA, O=Belize", certificate.Subject);
        Assert.Equal(30, (certificate.NotAfter - certificate.NotBefore).TotalDays);
    }

    [Fact]
    public void Root_never_overwrites_without_force()
    {
        Assert.Equal(0, Run("certs", "root", "--out", CaDir).Exit);
        string before = File.ReadAllText(Path.Combine(CaDir, "ca.key"));

        var (exit, stdout, stderr) = Run("certs", "root", "--out", CaDir);

        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Equal($"belizemesh certs root: {Path.Combine(CaDir, "ca.crt")} already exists; pass --force to overwrite it\n", stderr);
        Assert.Equal(before, File.ReadAllText(Path.Combine(CaDir, "ca.key")));

        Assert.Equal(0, Run("certs", "root", "--out", CaDir, "--force").Exit);
        Assert.NotEqual(before, File.ReadAllText(Path.Combine(CaDir, "ca.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(CaDir, "ca.key")));
    }

    [Theory]
    [InlineData(new[] { "--subject", "BelizeMesh Root" }, "subject 'BelizeMesh Root' is not a distinguished name; write it like 'CN=BelizeMesh Root CA,O=BelizeMesh'")]
    [InlineData(new[] { "--days", "0" }, "--days must be a positive number of days, not 0")]
    public void Root_reports_bad_options_in_one_line(string[] options, string message)
    {
        var (exit, _, stderr) = Run(["certs", "root", "--out", CaDir, .. options]);

        Assert.Equal(2, exit);
        Assert.Equal($"belizemesh certs root: {message}\n", stderr);
        Assert.False(Directory.Exists(CaDir));
    }

    [Fact]
    public void Issue_writes_certificate_key_and_bundle_for_the_service()
    {
        Root();

        var (exit, stdout, stderr) = Run("certs", "issue", "--ca", CaDir, "--service", "pakit", "--namespace", "belizechain", "--out", SvcDir);

        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.StartsWith($"wrote {Path.Combine(SvcDir, "tls.crt")}, {Path.Combine(SvcDir, "tls.key")} and {Path.Combine(SvcDir, "ca.crt")}: spiffe://cluster.local/ns/belizechain/sa/pakit, ML-KEM-1024", stdout, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllText(Path.Combine(CaDir, "ca.crt")), File.ReadAllText(Path.Combine(SvcDir, "ca.crt")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(SvcDir, "tls.key")));
        using var credentials = ServiceCredentials.Load(SvcDir);
        Assert.Equal(90, (credentials.Certificate.NotAfter - credentials.Certificate.NotBefore).TotalDays);
        Assert.Equal(["pakit", "pakit.belizechain", "pakit.belizechain.svc", "pakit.belizechain.svc.cluster.local"], credentials.Certificate.DnsNames);
    }

    [Fact]
    public void Issue_takes_service_account_trust_domain_days_and_extra_DNS_names()
    {
        Root();

        var (exit, _, stderr) = Run("certs", "issue", "--ca", CaDir, "--service", "pakit", "--namespace", "belizechain", "--out", SvcDir,
            "--service-account", "pakit-sa", "--trust-domain", "belize.example", "--days", "7", "--dns", "pakit.example.com", "--dns", "*.pakit.example.com");

        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        var certificate = MeshCertificate.ParsePem(File.ReadAllText(Path.Combine(SvcDir, "tls.crt")));
        Assert.Equal("spiffe://belize.example/ns/belizechain/sa/pakit-sa", certificate.SpiffeId!.ToString());
        Assert.Equal(7, (certificate.NotAfter - certificate.NotBefore).TotalDays);
        Assert.Equal(["pakit.example.com", "*.pakit.example.com"], certificate.DnsNames.Skip(4));
    }

    [Theory]
    [InlineData("--namespace", "Belize_Chain", "--namespace 'Belize_Chain' is not a DNS label (RFC 1123): 1-63 characters, lower-case letters, digits and '-', starting and ending with a letter or digit")]
    [InlineData("--service", "-pakit", "--service '-pakit' is not a DNS label (RFC 1123): 1-63 characters, lower-case letters, digits and '-', starting and ending with a letter or digit")]
    [InlineData("--service-account", "Pakit", "--service-account 'Pakit' is not a DNS subdomain (RFC 1123): at most 253 characters, dot-separated DNS labels of lower-case letters, digits and '-'")]
    [InlineData("--trust-domain", "Cluster Local", "--trust-domain 'Cluster Local' is not a trust domain (lower-case letters, digits, '.', '-', '_'), e.g. cluster.local")]
    [InlineData("--days", "-1", "--days must be a positive number of days, not -1")]
    [InlineData("--dns", "bad name", "DNS name 'bad name' is not a DNS subdomain (RFC 1123): at most 253 characters, dot-separated DNS labels of lower-case letters, digits and '-' (a leading '*.' is allowed)")]
    public void Issue_reports_bad_options_in_one_line(string option, string value, string message)
    {
        Root();
        var args = new Dictionary<string, string> { ["--ca"] = CaDir, ["--service"] = "pakit", ["--namespace"] = "belizechain", ["--out"] = SvcDir };
        args[option] = value;

        var (exit, stdout, stderr) = Run(["certs", "issue", .. args.SelectMany(a => new[] { a.Key, a.Value })]);

        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Equal($"belizemesh certs issue: {message}\n", stderr);
        Assert.False(Directory.Exists(SvcDir));
    }

    [Fact]
    public void Issue_names_a_missing_CA_file()
    {
        var (exit, _, stderr) = Run("certs", "issue", "--ca", CaDir, "--service", "pakit", "--namespace", "belizechain", "--out", SvcDir);

        Assert.Equal(2, exit);
        Assert.Equal($"belizemesh certs issue: {Path.Combine(CaDir, "ca.crt")}: directory not found\n", stderr);
    }

    [Fact]
    public void Issue_names_a_CA_key_file_of_the_wrong_type()
    {
        Root();
        File.Copy(Path.Combine(CaDir, "ca.crt"), Path.Combine(CaDir, "ca.key"), overwrite: true);

        var (exit, _, stderr) = Run("certs", "issue", "--ca", CaDir, "--service", "pakit", "--namespace", "belizechain", "--out", SvcDir);

        Assert.Equal(2, exit);
        Assert.Equal($"belizemesh certs issue: {Path.Combine(CaDir, "ca.key")}: found a 'CERTIFICATE' PEM block; expected 'PRIVATE KEY'\n", stderr);
    }

    [Fact]
    public void Issue_rejects_a_CA_key_that_does_not_match_the_CA_certificate()
    {
        Root();
        string otherCa = _dir.File("other");
        Assert.Equal(0, Run("certs", "root", "--out", otherCa).Exit);
        File.Copy(Path.Combine(otherCa, "ca.key"), Path.Combine(CaDir, "ca.key"), overwrite: true);
        var certificate = MeshCertificate.ParsePem(File.ReadAllText(Path.Combine(CaDir, "ca.crt")));

        var (exit, _, stderr) = Run("certs", "issue", "--ca", CaDir, "--service", "pakit", "--namespace", "belizechain", "--out", SvcDir);

        Assert.Equal(2, exit);
        Assert.Equal($"belizemesh certs issue: {CaDir}: the private key does not belong to the CA certificate 'CN=BelizeMesh Root CA, O=BelizeMesh' (serial {certificate.SerialNumber}): their public keys differ\n", stderr);
    }

    [Fact]
    public void Issue_never_overwrites_without_force()
    {
        Root();
        Issue();
        string before = File.ReadAllText(Path.Combine(SvcDir, "tls.key"));

        var (exit, _, stderr) = Run("certs", "issue", "--ca", CaDir, "--service", "pakit", "--namespace", "belizechain", "--out", SvcDir);

        Assert.Equal(2, exit);
        Assert.Equal($"belizemesh certs issue: {Path.Combine(SvcDir, "tls.crt")} already exists; pass --force to overwrite it\n", stderr);
        Assert.Equal(before, File.ReadAllText(Path.Combine(SvcDir, "tls.key")));
        Assert.Equal(0, Run("certs", "issue", "--ca", CaDir, "--service", "pakit", "--namespace", "belizechain", "--out", SvcDir, "--force").Exit);
        Assert.NotEqual(before, File.ReadAllText(Path.Combine(SvcDir, "tls.key")));
    }

    [Fact]
    public void Secret_prints_a_kubernetes_tls_secret_with_the_three_files()
    {
        Root();
        Issue();

        var (exit, stdout, stderr) = Run("certs", "secret", "--certs", SvcDir, "--name", "belizemesh-certs-pakit", "--namespace", "belizechain");

        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        var certificate = MeshCertificate.ParsePem(File.ReadAllText(Path.Combine(SvcDir, "tls.crt")));
        string expected =
            "apiVersion: v1\n" +
            "kind: Secret\n" +
            "metadata:\n" +
            "  name: belizemesh-certs-pakit\n" +
            "  namespace: belizechain\n" +
            "  labels:\n" +
            "    app.kubernetes.io/managed-by: belizemesh\n" +
            "  annotations:\n" +
            "    belizemesh.io/spiffe-id: \"spiffe://cluster.local/ns/belizechain/sa/pakit\"\n" +
            $"    belizemesh.io/not-after: \"{certificate.NotAfter.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\"\n" +
            "type: kubernetes.io/tls\n" +
            "data:\n" +
            $"  tls.crt: {Base64(Path.Combine(SvcDir, "tls.crt"))}\n" +
            $"  tls.key: {Base64(Path.Combine(SvcDir, "tls.key"))}\n" +
            $"  ca.crt: {Base64(Path.Combine(SvcDir, "ca.crt"))}\n";
        Assert.Equal(expected, stdout);
    }

    [Fact]
    public void Secret_refuses_a_key_that_does_not_match_the_certificate()
    {
        Root();
        Issue();
        string other = _dir.File("other");
        Assert.Equal(0, Run("certs", "issue", "--ca", CaDir, "--service", "nawal", "--namespace", "belizechain", "--out", other).Exit);
        File.Copy(Path.Combine(other, "tls.key"), Path.Combine(SvcDir, "tls.key"), overwrite: true);

        var (exit, stdout, stderr) = Run("certs", "secret", "--certs", SvcDir, "--name", "belizemesh-certs-pakit", "--namespace", "belizechain");

        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Equal($"belizemesh certs secret: {Path.Combine(SvcDir, "tls.key")}: the private key does not match the certificate in {Path.Combine(SvcDir, "tls.crt")} (their ML-KEM-1024 public keys differ); reissue both with 'belizemesh certs issue'\n", stderr);
    }

    [Theory]
    [InlineData("--name", "Belize_Certs", "--name 'Belize_Certs' is not a DNS subdomain (RFC 1123): at most 253 characters, dot-separated DNS labels of lower-case letters, digits and '-'")]
    [InlineData("--namespace", "belize.chain", "--namespace 'belize.chain' is not a DNS label (RFC 1123): 1-63 characters, lower-case letters, digits and '-', starting and ending with a letter or digit")]
    public void Secret_reports_bad_names_in_one_line(string option, string value, string message)
    {
        Root();
        Issue();
        var args = new Dictionary<string, string> { ["--certs"] = SvcDir, ["--name"] = "belizemesh-certs-pakit", ["--namespace"] = "belizechain" };
        args[option] = value;

        var (exit, _, stderr) = Run(["certs", "secret", .. args.SelectMany(a => new[] { a.Key, a.Value })]);

        Assert.Equal(2, exit);
        Assert.Equal($"belizemesh certs secret: {message}\n", stderr);
    }

    [Fact]
    public void Check_describes_a_certificate_as_one_JSON_object()
    {
        Root();
        Issue();
        string tlsCrt = Path.Combine(SvcDir, "tls.crt");
        var certificate = MeshCertificate.ParsePem(File.ReadAllText(tlsCrt));

        var (exit, stdout, stderr) = Run("certs", "check", "--cert", tlsCrt, "--ca", Path.Combine(SvcDir, "ca.crt"));

        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        var json = JsonNode.Parse(stdout)!.AsObject();
        Assert.Equal("CN=pakit.belizechain.svc, OU=belizechain, O=BelizeMesh", (string?)json["subject"]);
        Assert.Equal("CN=BelizeMesh Root CA, O=BelizeMesh", (string?)json["issuer"]);
        Assert.Equal(certificate.SerialNumber, (string?)json["serial"]);
        Assert.Equal("spiffe://cluster.local/ns/belizechain/sa/pakit", (string?)json["spiffeId"]);
        Assert.Equal(certificate.NotBefore.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ"), (string?)json["notBefore"]);
        Assert.Equal(certificate.NotAfter.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ"), (string?)json["notAfter"]);
        Assert.InRange((int)json["daysLeft"]!, 89, 90);
        Assert.False((bool)json["rotationDue"]!);
        Assert.Equal("ML-KEM-1024", (string?)json["publicKeyAlgorithm"]);
        Assert.Equal("ML-DSA-87", (string?)json["signatureAlgorithm"]);
        Assert.Equal("SHA256:" + Convert.ToHexStringLower(SHA256.HashData(certificate.RawData.Span)), (string?)json["fingerprint"]);
        Assert.True((bool)json["valid"]!);
        Assert.Equal("None", (string?)json["reason"]);
    }

    [Fact]
    public void Check_marks_rotation_due_within_the_rotation_window()
    {
        Root();
        Issue();

        var (exit, stdout, _) = Run("certs", "check", "--cert", Path.Combine(SvcDir, "tls.crt"), "--rotation-days", "91");

        Assert.Equal(0, exit);
        Assert.True((bool)JsonNode.Parse(stdout)!["rotationDue"]!);
        Assert.Null(JsonNode.Parse(stdout)!["valid"]);
    }

    [Fact]
    public void Check_fails_for_an_expired_certificate()
    {
        using var authority = CertificateAuthority.CreateRoot(new RootCertificateOptions { Time = new ManualTimeProvider(DateTimeOffset.UtcNow.AddDays(-100)) });
        using var issued = authority.Issue(PkiFixture.Request() with { Validity = TimeSpan.FromDays(10) });
        string path = _dir.File("expired.crt");
        File.WriteAllText(path, issued.CertificatePem);

        var (exit, stdout, stderr) = Run("certs", "check", "--cert", path);

        Assert.Equal(1, exit);
        Assert.StartsWith($"belizemesh certs check: {path}: Expired: the certificate expired at {issued.Certificate.NotAfter:u}; it is now ", stderr, StringComparison.Ordinal);
        var json = JsonNode.Parse(stdout)!;
        Assert.InRange((int)json["daysLeft"]!, -91, -89);
        Assert.True((bool)json["rotationDue"]!);
    }

    [Fact]
    public void Check_fails_for_a_certificate_that_is_not_yet_valid()
    {
        using var authority = CertificateAuthority.CreateRoot(new RootCertificateOptions { Time = new ManualTimeProvider(DateTimeOffset.UtcNow.AddDays(2)) });
        using var issued = authority.Issue(PkiFixture.Request());
        string path = _dir.File("future.crt");
        File.WriteAllText(path, issued.CertificatePem);

        var (exit, _, stderr) = Run("certs", "check", "--cert", path);

        Assert.Equal(1, exit);
        Assert.StartsWith($"belizemesh certs check: {path}: NotYetValid: the certificate is valid from {issued.Certificate.NotBefore:u}; it is now ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_with_ca_fails_for_a_certificate_signed_by_another_CA()
    {
        Root();
        Issue();
        string otherCa = _dir.File("other");
        Assert.Equal(0, Run("certs", "root", "--out", otherCa, "--subject", "CN=Other CA").Exit);

        var (exit, stdout, stderr) = Run("certs", "check", "--cert", Path.Combine(SvcDir, "tls.crt"), "--ca", Path.Combine(otherCa, "ca.crt"));

        Assert.Equal(1, exit);
        Assert.Equal($"belizemesh certs check: {Path.Combine(SvcDir, "tls.crt")}: UnknownIssuer: the issuer 'CN=BelizeMesh Root CA, O=BelizeMesh' is not a root of the trust bundle (1 root(s))\n", stderr);
        var json = JsonNode.Parse(stdout)!;
        Assert.False((bool)json["valid"]!);
        Assert.Equal("UnknownIssuer", (string?)json["reason"]);
    }

    [Fact]
    public void Check_with_ca_fails_for_a_tampered_certificate()
    {
        Root();
        Issue();
        string path = Path.Combine(SvcDir, "tls.crt");
        byte[] der = MeshCertificate.ParsePem(File.ReadAllText(path)).RawData.ToArray();
        der[der.AsSpan().IndexOf("pakit.belizechain.svc.cluster.local"u8)] = (byte)'q';
        File.WriteAllText(path, PemEncoding.WriteString("CERTIFICATE", der));

        var (exit, stdout, stderr) = Run("certs", "check", "--cert", path, "--ca", Path.Combine(SvcDir, "ca.crt"));

        Assert.Equal(1, exit);
        Assert.StartsWith($"belizemesh certs check: {path}: BadSignature: the ML-DSA-87 signature does not verify", stderr, StringComparison.Ordinal);
        Assert.Equal("BadSignature", (string?)JsonNode.Parse(stdout)!["reason"]);
    }

    [Fact]
    public void Check_reports_a_missing_file()
    {
        string path = _dir.File("nope.crt");
        var (exit, stdout, stderr) = Run("certs", "check", "--cert", path);

        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Equal($"belizemesh certs check: {path}: file not found\n", stderr);
    }

    [Fact]
    public void Check_reports_a_PEM_of_the_wrong_type()
    {
        Root();
        string path = Path.Combine(CaDir, "ca.key");
        var (exit, stdout, stderr) = Run("certs", "check", "--cert", path);

        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Equal($"belizemesh certs check: {path}: found a 'PRIVATE KEY' PEM block; expected 'CERTIFICATE'\n", stderr);
    }

    [Fact]
    public void Check_reports_a_malformed_certificate()
    {
        string path = _dir.File("bad.crt");
        File.WriteAllText(path, PemEncoding.WriteString("CERTIFICATE", new byte[] { 0x30, 0x03, 0x02, 0x01, 0x00 }));

        var (exit, _, stderr) = Run("certs", "check", "--cert", path);

        Assert.Equal(2, exit);
        Assert.StartsWith($"belizemesh certs check: {path}: not a DER X.509 certificate: ", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("root", "--subject")]
    [InlineData("issue", "--service-account")]
    [InlineData("secret", "--namespace")]
    [InlineData("check", "--rotation-days")]
    public void Each_command_has_help(string command, string option)
    {
        var (exit, stdout, _) = Run("certs", command, "--help");

        Assert.Equal(0, exit);
        Assert.Contains(option, stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_required_option_is_a_usage_error()
    {
        var (exit, _, stderr) = Run("certs", "issue", "--ca", CaDir);

        Assert.NotEqual(0, exit);
        Assert.Contains("Option '--service' is required.", stderr, StringComparison.Ordinal);
    }

    private void Root() => Assert.Equal(0, Run("certs", "root", "--out", CaDir).Exit);

    private void Issue() => Assert.Equal(0, Run("certs", "issue", "--ca", CaDir, "--service", "pakit", "--namespace", "belizechain", "--out", SvcDir).Exit);

    private static string Base64(string path) => Convert.ToBase64String(File.ReadAllBytes(path));

    private static (int Exit, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        int exit = Program.Run(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }
}
