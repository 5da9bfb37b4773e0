using System.Security.Cryptography;
using BelizeMesh.Quantum.Keccak;

namespace BelizeMesh.Quantum.Tests;

public class KeccakTests
{
    public static TheoryData<int> Lengths => new() { 0, 1, 71, 72, 73, 135, 136, 137, 167, 168, 169, 500, 1000 };

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Sha3_and_shake_match_the_platform_implementation(int length)
    {
        byte[] input = new byte[length];
        new Random(length).NextBytes(input);
        Span<byte> ours = stackalloc byte[64];

        Sha3.Sha3_256(input, ours[..32]);
        Assert.Equal(SHA3_256.HashData(input), ours[..32].ToArray());
        Sha3.Sha3_512(input, ours);
        Assert.Equal(SHA3_512.HashData(input), ours.ToArray());

        byte[] long128 = new byte[600];
        Sha3.Shake128(input, long128);
        Assert.Equal(Shake128.HashData(input, 600), long128);
        byte[] long256 = new byte[600];
        Sha3.Shake256(input, long256);
        Assert.Equal(Shake256.HashData(input, 600), long256);
    }

    [Fact]
    public void Incremental_absorb_and_squeeze_match_one_shot()
    {
        byte[] input = new byte[777];
        new Random(7).NextBytes(input);
        byte[] expected = Shake128.HashData(input, 1000);

        var sponge = KeccakSponge.CreateShake128();
        sponge.Absorb(input.AsSpan(0, 1));
        sponge.Absorb(input.AsSpan(1, 300));
        sponge.Absorb(input.AsSpan(301));
        byte[] got = new byte[1000];
        sponge.Squeeze(got.AsSpan(0, 168));
        sponge.Squeeze(got.AsSpan(168, 5));
        sponge.Squeeze(got.AsSpan(173));
        Assert.Equal(expected, got);
    }
}
