using System.Security.Cryptography;
using System.Text;

namespace BelizeMesh.Identity.Tests;

/// <summary>
/// The managed SHA-256 the sidecar uses for fingerprints and content hashes while it starts (so that OpenSSL loads only
/// after it is ready): FIPS 180-4's examples, and byte-for-byte agreement with .NET's (OpenSSL's) SHA-256.
/// </summary>
public sealed class Sha256Tests
{
    [Theory]
    [InlineData("", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")]
    [InlineData("abc", "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD")]
    [InlineData("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248D6A61D20638B8E5C026930C3E6039A33CE45964FF2167F6ECEDD419DB06C1")]
    public void Digest_matches_the_examples_of_FIPS_180_4(string message, string expected)
    {
        Assert.Equal(expected, Convert.ToHexString(Sha256.HashData(Encoding.ASCII.GetBytes(message))));
    }

    [Fact]
    public void Digest_of_a_million_a_matches_the_long_example()
    {
        using var hash = new Sha256();
        byte[] chunk = Encoding.ASCII.GetBytes(new string('a', 1000));
        for (int i = 0; i < 1000; i++)
        {
            hash.Append(chunk);
        }

        Assert.Equal("CDC76E5C9914FB9281A1C7E284D73E67F1809A48A497200E046D39CCC7112CD0", Convert.ToHexString(hash.GetHashAndReset()));
    }

    [Fact]
    public void Every_length_around_the_block_and_padding_boundaries_agrees_with_dotnet()
    {
        var random = new Random(180_4);
        for (int length = 0; length <= 300; length++)
        {
            byte[] message = new byte[length];
            random.NextBytes(message);
            Assert.Equal(SHA256.HashData(message), Sha256.HashData(message));
        }
    }

    [Fact]
    public void Appending_in_pieces_gives_the_digest_of_the_whole_and_the_hash_starts_over_after()
    {
        var random = new Random(256);
        using var hash = new Sha256();
        for (int round = 0; round < 200; round++)
        {
            byte[] message = new byte[random.Next(0, 700)];
            random.NextBytes(message);
            int offset = 0;
            while (offset < message.Length)
            {
                int take = Math.Min(random.Next(0, 130), message.Length - offset);
                hash.Append(message.AsSpan(offset, take));
                offset += take;
            }

            Assert.Equal(SHA256.HashData(message), hash.GetHashAndReset());
        }
    }
}
