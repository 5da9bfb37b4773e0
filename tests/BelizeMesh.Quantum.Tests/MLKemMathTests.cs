using System.Numerics;
using static BelizeMesh.Quantum.MLKemMath;

namespace BelizeMesh.Quantum.Tests;

/// <summary>The arithmetic under ML-KEM checked exhaustively or against a plain big-integer oracle.</summary>
public class MLKemMathTests
{
    [Fact]
    public void Reduce_matches_the_remainder_on_small_values_around_every_multiple_of_q_and_random_32_bit_values()
    {
        static void Check(uint x)
        {
            if (Reduce(x) != x % Q)
            {
                Assert.Fail($"Reduce({x}) = {Reduce(x)}, expected {x % Q}");
            }
        }

        for (uint x = 0; x < (1u << 20); x++)
        {
            Check(x);
        }

        // Barrett's estimate is off by one, if ever, next to multiples of q: try both sides of every multiple below
        // 2^27 (the largest sum MultiplyAccumulate reduces is below 4·2q² + q < 2^27), and of every 97th above.
        for (ulong m = 1; m * Q <= uint.MaxValue; m += m * Q < (1u << 27) ? 1u : 97u)
        {
            Check((uint)(m * Q) - 1);
            Check((uint)(m * Q));
            if ((m * Q) + 1 <= uint.MaxValue)
            {
                Check((uint)(m * Q) + 1);
            }
        }

        var rng = new Random(1);
        for (int i = 0; i < 200_000; i++)
        {
            Check((uint)rng.NextInt64(0, 1L << 32));
        }

        Check(uint.MaxValue);
    }

    [Fact]
    public void Multiply_is_exact_for_every_pair_of_field_elements()
    {
        for (uint a = 0; a < Q; a++)
        {
            for (uint b = 0; b < Q; b++)
            {
                if (Multiply(a, b) != a * b % Q)
                {
                    Assert.Fail($"Multiply({a}, {b}) = {Multiply(a, b)}, expected {a * b % Q}");
                }
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(10)]
    [InlineData(11)]
    public void Compress_and_Decompress_match_the_rational_rounding_of_FIPS_203_for_every_input(int d)
    {
        for (uint x = 0; x < Q; x++)
        {
            // ⌈2^d·x/q⌋ mod 2^d with ⌈·⌋ rounding half up, in exact rational arithmetic.
            uint expected = (uint)(BigInteger.Divide((new BigInteger(x) << (d + 1)) + Q, 2 * Q) % (1 << d));
            Assert.Equal(expected, Compress(x, d));
        }

        for (uint y = 0; y < (1u << d); y++)
        {
            uint expected = (uint)BigInteger.Divide((new BigInteger(y) * Q * 2) + (1 << d), new BigInteger(1) << (d + 1));
            Assert.Equal(expected, Decompress(y, d));
        }
    }

    [Fact]
    public void Zeta_tables_are_powers_of_17_at_bit_reversed_indices()
    {
        Assert.Equal(1, BitRev7(64));
        Assert.Equal(127, BitRev7(127));
        for (int i = 0; i < 128; i++)
        {
            int r = BitRev7(i);
            Assert.Equal((ushort)BigInteger.ModPow(17, r, Q), Zetas[i]);
            Assert.Equal((ushort)BigInteger.ModPow(17, (2 * r) + 1, Q), Gammas[i]);
        }

        // First entries of FIPS 203 Appendix A.
        Assert.Equal(new ushort[] { 1, 1729, 2580, 3289, 2642, 630, 1897, 848 }, Zetas[..8].ToArray());
        Assert.Equal(new ushort[] { 17, Q - 17, 2761, Q - 2761 }, Gammas[..4].ToArray());
    }

    [Fact]
    public void Ntt_multiplication_equals_schoolbook_multiplication_mod_x256_plus_1()
    {
        var rng = new Random(5);
        for (int round = 0; round < 20; round++)
        {
            ushort[] f = RandomPoly(rng), g = RandomPoly(rng);
            long[] expected = new long[N];
            for (int i = 0; i < N; i++)
            {
                for (int j = 0; j < N; j++)
                {
                    long p = (long)f[i] * g[j];
                    if (i + j < N)
                    {
                        expected[i + j] += p;
                    }
                    else
                    {
                        expected[i + j - N] -= p; // X^256 = −1
                    }
                }
            }

            ushort[] fHat = (ushort[])f.Clone(), gHat = (ushort[])g.Clone(), h = new ushort[N];
            Ntt(fHat);
            Ntt(gHat);
            MultiplyAccumulate(fHat, 1, gHat, 1, default, h);
            InverseNtt(h);
            for (int i = 0; i < N; i++)
            {
                Assert.Equal((ushort)(((expected[i] % Q) + Q) % Q), h[i]);
            }

            ushort[] back = (ushort[])fHat.Clone();
            InverseNtt(back);
            Assert.Equal(f, back);

            // The portable path too.
            ushort[] fScalar = (ushort[])f.Clone(), gScalar = (ushort[])g.Clone(), hScalar = new ushort[N];
            NttScalar(fScalar);
            NttScalar(gScalar);
            MultiplyAccumulate(fScalar, 1, gScalar, 1, default, hScalar);
            InverseNttScalar(hScalar);
            Assert.Equal(h, hScalar);
        }
    }

    [Avx2Fact]
    public void Vector_and_scalar_NTT_paths_agree_on_random_and_extreme_inputs()
    {
        var rng = new Random(17);
        var inputs = new List<ushort[]> { new ushort[N], Enumerable.Repeat((ushort)(Q - 1), N).ToArray() };
        for (int i = 0; i < 200; i++)
        {
            inputs.Add(RandomPoly(rng));
        }

        foreach (var input in inputs)
        {
            ushort[] scalar = (ushort[])input.Clone(), vector = (ushort[])input.Clone();
            NttScalar(scalar);
            NttAvx2(vector);
            Assert.Equal(scalar, vector);

            scalar = (ushort[])input.Clone();
            vector = (ushort[])input.Clone();
            InverseNttScalar(scalar);
            InverseNttAvx2(vector);
            Assert.Equal(scalar, vector);
        }
    }

    [Fact]
    public void Prepared_multiply_accumulate_equals_the_scalar_BaseCaseMultiply_sums()
    {
        var rng = new Random(23);
        for (int round = 0; round < 50; round++)
        {
            foreach (int k in new[] { 1, 2, 3, 4 })
            {
                int stride = 1 + rng.Next(k);
                ushort[] a = new ushort[(((k - 1) * stride) + 1) * N], b = new ushort[k * N];
                for (int i = 0; i < a.Length; i++)
                {
                    a[i] = (ushort)(round == 0 ? Q - 1 : rng.Next(Q)); // round 0: the largest sums
                }

                for (int i = 0; i < b.Length; i++)
                {
                    b[i] = (ushort)(round == 0 ? Q - 1 : rng.Next(Q));
                }

                ushort[] addend = RandomPoly(rng);
                ushort[] expected = new ushort[N], got = new ushort[N], prepared = new ushort[k * PreparedPolySize];
                MultiplyAccumulate(a, stride, b, k, addend, expected);
                PrepareMultiplicand(b, prepared);
                MultiplyAccumulatePrepared(a, stride, prepared, k, addend, got);
                Assert.Equal(expected, got);

                MultiplyAccumulate(a, stride, b, k, default, expected);
                MultiplyAccumulatePrepared(a, stride, prepared, k, default, got);
                Assert.Equal(expected, got);
            }
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void SamplePolyCbd_follows_Algorithm_8_bit_by_bit(int eta)
    {
        var rng = new Random(eta);
        byte[] s = new byte[32];
        ushort[] f = new ushort[N];
        for (int round = 0; round < 20; round++)
        {
            rng.NextBytes(s);
            byte b = (byte)rng.Next(256);
            SamplePolyCbd(s, b, eta, f);

            // PRF_η(s, b) = SHAKE256(s‖b, 64η) with the platform's SHAKE256; then lines 2–7 of Algorithm 8 literally.
            byte[] prf = System.Security.Cryptography.Shake256.HashData([.. s, b], 64 * eta);
            int Bit(int i) => (prf[i / 8] >> (i % 8)) & 1;
            for (int i = 0; i < N; i++)
            {
                int x = 0, y = 0;
                for (int j = 0; j < eta; j++)
                {
                    x += Bit((2 * i * eta) + j);
                    y += Bit((2 * i * eta) + eta + j);
                }

                Assert.Equal((ushort)(((x - y) % Q + Q) % Q), f[i]);
            }
        }
    }

    [Fact]
    public void ByteDecode12_modulus_check_rejects_exactly_the_encodings_with_a_coefficient_of_q_or_more()
    {
        byte[] encoded = new byte[EncodedPolySize];
        ushort[] f = new ushort[N];
        Assert.True(TryByteDecode12Canonical(encoded, f));
        foreach (int value in new[] { Q - 1, Q, 4095 })
        {
            foreach (int position in new[] { 0, 1, 254, 255 })
            {
                Array.Clear(encoded);
                int bit = 12 * position;
                for (int b = 0; b < 12; b++)
                {
                    encoded[(bit + b) / 8] |= (byte)(((value >> b) & 1) << ((bit + b) % 8));
                }

                Assert.Equal(value < Q, TryByteDecode12Canonical(encoded, f));
                Assert.Equal(value, f[position]);
                ByteDecode12(encoded, f);
                Assert.Equal(value % Q, f[position]);
            }
        }
    }

    [Fact]
    public void Compressed_encodings_round_trip_through_decode()
    {
        var rng = new Random(9);
        foreach (int d in new[] { 1, 4, 5, 10, 11 })
        {
            ushort[] f = RandomPoly(rng), g = new ushort[N];
            byte[] b = new byte[32 * d];
            CompressAndEncode(f, d, b);
            DecodeAndDecompress(b, d, g);
            for (int i = 0; i < N; i++)
            {
                Assert.Equal(Decompress(Compress(f[i], d), d), g[i]);
            }
        }
    }

    [Fact]
    public void Constant_time_compare_and_select_pick_the_right_input()
    {
        byte[] a = new byte[1568], b = new byte[1568];
        new Random(3).NextBytes(a);
        a.CopyTo(b, 0);
        Assert.Equal(-1, EqualMask(a, b));
        foreach (int position in new[] { 0, 7, 8, 1560, 1567 })
        {
            b[position] ^= 0x80;
            Assert.Equal(0, EqualMask(a, b));
            b[position] ^= 0x80;
        }

        byte[] x = [1, 2, 3], y = [4, 5, 6], into = new byte[3];
        Select(-1, x, y, into);
        Assert.Equal(x, into);
        Select(0, x, y, into);
        Assert.Equal(y, into);
    }

    private static ushort[] RandomPoly(Random rng)
    {
        var f = new ushort[N];
        for (int i = 0; i < N; i++)
        {
            f[i] = (ushort)rng.Next(Q);
        }

        return f;
    }
}
