using System.Security.Cryptography;
using BelizeMesh.Quantum;

// Deliberately outside the BelizeMesh.Quantum namespace tree: inside it, our own names win by enclosing-namespace lookup
// and a clash with System.Security.Cryptography would stay hidden. Here both namespaces are plain imports, as in any
// consumer's file, so every unqualified name below must resolve to exactly one type or this file does not compile.
namespace BelizeMesh.Tests.DotNetCryptoNames;

/// <summary>
/// Our ML-KEM/ML-DSA types and .NET 10's <c>System.Security.Cryptography.MLKem</c>/<c>MLDsa</c> can be imported together
/// without ambiguity, and both sides describe the same parameter sets.
/// </summary>
public class DotNetCryptoNameTests
{
    /// <summary>A fact that skips, saying why, when the platform's crypto library has no ML-KEM/ML-DSA (OpenSSL before 3.5).</summary>
    private sealed class PlatformPqcFactAttribute : FactAttribute
    {
        public PlatformPqcFactAttribute()
        {
            if (!MLKem.IsSupported || !MLDsa.IsSupported)
            {
                Skip = "the platform crypto library has no ML-KEM/ML-DSA (.NET 10 needs OpenSSL 3.5 or Windows CNG support)";
            }
        }
    }

    [Fact]
    public void Our_ML_KEM_parameter_sets_match_the_platform_MLKemAlgorithm_names_and_sizes()
    {
        (MLKemParameterSet Ours, MLKemAlgorithm Platform)[] pairs =
        [
            (MLKemParameterSet.MLKem512, MLKemAlgorithm.MLKem512),
            (MLKemParameterSet.MLKem768, MLKemAlgorithm.MLKem768),
            (MLKemParameterSet.MLKem1024, MLKemAlgorithm.MLKem1024),
        ];
        foreach (var (ours, platform) in pairs)
        {
            Assert.Equal(platform.Name, ours.Name);
            Assert.Equal(platform.EncapsulationKeySizeInBytes, ours.EncapsulationKeySizeInBytes);
            Assert.Equal(platform.DecapsulationKeySizeInBytes, ours.DecapsulationKeySizeInBytes);
            Assert.Equal(platform.CiphertextSizeInBytes, ours.CiphertextSizeInBytes);
            Assert.Equal(MLKemParameterSet.SharedSecretSizeInBytes, platform.SharedSecretSizeInBytes);
            Assert.Equal(MLKemParameterSet.PrivateSeedSizeInBytes, platform.PrivateSeedSizeInBytes);
        }
    }

    [Fact]
    public void Our_ML_DSA_parameter_sets_match_the_platform_MLDsaAlgorithm_names_and_sizes()
    {
        (MLDsaParameterSet Ours, MLDsaAlgorithm Platform)[] pairs =
        [
            (MLDsaParameterSet.MLDsa44, MLDsaAlgorithm.MLDsa44),
            (MLDsaParameterSet.MLDsa65, MLDsaAlgorithm.MLDsa65),
            (MLDsaParameterSet.MLDsa87, MLDsaAlgorithm.MLDsa87),
        ];
        foreach (var (ours, platform) in pairs)
        {
            Assert.Equal(platform.Name, ours.Name);
            Assert.Equal(platform.PublicKeySizeInBytes, ours.PublicKeySizeInBytes);
            Assert.Equal(platform.PrivateKeySizeInBytes, ours.PrivateKeySizeInBytes);
            Assert.Equal(platform.SignatureSizeInBytes, ours.SignatureSizeInBytes);
            Assert.Equal(MLDsaParameterSet.PrivateSeedSizeInBytes, platform.PrivateSeedSizeInBytes);
            Assert.Equal(MLDsaParameterSet.MuSizeInBytes, platform.MuSizeInBytes);
        }
    }

    [PlatformPqcFact]
    public void Our_keys_and_the_platform_keys_from_one_seed_agree_byte_for_byte()
    {
        byte[] kemSeed = RandomNumberGenerator.GetBytes(MLKemParameterSet.PrivateSeedSizeInBytes);
        using var ourKem = MLKemKey.ImportPrivateSeed(MLKemParameterSet.MLKem1024, kemSeed);
        using var platformKem = MLKem.ImportPrivateSeed(MLKemAlgorithm.MLKem1024, kemSeed);
        byte[] ourEk = new byte[MLKemParameterSet.MLKem1024.EncapsulationKeySizeInBytes];
        ourKem.ExportEncapsulationKey(ourEk);
        Assert.Equal(platformKem.ExportEncapsulationKey(), ourEk);

        byte[] dsaSeed = RandomNumberGenerator.GetBytes(MLDsaParameterSet.PrivateSeedSizeInBytes);
        using var ourDsa = MLDsaKey.ImportPrivateSeed(MLDsaParameterSet.MLDsa87, dsaSeed);
        using var platformDsa = MLDsa.ImportMLDsaPrivateSeed(MLDsaAlgorithm.MLDsa87, dsaSeed);
        byte[] ourPk = new byte[MLDsaParameterSet.MLDsa87.PublicKeySizeInBytes];
        ourDsa.ExportPublicKey(ourPk);
        Assert.Equal(platformDsa.ExportMLDsaPublicKey(), ourPk);

        byte[] message = RandomNumberGenerator.GetBytes(100);
        byte[] signature = new byte[MLDsaParameterSet.MLDsa87.SignatureSizeInBytes];
        ourDsa.SignData(message, signature);
        Assert.True(platformDsa.VerifyData(message, signature));
    }
}
