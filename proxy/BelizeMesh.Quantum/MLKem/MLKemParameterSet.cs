namespace BelizeMesh.Quantum;

/// <summary>An ML-KEM parameter set (FIPS 203, section 8, Table 2 and Table 3).</summary>
public sealed class MLKemParameterSet
{
    /// <summary>ML-KEM-512 (security category 1).</summary>
    public static MLKemParameterSet MLKem512 { get; } = new("ML-KEM-512", k: 2, eta1: 3, du: 10, dv: 4);

    /// <summary>ML-KEM-768 (security category 3).</summary>
    public static MLKemParameterSet MLKem768 { get; } = new("ML-KEM-768", k: 3, eta1: 2, du: 10, dv: 4);

    /// <summary>ML-KEM-1024 (security category 5).</summary>
    public static MLKemParameterSet MLKem1024 { get; } = new("ML-KEM-1024", k: 4, eta1: 2, du: 11, dv: 5);

    /// <summary>Size of the shared secret K, in bytes.</summary>
    public const int SharedSecretSizeInBytes = 32;

    /// <summary>Size of the private seed d‖z (the IETF LAMPS seed form of the private key), in bytes.</summary>
    public const int PrivateSeedSizeInBytes = 64;

    /// <summary>Size of the encapsulation randomness m, in bytes.</summary>
    public const int EncapsulationRandomnessSizeInBytes = 32;

    private MLKemParameterSet(string name, int k, int eta1, int du, int dv)
    {
        Name = name;
        K = k;
        Eta1 = eta1;
        Du = du;
        Dv = dv;
        EncapsulationKeySizeInBytes = (384 * k) + 32;
        DecapsulationKeySizeInBytes = 768 * k + 96;
        CiphertextSizeInBytes = 32 * ((du * k) + dv);
    }

    /// <summary>The parameter set's name as NIST writes it, e.g. <c>ML-KEM-1024</c>.</summary>
    public string Name { get; }

    /// <summary>Size of the encapsulation key ek, in bytes (384k + 32).</summary>
    public int EncapsulationKeySizeInBytes { get; }

    /// <summary>Size of the expanded decapsulation key dk, in bytes (768k + 96).</summary>
    public int DecapsulationKeySizeInBytes { get; }

    /// <summary>Size of the ciphertext c, in bytes (32(d_u k + d_v)).</summary>
    public int CiphertextSizeInBytes { get; }

    internal int K { get; }
    internal int Eta1 { get; }
    internal int Du { get; }
    internal int Dv { get; }

    /// <summary>Finds a parameter set by its NIST name (<c>ML-KEM-512</c>, <c>ML-KEM-768</c>, <c>ML-KEM-1024</c>).</summary>
    public static MLKemParameterSet? FromName(string name) => name switch
    {
        "ML-KEM-512" => MLKem512,
        "ML-KEM-768" => MLKem768,
        "ML-KEM-1024" => MLKem1024,
        _ => null,
    };

    /// <inheritdoc />
    public override string ToString() => Name;
}
