namespace BelizeMesh.Quantum.Acvp;

/// <summary>
/// The deterministic internal algorithms of ML-KEM (FIPS 203, section 6) over byte strings: the ACVP and
/// known-answer-test entry points. Everything else uses <see cref="MLKemKey"/>, which draws d, z and m from the
/// system RNG (Algorithms 19–21).
/// </summary>
/// <remarks>
/// These run the same code as <see cref="MLKemKey"/> and the same section 7 input checks; they only let the caller
/// choose the randomness, which production callers must never do.
/// </remarks>
internal static class MLKemInternal
{
    /// <summary>ML-KEM.KeyGen_internal(d, z) (FIPS 203, Algorithm 16): writes ek and the expanded dk.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">d or z is not 32 bytes.</exception>
    internal static void KeyGenInternal(MLKemParameterSet algorithm, ReadOnlySpan<byte> d, ReadOnlySpan<byte> z, Span<byte> encapsulationKey, Span<byte> decapsulationKey)
    {
        if (d.Length != 32 || z.Length != 32)
        {
            throw new System.Security.Cryptography.CryptographicException(
                $"ML-KEM key generation seeds d and z must be 32 bytes each, got {d.Length} and {z.Length}.");
        }

        Span<byte> seed = stackalloc byte[MLKemParameterSet.PrivateSeedSizeInBytes];
        d.CopyTo(seed);
        z.CopyTo(seed[32..]);
        try
        {
            using var key = MLKemKey.ImportPrivateSeed(algorithm, seed);
            key.ExportEncapsulationKey(encapsulationKey);
            key.ExportDecapsulationKey(decapsulationKey);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>ML-KEM.Encaps_internal(ek, m) (FIPS 203, Algorithm 17) after the section 7.2 checks on ek.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">ek fails the length or modulus check, or m is not 32 bytes.</exception>
    internal static void EncapsulateInternal(MLKemParameterSet algorithm, ReadOnlySpan<byte> encapsulationKey, ReadOnlySpan<byte> m, Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        using var key = MLKemKey.ImportEncapsulationKey(algorithm, encapsulationKey);
        key.EncapsulateInternal(m, ciphertext, sharedSecret);
    }

    /// <summary>ML-KEM.Decaps_internal(dk, c) (FIPS 203, Algorithm 18) after the section 7.3 checks on dk and c.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">dk fails the length or hash check, or c has the wrong length.</exception>
    internal static void DecapsulateInternal(MLKemParameterSet algorithm, ReadOnlySpan<byte> decapsulationKey, ReadOnlySpan<byte> ciphertext, Span<byte> sharedSecret)
    {
        using var key = MLKemKey.ImportDecapsulationKey(algorithm, decapsulationKey);
        key.Decapsulate(ciphertext, sharedSecret);
    }
}
