using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using BelizeMesh.Quantum.Keccak;
using static BelizeMesh.Quantum.MLKemMath;

namespace BelizeMesh.Quantum;

/// <summary>
/// An ML-KEM key: an encapsulation key alone, or a private key (seed and expanded decapsulation key)
/// together with its encapsulation key. Owns its memory and zeroes it on <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// <para>
/// Every import runs the input checks of FIPS 203 section 7: an encapsulation key must have the right length and
/// pass the modulus check (7.2); an expanded decapsulation key must have the right length and carry the hash of
/// its encapsulation key (7.3), and its encapsulation key must pass the modulus check too. A failed check is a
/// <see cref="CryptographicException"/>; a key that exists has passed them.
/// </para>
/// <para>
/// A key keeps the matrix Â and the vector t̂ expanded, and H(ek), so that encapsulation and decapsulation
/// do not re-derive them: about 8 KiB for ML-KEM-1024.
/// </para>
/// <para>Instances are immutable after creation and safe to use from several threads until disposed.</para>
/// </remarks>
public sealed class MLKemKey : IDisposable
{
    private readonly byte[] _encapsulationKey;   // ek = ByteEncode_12(t̂)‖ρ
    private readonly byte[] _encapsulationKeyHash; // H(ek)
    private readonly ushort[] _tHat;              // t̂, k polynomials
    private readonly ushort[] _aHat;              // Â, k×k polynomials, row-major
    private readonly byte[]? _seed;               // d‖z, when created from a seed
    private readonly byte[]? _dkPke;              // dk_PKE = ByteEncode_12(ŝ) exactly as created or imported
    private readonly ushort[]? _sHat;             // ŝ decoded, k polynomials
    private readonly byte[]? _z;                  // the implicit-rejection seed z
    private volatile bool _disposed;

    /// <summary>The parameter set.</summary>
    public MLKemParameterSet Algorithm { get; }

    /// <summary>True when the key can decapsulate.</summary>
    public bool HasPrivateKey { get; }

    private MLKemKey(MLKemParameterSet algorithm, bool hasPrivateKey)
    {
        Algorithm = algorithm;
        HasPrivateKey = hasPrivateKey;
        int k = algorithm.K;
        _encapsulationKey = new byte[algorithm.EncapsulationKeySizeInBytes];
        _encapsulationKeyHash = new byte[32];
        _tHat = new ushort[k * N];
        _aHat = new ushort[k * k * N];
        if (hasPrivateKey)
        {
            _dkPke = new byte[k * EncodedPolySize];
            _sHat = new ushort[k * N];
            _z = new byte[32];
        }
    }

    private MLKemKey(MLKemParameterSet algorithm, byte[] seed)
        : this(algorithm, hasPrivateKey: true)
    {
        _seed = seed;
    }

    /// <summary>Generates a key pair from fresh randomness (FIPS 203, Algorithm 19).</summary>
    public static MLKemKey Generate(MLKemParameterSet algorithm)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        Span<byte> seed = stackalloc byte[MLKemParameterSet.PrivateSeedSizeInBytes];
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

    /// <summary>Derives the key pair from the 64-byte seed d‖z (FIPS 203, Algorithm 16).</summary>
    /// <exception cref="CryptographicException">The seed is not 64 bytes.</exception>
    public static MLKemKey ImportPrivateSeed(MLKemParameterSet algorithm, ReadOnlySpan<byte> seed)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        if (seed.Length != MLKemParameterSet.PrivateSeedSizeInBytes)
        {
            throw new CryptographicException(
                $"{algorithm.Name} private seed must be {MLKemParameterSet.PrivateSeedSizeInBytes} bytes (d‖z), got {seed.Length}.");
        }

        var key = new MLKemKey(algorithm, seed.ToArray());
        try
        {
            key.KeyGenInternal(seed[..32], seed[32..]);
            return key;
        }
        catch
        {
            key.Dispose(); // zeroes the copied seed and whatever was derived from it
            throw;
        }
    }

    /// <summary>ML-KEM.KeyGen_internal (FIPS 203, Algorithm 16) into this key's buffers.</summary>
    [SkipLocalsInit]
    private void KeyGenInternal(ReadOnlySpan<byte> d, ReadOnlySpan<byte> z)
    {
        int k = Algorithm.K;
        Span<byte> rho = stackalloc byte[32];
        KPke.KeyGen(Algorithm, d, rho, _aHat, _sHat!, _tHat);

        // ek ← ByteEncode_12(t̂)‖ρ, dk_PKE ← ByteEncode_12(ŝ) (Algorithm 13, lines 19–20).
        for (int i = 0; i < k; i++)
        {
            ByteEncode12(_tHat.AsSpan(i * N, N), _encapsulationKey.AsSpan(i * EncodedPolySize, EncodedPolySize));
            ByteEncode12(_sHat!.AsSpan(i * N, N), _dkPke!.AsSpan(i * EncodedPolySize, EncodedPolySize));
        }

        rho.CopyTo(_encapsulationKey.AsSpan(k * EncodedPolySize));
        Sha3.Sha3_256(_encapsulationKey, _encapsulationKeyHash);
        z.CopyTo(_z!);
    }

    /// <summary>Imports an expanded decapsulation key dk = dk_PKE‖ek‖H(ek)‖z, running the section 7.3 checks.</summary>
    /// <exception cref="CryptographicException">The key fails a length or hash check, or its embedded ek fails the modulus check.</exception>
    public static MLKemKey ImportDecapsulationKey(MLKemParameterSet algorithm, ReadOnlySpan<byte> decapsulationKey)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        int k = algorithm.K;
        if (decapsulationKey.Length != algorithm.DecapsulationKeySizeInBytes)
        {
            throw new CryptographicException(
                $"{algorithm.Name} decapsulation key must be {algorithm.DecapsulationKeySizeInBytes} bytes, got {decapsulationKey.Length} (FIPS 203 section 7.3 length check).");
        }

        ReadOnlySpan<byte> dkPke = decapsulationKey[..(k * EncodedPolySize)];
        ReadOnlySpan<byte> ek = decapsulationKey.Slice(k * EncodedPolySize, algorithm.EncapsulationKeySizeInBytes);
        ReadOnlySpan<byte> h = decapsulationKey.Slice((k * EncodedPolySize) + algorithm.EncapsulationKeySizeInBytes, 32);
        ReadOnlySpan<byte> z = decapsulationKey[^32..];

        // Hash check (7.3): H(dk[384k : 768k+32]) must equal dk[768k+32 : 768k+64].
        Span<byte> computed = stackalloc byte[32];
        Sha3.Sha3_256(ek, computed);
        if (!CryptographicOperations.FixedTimeEquals(computed, h))
        {
            throw new CryptographicException(
                $"{algorithm.Name} decapsulation key fails the hash check: the stored H(ek) does not match its encapsulation key (FIPS 203 section 7.3).");
        }

        var key = new MLKemKey(algorithm, hasPrivateKey: true);
        if (!key.TryLoadEncapsulationKey(ek))
        {
            key.Dispose();
            throw new CryptographicException(
                $"{algorithm.Name} decapsulation key holds an encapsulation key that fails the modulus check: a coefficient of t̂ is not below q = 3329 (FIPS 203 section 7.2).");
        }

        dkPke.CopyTo(key._dkPke!);
        for (int i = 0; i < k; i++)
        {
            ByteDecode12(dkPke.Slice(i * EncodedPolySize, EncodedPolySize), key._sHat!.AsSpan(i * N, N));
        }

        z.CopyTo(key._z!);
        return key;
    }

    /// <summary>Imports an encapsulation key, running the section 7.2 checks (length, then the modulus check).</summary>
    /// <exception cref="CryptographicException">The key fails a length or modulus check.</exception>
    public static MLKemKey ImportEncapsulationKey(MLKemParameterSet algorithm, ReadOnlySpan<byte> encapsulationKey)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        if (encapsulationKey.Length != algorithm.EncapsulationKeySizeInBytes)
        {
            throw new CryptographicException(
                $"{algorithm.Name} encapsulation key must be {algorithm.EncapsulationKeySizeInBytes} bytes, got {encapsulationKey.Length} (FIPS 203 section 7.2 length check).");
        }

        var key = new MLKemKey(algorithm, hasPrivateKey: false);
        if (!key.TryLoadEncapsulationKey(encapsulationKey))
        {
            key.Dispose();
            throw new CryptographicException(
                $"{algorithm.Name} encapsulation key fails the modulus check: a coefficient of t̂ is not below q = 3329 (FIPS 203 section 7.2).");
        }

        return key;
    }

    /// <summary>Decodes t̂ with the modulus check, expands Â from ρ and computes H(ek).</summary>
    private bool TryLoadEncapsulationKey(ReadOnlySpan<byte> ek)
    {
        int k = Algorithm.K;
        for (int i = 0; i < k; i++)
        {
            if (!TryByteDecode12Canonical(ek.Slice(i * EncodedPolySize, EncodedPolySize), _tHat.AsSpan(i * N, N)))
            {
                return false;
            }
        }

        ek.CopyTo(_encapsulationKey);
        KPke.ExpandA(ek[(k * EncodedPolySize)..], k, _aHat);
        Sha3.Sha3_256(ek, _encapsulationKeyHash);
        return true;
    }

    /// <summary>Writes the encapsulation key ek.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not <see cref="MLKemParameterSet.EncapsulationKeySizeInBytes"/> long.</exception>
    public void ExportEncapsulationKey(Span<byte> destination)
    {
        ThrowIfDisposed();
        CheckDestination(destination, Algorithm.EncapsulationKeySizeInBytes, nameof(destination));
        _encapsulationKey.CopyTo(destination);
    }

    /// <summary>Writes the expanded decapsulation key dk = dk_PKE‖ek‖H(ek)‖z (FIPS 203, Algorithm 16, line 3).</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not <see cref="MLKemParameterSet.DecapsulationKeySizeInBytes"/> long.</exception>
    /// <exception cref="CryptographicException">The key has no private part.</exception>
    public void ExportDecapsulationKey(Span<byte> destination)
    {
        ThrowIfDisposed();
        RequirePrivateKey("export a decapsulation key");
        CheckDestination(destination, Algorithm.DecapsulationKeySizeInBytes, nameof(destination));
        _dkPke.CopyTo(destination);
        _encapsulationKey.CopyTo(destination[_dkPke.Length..]);
        _encapsulationKeyHash.CopyTo(destination[(_dkPke.Length + _encapsulationKey.Length)..]);
        _z.CopyTo(destination[^32..]);
    }

    /// <summary>Writes the 64-byte seed d‖z. Throws when the key was imported from an expanded dk.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is not 64 bytes.</exception>
    /// <exception cref="CryptographicException">The key has no seed (public only, or imported from an expanded dk).</exception>
    public void ExportPrivateSeed(Span<byte> destination)
    {
        ThrowIfDisposed();
        RequirePrivateKey("export a private seed");
        if (_seed is null)
        {
            throw new CryptographicException(
                $"This {Algorithm.Name} key was imported from an expanded decapsulation key, which does not contain the seed d‖z; export the decapsulation key instead.");
        }

        CheckDestination(destination, MLKemParameterSet.PrivateSeedSizeInBytes, nameof(destination));
        _seed.CopyTo(destination);
    }

    /// <summary>Encapsulates to this key with fresh randomness (FIPS 203, Algorithm 20).</summary>
    /// <exception cref="ArgumentException">A destination has the wrong length.</exception>
    [SkipLocalsInit]
    public void Encapsulate(Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        Span<byte> m = stackalloc byte[MLKemParameterSet.EncapsulationRandomnessSizeInBytes];
        RandomNumberGenerator.Fill(m);
        try
        {
            EncapsulateInternal(m, ciphertext, sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(m);
        }
    }

    /// <summary>
    /// ML-KEM.Encaps_internal (FIPS 203, Algorithm 17) with caller-chosen randomness m. A deterministic entry point
    /// for ACVP and known-answer tests only: m must be fresh uniform randomness, never reused.
    /// </summary>
    [SkipLocalsInit]
    internal void EncapsulateInternal(ReadOnlySpan<byte> m, Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        ThrowIfDisposed();
        if (m.Length != MLKemParameterSet.EncapsulationRandomnessSizeInBytes)
        {
            throw new CryptographicException($"ML-KEM encapsulation randomness m must be 32 bytes, got {m.Length}.");
        }

        CheckDestination(ciphertext, Algorithm.CiphertextSizeInBytes, nameof(ciphertext));
        CheckDestination(sharedSecret, MLKemParameterSet.SharedSecretSizeInBytes, nameof(sharedSecret));

        // (K, r) ← G(m‖H(ek)) (line 1); c ← K-PKE.Encrypt(ek, m, r) (line 2).
        Span<byte> gInput = stackalloc byte[64];
        Span<byte> kr = stackalloc byte[64];
        try
        {
            m.CopyTo(gInput);
            _encapsulationKeyHash.CopyTo(gInput[32..]);
            Sha3.Sha3_512(gInput, kr);
            KPke.Encrypt(Algorithm, _aHat, _tHat, m, kr[32..], ciphertext);
            kr[..32].CopyTo(sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(gInput);
            CryptographicOperations.ZeroMemory(kr);
        }
    }

    /// <summary>Decapsulates with implicit rejection (FIPS 203, Algorithms 21 and 18).</summary>
    /// <remarks>
    /// A ciphertext of the right length never fails: when re-encryption does not reproduce it, the result is the
    /// implicit-rejection key K̄ = J(z‖c), chosen by a constant-time compare and select.
    /// </remarks>
    /// <exception cref="CryptographicException">The ciphertext has the wrong length, or the key has no private part.</exception>
    /// <exception cref="ArgumentException"><paramref name="sharedSecret"/> is not 32 bytes.</exception>
    [SkipLocalsInit]
    public void Decapsulate(ReadOnlySpan<byte> ciphertext, Span<byte> sharedSecret)
    {
        ThrowIfDisposed();
        RequirePrivateKey("decapsulate");
        if (ciphertext.Length != Algorithm.CiphertextSizeInBytes)
        {
            throw new CryptographicException(
                $"{Algorithm.Name} ciphertext must be {Algorithm.CiphertextSizeInBytes} bytes, got {ciphertext.Length} (FIPS 203 section 7.3 ciphertext type check).");
        }

        CheckDestination(sharedSecret, MLKemParameterSet.SharedSecretSizeInBytes, nameof(sharedSecret));

        Span<byte> gInput = stackalloc byte[64];
        Span<byte> kr = stackalloc byte[64];
        Span<byte> kBar = stackalloc byte[32];
        Span<byte> reencrypted = stackalloc byte[MLKemParameterSet.MLKem1024.CiphertextSizeInBytes];
        reencrypted = reencrypted[..ciphertext.Length];

        try
        {
            // m′ ← K-PKE.Decrypt(dk_PKE, c) (line 5); (K′, r′) ← G(m′‖h) (line 6).
            KPke.Decrypt(Algorithm, _sHat, ciphertext, gInput[..32]);
            _encapsulationKeyHash.CopyTo(gInput[32..]);
            Sha3.Sha3_512(gInput, kr);

            // K̄ ← J(z‖c) (line 7): SHAKE256 absorbed in two parts, so z‖c is never copied.
            var j = KeccakSponge.CreateShake256();
            j.Absorb(_z);
            j.Absorb(ciphertext);
            j.Squeeze(kBar);
            j.Clear();

            // c′ ← K-PKE.Encrypt(ek_PKE, m′, r′) (line 8); if c ≠ c′ then K′ ← K̄ (lines 9–11), in constant time:
            // EqualMask reads every byte and Select copies through the mask, with no branch on either.
            KPke.Encrypt(Algorithm, _aHat, _tHat, gInput[..32], kr[32..], reencrypted);
            int equal = EqualMask(ciphertext, reencrypted);
            Select(equal, kr[..32], kBar, sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(gInput);
            CryptographicOperations.ZeroMemory(kr);
            CryptographicOperations.ZeroMemory(kBar);
            CryptographicOperations.ZeroMemory(reencrypted);
        }
    }

    /// <summary>Zeroes every buffer the key owns. Later calls throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        _disposed = true;
        CryptographicOperations.ZeroMemory(_seed);
        CryptographicOperations.ZeroMemory(_dkPke);
        CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(_sHat.AsSpan()));
        CryptographicOperations.ZeroMemory(_z);
        CryptographicOperations.ZeroMemory(_encapsulationKey);
        CryptographicOperations.ZeroMemory(_encapsulationKeyHash);
        CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(_tHat.AsSpan()));
        CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(_aHat.AsSpan()));
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_dkPke), nameof(_sHat), nameof(_z))]
    private void RequirePrivateKey(string operation)
    {
        if (_dkPke is null || _sHat is null || _z is null)
        {
            throw new CryptographicException($"Cannot {operation}: this {Algorithm.Name} key is an encapsulation key only (no private part).");
        }
    }

    private static void CheckDestination(Span<byte> destination, int size, string name)
    {
        if (destination.Length != size)
        {
            throw new ArgumentException($"Destination must be exactly {size} bytes, got {destination.Length}.", name);
        }
    }
}
