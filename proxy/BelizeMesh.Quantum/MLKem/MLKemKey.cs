namespace BelizeMesh.Quantum;

// API CONTRACT (skeleton): the ML-KEM helper replaces every body; the signatures are what other
// components (certificates, channel, CLI) code against. Extend freely, do not break.

/// <summary>
/// An ML-KEM key: an encapsulation key alone, or a private key (seed and expanded decapsulation key)
/// together with its encapsulation key. Owns its memory and zeroes it on <see cref="Dispose"/>.
/// </summary>
public sealed partial class MLKemKey : IDisposable
{
    /// <summary>The parameter set.</summary>
    public MLKemAlgorithm Algorithm { get; }

    /// <summary>True when the key can decapsulate.</summary>
    public bool HasPrivateKey { get; }

    private MLKemKey(MLKemAlgorithm algorithm, bool hasPrivateKey)
    {
        Algorithm = algorithm;
        HasPrivateKey = hasPrivateKey;
    }

    /// <summary>Generates a key pair from fresh randomness (FIPS 203, Algorithm 19).</summary>
    public static MLKemKey Generate(MLKemAlgorithm algorithm) => throw new NotImplementedException();

    /// <summary>Derives the key pair from the 64-byte seed d‖z (FIPS 203, Algorithm 16).</summary>
    public static MLKemKey ImportPrivateSeed(MLKemAlgorithm algorithm, ReadOnlySpan<byte> seed) => throw new NotImplementedException();

    /// <summary>Imports an expanded decapsulation key, running the section 7.3 checks.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The key fails a length or hash check.</exception>
    public static MLKemKey ImportDecapsulationKey(MLKemAlgorithm algorithm, ReadOnlySpan<byte> decapsulationKey) => throw new NotImplementedException();

    /// <summary>Imports an encapsulation key, running the section 7.2 checks.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The key fails a length or modulus check.</exception>
    public static MLKemKey ImportEncapsulationKey(MLKemAlgorithm algorithm, ReadOnlySpan<byte> encapsulationKey) => throw new NotImplementedException();

    /// <summary>Writes the encapsulation key ek.</summary>
    public void ExportEncapsulationKey(Span<byte> destination) => throw new NotImplementedException();

    /// <summary>Writes the expanded decapsulation key dk.</summary>
    public void ExportDecapsulationKey(Span<byte> destination) => throw new NotImplementedException();

    /// <summary>Writes the 64-byte seed d‖z. Throws when the key was imported from an expanded dk.</summary>
    public void ExportPrivateSeed(Span<byte> destination) => throw new NotImplementedException();

    /// <summary>Encapsulates to this key with fresh randomness (FIPS 203, Algorithm 20).</summary>
    public void Encapsulate(Span<byte> ciphertext, Span<byte> sharedSecret) => throw new NotImplementedException();

    /// <summary>Decapsulates with implicit rejection (FIPS 203, Algorithm 21).</summary>
    public void Decapsulate(ReadOnlySpan<byte> ciphertext, Span<byte> sharedSecret) => throw new NotImplementedException();

    /// <inheritdoc />
    public void Dispose() { }
}
