using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace BelizeMesh.Identity.Tests;

/// <summary>
/// MeshCertificate reads basicConstraints, keyUsage, extendedKeyUsage and the key identifiers with AsnReader instead of
/// .NET's X509*Extension classes (those load OpenSSL for OID names, on the sidecar's start path), and formats names only
/// when asked. Against the .NET classes as the oracle: the same values for every encoding they write, and nothing
/// accepted that they reject (ours read DER, theirs BER: a non-DER encoding is refused by ours alone).
/// </summary>
public sealed class MeshCertificateExtensionTests(PkiFixture pki) : IClassFixture<PkiFixture>
{
    private const int Mutations = 3000;

    [Fact]
    public void Key_usage_reads_every_flag_combination_as_dotnet_does()
    {
        X509KeyUsageFlags[] flags = Enum.GetValues<X509KeyUsageFlags>();
        for (int mask = 0; mask < 1 << flags.Length; mask++)
        {
            var usage = X509KeyUsageFlags.None;
            for (int i = 0; i < flags.Length; i++)
            {
                if ((mask & (1 << i)) != 0)
                {
                    usage |= flags[i];
                }
            }

            byte[] encoded = new X509KeyUsageExtension(usage, critical: true).RawData;
            Assert.Equal(usage, MeshCertificate.ReadKeyUsage(encoded));
        }
    }

    [Theory]
    [InlineData(false, false, 0)]
    [InlineData(true, false, 0)]
    [InlineData(true, true, 0)]
    [InlineData(true, true, 7)]
    [InlineData(true, true, int.MaxValue)]
    public void Basic_constraints_read_the_ca_flag_as_dotnet_does(bool ca, bool hasPathLength, int pathLength)
    {
        byte[] encoded = new X509BasicConstraintsExtension(ca, hasPathLength, pathLength, critical: true).RawData;
        Assert.Equal(ca, MeshCertificate.ReadBasicConstraints(encoded));
    }

    [Fact]
    public void Extended_key_usage_and_key_identifiers_read_as_dotnet_writes_them()
    {
        var usages = new OidCollection { new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2"), new Oid("1.2.3.4.5.6.7.8") };
        Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.2.3.4.5.6.7.8"], MeshCertificate.ReadExtendedKeyUsage(new X509EnhancedKeyUsageExtension(usages, critical: false).RawData));

        byte[] keyId = RandomNumberGenerator.GetBytes(20);
        Assert.Equal(keyId, MeshCertificate.ReadSubjectKeyIdentifier(new X509SubjectKeyIdentifierExtension(keyId, critical: false).RawData));
        Assert.Equal(keyId, MeshCertificate.ReadAuthorityKeyIdentifier(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(keyId).RawData).ToArray());
        Assert.True(MeshCertificate.ReadAuthorityKeyIdentifier(X509AuthorityKeyIdentifierExtension.CreateFromIssuerNameAndSerialNumber(
            new X500DistinguishedName("CN=root"), [1, 2, 3]).RawData).IsEmpty);
    }

    [Fact]
    public void Mutated_extension_values_are_never_accepted_when_dotnet_rejects_them_and_read_alike_when_both_accept()
    {
        var random = new Random(5280);
        byte[][] seeds =
        [
            new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DecipherOnly, true).RawData,
            new X509BasicConstraintsExtension(true, true, 3, true).RawData,
            new X509EnhancedKeyUsageExtension(new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false).RawData,
            new X509SubjectKeyIdentifierExtension(new byte[20], false).RawData,
        ];
        for (int i = 0; i < Mutations; i++)
        {
            int kind = i % seeds.Length;
            byte[] value = Mutate(seeds[kind], random);
            object? dotnet = Decode(() => kind switch
            {
                0 => new X509KeyUsageExtension(new AsnEncodedData(new Oid("2.5.29.15", null), value), true).KeyUsages,
                1 => new X509BasicConstraintsExtension(new AsnEncodedData(new Oid("2.5.29.19", null), value), true).CertificateAuthority,
                2 => string.Join(",", new X509EnhancedKeyUsageExtension(new AsnEncodedData(new Oid("2.5.29.37", null), value), false).EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value)),
                _ => Convert.ToHexString(new X509SubjectKeyIdentifierExtension(new AsnEncodedData(new Oid("2.5.29.14", null), value), false).SubjectKeyIdentifierBytes.Span),
            });
            object? ours = Decode(() => kind switch
            {
                0 => MeshCertificate.ReadKeyUsage(value),
                1 => MeshCertificate.ReadBasicConstraints(value),
                2 => string.Join(",", MeshCertificate.ReadExtendedKeyUsage(value)),
                _ => Convert.ToHexString(MeshCertificate.ReadSubjectKeyIdentifier(value)),
            });
            if (ours is not null)
            {
                Assert.True(dotnet is not null, $"accepted what .NET rejects: {Convert.ToHexString(value)}");
                Assert.Equal(dotnet, ours);
            }
        }
    }

    [Fact]
    public void Names_are_formatted_as_dotnet_formats_them_and_a_mutated_name_that_parses_also_formats()
    {
        MeshCertificate root = pki.Authority.Certificate;
        MeshCertificate leaf = pki.Service.Certificate;
        Assert.Equal(new X500DistinguishedName(root.SubjectName.Span).Name, root.Subject);
        Assert.Equal(root.Subject, leaf.Issuer);
        Assert.StartsWith("CN=", root.Subject, StringComparison.Ordinal);

        var random = new Random(4514);
        byte[] der = leaf.RawData.ToArray();
        int accepted = 0;
        for (int i = 0; i < Mutations; i++)
        {
            byte[] mutated = Mutate(der, random);
            MeshCertificate parsed;
            try
            {
                parsed = MeshCertificate.Parse(mutated);
            }
            catch (CertificateFormatException)
            {
                continue;
            }

            accepted++;
            Assert.Equal(new X500DistinguishedName(parsed.SubjectName.Span).Name, parsed.Subject);
            Assert.Equal(new X500DistinguishedName(parsed.IssuerName.Span).Name, parsed.Issuer);
        }

        Assert.True(accepted > 0, "no mutation parsed: the test looked at nothing");
    }

    private static object? Decode(Func<object> decode)
    {
        try
        {
            return decode();
        }
        catch (Exception ex) when (ex is CryptographicException or AsnContentException or CertificateFormatException)
        {
            return null;
        }
    }

    /// <summary>One to three of: a byte changed, a byte dropped, the value cut short.</summary>
    private static byte[] Mutate(byte[] seed, Random random)
    {
        byte[] value = (byte[])seed.Clone();
        for (int n = random.Next(1, 4); n > 0 && value.Length > 0; n--)
        {
            int at = random.Next(value.Length);
            switch (random.Next(3))
            {
                case 0:
                    value[at] = (byte)random.Next(256);
                    break;
                case 1:
                    value = [.. value.AsSpan(0, at), .. value.AsSpan(at + 1)];
                    break;
                default:
                    value = value.AsSpan(0, at).ToArray();
                    break;
            }
        }

        return value;
    }
}
