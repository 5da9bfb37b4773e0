using System.Formats.Asn1;
using System.Security.Cryptography;

namespace BelizeMesh.Identity.Tests;

public class MeshPrivateKeyTests
{
    [Fact]
    public void MLDsa87_key_is_written_as_PKCS8_seed_choice()
    {
        using var key = MLDsaKey.Generate(MLDsaParameterSet.MLDsa87);
        byte[] seed = new byte[32];
        key.ExportPrivateSeed(seed);

        byte[] der = PemDer(MeshPrivateKey.ExportPem(key));

        // SEQUENCE { INTEGER 0, SEQUENCE { OID id-ml-dsa-87 }, OCTET STRING { [0] IMPLICIT OCTET STRING (32) } }
        byte[] expected = [.. Convert.FromHexString("3034020100300B0609608648016503040313042280" + "20"), .. seed];
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(der));
    }

    [Fact]
    public void MLKem1024_key_is_written_as_PKCS8_seed_choice()
    {
        using var key = MLKemKey.Generate(MLKemParameterSet.MLKem1024);
        byte[] seed = new byte[64];
        key.ExportPrivateSeed(seed);

        byte[] der = PemDer(MeshPrivateKey.ExportPem(key));

        byte[] expected = [.. Convert.FromHexString("3054020100300B0609608648016503040403044280" + "40"), .. seed];
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(der));
    }

    [Fact]
    public void Seed_form_round_trips_to_the_same_keys()
    {
        using var dsa = MLDsaKey.Generate(MLDsaParameterSet.MLDsa87);
        using var kem = MLKemKey.Generate(MLKemParameterSet.MLKem1024);

        using var dsaBack = MeshPrivateKey.ImportMLDsa87Pem(MeshPrivateKey.ExportPem(dsa));
        using var kemBack = MeshPrivateKey.ImportMLKem1024Pem(MeshPrivateKey.ExportPem(kem));

        Assert.Equal(DsaPublic(dsa), DsaPublic(dsaBack));
        Assert.Equal(KemPublic(kem), KemPublic(kemBack));
    }

    [Fact]
    public void Expanded_and_both_forms_are_accepted_on_import()
    {
        using var kem = MLKemKey.Generate(MLKemParameterSet.MLKem1024);
        byte[] seed = new byte[64];
        byte[] dk = new byte[MLKemParameterSet.MLKem1024.DecapsulationKeySizeInBytes];
        kem.ExportPrivateSeed(seed);
        kem.ExportDecapsulationKey(dk);

        using var fromExpanded = MeshPrivateKey.ImportMLKem1024Pkcs8(Pkcs8(MeshOids.MLKem1024, w => w.WriteOctetString(dk)));
        using var fromBoth = MeshPrivateKey.ImportMLKem1024Pkcs8(Pkcs8(MeshOids.MLKem1024, w =>
        {
            w.PushSequence();
            w.WriteOctetString(seed);
            w.WriteOctetString(dk);
            w.PopSequence();
        }));

        Assert.Equal(KemPublic(kem), KemPublic(fromExpanded));
        Assert.Equal(KemPublic(kem), KemPublic(fromBoth));
    }

    [Fact]
    public void Expanded_MLDsa87_key_is_accepted_on_import()
    {
        using var dsa = MLDsaKey.Generate(MLDsaParameterSet.MLDsa87);
        byte[] sk = new byte[MLDsaParameterSet.MLDsa87.PrivateKeySizeInBytes];
        dsa.ExportPrivateKey(sk);

        using var back = MeshPrivateKey.ImportMLDsa87Pkcs8(Pkcs8(MeshOids.MLDsa87, w => w.WriteOctetString(sk)));

        Assert.Equal(DsaPublic(dsa), DsaPublic(back));
    }

    [Fact]
    public void Both_form_whose_expanded_key_contradicts_the_seed_is_rejected()
    {
        using var kem = MLKemKey.Generate(MLKemParameterSet.MLKem1024);
        using var other = MLKemKey.Generate(MLKemParameterSet.MLKem1024);
        byte[] seed = new byte[64];
        byte[] dk = new byte[MLKemParameterSet.MLKem1024.DecapsulationKeySizeInBytes];
        kem.ExportPrivateSeed(seed);
        other.ExportDecapsulationKey(dk);

        var e = Assert.Throws<CertificateFormatException>(() => MeshPrivateKey.ImportMLKem1024Pkcs8(Pkcs8(MeshOids.MLKem1024, w =>
        {
            w.PushSequence();
            w.WriteOctetString(seed);
            w.WriteOctetString(dk);
            w.PopSequence();
        })));
        Assert.Equal("PKCS#8 ML-KEM-1024 key: the 'both' form holds an expandedKey that does not match its seed", e.Message);
    }

    [Fact]
    public void Seed_of_the_wrong_length_is_rejected()
    {
        var e = Assert.Throws<CertificateFormatException>(() => MeshPrivateKey.ImportMLDsa87Pkcs8(
            Pkcs8(MeshOids.MLDsa87, w => w.WriteOctetString(new byte[31], new Asn1Tag(TagClass.ContextSpecific, 0)))));
        Assert.Equal("PKCS#8 ML-DSA-87 key: the seed is 31 bytes, expected 32", e.Message);
    }

    [Fact]
    public void Key_of_the_other_algorithm_is_rejected()
    {
        using var dsa = MLDsaKey.Generate(MLDsaParameterSet.MLDsa87);
        var e = Assert.Throws<CertificateFormatException>(() => MeshPrivateKey.ImportMLKem1024Pem(MeshPrivateKey.ExportPem(dsa)));
        Assert.Equal("the private key is ML-DSA-87, expected ML-KEM-1024", e.Message);
    }

    [Fact]
    public void Algorithm_parameters_are_rejected()
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.PushSequence();
        writer.WriteInteger(0);
        writer.PushSequence();
        writer.WriteObjectIdentifier(MeshOids.MLDsa87);
        writer.WriteNull();
        writer.PopSequence();
        writer.WriteOctetString(new byte[34]);
        writer.PopSequence();

        var e = Assert.Throws<CertificateFormatException>(() => MeshPrivateKey.ImportMLDsa87Pkcs8(writer.Encode()));
        Assert.Equal("PKCS#8 ML-DSA-87 key: the AlgorithmIdentifier has parameters; they must be absent", e.Message);
    }

    [Fact]
    public void A_certificate_PEM_is_not_a_key()
    {
        string pem = PemEncoding.WriteString("CERTIFICATE", new byte[] { 0x30, 0x00 });
        var e = Assert.Throws<CertificateFormatException>(() => MeshPrivateKey.ImportMLKem1024Pem(pem));
        Assert.Equal("found a 'CERTIFICATE' PEM block; expected 'PRIVATE KEY'", e.Message);
    }

    [Fact]
    public void An_encrypted_key_is_explained()
    {
        string pem = PemEncoding.WriteString("ENCRYPTED PRIVATE KEY", new byte[] { 0x30, 0x00 });
        var e = Assert.Throws<CertificateFormatException>(() => MeshPrivateKey.ImportMLKem1024Pem(pem));
        Assert.Equal("found an ENCRYPTED PRIVATE KEY PEM block; expected an unencrypted PRIVATE KEY (PKCS#8)", e.Message);
    }

    [Fact]
    public void Text_without_PEM_is_rejected()
    {
        var e = Assert.Throws<CertificateFormatException>(() => MeshPrivateKey.ImportMLKem1024Pem("hello"));
        Assert.Equal("no PEM block found; expected '-----BEGIN PRIVATE KEY-----' (a PEM file as written by 'belizemesh certs')", e.Message);
    }

    internal static byte[] Pkcs8(string oid, Action<AsnWriter> privateKey)
    {
        var inner = new AsnWriter(AsnEncodingRules.DER);
        privateKey(inner);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.PushSequence();
        writer.WriteInteger(0);
        writer.PushSequence();
        writer.WriteObjectIdentifier(oid);
        writer.PopSequence();
        writer.WriteOctetString(inner.Encode());
        writer.PopSequence();
        return writer.Encode();
    }

    internal static byte[] PemDer(string pem)
    {
        var fields = PemEncoding.Find(pem);
        return Convert.FromBase64String(pem[fields.Base64Data]);
    }

    internal static string DsaPublic(MLDsaKey key)
    {
        byte[] pk = new byte[key.Algorithm.PublicKeySizeInBytes];
        key.ExportPublicKey(pk);
        return Convert.ToHexString(pk);
    }

    internal static string KemPublic(MLKemKey key)
    {
        byte[] ek = new byte[key.Algorithm.EncapsulationKeySizeInBytes];
        key.ExportEncapsulationKey(ek);
        return Convert.ToHexString(ek);
    }
}
