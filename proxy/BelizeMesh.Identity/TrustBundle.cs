namespace BelizeMesh.Identity;

/// <summary>
/// The mesh's trust anchors: one or more root certificates (a <c>ca.crt</c> may hold several during a CA rotation).
/// Parsing checks the format only; <see cref="CertificateValidator"/> decides what each root may sign.
/// </summary>
public sealed class TrustBundle
{
    private TrustBundle(IReadOnlyList<MeshCertificate> roots, string pem)
    {
        Roots = roots;
        Pem = pem;
    }

    /// <summary>The root certificates, in file order.</summary>
    public IReadOnlyList<MeshCertificate> Roots { get; }

    /// <summary>The bundle as PEM, one CERTIFICATE block per root.</summary>
    public string Pem { get; }

    /// <summary>Parses a PEM document of one or more <c>CERTIFICATE</c> blocks.</summary>
    /// <exception cref="CertificateFormatException">No block, a block of another type, or a certificate that does not parse (the message gives its position).</exception>
    public static TrustBundle Parse(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var blocks = Identity.Pem.ReadAll(pem, Identity.Pem.CertificateLabel);
        var roots = new List<MeshCertificate>(blocks.Count);
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < blocks.Count; i++)
        {
            try
            {
                roots.Add(MeshCertificate.ParseOwned(blocks[i]));
            }
            catch (CertificateFormatException e)
            {
                throw new CertificateFormatException($"certificate {i + 1} of {blocks.Count}: {e.Message}", e);
            }

            text.Append(roots[i].ToPem());
        }

        return new TrustBundle(roots, text.ToString());
    }

    /// <summary>A bundle of the given roots.</summary>
    public static TrustBundle FromCertificates(params IReadOnlyList<MeshCertificate> roots)
    {
        ArgumentNullException.ThrowIfNull(roots);
        if (roots.Count == 0)
        {
            throw new ArgumentException("a trust bundle needs at least one root", nameof(roots));
        }

        var text = new System.Text.StringBuilder();
        foreach (var root in roots)
        {
            text.Append(root.ToPem());
        }

        return new TrustBundle([.. roots], text.ToString());
    }
}
