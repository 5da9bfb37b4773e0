using System.Security.Cryptography;
using BelizeMesh.Quantum.Keccak;
using BelizeMesh.Quantum.Dsa;

namespace BelizeMesh.Quantum.Tests;

/// <summary>ExpandA/ExpandS/ExpandMask over the four-way sponge (Keccak/KeccakX4) give exactly the scalar expansion.</summary>
public class MLDsaSamplingTests
{
    [Avx2Theory]
    [InlineData(4, 4, 2, 17)]
    [InlineData(6, 5, 4, 19)]
    [InlineData(8, 7, 2, 19)]
    public void Four_way_expansion_equals_the_scalar_expansion(int k, int l, int eta, int gamma1Bits)
    {
        byte[] rho = SHA256.HashData([(byte)k]);
        byte[] rho64 = SHA512.HashData([(byte)k]);

        int[] a1 = new int[k * l * 256], a2 = new int[k * l * 256];
        MLDsaSampling.ExpandA(rho, k, l, a1, useX4: true);
        MLDsaSampling.ExpandA(rho, k, l, a2, useX4: false);
        Assert.Equal(a2, a1);

        int[] s1a = new int[l * 256], s2a = new int[k * 256], s1b = new int[l * 256], s2b = new int[k * 256];
        MLDsaSampling.ExpandS(rho64, eta, k, l, s1a, s2a, useX4: true);
        MLDsaSampling.ExpandS(rho64, eta, k, l, s1b, s2b, useX4: false);
        Assert.Equal(s1b, s1a);
        Assert.Equal(s2b, s2a);
        Assert.All(s1a, x => Assert.InRange(x, -eta, eta));

        foreach (int kappa in new[] { 0, l, 65535 - l })
        {
            int[] y1 = new int[l * 256], y2 = new int[l * 256];
            MLDsaSampling.ExpandMask(rho64, kappa, gamma1Bits, l, y1, useX4: true);
            MLDsaSampling.ExpandMask(rho64, kappa, gamma1Bits, l, y2, useX4: false);
            Assert.Equal(y2, y1);
            Assert.All(y1, x => Assert.InRange(x, -(1 << gamma1Bits) + 1, 1 << gamma1Bits));
        }
    }
}
