namespace BelizeMesh.Identity.Tests;

/// <summary>Damaged input never escapes as an exception: every mutation gets a rejection reason.</summary>
public class CertificateValidatorRobustnessTests(PkiFixture pki) : IClassFixture<PkiFixture>
{
    [Fact]
    public void Every_single_byte_mutation_is_rejected_without_throwing()
    {
        byte[] original = pki.Service.Certificate.RawData.ToArray();
        var validator = pki.Validator(capacity: 0);
        var random = new Random(20261123);
        var reasons = new HashSet<CertificateRejection>();

        for (int i = 0; i < 400; i++)
        {
            byte[] mutated = (byte[])original.Clone();
            int at = random.Next(mutated.Length);
            mutated[at] ^= (byte)(1 << random.Next(8));

            var result = validator.Validate(mutated);

            Assert.False(result.IsValid, $"flipping a bit of byte {at} went unnoticed");
            Assert.NotEqual("", result.Detail);
            reasons.Add(result.Reason);
        }

        Assert.Contains(CertificateRejection.Malformed, reasons);
        Assert.Contains(CertificateRejection.BadSignature, reasons);
    }

    [Fact]
    public void Every_truncation_is_rejected_as_malformed()
    {
        byte[] original = pki.Service.Certificate.RawData.ToArray();
        var validator = pki.Validator(capacity: 0);

        for (int length = 0; length < original.Length; length += 7)
        {
            Assert.Equal(CertificateRejection.Malformed, validator.Validate(original.AsSpan(0, length)).Reason);
        }
    }
}
