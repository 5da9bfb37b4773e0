using System.Security.Cryptography;
using BelizeMesh.Quantum.Dsa;
using BelizeMesh.Quantum.Keccak;

namespace BelizeMesh.Quantum.Acvp;

/// <summary>The HashML-DSA pre-hash functions PH (FIPS 204, section 5.4) for the ACVP pre-hash cases.</summary>
internal static class PreHashFunctions
{
    /// <summary>
    /// Computes PH(M) for an entry into <paramref name="destination"/> (HashLength bytes): .NET's or the Keccak sponge's
    /// hashes, and <see cref="MLDsaExtraHashes"/> for the four .NET lacks. False only for an entry this switch misses.
    /// </summary>
    internal static bool TryComputeHash(in MLDsaPreHash.Entry entry, ReadOnlySpan<byte> data, Span<byte> destination)
    {
        switch (entry.AcvpName)
        {
            case "SHA2-256":
                SHA256.HashData(data, destination);
                return true;
            case "SHA2-384":
                SHA384.HashData(data, destination);
                return true;
            case "SHA2-512":
                SHA512.HashData(data, destination);
                return true;
            case "SHA3-256":
                Sha3.Sha3_256(data, destination);
                return true;
            case "SHA3-384":
                SHA3_384.HashData(data, destination);
                return true;
            case "SHA3-512":
                Sha3.Sha3_512(data, destination);
                return true;
            case "SHAKE-128":
                Sha3.Shake128(data, destination);
                return true;
            case "SHAKE-256":
                Sha3.Shake256(data, destination);
                return true;
            case "SHA2-224":
                MLDsaExtraHashes.Sha224(data, destination);
                return true;
            case "SHA2-512/224":
                MLDsaExtraHashes.Sha512_224(data, destination);
                return true;
            case "SHA2-512/256":
                MLDsaExtraHashes.Sha512_256(data, destination);
                return true;
            case "SHA3-224":
                MLDsaExtraHashes.Sha3_224(data, destination);
                return true;
            default:
                return false;
        }
    }
}
