namespace BelizeMesh.Quantum;

// API CONTRACT (skeleton): the ML-DSA helper replaces every body; the signatures are what other
// components (certificates, CLI) code against. Extend freely, do not break.

/// <summary>
/// An ML-DSA key: a public key alone, or a private key (seed and/or expanded sk) with its public key.
/// Owns its memory and zeroes it on <see cref="Dispose"/>.
/// </summary>
public sealed partial class MLDsaKey : IDisposable
{
    /// <summary>The parameter set.</summary>
    public MLDsaAlgorithm Algorithm { get; }

    /// <summary>True when the key can sign.</summary>
    public bool HasPrivateKey { get; }

    private MLDsaKey(MLDsaAlgorithm algorithm, bool hasPrivateKey)
    {
        Algorithm = algorithm;
        HasPrivateKey = hasPrivateKey;
    }

    /// <summary>Generates a key pair from fresh randomness (FIPS 204, Algorithm 1).</summary>
    public static MLDsaKey Generate(MLDsaAlgorithm algorithm) => throw new NotImplementedException();

    /// <summary>Derives the key pair from the 32-byte seed ξ (FIPS 204, Algorithm 6).</summary>
    public static MLDsaKey ImportPrivateSeed(MLDsaAlgorithm algorithm, ReadOnlySpan<byte> seed) => throw new NotImplementedException();

    /// <summary>Imports an expanded private key sk.</summary>
    public static MLDsaKey ImportPrivateKey(MLDsaAlgorithm algorithm, ReadOnlySpan<byte> privateKey) => throw new NotImplementedException();

    /// <summary>Imports a public key pk (length-checked).</summary>
    public static MLDsaKey ImportPublicKey(MLDsaAlgorithm algorithm, ReadOnlySpan<byte> publicKey) => throw new NotImplementedException();

    /// <summary>Writes the public key pk.</summary>
    public void ExportPublicKey(Span<byte> destination) => throw new NotImplementedException();

    /// <summary>Writes the expanded private key sk.</summary>
    public void ExportPrivateKey(Span<byte> destination) => throw new NotImplementedException();

    /// <summary>Writes the 32-byte seed ξ. Throws when the key was imported from an expanded sk.</summary>
    public void ExportPrivateSeed(Span<byte> destination) => throw new NotImplementedException();

    /// <summary>Signs <paramref name="data"/> with the pure external interface (FIPS 204, Algorithm 2), hedged.</summary>
    public void SignData(ReadOnlySpan<byte> data, Span<byte> signature, ReadOnlySpan<byte> context = default) => throw new NotImplementedException();

    /// <summary>Verifies a pure signature (FIPS 204, Algorithm 3). Malformed input returns false, never throws.</summary>
    public bool VerifyData(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> context = default) => throw new NotImplementedException();

    /// <inheritdoc />
    public void Dispose() { }
}
