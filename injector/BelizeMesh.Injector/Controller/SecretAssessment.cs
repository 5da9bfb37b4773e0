using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using BelizeMesh.Identity;
using k8s.Models;

namespace BelizeMesh.Injector.Controller;

/// <summary>What a service account's Secret needs.</summary>
internal enum SecretAction
{
    /// <summary>Valid, signed by the signing root, outside the renewal window, with the current trust bundle.</summary>
    UpToDate,

    /// <summary>No Secret yet.</summary>
    Issue,

    /// <summary>A new key and certificate (see <see cref="RenewalReason"/>).</summary>
    Renew,

    /// <summary>Only <c>ca.crt</c> differs from the trust bundle: replaced, key and certificate kept.</summary>
    UpdateBundle,

    /// <summary>A Secret of that name that BelizeMesh did not write (no managed-by label): left alone.</summary>
    Foreign,
}

/// <summary>The verdict on one Secret.</summary>
internal readonly record struct SecretAssessment(SecretAction Action, RenewalReason Reason, DateTimeOffset? NotAfter, string Detail)
{
    /// <summary>When the certificate is due for renewal (<see cref="RenewalSchedule.RenewAt"/>), if it loaded.</summary>
    public DateTimeOffset? RenewAt { get; init; }

    /// <summary>
    /// Checks a Secret as the sidecar will load it (<see cref="ServiceCredentials.FromPem(string, ReadOnlySpan{char}, string, CertificateValidatorOptions?)"/>:
    /// the key matches the certificate, the certificate validates against the bundle), then that it carries the
    /// expected SPIFFE ID, was signed by the signing root, has not reached its renewal time (<paramref name="schedule"/>),
    /// and ships the current bundle.
    /// </summary>
    public static SecretAssessment Assess(V1Secret? secret, SpiffeId expected, RootAuthority root, DateTimeOffset now, RenewalSchedule schedule, TimeProvider time)
    {
        if (secret is null)
        {
            return new(SecretAction.Issue, default, null, "no Secret");
        }

        if (secret.Metadata?.Labels is not { } labels
            || !labels.TryGetValue(ServiceCertificateSecret.ManagedByLabel, out string? managedBy)
            || managedBy != ServiceCertificateSecret.ManagedByValue)
        {
            return new(SecretAction.Foreign, default, null, $"the Secret has no label {ServiceCertificateSecret.ManagedByLabel}: {ServiceCertificateSecret.ManagedByValue}");
        }

        IDictionary<string, byte[]>? data = secret.Data;
        if (data is null
            || !data.TryGetValue(ServiceCredentials.CertificateFileName, out byte[]? certificateBytes)
            || !data.TryGetValue(ServiceCredentials.KeyFileName, out byte[]? keyBytes)
            || !data.TryGetValue(ServiceCredentials.TrustBundleFileName, out byte[]? bundleBytes))
        {
            return new(SecretAction.Renew, RenewalReason.Invalid, null, "tls.crt, tls.key or ca.crt is missing");
        }

        char[] keyChars = ArrayPool<char>.Shared.Rent(Encoding.UTF8.GetMaxCharCount(keyBytes.Length));
        int keyLength = 0;
        try
        {
            keyLength = Encoding.UTF8.GetChars(keyBytes, keyChars);
            var validatorOptions = new CertificateValidatorOptions { TrustDomain = expected.TrustDomain, Time = time, CacheCapacity = 1 };
            using ServiceCredentials credentials = ServiceCredentials.FromPem(
                Encoding.UTF8.GetString(certificateBytes), keyChars.AsSpan(0, keyLength), root.BundlePem, validatorOptions);
            MeshCertificate certificate = credentials.Certificate;
            if (certificate.SpiffeId != expected)
            {
                return new(SecretAction.Renew, RenewalReason.Invalid, certificate.NotAfter, $"the certificate is for {certificate.SpiffeId}, expected {expected}");
            }

            if (!certificate.AuthorityKeyIdentifier.Span.SequenceEqual(root.Authority.Certificate.SubjectKeyIdentifier.Span))
            {
                return new(SecretAction.Renew, RenewalReason.RootRotated, certificate.NotAfter, $"signed by '{certificate.Issuer}', not by the signing root (serial {root.Authority.Certificate.SerialNumber})");
            }

            DateTimeOffset? renewAt = schedule.RenewAt(certificate);
            if (certificate.NotAfter >= root.Authority.Certificate.NotAfter - RootAuthority.CapSlack)
            {
                // Already lasts as long as the signing root (capped at issuance): a renewal by the same root could not
                // extend it. It is renewed when the root is rotated (the check above), not at every pass.
                renewAt = null;
            }
            else if (now >= renewAt)
            {
                return new(SecretAction.Renew, RenewalReason.Expiring, certificate.NotAfter, $"expires at {certificate.NotAfter:u}, renewal due at {renewAt:u}");
            }

            if (!bundleBytes.AsSpan().SequenceEqual(root.BundleBytes))
            {
                return new(SecretAction.UpdateBundle, default, certificate.NotAfter, "ca.crt differs from the trust bundle") { RenewAt = renewAt };
            }

            return new(SecretAction.UpToDate, default, certificate.NotAfter, "") { RenewAt = renewAt };
        }
        catch (CredentialsException e)
        {
            RenewalReason reason = e.Reason switch
            {
                CertificateRejection.Expired => RenewalReason.Expiring,
                CertificateRejection.UnknownIssuer or CertificateRejection.BadSignature => RenewalReason.RootRotated,
                _ => RenewalReason.Invalid,
            };
            return new(SecretAction.Renew, reason, null, e.Message);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(MemoryMarshalBytes(keyChars.AsSpan(0, keyLength)));
            ArrayPool<char>.Shared.Return(keyChars);
        }
    }

    private static Span<byte> MemoryMarshalBytes(Span<char> chars) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(chars);
}

/// <summary>The signing root loaded from the root Secret, and the trust bundle every <c>ca.crt</c> carries.</summary>
internal sealed class RootAuthority : IDisposable
{
    /// <summary>
    /// A certificate capped at the signing root's NotAfter ends at most this much earlier (issuance truncates its
    /// NotBefore to the second, read again from the clock, so the cap leaves one second to stay within the root).
    /// </summary>
    public static readonly TimeSpan CapSlack = TimeSpan.FromSeconds(1);

    private RootAuthority(CertificateAuthority authority, TrustBundle bundle, string version)
    {
        Authority = authority;
        Bundle = bundle;
        BundlePem = bundle.Pem;
        BundleBytes = Encoding.UTF8.GetBytes(bundle.Pem);
        Version = version;
    }

    public CertificateAuthority Authority { get; }

    public TrustBundle Bundle { get; }

    public string BundlePem { get; }

    public byte[] BundleBytes { get; }

    /// <summary>The root Secret's resourceVersion this was loaded from.</summary>
    public string Version { get; }

    /// <summary>
    /// Loads <c>ca.crt</c> + <c>ca.key</c> (the signing root) and the optional <c>extra-roots.crt</c>; the bundle is the
    /// signing root followed by the extra roots (duplicates dropped). The key bytes are zeroed after import.
    /// </summary>
    /// <exception cref="CredentialsException">A key is missing, malformed or does not match (the message says which and how to fix it).</exception>
    public static RootAuthority Load(V1Secret secret, TimeProvider time)
    {
        string where = $"Secret {secret.Metadata?.NamespaceProperty}/{secret.Metadata?.Name}";
        IDictionary<string, byte[]> data = secret.Data ?? new Dictionary<string, byte[]>();
        if (!data.TryGetValue(ControllerOptions.RootCertificateKey, out byte[]? certificateBytes) || !data.TryGetValue(ControllerOptions.RootKeyKey, out byte[]? keyBytes))
        {
            throw new CredentialsException($"{where}: needs the keys {ControllerOptions.RootCertificateKey} and {ControllerOptions.RootKeyKey} (create it from 'belizemesh certs root --out DIR' with 'kubectl create secret generic NAME --from-file=DIR/ca.crt --from-file=DIR/ca.key')");
        }

        CertificateAuthority authority;
        try
        {
            string keyPem = Encoding.UTF8.GetString(keyBytes);
            authority = CertificateAuthority.FromPem(Encoding.UTF8.GetString(certificateBytes), keyPem, time);
        }
        catch (CertificateFormatException e)
        {
            throw new CredentialsException($"{where}: {e.Message}", CertificateRejection.Malformed, e);
        }
        catch (CredentialsException e)
        {
            throw new CredentialsException($"{where}: {e.Message}", e.Reason, e);
        }

        try
        {
            var roots = new List<MeshCertificate> { authority.Certificate };
            if (data.TryGetValue(ControllerOptions.ExtraRootsKey, out byte[]? extraBytes) && extraBytes.Length > 0)
            {
                TrustBundle extra;
                try
                {
                    extra = TrustBundle.Parse(Encoding.UTF8.GetString(extraBytes));
                }
                catch (CertificateFormatException e)
                {
                    throw new CredentialsException($"{where}: {ControllerOptions.ExtraRootsKey}: {e.Message}", CertificateRejection.Malformed, e);
                }

                foreach (MeshCertificate root in extra.Roots)
                {
                    bool duplicate = false;
                    foreach (MeshCertificate known in roots)
                    {
                        duplicate |= known.Sha256Fingerprint.Span.SequenceEqual(root.Sha256Fingerprint.Span);
                    }

                    if (!duplicate)
                    {
                        roots.Add(root);
                    }
                }
            }

            return new RootAuthority(authority, TrustBundle.FromCertificates(roots), secret.Metadata?.ResourceVersion ?? "");
        }
        catch
        {
            authority.Dispose();
            throw;
        }
    }

    public void Dispose() => Authority.Dispose();
}
