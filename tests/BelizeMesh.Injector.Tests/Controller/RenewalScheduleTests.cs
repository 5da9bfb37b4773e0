using BelizeMesh.Identity;
using BelizeMesh.Injector.Controller;
using BelizeMesh.Quantum;

namespace BelizeMesh.Injector.Tests.Controller;

/// <summary>Where in its lifetime a certificate is renewed for expiry.</summary>
public sealed class RenewalScheduleTests
{
    [Fact]
    public void The_draw_places_the_renewal_between_a_tenth_of_the_lifetime_before_the_threshold_and_the_threshold()
    {
        using var root = CertificateAuthority.CreateRoot();
        using IssuedCertificate issued = root.Issue(Request("cart"));
        MeshCertificate certificate = issued.Certificate;
        DateTimeOffset threshold = certificate.NotAfter - TimeSpan.FromDays(30);

        Assert.Equal(threshold, new RenewalSchedule(TimeSpan.FromDays(30), _ => 0).RenewAt(certificate));
        Assert.Equal(threshold - TimeSpan.FromDays(4.5), new RenewalSchedule(TimeSpan.FromDays(30), _ => 0.5).RenewAt(certificate));
        Assert.Equal(threshold - TimeSpan.FromDays(9), new RenewalSchedule(TimeSpan.FromDays(30), _ => 1).RenewAt(certificate));
        // Out-of-range draws are clamped: never after the threshold, never before the span.
        Assert.Equal(threshold, new RenewalSchedule(TimeSpan.FromDays(30), _ => -3).RenewAt(certificate));
        Assert.Equal(threshold - TimeSpan.FromDays(9), new RenewalSchedule(TimeSpan.FromDays(30), _ => 7).RenewAt(certificate));
    }

    [Fact]
    public void The_span_never_reaches_back_before_the_certificate_starts()
    {
        using var root = CertificateAuthority.CreateRoot();
        // 10 days renewed 9.5 days before expiry: only half a day lies before the threshold.
        using IssuedCertificate issued = root.Issue(Request("cart") with { Validity = TimeSpan.FromDays(10) });
        DateTimeOffset renewAt = new RenewalSchedule(TimeSpan.FromDays(9.5), _ => 1).RenewAt(issued.Certificate);
        Assert.Equal(issued.Certificate.NotBefore, renewAt);
    }

    [Fact]
    public void Certificates_issued_in_one_burst_spread_their_renewals_over_the_span_and_keep_them_from_pass_to_pass()
    {
        using var root = CertificateAuthority.CreateRoot();
        using var key = MLKemKey.Generate(MLKemParameterSet.MLKem1024);
        var schedule = new RenewalSchedule(TimeSpan.FromDays(30)); // the fingerprint draw, as in production
        int[] quarters = new int[4];
        for (int i = 0; i < 64; i++)
        {
            MeshCertificate certificate = root.Issue(Request($"sa{i}"), key);
            DateTimeOffset threshold = certificate.NotAfter - TimeSpan.FromDays(30);
            DateTimeOffset renewAt = schedule.RenewAt(certificate);
            Assert.InRange(renewAt, threshold - TimeSpan.FromDays(9), threshold);
            Assert.Equal(renewAt, schedule.RenewAt(MeshCertificate.ParsePem(certificate.ToPem())));
            quarters[Math.Min(3, (int)((threshold - renewAt) / TimeSpan.FromDays(9) * 4))]++;
        }

        // 64 uniform draws leave a quarter of the span empty with probability 4 * (3/4)^64, about 4e-8.
        Assert.All(quarters, n => Assert.True(n > 0, $"renewals per quarter of the span: {string.Join(", ", quarters)}"));
    }

    private static ServiceCertificateRequest Request(string sa) => new() { Service = sa, Namespace = "shop" };
}
