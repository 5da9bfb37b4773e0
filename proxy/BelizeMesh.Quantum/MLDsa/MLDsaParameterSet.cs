using BelizeMesh.Quantum.Dsa;

namespace BelizeMesh.Quantum;

/// <summary>An ML-DSA parameter set (FIPS 204, section 4, Table 1 and Table 2).</summary>
public sealed class MLDsaParameterSet
{
    /// <summary>ML-DSA-44 (security category 2).</summary>
    public static MLDsaParameterSet MLDsa44 { get; } = new("ML-DSA-44", k: 4, l: 4, eta: 2, tau: 39, lambda: 128, gamma1Bits: 17, gamma2Divisor: 88, omega: 80);

    /// <summary>ML-DSA-65 (security category 3).</summary>
    public static MLDsaParameterSet MLDsa65 { get; } = new("ML-DSA-65", k: 6, l: 5, eta: 4, tau: 49, lambda: 192, gamma1Bits: 19, gamma2Divisor: 32, omega: 55);

    /// <summary>ML-DSA-87 (security category 5).</summary>
    public static MLDsaParameterSet MLDsa87 { get; } = new("ML-DSA-87", k: 8, l: 7, eta: 2, tau: 60, lambda: 256, gamma1Bits: 19, gamma2Divisor: 32, omega: 75);

    /// <summary>Size of the private seed ξ (the IETF LAMPS seed form of the private key), in bytes.</summary>
    public const int PrivateSeedSizeInBytes = 32;

    /// <summary>Size of the external message representative µ, in bytes.</summary>
    public const int MuSizeInBytes = 64;

    /// <summary>Longest context string the external interface accepts, in bytes.</summary>
    public const int MaxContextLength = 255;

    private MLDsaParameterSet(string name, int k, int l, int eta, int tau, int lambda, int gamma1Bits, int gamma2Divisor, int omega)
    {
        Name = name;
        K = k;
        L = l;
        Eta = eta;
        Tau = tau;
        Lambda = lambda;
        Gamma1Bits = gamma1Bits;
        Gamma2 = (8380417 - 1) / gamma2Divisor;
        Omega = omega;
        int etaBits = eta == 2 ? 3 : 4;
        int w1Bits = gamma2Divisor == 88 ? 6 : 4;
        PublicKeySizeInBytes = 32 + (32 * k * 10);
        PrivateKeySizeInBytes = 32 + 32 + 64 + (32 * ((l + k) * etaBits)) + (32 * 13 * k);
        SignatureSizeInBytes = (lambda / 4) + (32 * l * (1 + gamma1Bits)) + omega + k;
        W1Bits = w1Bits;
        Rounding = new MLDsaRounding(Gamma2);
    }

    /// <summary>The parameter set's name as NIST writes it, e.g. <c>ML-DSA-87</c>.</summary>
    public string Name { get; }

    /// <summary>Size of the public key pk, in bytes.</summary>
    public int PublicKeySizeInBytes { get; }

    /// <summary>Size of the expanded private key sk, in bytes.</summary>
    public int PrivateKeySizeInBytes { get; }

    /// <summary>Size of a signature σ, in bytes.</summary>
    public int SignatureSizeInBytes { get; }

    internal int K { get; }
    internal int L { get; }
    internal int Eta { get; }
    internal int Tau { get; }
    internal int Lambda { get; }
    internal int Gamma1Bits { get; }
    internal int Gamma2 { get; }
    internal int Omega { get; }
    internal int W1Bits { get; }

    /// <summary>β = τ·η (FIPS 204, Table 1).</summary>
    internal int Beta => Tau * Eta;

    /// <summary>Length of the commitment hash c̃, λ/4 bytes.</summary>
    internal int CTildeSize => Lambda / 4;

    /// <summary>Decompose/HighBits/LowBits/MakeHint/UseHint for this parameter set's γ2.</summary>
    internal MLDsaRounding Rounding { get; }

    /// <summary>Finds a parameter set by its NIST name (<c>ML-DSA-44</c>, <c>ML-DSA-65</c>, <c>ML-DSA-87</c>).</summary>
    public static MLDsaParameterSet? FromName(string name) => name switch
    {
        "ML-DSA-44" => MLDsa44,
        "ML-DSA-65" => MLDsa65,
        "ML-DSA-87" => MLDsa87,
        _ => null,
    };

    /// <inheritdoc />
    public override string ToString() => Name;
}
