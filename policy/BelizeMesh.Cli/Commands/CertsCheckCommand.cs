using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BelizeMesh.Identity;

namespace BelizeMesh.Cli.Commands;

/// <summary><c>belizemesh certs check</c>: one JSON object describing a certificate, its lifetime and (with --ca) its validity.</summary>
internal static class CertsCheckCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr) => Create(stdout, stderr, TimeProvider.System);

    internal static Command Create(TextWriter stdout, TextWriter stderr, TimeProvider time)
    {
        var cert = new Option<string>("--cert") { Description = "Certificate PEM file (tls.crt or ca.crt).", Required = true };
        var ca = new Option<string?>("--ca") { Description = "Trust bundle PEM file: also verify the signature, algorithms, usages and SPIFFE ID." };
        var rotationDays = new Option<int>("--rotation-days") { Description = "rotationDue is true when fewer days than this are left.", DefaultValueFactory = _ => 30 };
        var trustDomain = new Option<string>("--trust-domain") { Description = "Trust domain the SPIFFE ID must belong to (with --ca).", DefaultValueFactory = _ => SpiffeId.DefaultTrustDomain };
        var command = new Command("check", "Describe a certificate as one JSON object on stdout (subject, spiffeId, notBefore, notAfter, daysLeft, rotationDue, …). Exits 1 when it is expired, not yet valid or (with --ca) rejected.")
        {
            cert, ca, rotationDays, trustDomain,
        };
        command.SetAction(parse => CertsCommands.Guard("check", stderr, () => Run(
            parse.GetValue(cert)!, parse.GetValue(ca), parse.GetValue(rotationDays), parse.GetValue(trustDomain)!, time, stdout, stderr)));
        return command;
    }

    private static int Run(string certificatePath, string? bundlePath, int rotationDays, string trustDomain, TimeProvider time, TextWriter stdout, TextWriter stderr)
    {
        if (rotationDays < 0)
        {
            throw new CertsUsageException($"--rotation-days must be zero or more, not {rotationDays}");
        }

        MeshCertificate certificate = Parse(certificatePath, () => MeshCertificate.ParsePem(CredentialFiles.Read(certificatePath)));
        CertificateValidationResult? validation = null;
        if (bundlePath is not null)
        {
            if (!SpiffeId.IsTrustDomain(trustDomain))
            {
                throw new CertsUsageException($"--trust-domain '{trustDomain}' is not a trust domain (lower-case letters, digits, '.', '-', '_')");
            }

            TrustBundle bundle = Parse(bundlePath, () => TrustBundle.Parse(CredentialFiles.Read(bundlePath)));
            var validator = new CertificateValidator(bundle, new CertificateValidatorOptions { TrustDomain = trustDomain, Time = time, ClockSkew = TimeSpan.Zero, CacheCapacity = 0 });
            validation = validator.Validate(certificate.RawData.Span);
        }

        DateTimeOffset now = time.GetUtcNow();
        double daysLeft = Math.Floor((certificate.NotAfter - now).TotalDays);
        bool rotationDue = certificate.NotAfter - now < TimeSpan.FromDays(rotationDays);

        // Without --ca, only the validity window can be judged.
        string? problem = validation is { IsValid: false }
            ? $"{validation.Reason}: {validation.Detail}"
            : now < certificate.NotBefore ? $"NotYetValid: the certificate is valid from {certificate.NotBefore:u}; it is now {now:u}"
            : now > certificate.NotAfter ? $"Expired: the certificate expired at {certificate.NotAfter:u}; it is now {now:u}"
            : null;

        stdout.WriteLine(WriteJson(certificate, validation, now, daysLeft, rotationDue));
        if (problem is not null)
        {
            stderr.WriteLine($"belizemesh certs check: {certificatePath}: {problem}");
            return CertsCommands.ExitRejected;
        }

        return 0;
    }

    private static string WriteJson(MeshCertificate certificate, CertificateValidationResult? validation, DateTimeOffset now, double daysLeft, bool rotationDue)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("subject", certificate.Subject);
            json.WriteString("issuer", certificate.Issuer);
            json.WriteString("serial", certificate.SerialNumber);
            if (certificate.SpiffeId is { } id)
            {
                json.WriteString("spiffeId", id.ToString());
            }
            else
            {
                json.WriteNull("spiffeId");
            }

            json.WriteStartArray("dnsNames");
            foreach (string name in certificate.DnsNames)
            {
                json.WriteStringValue(name);
            }

            json.WriteEndArray();
            json.WriteString("notBefore", Format(certificate.NotBefore));
            json.WriteString("notAfter", Format(certificate.NotAfter));
            json.WriteNumber("daysLeft", daysLeft);
            json.WriteBoolean("rotationDue", rotationDue);
            json.WriteBoolean("isCertificateAuthority", certificate.IsCertificateAuthority);
            json.WriteString("publicKeyAlgorithm", MeshOids.FriendlyName(certificate.PublicKeyAlgorithmOid));
            json.WriteString("signatureAlgorithm", MeshOids.FriendlyName(certificate.SignatureAlgorithmOid));
            json.WriteString("fingerprint", "SHA256:" + Convert.ToHexStringLower(certificate.Sha256Fingerprint.Span));
            json.WriteString("checkedAt", Format(now));
            if (validation is not null)
            {
                json.WriteBoolean("valid", validation.IsValid);
                json.WriteString("reason", validation.Reason.ToString());
                if (!validation.IsValid)
                {
                    json.WriteString("detail", validation.Detail);
                }
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static T Parse<T>(string path, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (CertificateFormatException e)
        {
            throw new CredentialsException($"{path}: {e.Message}", CertificateRejection.Malformed, e);
        }
    }
}
