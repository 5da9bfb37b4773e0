using System.Security.Cryptography;
using BelizeMesh.Quantum.Keccak;

namespace BelizeMesh.Quantum.Tests;

public class KeccakX4Tests
{
    [Avx2Fact]
    public void Four_way_shake_matches_the_platform_for_four_different_messages_of_each_length()
    {
        var rng = new Random(4);
        foreach (int length in new[] { 0, 1, 33, 34, 135, 167 })
        {
            byte[][] messages = new byte[4][];
            for (int i = 0; i < 4; i++)
            {
                messages[i] = new byte[length];
                rng.NextBytes(messages[i]);
            }

            if (length < KeccakSponge.Shake256Rate)
            {
                var x = KeccakX4.Shake256(messages[0], messages[1], messages[2], messages[3]);
                AssertSqueezes(ref x, messages, m => Shake256.HashData(m, 3 * KeccakSponge.Shake256Rate));
            }

            var y = KeccakX4.Shake128(messages[0], messages[1], messages[2], messages[3]);
            AssertSqueezes(ref y, messages, m => Shake128.HashData(m, 3 * KeccakSponge.Shake128Rate));
        }
    }

    private static void AssertSqueezes(ref KeccakX4 x, byte[][] messages, Func<byte[], byte[]> reference)
    {
        int rate = x.Rate;
        byte[][] outputs = [new byte[3 * rate], new byte[3 * rate], new byte[3 * rate], new byte[3 * rate]];
        x.SqueezeBlocks(outputs[0].AsSpan(0, 2 * rate), outputs[1].AsSpan(0, 2 * rate), outputs[2].AsSpan(0, 2 * rate), outputs[3].AsSpan(0, 2 * rate));
        x.SqueezeBlocks(outputs[0].AsSpan(2 * rate), outputs[1].AsSpan(2 * rate), outputs[2].AsSpan(2 * rate), outputs[3].AsSpan(2 * rate));
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(reference(messages[i]), outputs[i]);
        }
    }

    [Fact]
    public void Batched_samplers_equal_one_call_per_polynomial()
    {
        var rng = new Random(8);
        byte[] seed = new byte[32];
        rng.NextBytes(seed);
        foreach (int eta in new[] { 2, 3 })
        {
            for (int count = 1; count <= 9; count++)
            {
                ushort[] batched = new ushort[count * MLKemMath.N], single = new ushort[MLKemMath.N];
                MLKemMath.SamplePolyCbdMany(seed, 5, eta, batched);
                for (int i = 0; i < count; i++)
                {
                    MLKemMath.SamplePolyCbd(seed, (byte)(5 + i), eta, single);
                    Assert.Equal(single, batched.AsSpan(i * MLKemMath.N, MLKemMath.N).ToArray());
                }
            }
        }

        foreach (int k in new[] { 2, 3, 4 })
        {
            ushort[] matrix = new ushort[k * k * MLKemMath.N], entry = new ushort[MLKemMath.N];
            MLKemMath.SampleNttMany(seed, k, matrix, 0, k * k);
            for (int i = 0; i < k; i++)
            {
                for (int j = 0; j < k; j++)
                {
                    MLKemMath.SampleNtt(seed, (byte)j, (byte)i, entry);
                    Assert.Equal(entry, matrix.AsSpan(((i * k) + j) * MLKemMath.N, MLKemMath.N).ToArray());
                }
            }
        }
    }
}
