using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace BelizeMesh.Quantum.Keccak;

/// <summary>The 25 64-bit lanes of the Keccak-f[1600] state (FIPS 202, section 3.1).</summary>
[InlineArray(25)]
internal struct KeccakLanes
{
    private ulong _lane0;
}

/// <summary>
/// An incremental Keccak sponge (FIPS 202, Algorithm 8) for SHA3-256, SHA3-512, SHAKE128 and SHAKE256.
/// A mutable struct: pass it by <c>ref</c>. Absorb any number of times, then squeeze any number of times.
/// </summary>
/// <remarks>
/// Managed so that the many small XOF calls of ML-KEM and ML-DSA cost no P/Invoke, and because .NET on
/// OpenSSL 3.0 cannot squeeze SHAKE incrementally. Lanes are little-endian as FIPS 202 specifies; the
/// permutation has no data-dependent branches or table lookups.
/// </remarks>
internal struct KeccakSponge
{
    /// <summary>Rate of SHAKE128, in bytes.</summary>
    public const int Shake128Rate = 168;

    /// <summary>Rate of SHAKE256 and SHA3-256, in bytes.</summary>
    public const int Shake256Rate = 136;

    /// <summary>Rate of SHA3-512, in bytes.</summary>
    public const int Sha3_512Rate = 72;

    private const byte ShakeDomain = 0x1F;
    private const byte Sha3Domain = 0x06;

    private KeccakLanes _lanes;
    private readonly int _rate;
    private readonly byte _domain;
    private int _offset;
    private bool _squeezing;

    private KeccakSponge(int rate, byte domain)
    {
        _rate = rate;
        _domain = domain;
        _offset = 0;
        _squeezing = false;
    }

    public static KeccakSponge CreateShake128() => new(Shake128Rate, ShakeDomain);

    public static KeccakSponge CreateShake256() => new(Shake256Rate, ShakeDomain);

    public static KeccakSponge CreateSha3_256() => new(Shake256Rate, Sha3Domain);

    public static KeccakSponge CreateSha3_512() => new(Sha3_512Rate, Sha3Domain);

    /// <summary>Rate of this sponge, in bytes.</summary>
    public readonly int Rate => _rate;

    /// <summary>XORs <paramref name="data"/> into the state, permuting at each full block.</summary>
    public void Absorb(ReadOnlySpan<byte> data)
    {
        Debug.Assert(!_squeezing, "absorb after squeeze");
        Span<byte> state = StateBytes();
        while (data.Length > 0)
        {
            int take = Math.Min(_rate - _offset, data.Length);
            Span<byte> dst = state.Slice(_offset, take);
            for (int i = 0; i < take; i++)
            {
                dst[i] ^= data[i];
            }

            _offset += take;
            data = data[take..];
            if (_offset == _rate)
            {
                Permute(ref _lanes);
                _offset = 0;
            }
        }
    }

    /// <summary>Writes the next <c>output.Length</c> bytes of the sponge's output.</summary>
    public void Squeeze(Span<byte> output)
    {
        if (!_squeezing)
        {
            Pad();
        }

        ReadOnlySpan<byte> state = StateBytes();
        while (output.Length > 0)
        {
            if (_offset == _rate)
            {
                Permute(ref _lanes);
                _offset = 0;
            }

            int take = Math.Min(_rate - _offset, output.Length);
            state.Slice(_offset, take).CopyTo(output);
            _offset += take;
            output = output[take..];
        }
    }

    /// <summary>Squeezes whole blocks straight out of the state: <paramref name="output"/> must be a multiple of the rate and nothing may have been squeezed yet except whole blocks.</summary>
    public void SqueezeBlocks(Span<byte> output)
    {
        Debug.Assert(output.Length % _rate == 0);
        Squeeze(output);
    }

    /// <summary>Zeroes the state.</summary>
    public void Clear()
    {
        CryptographicOperations.ZeroMemory(StateBytes());
        _offset = 0;
        _squeezing = false;
    }

    private void Pad()
    {
        Span<byte> state = StateBytes();
        state[_offset] ^= _domain;
        state[_rate - 1] ^= 0x80;
        Permute(ref _lanes);
        _offset = 0;
        _squeezing = true;
    }

    [UnscopedRef]
    private Span<byte> StateBytes()
    {
        // Lanes are stored little-endian (FIPS 202 section B.1); on a big-endian host the byte view would differ.
        Debug.Assert(BitConverter.IsLittleEndian);
        return System.Runtime.InteropServices.MemoryMarshal.AsBytes((Span<ulong>)_lanes);
    }

    /// <summary>The 24 round constants of ι (FIPS 202, Algorithm 6).</summary>
    internal static ReadOnlySpan<ulong> RoundConstantTable => RoundConstants;

    private static readonly ulong[] RoundConstants =
    [
        0x0000000000000001UL, 0x0000000000008082UL, 0x800000000000808AUL, 0x8000000080008000UL,
        0x000000000000808BUL, 0x0000000080000001UL, 0x8000000080008081UL, 0x8000000000008009UL,
        0x000000000000008AUL, 0x0000000000000088UL, 0x0000000080008009UL, 0x000000008000000AUL,
        0x000000008000808BUL, 0x800000000000008BUL, 0x8000000000008089UL, 0x8000000000008003UL,
        0x8000000000008002UL, 0x8000000000000080UL, 0x000000000000800AUL, 0x800000008000000AUL,
        0x8000000080008081UL, 0x8000000000008080UL, 0x0000000080000001UL, 0x8000000080008008UL,
    ];

    /// <summary>Keccak-f[1600] (FIPS 202, Algorithm 7): 24 rounds of θ, ρ, π, χ, ι, unrolled over locals.</summary>
    [SkipLocalsInit]
    internal static void Permute(ref KeccakLanes a)
    {
        ulong a00 = a[0], a01 = a[1], a02 = a[2], a03 = a[3], a04 = a[4];
        ulong a05 = a[5], a06 = a[6], a07 = a[7], a08 = a[8], a09 = a[9];
        ulong a10 = a[10], a11 = a[11], a12 = a[12], a13 = a[13], a14 = a[14];
        ulong a15 = a[15], a16 = a[16], a17 = a[17], a18 = a[18], a19 = a[19];
        ulong a20 = a[20], a21 = a[21], a22 = a[22], a23 = a[23], a24 = a[24];
        ReadOnlySpan<ulong> rc = RoundConstants;

        for (int round = 0; round < 24; round++)
        {
            // θ
            ulong c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20;
            ulong c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21;
            ulong c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22;
            ulong c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23;
            ulong c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24;
            ulong d0 = c4 ^ ulong.RotateLeft(c1, 1);
            ulong d1 = c0 ^ ulong.RotateLeft(c2, 1);
            ulong d2 = c1 ^ ulong.RotateLeft(c3, 1);
            ulong d3 = c2 ^ ulong.RotateLeft(c4, 1);
            ulong d4 = c3 ^ ulong.RotateLeft(c0, 1);

            // ρ and π: B[y, 2x+3y] = rot(A[x, y] ^ D[x], r[x, y]); lane index is x + 5y.
            ulong b00 = a00 ^ d0;
            ulong b10 = ulong.RotateLeft(a01 ^ d1, 1);
            ulong b20 = ulong.RotateLeft(a02 ^ d2, 62);
            ulong b05 = ulong.RotateLeft(a03 ^ d3, 28);
            ulong b15 = ulong.RotateLeft(a04 ^ d4, 27);
            ulong b16 = ulong.RotateLeft(a05 ^ d0, 36);
            ulong b01 = ulong.RotateLeft(a06 ^ d1, 44);
            ulong b11 = ulong.RotateLeft(a07 ^ d2, 6);
            ulong b21 = ulong.RotateLeft(a08 ^ d3, 55);
            ulong b06 = ulong.RotateLeft(a09 ^ d4, 20);
            ulong b07 = ulong.RotateLeft(a10 ^ d0, 3);
            ulong b17 = ulong.RotateLeft(a11 ^ d1, 10);
            ulong b02 = ulong.RotateLeft(a12 ^ d2, 43);
            ulong b12 = ulong.RotateLeft(a13 ^ d3, 25);
            ulong b22 = ulong.RotateLeft(a14 ^ d4, 39);
            ulong b23 = ulong.RotateLeft(a15 ^ d0, 41);
            ulong b08 = ulong.RotateLeft(a16 ^ d1, 45);
            ulong b18 = ulong.RotateLeft(a17 ^ d2, 15);
            ulong b03 = ulong.RotateLeft(a18 ^ d3, 21);
            ulong b13 = ulong.RotateLeft(a19 ^ d4, 8);
            ulong b14 = ulong.RotateLeft(a20 ^ d0, 18);
            ulong b24 = ulong.RotateLeft(a21 ^ d1, 2);
            ulong b09 = ulong.RotateLeft(a22 ^ d2, 61);
            ulong b19 = ulong.RotateLeft(a23 ^ d3, 56);
            ulong b04 = ulong.RotateLeft(a24 ^ d4, 14);

            // χ and ι
            a00 = b00 ^ (~b01 & b02) ^ rc[round];
            a01 = b01 ^ (~b02 & b03);
            a02 = b02 ^ (~b03 & b04);
            a03 = b03 ^ (~b04 & b00);
            a04 = b04 ^ (~b00 & b01);
            a05 = b05 ^ (~b06 & b07);
            a06 = b06 ^ (~b07 & b08);
            a07 = b07 ^ (~b08 & b09);
            a08 = b08 ^ (~b09 & b05);
            a09 = b09 ^ (~b05 & b06);
            a10 = b10 ^ (~b11 & b12);
            a11 = b11 ^ (~b12 & b13);
            a12 = b12 ^ (~b13 & b14);
            a13 = b13 ^ (~b14 & b10);
            a14 = b14 ^ (~b10 & b11);
            a15 = b15 ^ (~b16 & b17);
            a16 = b16 ^ (~b17 & b18);
            a17 = b17 ^ (~b18 & b19);
            a18 = b18 ^ (~b19 & b15);
            a19 = b19 ^ (~b15 & b16);
            a20 = b20 ^ (~b21 & b22);
            a21 = b21 ^ (~b22 & b23);
            a22 = b22 ^ (~b23 & b24);
            a23 = b23 ^ (~b24 & b20);
            a24 = b24 ^ (~b20 & b21);
        }

        a[0] = a00; a[1] = a01; a[2] = a02; a[3] = a03; a[4] = a04;
        a[5] = a05; a[6] = a06; a[7] = a07; a[8] = a08; a[9] = a09;
        a[10] = a10; a[11] = a11; a[12] = a12; a[13] = a13; a[14] = a14;
        a[15] = a15; a[16] = a16; a[17] = a17; a[18] = a18; a[19] = a19;
        a[20] = a20; a[21] = a21; a[22] = a22; a[23] = a23; a[24] = a24;
    }
}

/// <summary>One-shot SHA-3 and SHAKE over <see cref="KeccakSponge"/> (FIPS 202, section 6).</summary>
internal static class Sha3
{
    public static void Sha3_256(ReadOnlySpan<byte> input, Span<byte> output)
    {
        Debug.Assert(output.Length == 32);
        var sponge = KeccakSponge.CreateSha3_256();
        sponge.Absorb(input);
        sponge.Squeeze(output);
        sponge.Clear();
    }

    public static void Sha3_512(ReadOnlySpan<byte> input, Span<byte> output)
    {
        Debug.Assert(output.Length == 64);
        var sponge = KeccakSponge.CreateSha3_512();
        sponge.Absorb(input);
        sponge.Squeeze(output);
        sponge.Clear();
    }

    public static void Shake128(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var sponge = KeccakSponge.CreateShake128();
        sponge.Absorb(input);
        sponge.Squeeze(output);
        sponge.Clear();
    }

    public static void Shake256(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var sponge = KeccakSponge.CreateShake256();
        sponge.Absorb(input);
        sponge.Squeeze(output);
        sponge.Clear();
    }
}
