using System.Buffers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using BelizeMesh.Quantum.Dsa;

namespace BelizeMesh.Quantum;

/// <summary>
/// An ML-DSA key (FIPS 204): a public key alone, or a private key (seed and/or expanded sk) with its public key.
/// Owns its memory and zeroes it on <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// <para>
/// Signing is hedged by default (FIPS 204, section 3.4: fresh 32-byte rnd); <see cref="SignDataDeterministic"/> uses
/// rnd = 0^32. Pure signing is ML-DSA.Sign/Verify (Algorithms 2 and 3), pre-hash signing is HashML-DSA (Algorithms 4
/// and 5), and the µ forms take the 64-byte message representative computed elsewhere (section 6.2, "external µ").
/// </para>
/// <para>
/// The key expands lazily what repeated operations need: Â (ExpandA, Algorithm 32), NTT(s1), NTT(s2), NTT(t0) for
/// signing and NTT(t1·2^d) for verifying. Instances are safe for concurrent signing and verifying; they are not safe
/// to use concurrently with <see cref="Dispose"/>.
/// </para>
/// </remarks>
public sealed class MLDsaKey : IDisposable
{
    private const int N = MLDsaField.N;

    private readonly byte[] _publicKey;
    private readonly byte[] _tr;
    private readonly byte[]? _privateKey;
    private readonly byte[]? _seed;
    private int[]? _aHat;
    private int[]? _t1Hat;
    private int[]? _secretsHat;
    private bool _disposed;

    /// <summary>The parameter set.</summary>
    public MLDsaParameterSet Algorithm { get; }

    /// <summary>True when the key can sign.</summary>
    public bool HasPrivateKey => _privateKey is not null;

    /// <summary>True when the key was created from the 32-byte seed ξ, which <see cref="ExportPrivateSeed"/> returns.</summary>
    public bool HasPrivateSeed => _seed is not null;

    private MLDsaKey(MLDsaParameterSet algorithm, byte[] publicKey, byte[] tr, byte[]? privateKey, byte[]? seed, int[]? aHat)
    {
        Algorithm = algorithm;
        _publicKey = publicKey;
        _tr = tr;
        _privateKey = privateKey;
        _seed = seed;
        _aHat = aHat;
    }

    /// <summary>Generates a key pair from fresh randomness (FIPS 204, Algorithm 1).</summary>
    public static MLDsaKey Generate(MLDsaParameterSet algorithm)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        Span<byte> seed = stackalloc byte[MLDsaParameterSet.PrivateSeedSizeInBytes];
        RandomNumberGenerator.Fill(seed);
        try
        {
            return ImportPrivateSeed(algorithm, seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>Derives the key pair from the 32-byte seed ξ (FIPS 204, Algorithm 6).</summary>
    /// <exception cref="ArgumentException"><paramref name="seed"/> is not 32 bytes.</exception>
    public static MLDsaKey ImportPrivateSeed(MLDsaParameterSet algorithm, ReadOnlySpan<byte> seed)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        if (seed.Length != MLDsaParameterSet.PrivateSeedSizeInBytes)
        {
            throw new ArgumentException(
                $"An {algorithm.Name} private seed is {MLDsaParameterSet.PrivateSeedSizeInBytes} bytes, got {seed.Length}.", nameof(seed));
        }

        byte[] pk = new byte[algorithm.PublicKeySizeInBytes];
        byte[] sk = new byte[algorithm.PrivateKeySizeInBytes];

        // Â is public and only scratch here: the key expands its own copy on first use, so key generation allocates
        // nothing but the key's encodings.
        // sk is zeroed if anything fails before the key owns it (its Dispose zeroes it after that).
        int[] aHat = ArrayPool<int>.Shared.Rent(algorithm.K * algorithm.L * N);
        bool owned = false;
        try
        {
            MLDsaCore.KeyGenInternal(algorithm, seed, pk, sk, aHat.AsSpan(0, algorithm.K * algorithm.L * N));
            var key = new MLDsaKey(algorithm, pk, sk.AsSpan(64, 64).ToArray(), sk, seed.ToArray(), aHat: null);
            owned = true;
            return key;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(aHat);
            if (!owned)
            {
                CryptographicOperations.ZeroMemory(sk);
            }
        }
    }

    /// <summary>
    /// Imports an expanded private key sk (skDecode, FIPS 204 Algorithm 25) and derives its public key. The key must be
    /// one that KeyGen produces: s1 and s2 within [−η, η], and t0 and tr matching A·s1 + s2.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong length.</exception>
    /// <exception cref="CryptographicException">The encoding is not a consistent ML-DSA private key.</exception>
    public static MLDsaKey ImportPrivateKey(MLDsaParameterSet algorithm, ReadOnlySpan<byte> privateKey)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        if (privateKey.Length != algorithm.PrivateKeySizeInBytes)
        {
            throw new ArgumentException(
                $"An {algorithm.Name} private key is {algorithm.PrivateKeySizeInBytes} bytes, got {privateKey.Length}.", nameof(privateKey));
        }

        int k = algorithm.K, l = algorithm.L;
        byte[] sk = privateKey.ToArray();
        byte[] pk = new byte[algorithm.PublicKeySizeInBytes];
        int[] aHat = new int[k * l * N];
        int[] secretsHat = new int[((l + k + k) * N)];
        int[] rented = ArrayPool<int>.Shared.Rent((k + k) * N);
        try
        {
            Span<int> t = rented.AsSpan(0, k * N);
            Span<int> t1 = rented.AsSpan(k * N, k * N);
            Span<int> s1Hat = secretsHat.AsSpan(0, l * N);
            Span<int> s2Hat = secretsHat.AsSpan(l * N, k * N);
            Span<int> t0Hat = secretsHat.AsSpan((l + k) * N, k * N);
            if (!MLDsaEncoding.SkDecode(sk, algorithm.Eta, k, l, s1Hat, s2Hat, t0Hat))
            {
                throw new CryptographicException(
                    $"The {algorithm.Name} private key is malformed: a coefficient of s1 or s2 lies outside [-{algorithm.Eta}, {algorithm.Eta}] (FIPS 204, skDecode).");
            }

            // t = NTT^-1(Â ∘ NTT(s1)) + s2, then Power2Round, exactly as KeyGen_internal (Algorithm 6) computes them.
            MLDsaSampling.ExpandA(sk.AsSpan(0, 32), k, l, aHat);
            for (int j = 0; j < l; j++)
            {
                MLDsaField.Ntt(s1Hat.Slice(j * N, N));
            }

            MLDsaField.MatrixVectorMultiply(aHat, s1Hat, t, k, l);
            int t0Mismatch = 0;
            for (int i = 0; i < t.Length; i++)
            {
                t1[i] = MLDsaRounding.Power2Round(MLDsaField.Freeze(t[i] + s2Hat[i]), out int r0);
                t0Mismatch |= r0 ^ t0Hat[i];
            }

            MLDsaEncoding.PkEncode(sk.AsSpan(0, 32), t1, k, pk);
            Span<byte> tr = stackalloc byte[64];
            MLDsaCore.Shake256(pk, tr);
            if ((t0Mismatch != 0) | !CryptographicOperations.FixedTimeEquals(tr, sk.AsSpan(64, 64)))
            {
                throw new CryptographicException(
                    $"The {algorithm.Name} private key is inconsistent: its t0 or tr does not match the public key derived from s1 and s2 (FIPS 204, Algorithm 6).");
            }

            PrepareSecrets(secretsHat, k, l);
            var key = new MLDsaKey(algorithm, pk, tr.ToArray(), sk, seed: null, aHat) { _secretsHat = secretsHat };
            sk = null!;
            secretsHat = null!;
            return key;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(rented.AsSpan(0, (k + k) * N)));
            ArrayPool<int>.Shared.Return(rented);
            if (sk is not null)
            {
                CryptographicOperations.ZeroMemory(sk);
            }

            if (secretsHat is not null)
            {
                CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(secretsHat.AsSpan()));
            }
        }
    }

    /// <summary>Imports a public key pk (length-checked; every pk of the right length is a valid encoding, pkDecode Algorithm 23).</summary>
    /// <exception cref="ArgumentException">Wrong length.</exception>
    public static MLDsaKey ImportPublicKey(MLDsaParameterSet algorithm, ReadOnlySpan<byte> publicKey)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        if (publicKey.Length != algorithm.PublicKeySizeInBytes)
        {
            throw new ArgumentException(
                $"An {algorithm.Name} public key is {algorithm.PublicKeySizeInBytes} bytes, got {publicKey.Length}.", nameof(publicKey));
        }

        byte[] tr = new byte[64];
        MLDsaCore.Shake256(publicKey, tr);
        return new MLDsaKey(algorithm, publicKey.ToArray(), tr, privateKey: null, seed: null, aHat: null);
    }

    /// <summary>Writes the public key pk (exactly <see cref="MLDsaParameterSet.PublicKeySizeInBytes"/> bytes).</summary>
    public void ExportPublicKey(Span<byte> destination)
    {
        ThrowIfDisposed();
        CheckDestination(destination, Algorithm.PublicKeySizeInBytes, "public key");
        _publicKey.CopyTo(destination);
    }

    /// <summary>Writes the expanded private key sk (exactly <see cref="MLDsaParameterSet.PrivateKeySizeInBytes"/> bytes).</summary>
    /// <exception cref="InvalidOperationException">The key is public only.</exception>
    public void ExportPrivateKey(Span<byte> destination)
    {
        CheckDestination(destination, Algorithm.PrivateKeySizeInBytes, "private key");
        RequirePrivateKey().CopyTo(destination);
    }

    /// <summary>Writes the 32-byte seed ξ. Throws when the key was imported from an expanded sk.</summary>
    /// <exception cref="InvalidOperationException">The key has no seed (public only, or imported from an expanded sk).</exception>
    public void ExportPrivateSeed(Span<byte> destination)
    {
        ThrowIfDisposed();
        CheckDestination(destination, MLDsaParameterSet.PrivateSeedSizeInBytes, "private seed");
        if (_seed is null)
        {
            throw new InvalidOperationException(
                $"This {Algorithm.Name} key has no private seed: it was imported from {(HasPrivateKey ? "an expanded private key" : "a public key")}, and the seed cannot be recovered from either.");
        }

        _seed.CopyTo(destination);
    }

    /// <summary>Signs <paramref name="data"/> with the pure external interface (FIPS 204, Algorithm 2), hedged.</summary>
    /// <exception cref="ArgumentException">Wrong signature length, or a context longer than 255 bytes.</exception>
    /// <exception cref="InvalidOperationException">The key is public only.</exception>
    public void SignData(ReadOnlySpan<byte> data, Span<byte> signature, ReadOnlySpan<byte> context = default)
    {
        Span<byte> rnd = stackalloc byte[32];
        RandomNumberGenerator.Fill(rnd);
        try
        {
            SignDataCore(data, signature, context, rnd);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(rnd);
        }
    }

    /// <summary>Signs with the pure external interface (FIPS 204, Algorithm 2) in its deterministic variant (rnd = 0^32).</summary>
    /// <exception cref="ArgumentException">Wrong signature length, or a context longer than 255 bytes.</exception>
    /// <exception cref="InvalidOperationException">The key is public only.</exception>
    public void SignDataDeterministic(ReadOnlySpan<byte> data, Span<byte> signature, ReadOnlySpan<byte> context = default)
    {
        Span<byte> rnd = stackalloc byte[32];
        rnd.Clear();
        SignDataCore(data, signature, context, rnd);
    }

    /// <summary>Verifies a pure signature (FIPS 204, Algorithm 3). Malformed input returns false, never throws.</summary>
    public bool VerifyData(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> context = default)
    {
        ThrowIfDisposed();
        if (context.Length > MLDsaParameterSet.MaxContextLength || signature.Length != Algorithm.SignatureSizeInBytes)
        {
            return false;
        }

        Span<byte> mu = stackalloc byte[MLDsaParameterSet.MuSizeInBytes];
        ReadOnlySpan<byte> prefix = [0, (byte)context.Length];
        MLDsaCore.ComputeMu(_tr, prefix, context, default, data, mu);
        return VerifyMuCore(mu, signature);
    }

    /// <summary>
    /// Verifies a pure signature (FIPS 204, Algorithm 3) against a raw public key without creating a key object: for
    /// one-off checks such as a certificate's signature under its issuer's key. Every malformed input — a public key,
    /// signature or context of the wrong length, a bad encoding — returns false, never throws. Scratch space is pooled;
    /// a key that verifies repeatedly is faster as an <see cref="MLDsaKey"/>, which keeps Â.
    /// </summary>
    public static bool VerifyData(
        MLDsaParameterSet algorithm, ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature,
        ReadOnlySpan<byte> context = default)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        if (publicKey.Length != algorithm.PublicKeySizeInBytes || signature.Length != algorithm.SignatureSizeInBytes ||
            context.Length > MLDsaParameterSet.MaxContextLength)
        {
            return false;
        }

        int k = algorithm.K, l = algorithm.L;
        int[] rented = ArrayPool<int>.Shared.Rent(((k * l) + k) * N);
        try
        {
            Span<int> aHat = rented.AsSpan(0, k * l * N);
            Span<int> t1Hat = rented.AsSpan(k * l * N, k * N);
            MLDsaSampling.ExpandA(publicKey[..32], k, l, aHat);
            ComputeT1Hat(publicKey, k, t1Hat);
            Span<byte> tr = stackalloc byte[64];
            MLDsaCore.Shake256(publicKey, tr);
            Span<byte> mu = stackalloc byte[MLDsaParameterSet.MuSizeInBytes];
            ReadOnlySpan<byte> prefix = [0, (byte)context.Length];
            MLDsaCore.ComputeMu(tr, prefix, context, default, data, mu);
            return MLDsaCore.VerifyInternal(algorithm, aHat, t1Hat, mu, signature);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Signs the pre-computed hash PH(M) with HashML-DSA (FIPS 204, Algorithm 4), hedged. <paramref name="hashAlgorithmOid"/>
    /// is the dotted OID of the hash (e.g. <c>2.16.840.1.101.3.4.2.3</c> for SHA-512; all twelve NIST SHA-2, SHA-3 and
    /// SHAKE OIDs of arc 2.16.840.1.101.3.4.2 are accepted) and <paramref name="hash"/> must have that hash's length.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown OID, hash of the wrong length, wrong signature length, or context over 255 bytes.</exception>
    public void SignPreHash(ReadOnlySpan<byte> hash, Span<byte> signature, string hashAlgorithmOid, ReadOnlySpan<byte> context = default)
    {
        Span<byte> rnd = stackalloc byte[32];
        RandomNumberGenerator.Fill(rnd);
        try
        {
            SignPreHashCore(hash, signature, hashAlgorithmOid, context, rnd);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(rnd);
        }
    }

    /// <summary>Verifies a HashML-DSA signature (FIPS 204, Algorithm 5). Malformed input (including an unknown OID or a
    /// hash of the wrong length) returns false.</summary>
    public bool VerifyPreHash(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> signature, string hashAlgorithmOid, ReadOnlySpan<byte> context = default)
    {
        ThrowIfDisposed();
        if (hashAlgorithmOid is null || !MLDsaPreHash.TryFindByOid(hashAlgorithmOid, out var entry) || hash.Length != entry.HashLength ||
            context.Length > MLDsaParameterSet.MaxContextLength || signature.Length != Algorithm.SignatureSizeInBytes)
        {
            return false;
        }

        Span<byte> mu = stackalloc byte[MLDsaParameterSet.MuSizeInBytes];
        ComputePreHashMu(hash, entry, context, mu);
        return VerifyMuCore(mu, signature);
    }

    /// <summary>
    /// Signs an externally computed message representative µ = H(tr ‖ M′, 64) (FIPS 204, Algorithm 7 with µ given;
    /// section 6.2), hedged. tr is H(pk, 64); see <see cref="ComputeMu"/>.
    /// </summary>
    /// <exception cref="ArgumentException">µ is not 64 bytes or the signature length is wrong.</exception>
    public void SignMu(ReadOnlySpan<byte> mu, Span<byte> signature)
    {
        Span<byte> rnd = stackalloc byte[32];
        RandomNumberGenerator.Fill(rnd);
        try
        {
            SignMu(mu, signature, rnd);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(rnd);
        }
    }

    /// <summary>Verifies a signature over an externally computed µ (FIPS 204, Algorithm 8 with µ given). Malformed input returns false.</summary>
    public bool VerifyMu(ReadOnlySpan<byte> mu, ReadOnlySpan<byte> signature)
    {
        ThrowIfDisposed();
        return mu.Length == MLDsaParameterSet.MuSizeInBytes && signature.Length == Algorithm.SignatureSizeInBytes && VerifyMuCore(mu, signature);
    }

    /// <summary>
    /// Computes µ = H(H(pk, 64) ‖ 0 ‖ |ctx| ‖ ctx ‖ data, 64), the message representative of pure ML-DSA (FIPS 204,
    /// Algorithm 2 lines 10 and Algorithm 7 line 6), so that another party can sign it with <see cref="SignMu(ReadOnlySpan{byte}, Span{byte})"/>.
    /// </summary>
    public void ComputeMu(ReadOnlySpan<byte> data, Span<byte> mu, ReadOnlySpan<byte> context = default)
    {
        ThrowIfDisposed();
        CheckContext(context);
        CheckDestination(mu, MLDsaParameterSet.MuSizeInBytes, "mu");
        ReadOnlySpan<byte> prefix = [0, (byte)context.Length];
        MLDsaCore.ComputeMu(_tr, prefix, context, default, data, mu);
    }

    /// <summary>Sign_internal on µ with caller-chosen rnd (32 bytes; zeros for deterministic). For ACVP and tests.</summary>
    internal void SignMu(ReadOnlySpan<byte> mu, Span<byte> signature, ReadOnlySpan<byte> rnd)
    {
        if (mu.Length != MLDsaParameterSet.MuSizeInBytes)
        {
            throw new ArgumentException($"µ is {MLDsaParameterSet.MuSizeInBytes} bytes, got {mu.Length}.", nameof(mu));
        }

        SignMuCore(mu, signature, rnd);
    }

    /// <summary>ML-DSA.Sign_internal (FIPS 204, Algorithm 7) on the message M′ as given, with caller-chosen rnd. For ACVP and tests.</summary>
    internal void SignInternal(ReadOnlySpan<byte> messagePrime, Span<byte> signature, ReadOnlySpan<byte> rnd)
    {
        ThrowIfDisposed();
        Span<byte> mu = stackalloc byte[MLDsaParameterSet.MuSizeInBytes];
        MLDsaCore.ComputeMu(_tr, default, default, default, messagePrime, mu);
        SignMuCore(mu, signature, rnd);
    }

    /// <summary>ML-DSA.Verify_internal (FIPS 204, Algorithm 8) on the message M′ as given. For ACVP and tests.</summary>
    internal bool VerifyInternal(ReadOnlySpan<byte> messagePrime, ReadOnlySpan<byte> signature)
    {
        ThrowIfDisposed();
        if (signature.Length != Algorithm.SignatureSizeInBytes)
        {
            return false;
        }

        Span<byte> mu = stackalloc byte[MLDsaParameterSet.MuSizeInBytes];
        MLDsaCore.ComputeMu(_tr, default, default, default, messagePrime, mu);
        return VerifyMuCore(mu, signature);
    }

    /// <summary>Pure ML-DSA.Sign (Algorithm 2) with caller-chosen rnd. For ACVP and tests.</summary>
    internal void SignDataCore(ReadOnlySpan<byte> data, Span<byte> signature, ReadOnlySpan<byte> context, ReadOnlySpan<byte> rnd)
    {
        ThrowIfDisposed();
        CheckContext(context);
        Span<byte> mu = stackalloc byte[MLDsaParameterSet.MuSizeInBytes];
        ReadOnlySpan<byte> prefix = [0, (byte)context.Length];
        MLDsaCore.ComputeMu(_tr, prefix, context, default, data, mu);
        SignMuCore(mu, signature, rnd);
    }

    /// <summary>HashML-DSA.Sign (Algorithm 4) on PH(M) with caller-chosen rnd. For ACVP and tests.</summary>
    internal void SignPreHashCore(ReadOnlySpan<byte> hash, Span<byte> signature, string hashAlgorithmOid, ReadOnlySpan<byte> context, ReadOnlySpan<byte> rnd)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(hashAlgorithmOid);
        CheckContext(context);
        if (!MLDsaPreHash.TryFindByOid(hashAlgorithmOid, out var entry))
        {
            throw new ArgumentException(
                $"HashML-DSA hash OID \"{hashAlgorithmOid}\" is not supported; use one of the NIST hash OIDs 2.16.840.1.101.3.4.2.1 to .12 (SHA-2, SHA-3, SHAKE).",
                nameof(hashAlgorithmOid));
        }

        if (hash.Length != entry.HashLength)
        {
            throw new ArgumentException(
                $"A {entry.AcvpName} hash ({hashAlgorithmOid}) is {entry.HashLength} bytes, got {hash.Length}.", nameof(hash));
        }

        Span<byte> mu = stackalloc byte[MLDsaParameterSet.MuSizeInBytes];
        ComputePreHashMu(hash, entry, context, mu);
        SignMuCore(mu, signature, rnd);
    }

    private void ComputePreHashMu(ReadOnlySpan<byte> hash, in MLDsaPreHash.Entry entry, ReadOnlySpan<byte> context, Span<byte> mu)
    {
        // M′ = IntegerToBytes(1, 1) ‖ IntegerToBytes(|ctx|, 1) ‖ ctx ‖ OID ‖ PH(M) (Algorithm 4 line 23)
        Span<byte> oid = stackalloc byte[MLDsaPreHash.EncodedOidLength];
        MLDsaPreHash.EncodeOid(entry, oid);
        ReadOnlySpan<byte> prefix = [1, (byte)context.Length];
        MLDsaCore.ComputeMu(_tr, prefix, context, oid, hash, mu);
    }

    private void SignMuCore(ReadOnlySpan<byte> mu, Span<byte> signature, ReadOnlySpan<byte> rnd)
    {
        ThrowIfDisposed();
        CheckDestination(signature, Algorithm.SignatureSizeInBytes, "signature");
        if (rnd.Length != 32)
        {
            throw new ArgumentException($"rnd is 32 bytes, got {rnd.Length}.", nameof(rnd));
        }

        byte[] sk = RequirePrivateKey();
        int[] secrets = GetSecretsHat();
        int k = Algorithm.K, l = Algorithm.L;
        MLDsaCore.SignInternal(
            Algorithm, GetAHat(), secrets.AsSpan(0, l * N), secrets.AsSpan(l * N, k * N), secrets.AsSpan((l + k) * N, k * N),
            sk.AsSpan(32, 32), mu, rnd, signature);
    }

    private bool VerifyMuCore(ReadOnlySpan<byte> mu, ReadOnlySpan<byte> signature) =>
        MLDsaCore.VerifyInternal(Algorithm, GetAHat(), GetT1Hat(), mu, signature);

    private int[] GetAHat()
    {
        int[]? aHat = Volatile.Read(ref _aHat);
        if (aHat is null)
        {
            aHat = new int[Algorithm.K * Algorithm.L * N];
            MLDsaSampling.ExpandA(_publicKey.AsSpan(0, 32), Algorithm.K, Algorithm.L, aHat);
            aHat = Interlocked.CompareExchange(ref _aHat, aHat, null) ?? aHat;
        }

        return aHat;
    }

    /// <summary>NTT(t1·2^d) (FIPS 204, Algorithm 8 line 9), computed once per key.</summary>
    private int[] GetT1Hat()
    {
        int[]? t1Hat = Volatile.Read(ref _t1Hat);
        if (t1Hat is null)
        {
            t1Hat = new int[Algorithm.K * N];
            ComputeT1Hat(_publicKey, Algorithm.K, t1Hat);
            t1Hat = Interlocked.CompareExchange(ref _t1Hat, t1Hat, null) ?? t1Hat;
        }

        return t1Hat;
    }

    /// <summary>NTT(t1·2^d) from pk (pkDecode, Algorithm 23; Algorithm 8 line 9).</summary>
    private static void ComputeT1Hat(ReadOnlySpan<byte> publicKey, int k, Span<int> t1Hat)
    {
        MLDsaEncoding.PkDecodeT1(publicKey, k, t1Hat);
        for (int i = 0; i < k; i++)
        {
            Span<int> poly = t1Hat.Slice(i * N, N);
            for (int j = 0; j < N; j++)
            {
                poly[j] <<= MLDsaField.D;
            }

            MLDsaField.Ntt(poly);
        }
    }

    /// <summary>NTT(s1) ‖ NTT(s2) ‖ NTT(t0) (FIPS 204, Algorithm 7 lines 2–4), computed once per key from sk.</summary>
    private int[] GetSecretsHat()
    {
        int[]? secrets = Volatile.Read(ref _secretsHat);
        if (secrets is null)
        {
            int k = Algorithm.K, l = Algorithm.L;
            secrets = new int[(l + k + k) * N];
            byte[] sk = RequirePrivateKey();
            bool valid = MLDsaEncoding.SkDecode(
                sk, Algorithm.Eta, k, l, secrets.AsSpan(0, l * N), secrets.AsSpan(l * N, k * N), secrets.AsSpan((l + k) * N, k * N));
            System.Diagnostics.Debug.Assert(valid, "sk came from KeyGen_internal");
            for (int j = 0; j < l; j++)
            {
                MLDsaField.Ntt(secrets.AsSpan(j * N, N));
            }

            PrepareSecrets(secrets, k, l);
            int[]? existing = Interlocked.CompareExchange(ref _secretsHat, secrets, null);
            if (existing is not null)
            {
                CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(secrets.AsSpan()));
                secrets = existing;
            }
        }

        return secrets;
    }

    /// <summary>NTT of s2 and t0 in place (s1 is already transformed by the caller).</summary>
    private static void PrepareSecrets(int[] secrets, int k, int l)
    {
        for (int i = 0; i < 2 * k; i++)
        {
            MLDsaField.Ntt(secrets.AsSpan((l + i) * N, N));
        }
    }

    private byte[] RequirePrivateKey()
    {
        ThrowIfDisposed();
        return _privateKey ?? throw new InvalidOperationException(
            $"This {Algorithm.Name} key is a public key only; signing and private-key export need a key imported with ImportPrivateKey or ImportPrivateSeed, or made by Generate.");
    }

    private static void CheckContext(ReadOnlySpan<byte> context)
    {
        if (context.Length > MLDsaParameterSet.MaxContextLength)
        {
            throw new ArgumentException(
                $"An ML-DSA context string is at most {MLDsaParameterSet.MaxContextLength} bytes (FIPS 204, section 5.2), got {context.Length}.", nameof(context));
        }
    }

    private void CheckDestination(Span<byte> destination, int size, string what)
    {
        if (destination.Length != size)
        {
            throw new ArgumentException($"An {Algorithm.Name} {what} is {size} bytes; the destination has {destination.Length}.", nameof(destination));
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_privateKey is not null)
        {
            CryptographicOperations.ZeroMemory(_privateKey);
        }

        if (_seed is not null)
        {
            CryptographicOperations.ZeroMemory(_seed);
        }

        int[]? secrets = Interlocked.Exchange(ref _secretsHat, null);
        if (secrets is not null)
        {
            CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(secrets.AsSpan()));
        }
    }
}
