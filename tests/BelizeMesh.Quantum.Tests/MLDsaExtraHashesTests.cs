using System.Security.Cryptography;
using BelizeMesh.Quantum.Acvp;
using BelizeMesh.Quantum.Dsa;

namespace BelizeMesh.Quantum.Tests;

/// <summary>The HashML-DSA pre-hashes .NET lacks (SHA-224, SHA-512/224, SHA-512/256, SHA3-224).</summary>
public class MLDsaExtraHashesTests
{
    public static TheoryData<int> Lengths => new() { 0, 1, 3, 55, 56, 63, 64, 65, 111, 112, 119, 120, 127, 128, 129, 143, 144, 145, 1000 };

    private static byte[] Pattern(int length) => Enumerable.Range(0, length).Select(i => (byte)((i * 7) + 3)).ToArray();

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Compression_functions_with_the_standard_iv_match_dotnet_sha256_and_sha512(int length)
    {
        byte[] data = Pattern(length);
        byte[] ours256 = new byte[32], ours512 = new byte[64];
        MLDsaExtraHashes.Sha256ForTest(data, ours256);
        MLDsaExtraHashes.Sha512ForTest(data, ours512);
        Assert.Equal(SHA256.HashData(data), ours256);
        Assert.Equal(SHA512.HashData(data), ours512);
    }

    // Known answers computed with Python's hashlib (OpenSSL) for "", "abc" and the 1000-byte pattern (i·7 + 3).
    [Theory]
    [InlineData("SHA2-224", "", "D14A028C2A3A2BC9476102BB288234C415A2B01F828EA62AC5B3E42F")]
    [InlineData("SHA2-224", "abc", "23097D223405D8228642A477BDA255B32AADBCE4BDA0B3F7E36C9DA7")]
    [InlineData("SHA2-224", null, "23729DACBD480285C5C68439E2FE22CA5611A63CD6C14D2EC5AE2C85")]
    [InlineData("SHA2-512/224", "", "6ED0DD02806FA89E25DE060C19D3AC86CABB87D6A0DDD05C333B84F4")]
    [InlineData("SHA2-512/224", "abc", "4634270F707B6A54DAAE7530460842E20E37ED265CEEE9A43E8924AA")]
    [InlineData("SHA2-512/224", null, "B6C1C1E13C07E992F0DF6A5C8E4C6C153F91516CFA051B9FBFA88514")]
    [InlineData("SHA2-512/256", "", "C672B8D1EF56ED28AB87C3622C5114069BDD3AD7B8F9737498D0C01ECEF0967A")]
    [InlineData("SHA2-512/256", "abc", "53048E2681941EF99B2E29B76B4C7DABE4C2D0C634FC6D46E0E2F13107E7AF23")]
    [InlineData("SHA2-512/256", null, "14271B3D36CA983AE2DA2693D995FE68412C0BD5394EC2F05B763586DB6E24FD")]
    [InlineData("SHA3-224", "", "6B4E03423667DBB73B6E15454F0EB1ABD4597F9A1B078E3F5B5A6BC7")]
    [InlineData("SHA3-224", "abc", "E642824C3F8CF24AD09234EE7D3C766FC9A3A5168D0C94AD73B46FDF")]
    [InlineData("SHA3-224", null, "56812D3D31242051DE174106777F4108C791AB801F1569F73D57FA0B")]
    public void Extra_hashes_match_known_answers(string name, string? text, string expected)
    {
        byte[] data = text is null ? Pattern(1000) : System.Text.Encoding.ASCII.GetBytes(text);
        Assert.True(MLDsaPreHash.TryFindByAcvpName(name, out var entry));
        byte[] digest = new byte[entry.HashLength];
        Assert.True(PreHashFunctions.TryComputeHash(entry, data, digest));
        Assert.Equal(expected, Convert.ToHexString(digest));
    }

    [Fact]
    public void Every_listed_pre_hash_can_be_computed_and_has_a_distinct_oid()
    {
        var oids = new HashSet<string>();
        foreach (var entry in MLDsaPreHash.Entries)
        {
            byte[] digest = new byte[entry.HashLength];
            Assert.True(PreHashFunctions.TryComputeHash(entry, "abc"u8, digest), entry.AcvpName);
            Assert.True(oids.Add(entry.Oid));
            byte[] der = new byte[MLDsaPreHash.EncodedOidLength];
            MLDsaPreHash.EncodeOid(entry, der);
            Assert.Equal(System.Formats.Asn1.AsnDecoder.ReadObjectIdentifier(der, System.Formats.Asn1.AsnEncodingRules.DER, out _), entry.Oid);
        }

        Assert.Equal(12, oids.Count);
    }
}
