using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BelizeMesh.Quantum;

namespace BelizeMesh.Identity;

/// <summary>
/// Decides whether a peer's service certificate is acceptable: issued by a root of the trust bundle with a valid
/// ML-DSA-87 signature, within its validity window, with the key usages of a service certificate and exactly one
/// SPIFFE ID in the mesh's trust domain. Thread-safe.
/// </summary>
/// <remarks>
/// <para>Checks, in order (the first failure is the reason):</para>
/// <list type="number">
/// <item>Parse: DER X.509 v3, no unsupported critical extension, TBS signature field = outer signatureAlgorithm (<see cref="CertificateRejection.Malformed"/>).</item>
/// <item>Algorithms: signed with ML-DSA-87, key ML-KEM-1024, parameters absent (<see cref="CertificateRejection.WrongAlgorithm"/>); the
/// encapsulation key passes the FIPS 203 section 7.2 check (<see cref="CertificateRejection.Malformed"/>).</item>
/// <item>Issuer: a root with the issuer name and, when the leaf names one, the authority key identifier (<see cref="CertificateRejection.UnknownIssuer"/>),
/// which is a CA with keyCertSign (<see cref="CertificateRejection.NotACertificateAuthority"/>) and whose signature over the TBS bytes verifies
/// (<see cref="CertificateRejection.BadSignature"/>).</item>
/// <item>Usage: not a CA, keyUsage keyEncipherment, extendedKeyUsage serverAuth and clientAuth (<see cref="CertificateRejection.WrongKeyUsage"/>).</item>
/// <item>Identity: exactly one <c>spiffe://</c> URI SAN, well-formed, in the trust domain.</item>
/// <item>Time: leaf and root windows, widened by the clock skew (<see cref="CertificateRejection.NotYetValid"/>, <see cref="CertificateRejection.Expired"/>).</item>
/// </list>
/// <para>Steps 1–5 depend only on the bytes and the bundle, so their success is cached by certificate content
/// (bounded by <see cref="CertificateValidatorOptions.CacheCapacity"/>); step 6 runs on every call.</para>
/// </remarks>
public sealed class CertificateValidator
{
    private readonly Anchor[] _anchors;
    private readonly string _trustDomain;
    private readonly TimeSpan _skew;
    private readonly TimeProvider _time;
    private readonly int _capacity;
    private readonly ConcurrentDictionary<byte[], CacheEntry> _cache;
    private readonly ConcurrentDictionary<byte[], CacheEntry>.AlternateLookup<ReadOnlySpan<byte>> _cacheLookup;

    /// <summary>Creates a validator for the roots of <paramref name="roots"/>.</summary>
    /// <exception cref="ArgumentException">The options are invalid (trust domain, negative skew or capacity).</exception>
    public CertificateValidator(TrustBundle roots, CertificateValidatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(roots);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Time);
        if (!SpiffeId.IsTrustDomain(options.TrustDomain ?? ""))
        {
            throw new ArgumentException($"'{options.TrustDomain}' is not a valid trust domain (lower-case letters, digits, '.', '-', '_')", nameof(options));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(options.ClockSkew, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.CacheCapacity, nameof(options));

        TrustBundle = roots;
        Options = options;
        _trustDomain = options.TrustDomain!;
        _skew = options.ClockSkew;
        _time = options.Time;
        _capacity = options.CacheCapacity;
        _cache = new ConcurrentDictionary<byte[], CacheEntry>(ContentComparer.Instance);
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<byte>>();
        _anchors = new Anchor[roots.Roots.Count];
        for (int i = 0; i < _anchors.Length; i++)
        {
            _anchors[i] = Anchor.Create(roots.Roots[i]);
        }
    }

    /// <summary>The roots this validator trusts.</summary>
    public TrustBundle TrustBundle { get; }

    /// <summary>The options it was created with.</summary>
    public CertificateValidatorOptions Options { get; }

    /// <summary>How many certificates are cached (for tests and metrics).</summary>
    public int CachedCount => _cache.Count;

    /// <summary>Validates a DER service certificate. Never throws for bad input: every problem is a <see cref="CertificateRejection"/>.</summary>
    public CertificateValidationResult Validate(ReadOnlySpan<byte> leafDer)
    {
        if (_cacheLookup.TryGetValue(leafDer, out CacheEntry? cached))
        {
            return CheckTime(cached);
        }

        MeshCertificate certificate;
        try
        {
            certificate = MeshCertificate.ParseOwned(leafDer.ToArray());
        }
        catch (CertificateFormatException e)
        {
            return CertificateValidationResult.Failure(CertificateRejection.Malformed, e.Message, null);
        }

        var failure = CheckChain(certificate, out Anchor? anchor, out MLKemKey? encapsulationKey);
        if (failure is not null)
        {
            encapsulationKey?.Dispose();
            return failure;
        }

        var entry = new CacheEntry(certificate, anchor!.Certificate, CertificateValidationResult.Success(certificate, encapsulationKey));
        Remember(entry);
        return CheckTime(entry);
    }

    /// <summary>Validates a parsed certificate.</summary>
    public CertificateValidationResult Validate(MeshCertificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Validate(certificate.RawData.Span);
    }

    private CertificateValidationResult? CheckChain(MeshCertificate leaf, out Anchor? anchor, out MLKemKey? encapsulationKey)
    {
        anchor = null;
        encapsulationKey = null;
        if (leaf.Version != 3)
        {
            return Fail(CertificateRejection.Malformed, $"the certificate is X.509 v{leaf.Version}; the mesh requires v3", leaf);
        }

        if (leaf.UnsupportedCriticalExtension is { } oid)
        {
            return Fail(CertificateRejection.Malformed, $"the certificate has a critical extension this validator does not understand ({oid})", leaf);
        }

        if (!leaf.SignatureAlgorithmsMatch)
        {
            return Fail(CertificateRejection.Malformed, "the TBS signature algorithm differs from the certificate's signatureAlgorithm (RFC 5280 section 4.1.1.2)", leaf);
        }

        if (leaf.SignatureAlgorithmOid != MeshOids.MLDsa87 || leaf.SignatureAlgorithmHasParameters)
        {
            return Fail(CertificateRejection.WrongAlgorithm, DescribeAlgorithm("signature algorithm", leaf.SignatureAlgorithmOid, leaf.SignatureAlgorithmHasParameters, MeshOids.MLDsa87), leaf);
        }

        if (leaf.PublicKeyAlgorithmOid != MeshOids.MLKem1024 || leaf.PublicKeyAlgorithmHasParameters)
        {
            return Fail(CertificateRejection.WrongAlgorithm, DescribeAlgorithm("public key algorithm", leaf.PublicKeyAlgorithmOid, leaf.PublicKeyAlgorithmHasParameters, MeshOids.MLKem1024), leaf);
        }

        if (CheckEncapsulationKey(leaf.PublicKey.Span, out encapsulationKey) is { } keyProblem)
        {
            return Fail(CertificateRejection.Malformed, keyProblem, leaf);
        }

        var issuerFailure = FindIssuer(leaf, out anchor);
        if (issuerFailure is not null)
        {
            return issuerFailure;
        }

        if (leaf.IsCertificateAuthority)
        {
            return Fail(CertificateRejection.WrongKeyUsage, "the certificate is a CA (basicConstraints cA:TRUE); a service certificate must not be", leaf);
        }

        if (leaf.KeyUsage is not { } usage || (usage & X509KeyUsageFlags.KeyEncipherment) == 0)
        {
            return Fail(CertificateRejection.WrongKeyUsage, $"keyUsage is {Describe(leaf.KeyUsage)}; a service certificate needs keyEncipherment (its key is an ML-KEM key)", leaf);
        }

        if ((usage & (X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign)) != 0)
        {
            return Fail(CertificateRejection.WrongKeyUsage, $"keyUsage is {Describe(leaf.KeyUsage)}; a service certificate must not have keyCertSign or cRLSign", leaf);
        }

        if (leaf.ExtendedKeyUsages is not { } eku || !Contains(eku, MeshOids.ServerAuth) || !Contains(eku, MeshOids.ClientAuth))
        {
            string found = leaf.ExtendedKeyUsages is null ? "absent" : "[" + string.Join(", ", leaf.ExtendedKeyUsages) + "]";
            return Fail(CertificateRejection.WrongKeyUsage, $"extendedKeyUsage is {found}; a service certificate needs serverAuth and clientAuth", leaf);
        }

        if (leaf.SpiffeUriCount == 0)
        {
            return Fail(CertificateRejection.MissingSpiffeId, "the certificate has no spiffe:// URI in its subjectAltName", leaf);
        }

        if (leaf.SpiffeUriCount > 1)
        {
            return Fail(CertificateRejection.MultipleSpiffeIds, $"the certificate has {leaf.SpiffeUriCount} spiffe:// URIs in its subjectAltName; exactly one is allowed", leaf);
        }

        if (leaf.SpiffeId is not { } id)
        {
            string uri = FirstSpiffeUri(leaf);
            return Fail(CertificateRejection.MissingSpiffeId, $"the URI SAN '{uri}' is not a SPIFFE ID of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>", leaf);
        }

        if (id.TrustDomain != _trustDomain)
        {
            return Fail(CertificateRejection.WrongTrustDomain, $"the SPIFFE ID {id} is in trust domain '{id.TrustDomain}', expected '{_trustDomain}'", leaf);
        }

        return null;
    }

    private CertificateValidationResult? FindIssuer(MeshCertificate leaf, out Anchor? issuer)
    {
        issuer = null;
        CertificateValidationResult? firstFailure = null;
        bool nameMatched = false;
        foreach (var anchor in _anchors)
        {
            var root = anchor.Certificate;
            if (!root.SubjectName.Span.SequenceEqual(leaf.IssuerName.Span))
            {
                continue;
            }

            nameMatched = true;
            if (!leaf.AuthorityKeyIdentifier.IsEmpty && !root.SubjectKeyIdentifier.IsEmpty &&
                !leaf.AuthorityKeyIdentifier.Span.SequenceEqual(root.SubjectKeyIdentifier.Span))
            {
                continue;
            }

            CertificateValidationResult? failure;
            if (anchor.Problem != CertificateRejection.None)
            {
                failure = Fail(anchor.Problem, anchor.ProblemDetail, leaf);
            }
            else if (anchor.Key!.VerifyData(leaf.TbsCertificate.Span, leaf.Signature.Span))
            {
                issuer = anchor;
                return null;
            }
            else
            {
                failure = Fail(CertificateRejection.BadSignature, $"the ML-DSA-87 signature does not verify with the key of root '{root.Subject}' (serial {root.SerialNumber})", leaf);
            }

            firstFailure ??= failure;
        }

        if (firstFailure is not null)
        {
            return firstFailure;
        }

        string detail = nameMatched
            ? $"no root named '{leaf.Issuer}' has the authority key identifier {Convert.ToHexString(leaf.AuthorityKeyIdentifier.Span)} (is ca.crt from another CA generation?)"
            : $"the issuer '{leaf.Issuer}' is not a root of the trust bundle ({_anchors.Length} root(s))";
        return Fail(CertificateRejection.UnknownIssuer, detail, leaf);
    }

    private CertificateValidationResult CheckTime(CacheEntry entry)
    {
        DateTimeOffset now = _time.GetUtcNow();
        var result = CheckWindow(entry.Leaf, isRoot: false, now, entry.Leaf) ?? CheckWindow(entry.Issuer, isRoot: true, now, entry.Leaf);
        return result ?? entry.Success;
    }

    /// <summary>The validity window of the leaf or of its root; the message (which formats the root's subject) is made
    /// only for a certificate outside it.</summary>
    private CertificateValidationResult? CheckWindow(MeshCertificate certificate, bool isRoot, DateTimeOffset now, MeshCertificate leaf)
    {
        string What() => isRoot ? $"the issuing root '{certificate.Subject}'" : "the certificate";
        if (now + _skew < certificate.NotBefore)
        {
            return Fail(CertificateRejection.NotYetValid, $"{What()} is valid from {certificate.NotBefore:u}; it is now {now:u} (clock skew allowed: {_skew})", leaf);
        }

        if (now - _skew > certificate.NotAfter)
        {
            return Fail(CertificateRejection.Expired, $"{What()} expired at {certificate.NotAfter:u}; it is now {now:u} (clock skew allowed: {_skew})", leaf);
        }

        return null;
    }

    private void Remember(CacheEntry entry)
    {
        if (_capacity == 0)
        {
            return;
        }

        if (_cache.Count >= _capacity)
        {
            // Bounded, not LRU: drop what has expired; if that frees nothing, start over. A mesh sidecar sees few
            // distinct peer certificates, so a full cache means rotation churn, where old entries are the dead ones.
            DateTimeOffset now = _time.GetUtcNow();
            foreach (var pair in _cache)
            {
                if (now - _skew > pair.Value.Leaf.NotAfter)
                {
                    _cache.TryRemove(pair.Key, out _);
                }
            }

            if (_cache.Count >= _capacity)
            {
                _cache.Clear();
            }
        }

        // The parsed certificate owns a private copy of the bytes, so it can be the key without another copy.
        byte[] key = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(entry.Leaf.RawData, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : entry.Leaf.RawData.ToArray();
        _cache.TryAdd(key, entry);
    }

    private static string? CheckEncapsulationKey(ReadOnlySpan<byte> key, out MLKemKey? imported)
    {
        imported = null;
        int expected = MLKemParameterSet.MLKem1024.EncapsulationKeySizeInBytes;
        if (key.Length != expected)
        {
            return $"the ML-KEM-1024 public key is {key.Length} bytes, expected {expected}";
        }

        try
        {
            imported = MLKemKey.ImportEncapsulationKey(MLKemParameterSet.MLKem1024, key);
            return null;
        }
        catch (CryptographicException e)
        {
            return $"the ML-KEM-1024 public key fails the FIPS 203 section 7.2 check: {e.Message}";
        }
    }

    private static string DescribeAlgorithm(string field, string oid, bool hasParameters, string expected) => hasParameters && oid == expected
        ? $"the {field} {MeshOids.FriendlyName(oid)} carries parameters; they must be absent"
        : $"the {field} is {MeshOids.FriendlyName(oid)}, expected {MeshOids.FriendlyName(expected)} ({expected})";

    internal static string Describe(X509KeyUsageFlags? usage) => usage is null ? "absent" : usage.Value == X509KeyUsageFlags.None ? "empty" : usage.Value.ToString();

    private static bool Contains(IReadOnlyList<string> list, string value)
    {
        foreach (string item in list)
        {
            if (item == value)
            {
                return true;
            }
        }

        return false;
    }

    private static string FirstSpiffeUri(MeshCertificate certificate)
    {
        foreach (string uri in certificate.UriNames)
        {
            if (uri.StartsWith("spiffe:", StringComparison.OrdinalIgnoreCase))
            {
                return uri;
            }
        }

        return "";
    }

    private static CertificateValidationResult Fail(CertificateRejection reason, string detail, MeshCertificate? leaf) =>
        CertificateValidationResult.Failure(reason, detail, leaf);

    private sealed record CacheEntry(MeshCertificate Leaf, MeshCertificate Issuer, CertificateValidationResult Success);

    /// <summary>A root prepared once: its ML-DSA-87 public key, or why it cannot issue.</summary>
    private sealed class Anchor
    {
        private Anchor(MeshCertificate certificate, MLDsaKey? key, CertificateRejection problem, string problemDetail)
        {
            Certificate = certificate;
            Key = key;
            Problem = problem;
            ProblemDetail = problemDetail;
        }

        public MeshCertificate Certificate { get; }

        public MLDsaKey? Key { get; }

        public CertificateRejection Problem { get; }

        public string ProblemDetail { get; }

        public static Anchor Create(MeshCertificate root)
        {
            // Formatting the subject is left to the messages that need it (MeshCertificate.Subject).
            string Name() => $"root '{root.Subject}' (serial {root.SerialNumber})";
            if (root.PublicKeyAlgorithmOid != MeshOids.MLDsa87 || root.PublicKeyAlgorithmHasParameters)
            {
                return new(root, null, CertificateRejection.WrongAlgorithm, $"the issuing {Name()} cannot sign mesh certificates: {DescribeAlgorithm("public key algorithm", root.PublicKeyAlgorithmOid, root.PublicKeyAlgorithmHasParameters, MeshOids.MLDsa87)}");
            }

            if (!root.IsCertificateAuthority)
            {
                return new(root, null, CertificateRejection.NotACertificateAuthority, $"the issuing {Name()} is not a CA (basicConstraints cA:TRUE is missing)");
            }

            if (root.KeyUsage is not { } usage || (usage & X509KeyUsageFlags.KeyCertSign) == 0)
            {
                return new(root, null, CertificateRejection.NotACertificateAuthority, $"the issuing {Name()} may not sign certificates (keyUsage is {Describe(root.KeyUsage)}, keyCertSign is required)");
            }

            int expected = MLDsaParameterSet.MLDsa87.PublicKeySizeInBytes;
            if (root.PublicKey.Length != expected)
            {
                return new(root, null, CertificateRejection.Malformed, $"the issuing {Name()} has a {root.PublicKey.Length}-byte ML-DSA-87 public key, expected {expected} bytes");
            }

            MLDsaKey key;
            try
            {
                key = MLDsaKey.ImportPublicKey(MLDsaParameterSet.MLDsa87, root.PublicKey.Span);
            }
            catch (CryptographicException e)
            {
                return new(root, null, CertificateRejection.Malformed, $"the issuing {Name()} has a malformed ML-DSA-87 public key: {e.Message}");
            }

            if (root.SubjectName.Span.SequenceEqual(root.IssuerName.Span) &&
                (root.SignatureAlgorithmOid != MeshOids.MLDsa87 || !key.VerifyData(root.TbsCertificate.Span, root.Signature.Span)))
            {
                key.Dispose();
                return new(root, null, CertificateRejection.BadSignature, $"the self-signature of the issuing {Name()} does not verify");
            }

            return new(root, key, CertificateRejection.None, "");
        }
    }

    /// <summary>Compares certificates by content. The hash reads the length and the last 16 bytes — the tail of the
    /// ML-DSA signature, which is pseudorandom — so a lookup costs one hash of 16 bytes plus one full comparison.
    /// Only certificates that passed the chain checks enter the cache, so colliding entries must all be CA-signed.</summary>
    private sealed class ContentComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly ContentComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan().SequenceEqual(y));

        public int GetHashCode(byte[] obj) => Hash(obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

        private static int Hash(ReadOnlySpan<byte> data)
        {
            var hash = default(HashCode);
            hash.Add(data.Length);
            hash.AddBytes(data.Length > 16 ? data[^16..] : data);
            return hash.ToHashCode();
        }
    }
}
