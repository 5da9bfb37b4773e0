namespace BelizeMesh.Identity;

/// <summary>Object identifiers the mesh's certificates use.</summary>
public static class MeshOids
{
    /// <summary>ML-DSA-87 (NIST CSOR, <c>id-ml-dsa-87</c>): the CA's key and every certificate signature.</summary>
    public const string MLDsa87 = "2.16.840.1.101.3.4.3.19";

    /// <summary>ML-KEM-1024 (NIST CSOR, <c>id-alg-ml-kem-1024</c>): the service certificate's key.</summary>
    public const string MLKem1024 = "2.16.840.1.101.3.4.4.3";

    /// <summary>id-kp-serverAuth.</summary>
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";

    /// <summary>id-kp-clientAuth.</summary>
    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    internal const string BasicConstraints = "2.5.29.19";
    internal const string KeyUsage = "2.5.29.15";
    internal const string ExtendedKeyUsage = "2.5.29.37";
    internal const string SubjectAltName = "2.5.29.17";
    internal const string SubjectKeyIdentifier = "2.5.29.14";
    internal const string AuthorityKeyIdentifier = "2.5.29.35";

    /// <summary>The name OpenSSL and NIST give an algorithm OID, or the OID itself.</summary>
    public static string FriendlyName(string oid) => oid switch
    {
        MLDsa87 => "ML-DSA-87",
        MLKem1024 => "ML-KEM-1024",
        "2.16.840.1.101.3.4.3.17" => "ML-DSA-44",
        "2.16.840.1.101.3.4.3.18" => "ML-DSA-65",
        "2.16.840.1.101.3.4.4.1" => "ML-KEM-512",
        "2.16.840.1.101.3.4.4.2" => "ML-KEM-768",
        "1.2.840.10045.2.1" => "EC",
        "1.2.840.113549.1.1.1" => "RSA",
        "1.3.101.112" => "Ed25519",
        _ => oid,
    };
}
