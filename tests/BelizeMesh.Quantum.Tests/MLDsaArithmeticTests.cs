using System.Numerics;
using BelizeMesh.Quantum.Dsa;

namespace BelizeMesh.Quantum.Tests;

/// <summary>Field arithmetic, NTT and rounding of ML-DSA checked against the definitions in FIPS 204, exhaustively where cheap.</summary>
public class MLDsaArithmeticTests
{
    private const int Q = MLDsaField.Q;
    private const int N = MLDsaField.N;

    [Fact]
    public void Zetas_are_powers_of_1753_in_bit_reversed_order_times_2_to_the_32()
    {
        Assert.Equal(Q - 1, (int)MLDsaField.ModPow(1753, 256)); // ζ is a primitive 512th root: ζ^256 = −1
        for (int i = 0; i < N; i++)
        {
            int rev = Convert.ToInt32(new string(Convert.ToString(i, 2).PadLeft(8, '0').Reverse().ToArray()), 2);
            BigInteger expected = BigInteger.ModPow(1753, rev, Q) * BigInteger.Pow(2, 32) % Q;
            int z = MLDsaField.Zetas[i];
            Assert.True(z > -Q / 2 && z <= Q / 2);
            Assert.Equal(expected, ((z % Q) + Q) % Q);
        }
    }

    [Fact]
    public void Montgomery_reduce_matches_big_integer_arithmetic()
    {
        var random = new Random(204);
        BigInteger rInverse = BigInteger.ModPow(BigInteger.Pow(2, 32), Q - 2, Q);
        for (int i = 0; i < 100_000; i++)
        {
            long a = random.NextInt64(-((1L << 31) * Q) + 1, (1L << 31) * Q);
            int r = MLDsaField.MontgomeryReduce(a);
            Assert.True(r > -Q && r < Q, $"{a} → {r}");
            Assert.Equal((((a % Q) * rInverse) % Q + Q) % Q, ((r % Q) + Q) % Q);
        }
    }

    [Fact]
    public void Freeze_and_center_give_the_canonical_representatives()
    {
        var random = new Random(1);
        for (int i = 0; i < 100_000; i++)
        {
            int a = random.Next(-(int.MaxValue - (1 << 22)), int.MaxValue - (1 << 22));
            int expected = ((a % Q) + Q) % Q;
            Assert.Equal(expected, MLDsaField.Freeze(a));
            Assert.Equal(expected > (Q - 1) / 2 ? expected - Q : expected, MLDsaField.Center(a));
        }
    }

    [Fact]
    public void Ntt_product_equals_the_negacyclic_schoolbook_product()
    {
        var random = new Random(42);
        for (int round = 0; round < 5; round++)
        {
            int[] a = new int[N], b = new int[N];
            for (int i = 0; i < N; i++)
            {
                a[i] = random.Next(-Q + 1, Q);
                b[i] = random.Next(-Q + 1, Q);
            }

            // Schoolbook in Z_q[X]/(X^256 + 1).
            long[] expected = new long[N];
            for (int i = 0; i < N; i++)
            {
                for (int j = 0; j < N; j++)
                {
                    long p = (long)a[i] * b[j] % Q;
                    int d = i + j;
                    if (d < N)
                    {
                        expected[d] = (expected[d] + p) % Q;
                    }
                    else
                    {
                        expected[d - N] = (expected[d - N] - p) % Q;
                    }
                }
            }

            int[] aHat = (int[])a.Clone(), bHat = (int[])b.Clone(), c = new int[N];
            MLDsaField.Ntt(aHat, useAvx2: false);
            MLDsaField.Ntt(bHat, useAvx2: false);
            MLDsaField.PointwiseMontgomery(aHat, bHat, c);
            MLDsaField.InverseNttToMont(c, useAvx2: false);
            for (int i = 0; i < N; i++)
            {
                Assert.True(c[i] > -Q && c[i] < Q);
                Assert.Equal(((expected[i] % Q) + Q) % Q, MLDsaField.Freeze(c[i]));
            }
        }
    }

    [Fact]
    public void Power2Round_matches_the_definition_on_all_of_Zq()
    {
        for (int r = 0; r < Q; r++)
        {
            int r1 = MLDsaRounding.Power2Round(r, out int r0);
            // r0 = r mod± 2^13 in (−2^12, 2^12], r1 = (r − r0)/2^13
            int m = r & 8191;
            int expected0 = m > 4096 ? m - 8192 : m;
            if (r0 != expected0 || r1 != (r - expected0) >> 13)
            {
                Assert.Fail($"Power2Round({r}) = ({r1}, {r0}), expected ({(r - expected0) >> 13}, {expected0})");
            }
        }
    }

    [Theory]
    [InlineData(95232)] // (q − 1)/88
    [InlineData(261888)] // (q − 1)/32
    public void Decompose_matches_the_definition_on_all_of_Zq(int gamma2)
    {
        var rounding = new MLDsaRounding(gamma2);
        int alpha = 2 * gamma2;
        for (int r = 0; r < Q; r++)
        {
            // FIPS 204 Algorithm 36, literally: r0 = r mod± α; if r − r0 = q − 1 then (0, r0 − 1) else ((r − r0)/α, r0).
            int m = r % alpha;
            int expected0 = m > alpha / 2 ? m - alpha : m;
            int expected1 = (r - expected0) / alpha;
            if (r - expected0 == Q - 1)
            {
                expected1 = 0;
                expected0--;
            }

            int r1 = rounding.Decompose(r, out int r0);
            if (r1 != expected1 || r0 != expected0)
            {
                Assert.Fail($"Decompose({r}) = ({r1}, {r0}), expected ({expected1}, {expected0})");
            }
        }
    }

    [Theory]
    [InlineData(95232)]
    [InlineData(261888)]
    public void UseHint_recovers_the_high_bits_that_MakeHint_describes(int gamma2)
    {
        // FIPS 204, Lemma 1 (section 7.4 text): for ‖z‖∞ ≤ γ2, UseHint(MakeHint(z, r), r) = HighBits(r + z).
        var rounding = new MLDsaRounding(gamma2);
        var random = new Random(gamma2);
        for (int i = 0; i < 200_000; i++)
        {
            int r = random.Next(0, Q);
            int z = random.Next(-gamma2, gamma2 + 1);
            int rPlusZ = ((r + z) % Q + Q) % Q;
            int h = rounding.MakeHint(r, rPlusZ);
            Assert.Equal(rounding.HighBits(rPlusZ), rounding.UseHint(h, r));
        }
    }

    [Fact]
    public void CoeffFromHalfByte_matches_Algorithm_15_for_every_accepted_half_byte()
    {
        for (int b = 0; b < 15; b++)
        {
            Assert.Equal(2 - (b % 5), MLDsaSampling.CoeffFromHalfByteForTest(b, 2));
        }

        for (int b = 0; b < 9; b++)
        {
            Assert.Equal(4 - b, MLDsaSampling.CoeffFromHalfByteForTest(b, 4));
        }
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(6)]
    [InlineData(10)]
    [InlineData(13)]
    [InlineData(18)]
    [InlineData(20)]
    public void Bit_packing_round_trips_and_puts_bits_little_endian_first(int bits)
    {
        var random = new Random(bits);
        int[] w = new int[N];
        for (int i = 0; i < N; i++)
        {
            w[i] = random.Next(0, 1 << bits);
        }

        byte[] packed = new byte[32 * bits];
        MLDsaEncoding.SimpleBitPack(w, bits, packed);
        int[] back = new int[N];
        MLDsaEncoding.SimpleBitUnpack(packed, bits, back);
        Assert.Equal(w, back);

        // Bit j of the output is bit (j mod bits) of coefficient ⌊j / bits⌋ (Algorithms 12 and 16).
        for (int j = 0; j < 32 * bits * 8; j++)
        {
            int expected = (w[j / bits] >> (j % bits)) & 1;
            Assert.Equal(expected, (packed[j / 8] >> (j % 8)) & 1);
        }

        // BitPack takes w_i ∈ [b − 2^bits + 1, b]; with b = 2^(bits−1) that is centered, as for z, t0, s1 and s2.
        int b = 1 << (bits - 1);
        int[] centered = w.Select(x => b - x).ToArray();
        MLDsaEncoding.BitPack(centered, bits, b, packed);
        MLDsaEncoding.SimpleBitUnpack(packed, bits, back);
        Assert.Equal(w, back);
        MLDsaEncoding.BitUnpack(packed, bits, b, back);
        Assert.Equal(centered, back);
    }

    [Fact]
    public void Infinity_norm_check_is_exact_at_the_bound()
    {
        int[] v = new int[N];
        v[17] = -99;
        Assert.False(MLDsaCore.InfinityNormAtLeast(v, 100));
        Assert.True(MLDsaCore.InfinityNormAtLeast(v, 99));
        v[17] = 99;
        Assert.False(MLDsaCore.InfinityNormAtLeast(v, 100));
        Assert.True(MLDsaCore.InfinityNormAtLeast(v, 99));
    }

    [Avx2Fact]
    public void Avx2_transforms_and_products_equal_the_scalar_ones_bit_for_bit()
    {
        var random = new Random(8);
        for (int round = 0; round < 200; round++)
        {
            int[] a = new int[N];
            for (int i = 0; i < N; i++)
            {
                a[i] = random.Next(-Q + 1, Q);
            }

            int[] scalar = (int[])a.Clone(), vector = (int[])a.Clone();
            MLDsaField.Ntt(scalar, useAvx2: false);
            MLDsaField.Ntt(vector, useAvx2: true);
            Assert.Equal(scalar, vector);

            int[] b = new int[N];
            for (int i = 0; i < N; i++)
            {
                b[i] = random.Next(-9 * Q + 1, 9 * Q);
            }

            int[] product = new int[N];
            MLDsaField.PointwiseMontgomery(vector, b, product);
            for (int i = 0; i < N; i++)
            {
                Assert.Equal(MLDsaField.MontgomeryReduce((long)vector[i] * b[i]), product[i]);
            }

            int[] accumulated = (int[])product.Clone();
            MLDsaField.PointwiseMontgomeryAccumulate(vector, b, accumulated);
            Assert.Equal(product.Select(x => 2 * x), accumulated);

            scalar = (int[])a.Clone();
            vector = (int[])a.Clone();
            MLDsaField.InverseNttToMont(scalar, useAvx2: false);
            MLDsaField.InverseNttToMont(vector, useAvx2: true);
            Assert.Equal(scalar, vector);
        }
    }
}
