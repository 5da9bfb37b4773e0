using System.Runtime.CompilerServices;

namespace BelizeMesh.Quantum.Dsa;

/// <summary>
/// High-order/low-order bits and hints (FIPS 204, section 7.4): Power2Round (Algorithm 35), Decompose (36),
/// HighBits (37), LowBits (38), MakeHint (39), UseHint (40).
/// </summary>
/// <remarks>
/// Power2Round and Decompose run on secret values (t, w − cs2), so they are branch-free: the division by 2γ2 in
/// Decompose is a multiplication by ⌈2^48 / 2γ2⌉ and a shift, exact for every input below 2^24 (the tests check all
/// of [0, q) against the definition). UseHint runs on public values only.
/// </remarks>
internal readonly struct MLDsaRounding
{
    private const int Q = MLDsaField.Q;

    private readonly int _gamma2;
    private readonly ulong _reciprocal;
    private readonly int _m;

    /// <summary>Rounding for γ2 = (q − 1)/88 or (q − 1)/32.</summary>
    public MLDsaRounding(int gamma2)
    {
        _gamma2 = gamma2;
        ulong twoGamma2 = (ulong)(2 * gamma2);
        _reciprocal = ((1UL << 48) + twoGamma2 - 1) / twoGamma2;
        _m = (Q - 1) / (2 * gamma2);
    }

    /// <summary>(q − 1)/(2γ2): the number of values of r1 (44 or 16).</summary>
    public int M => _m;

    /// <summary>Power2Round (FIPS 204, Algorithm 35) for r ∈ [0, q): r = r1·2^13 + r0 with r0 ∈ (−2^12, 2^12].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Power2Round(int r, out int r0)
    {
        int r1 = (r + (1 << (MLDsaField.D - 1)) - 1) >> MLDsaField.D;
        r0 = r - (r1 << MLDsaField.D);
        return r1;
    }

    /// <summary>
    /// Decompose (FIPS 204, Algorithm 36) for r ∈ [0, q): r ≡ r1·2γ2 + r0 with r0 ∈ (−γ2, γ2], except that
    /// r − r0 = q − 1 gives r1 = 0 and r0 − 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Decompose(int r, out int r0)
    {
        // r1 = ⌈(r − γ2)/2γ2⌉ = ⌊(r + γ2 − 1)/2γ2⌋ makes r0 = r − r1·2γ2 land in (−γ2, γ2].
        int r1 = (int)(((ulong)(uint)(r + _gamma2 - 1) * _reciprocal) >> 48);
        r0 = r - (r1 * 2 * _gamma2);

        // r1 = m exactly when r − r0 = q − 1: then r1 = 0 and r0 = r0 − 1. eq is all ones in that case, else zero.
        int eq = ((r1 ^ _m) - 1) >> 31;
        r0 += eq;
        return r1 & ~eq;
    }

    /// <summary>HighBits (FIPS 204, Algorithm 37) for r ∈ [0, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int HighBits(int r) => Decompose(r, out _);

    /// <summary>LowBits (FIPS 204, Algorithm 38) for r ∈ [0, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int LowBits(int r)
    {
        Decompose(r, out int r0);
        return r0;
    }

    /// <summary>MakeHint (FIPS 204, Algorithm 39): 1 when HighBits(r) ≠ HighBits(r + z); both arguments in [0, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int MakeHint(int r, int rPlusZ)
    {
        int diff = HighBits(r) ^ HighBits(rPlusZ);
        return (int)((uint)(diff | -diff) >> 31);
    }

    /// <summary>UseHint (FIPS 204, Algorithm 40) for r ∈ [0, q) and h ∈ {0, 1} (public data).</summary>
    public int UseHint(int h, int r)
    {
        int r1 = Decompose(r, out int r0);
        if (h == 0)
        {
            return r1;
        }

        if (r0 > 0)
        {
            return r1 + 1 == _m ? 0 : r1 + 1;
        }

        return r1 == 0 ? _m - 1 : r1 - 1;
    }
}
