using System.Security.Cryptography;
using BelizeMesh.Channel.Protocol;

namespace BelizeMesh.Channel.Tests;

/// <summary>The handshake's P-256 ECDH (libcrypto fast path) against .NET's <see cref="ECDiffieHellman"/>.</summary>
public class EphemeralP256Tests
{
    // The P-256 field prime p, big-endian.
    private static readonly byte[] FieldPrime = Convert.FromHexString("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF");

    [Fact]
    public void Libcrypto_fast_path_is_in_use_on_linux()
    {
        if (OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("BELIZEMESH_ECDH") is null)
        {
            Assert.True(EphemeralP256.UsesLibcrypto, "libcrypto.so.3 or .so.1.1 should be found where .NET's own OpenSSL is");
        }
    }

    [Fact]
    public void Shared_secret_matches_dotnet_ECDiffieHellman_in_both_directions()
    {
        for (int i = 0; i < 16; i++)
        {
            using EphemeralP256 ours = EphemeralP256.Generate();
            using var theirs = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
            byte[] ourShare = new byte[EphemeralP256.ShareLength];
            ours.ExportShare(ourShare);

            byte[] ourSecret = new byte[EphemeralP256.SecretLength];
            ours.DeriveSecret(Share(theirs), ourSecret);

            // .NET imports our share with OpenSSL's full public-key check: it must be a valid point.
            using var ourPublic = ECDiffieHellman.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = ourShare[1..33], Y = ourShare[33..] },
            });
            byte[] theirSecret = theirs.DeriveRawSecretAgreement(ourPublic.PublicKey);
            Assert.Equal(theirSecret, ourSecret);
        }
    }

    [Fact]
    public void Two_keys_agree_with_each_other_and_differ_per_key()
    {
        using EphemeralP256 a = EphemeralP256.Generate();
        using EphemeralP256 b = EphemeralP256.Generate();
        using EphemeralP256 c = EphemeralP256.Generate();
        byte[] shareA = Export(a), shareB = Export(b), shareC = Export(c);
        byte[] ab = new byte[32], ba = new byte[32], ac = new byte[32];
        a.DeriveSecret(shareB, ab);
        b.DeriveSecret(shareA, ba);
        a.DeriveSecret(shareC, ac);
        Assert.Equal(ab, ba);
        Assert.NotEqual(ab, ac);
        Assert.NotEqual(shareA, shareB);
    }

    [Fact]
    public void Point_off_the_curve_is_rejected()
    {
        using EphemeralP256 ours = EphemeralP256.Generate();
        using var theirs = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        byte[] share = Share(theirs);
        share[^1] ^= 1;
        Assert.Throws<CryptographicException>(() => ours.DeriveSecret(share, new byte[32]));

        // The thread's OpenSSL error queue is left clean: .NET's next operation still works.
        using var next = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        Assert.Equal(32, next.DeriveRawSecretAgreement(theirs.PublicKey).Length);
    }

    [Fact]
    public void Coordinate_not_below_the_field_prime_is_rejected()
    {
        using EphemeralP256 ours = EphemeralP256.Generate();
        using var theirs = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        byte[] share = Share(theirs);
        FieldPrime.CopyTo(share, 1);        // x = p
        Assert.Throws<CryptographicException>(() => ours.DeriveSecret(share, new byte[32]));
        Array.Fill(share, (byte)0xff, 1, 32); // x = 2^256 − 1
        Assert.Throws<CryptographicException>(() => ours.DeriveSecret(share, new byte[32]));
    }

    [Fact]
    public void Compressed_or_short_share_is_rejected()
    {
        using EphemeralP256 ours = EphemeralP256.Generate();
        using var theirs = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        byte[] share = Share(theirs);
        share[0] = 0x02;
        Assert.Throws<CryptographicException>(() => ours.DeriveSecret(share, new byte[32]));
        Assert.Throws<CryptographicException>(() => ours.DeriveSecret(Share(theirs).AsSpan(0, 33), new byte[32]));
        Assert.Throws<CryptographicException>(() => ours.DeriveSecret(new byte[65], new byte[32]));
    }

    [Fact]
    public void Managed_fallback_agrees_with_the_libcrypto_path_and_rejects_the_same_points()
    {
        using EphemeralP256 fast = EphemeralP256.Generate();
        using EphemeralP256 managed = EphemeralP256.GenerateManaged();
        byte[] fastShare = Export(fast), managedShare = Export(managed);
        byte[] a = new byte[32], b = new byte[32];
        fast.DeriveSecret(managedShare, a);
        managed.DeriveSecret(fastShare, b);
        Assert.Equal(a, b);

        byte[] offCurve = (byte[])fastShare.Clone();
        offCurve[^1] ^= 1;
        Assert.ThrowsAny<CryptographicException>(() => managed.DeriveSecret(offCurve, new byte[32]));
        Assert.Throws<CryptographicException>(() => fast.DeriveSecret(offCurve, new byte[32]));
    }

    private static byte[] Export(EphemeralP256 key)
    {
        byte[] share = new byte[EphemeralP256.ShareLength];
        key.ExportShare(share);
        return share;
    }

    private static byte[] Share(ECDiffieHellman key)
    {
        ECParameters p = key.ExportParameters(includePrivateParameters: false);
        return [0x04, .. p.Q.X!, .. p.Q.Y!];
    }
}
