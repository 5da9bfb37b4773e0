using System.Buffers.Binary;
using BelizeMesh.Identity;

namespace BelizeMesh.Injector.Controller;

/// <summary>
/// When a certificate is renewed for expiry: at a point drawn per certificate in the last <see cref="JitterFraction"/>
/// of its lifetime before the <c>--renew-before</c> threshold, never after the threshold. Certificates issued in one
/// burst (every ServiceAccount at install) are thereby renewed spread over that span instead of in one burst again.
/// </summary>
/// <remarks>
/// The draw is a function of the certificate (by default its SHA-256 fingerprint, which its random serial and key make
/// uniform), not a fresh random number per pass: every pass and every replica after a leader change agree on the
/// same renewal time, and redrawing at each pass would skew renewals to the start of the span. Renewing early rather
/// than late keeps <c>--renew-before</c> a promise (the expiry alert and <c>belizemesh certs check</c> rely on it).
/// </remarks>
internal sealed class RenewalSchedule
{
    /// <summary>The share of a certificate's lifetime over which renewals are spread (a 90-day certificate: 9 days).</summary>
    public const double JitterFraction = 0.1;

    private readonly Func<MeshCertificate, double> _draw;

    /// <param name="renewBefore">The latest renewal is this long before expiry.</param>
    /// <param name="draw">A number in [0, 1] per certificate: 0 renews at the threshold, 1 at the start of the span
    /// (tests pass their own; <see cref="FingerprintDraw"/> otherwise).</param>
    public RenewalSchedule(TimeSpan renewBefore, Func<MeshCertificate, double>? draw = null)
    {
        RenewBefore = renewBefore;
        _draw = draw ?? FingerprintDraw;
    }

    public TimeSpan RenewBefore { get; }

    /// <summary>When <paramref name="certificate"/> is renewed for expiry; never before its NotBefore.</summary>
    public DateTimeOffset RenewAt(MeshCertificate certificate)
    {
        DateTimeOffset latest = certificate.NotAfter - RenewBefore;
        TimeSpan span = (certificate.NotAfter - certificate.NotBefore) * JitterFraction;
        if (latest - span < certificate.NotBefore)
        {
            span = latest > certificate.NotBefore ? latest - certificate.NotBefore : TimeSpan.Zero;
        }

        double draw = _draw(certificate);
        draw = double.IsNaN(draw) ? 0 : Math.Clamp(draw, 0, 1);
        return latest - span * draw;
    }

    /// <summary>The default draw: the first 8 bytes of the certificate's SHA-256 fingerprint as a fraction of 2^64.</summary>
    public static double FingerprintDraw(MeshCertificate certificate) =>
        BinaryPrimitives.ReadUInt64BigEndian(certificate.Sha256Fingerprint.Span) / 18446744073709551616.0;
}
