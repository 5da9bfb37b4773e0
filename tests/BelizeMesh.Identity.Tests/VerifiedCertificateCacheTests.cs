using BelizeMesh.Quantum;

namespace BelizeMesh.Identity.Tests;

/// <summary>
/// The validator's cache of verified certificates (keyed by the whole DER): what a returning peer is spared (the
/// ML-DSA-87 chain check and the import of its ML-KEM key) and what it never lets through.
/// </summary>
public class VerifiedCertificateCacheTests(PkiFixture pki) : IClassFixture<PkiFixture>
{
    [Fact]
    public void Tampered_certificate_with_the_same_subject_is_never_served_from_the_cache()
    {
        var validator = pki.Validator();
        byte[] genuine = pki.Service.Certificate.RawData.ToArray();
        var first = validator.Validate(genuine);
        Assert.True(first.IsValid, first.ToString());

        // Change one byte of ρ inside the certificate's ML-KEM key: same length, same subject and SPIFFE ID, same
        // signature bytes (so the same last 16 bytes the cache hashes), a key that still passes the 7.2 check.
        byte[] tampered = (byte[])genuine.Clone();
        byte[] ek = pki.Service.Certificate.PublicKey.ToArray();
        int at = tampered.AsSpan().IndexOf(ek);
        Assert.True(at > 0);
        tampered[at + ek.Length - 5] ^= 0x20;

        for (int attempt = 0; attempt < 2; attempt++)
        {
            var result = validator.Validate(tampered);
            Assert.Equal(CertificateRejection.BadSignature, result.Reason);
            Assert.Equal(first.Certificate!.SpiffeId!.ToString(), result.Certificate!.SpiffeId!.ToString());
            Assert.NotSame(first, result);
            Assert.Null(result.EncapsulationKey);
        }

        Assert.Equal(1, validator.CachedCount);
        Assert.Same(first, validator.Validate(genuine));
    }

    [Fact]
    public void Returning_certificate_shares_the_key_imported_on_its_first_validation()
    {
        var validator = pki.Validator();
        var first = validator.Validate(pki.Service.Certificate.RawData.Span);
        var again = validator.Validate(pki.Service.Certificate.RawData.ToArray());

        Assert.NotNull(first.EncapsulationKey);
        Assert.Same(first.EncapsulationKey, again.EncapsulationKey);
        Assert.Equal(MLKemParameterSet.MLKem1024, first.EncapsulationKey!.Algorithm);
        Assert.False(first.EncapsulationKey.HasPrivateKey);
        Assert.Equal(Convert.ToHexString(pki.Service.Certificate.PublicKey.Span), PkiFixture.KemPublicOf(first.EncapsulationKey));

        // The shared key encapsulates to the service's real private key.
        byte[] ciphertext = new byte[MLKemParameterSet.MLKem1024.CiphertextSizeInBytes];
        byte[] sent = new byte[32], received = new byte[32];
        first.EncapsulationKey.Encapsulate(ciphertext, sent);
        pki.Service.PrivateKey.Decapsulate(ciphertext, received);
        Assert.Equal(sent, received);
    }

    [Fact]
    public void Key_stays_usable_after_its_entry_is_evicted()
    {
        var validator = pki.Validator(capacity: 1);
        var first = validator.Validate(pki.Service.Certificate.RawData.Span);
        using var other = pki.Authority.Issue(PkiFixture.Request("other"));
        Assert.True(validator.Validate(other.Certificate.RawData.Span).IsValid); // evicts the first entry

        // A handshake that took the key before the eviction can still encapsulate with it.
        byte[] ciphertext = new byte[MLKemParameterSet.MLKem1024.CiphertextSizeInBytes];
        first.EncapsulationKey!.Encapsulate(ciphertext, new byte[32]);
        Assert.NotSame(first, validator.Validate(pki.Service.Certificate.RawData.Span));
    }

    [Fact]
    public void Expired_result_from_the_cache_is_rejected_even_though_its_chain_was_verified()
    {
        var time = new ManualTimeProvider(PkiFixture.Now);
        var validator = pki.Validator(time);
        Assert.True(validator.Validate(pki.Service.Certificate.RawData.Span).IsValid);

        time.Set(PkiFixture.Now.AddDays(91));
        var expired = validator.Validate(pki.Service.Certificate.RawData.Span);
        Assert.Equal(CertificateRejection.Expired, expired.Reason);
        Assert.Null(expired.EncapsulationKey);
    }
}
