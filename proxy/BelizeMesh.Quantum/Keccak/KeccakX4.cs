using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;

namespace BelizeMesh.Quantum.Keccak;

/// <summary>Four Keccak-f[1600] states interleaved lane by lane: element i of vector w is lane w of instance i.</summary>
[InlineArray(25)]
internal struct KeccakX4Lanes
{
    private Vector256<ulong> _lane0;
}

/// <summary>
/// Four independent SHAKE/SHA-3 sponges advanced together with AVX2, one instance per 64-bit element of a
/// <see cref="Vector256{T}"/>: one permutation call costs about as much as one or two scalar ones and serves four
/// XOFs (ML-KEM's SampleNTT over four matrix entries, or four PRF calls). Restricted to what ML-KEM needs: four
/// messages of equal length shorter than the rate (one padded block), then any number of whole-block squeezes.
/// </summary>
/// <remarks>Check <see cref="IsSupported"/> first. Same constant-time properties as <see cref="KeccakSponge"/>.</remarks>
internal struct KeccakX4
{
    private KeccakX4Lanes _lanes;
    private readonly int _rate;
    private bool _squeezed;

    /// <summary>True when the hardware has AVX2 (AVX-512VL, when present, supplies a one-instruction rotate).</summary>
    public static bool IsSupported => Avx2.IsSupported;

    private KeccakX4(int rate)
    {
        _rate = rate;
        _squeezed = false;
    }

    /// <summary>SHAKE128 ×4 over four messages of equal length &lt; 168 bytes.</summary>
    public static KeccakX4 Shake128(ReadOnlySpan<byte> m0, ReadOnlySpan<byte> m1, ReadOnlySpan<byte> m2, ReadOnlySpan<byte> m3)
    {
        var x = new KeccakX4(KeccakSponge.Shake128Rate);
        x.AbsorbFinal(0x1F, m0, m1, m2, m3);
        return x;
    }

    /// <summary>SHAKE256 ×4 over four messages of equal length &lt; 136 bytes.</summary>
    public static KeccakX4 Shake256(ReadOnlySpan<byte> m0, ReadOnlySpan<byte> m1, ReadOnlySpan<byte> m2, ReadOnlySpan<byte> m3)
    {
        var x = new KeccakX4(KeccakSponge.Shake256Rate);
        x.AbsorbFinal(0x1F, m0, m1, m2, m3);
        return x;
    }

    /// <summary>Rate of these sponges, in bytes.</summary>
    public readonly int Rate => _rate;

    [SkipLocalsInit]
    private void AbsorbFinal(byte domain, ReadOnlySpan<byte> m0, ReadOnlySpan<byte> m1, ReadOnlySpan<byte> m2, ReadOnlySpan<byte> m3)
    {
        int length = m0.Length;
        if (!Avx2.IsSupported || length >= _rate || m1.Length != length || m2.Length != length || m3.Length != length)
        {
            throw new InvalidOperationException("KeccakX4 needs AVX2 and four messages of one equal length below the rate.");
        }

        // Four padded blocks (FIPS 202 pad10*1 with the domain bits), then one vector per 64-bit word.
        Span<ulong> blocks = stackalloc ulong[4 * 21];
        blocks.Clear();
        Span<byte> bytes = MemoryMarshal.AsBytes(blocks);
        int stride = 8 * 21;
        m0.CopyTo(bytes);
        m1.CopyTo(bytes[stride..]);
        m2.CopyTo(bytes[(2 * stride)..]);
        m3.CopyTo(bytes[(3 * stride)..]);
        for (int i = 0; i < 4; i++)
        {
            bytes[(i * stride) + length] ^= domain;
            bytes[(i * stride) + _rate - 1] ^= 0x80;
        }

        _lanes = default;
        for (int w = 0; w < _rate / 8; w++)
        {
            _lanes[w] = Vector256.Create(blocks[w], blocks[21 + w], blocks[42 + w], blocks[63 + w]);
        }

        CryptographicOperations.ZeroMemory(bytes);
        Permute(ref _lanes);
    }

    /// <summary>Writes the next whole blocks of the four outputs; each span must be a multiple of the rate, all the same length.</summary>
    public void SqueezeBlocks(Span<byte> o0, Span<byte> o1, Span<byte> o2, Span<byte> o3)
    {
        Debug.Assert(o0.Length % _rate == 0 && o1.Length == o0.Length && o2.Length == o0.Length && o3.Length == o0.Length);
        int words = _rate / 8;
        for (int offset = 0; offset < o0.Length; offset += _rate)
        {
            if (_squeezed)
            {
                Permute(ref _lanes);
            }

            _squeezed = true;
            for (int w = 0; w < words; w++)
            {
                var v = _lanes[w];
                int at = offset + (8 * w);
                BinaryPrimitives.WriteUInt64LittleEndian(o0.Slice(at, 8), v.GetElement(0));
                BinaryPrimitives.WriteUInt64LittleEndian(o1.Slice(at, 8), v.GetElement(1));
                BinaryPrimitives.WriteUInt64LittleEndian(o2.Slice(at, 8), v.GetElement(2));
                BinaryPrimitives.WriteUInt64LittleEndian(o3.Slice(at, 8), v.GetElement(3));
            }
        }
    }

    /// <summary>Zeroes the four states.</summary>
    public void Clear() => CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes((Span<Vector256<ulong>>)_lanes));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Rol(Vector256<ulong> x, [ConstantExpected] byte n) =>
        Avx512F.VL.IsSupported ? Avx512F.VL.RotateLeft(x, n) : (x << n) | (x >>> (64 - n));

    /// <summary>Keccak-f[1600] on all four states: <see cref="KeccakSponge.Permute"/> with vectors for lanes.</summary>
    [SkipLocalsInit]
    internal static void Permute(ref KeccakX4Lanes a)
    {
        Vector256<ulong> a00 = a[0], a01 = a[1], a02 = a[2], a03 = a[3], a04 = a[4];
        Vector256<ulong> a05 = a[5], a06 = a[6], a07 = a[7], a08 = a[8], a09 = a[9];
        Vector256<ulong> a10 = a[10], a11 = a[11], a12 = a[12], a13 = a[13], a14 = a[14];
        Vector256<ulong> a15 = a[15], a16 = a[16], a17 = a[17], a18 = a[18], a19 = a[19];
        Vector256<ulong> a20 = a[20], a21 = a[21], a22 = a[22], a23 = a[23], a24 = a[24];
        ReadOnlySpan<ulong> rc = KeccakSponge.RoundConstantTable;

        for (int round = 0; round < 24; round++)
        {
            // θ
            Vector256<ulong> c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20;
            Vector256<ulong> c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21;
            Vector256<ulong> c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22;
            Vector256<ulong> c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23;
            Vector256<ulong> c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24;
            Vector256<ulong> d0 = c4 ^ Rol(c1, 1);
            Vector256<ulong> d1 = c0 ^ Rol(c2, 1);
            Vector256<ulong> d2 = c1 ^ Rol(c3, 1);
            Vector256<ulong> d3 = c2 ^ Rol(c4, 1);
            Vector256<ulong> d4 = c3 ^ Rol(c0, 1);

            // ρ and π: B[y, 2x+3y] = rot(A[x, y] ^ D[x], r[x, y]); lane index is x + 5y.
            Vector256<ulong> b00 = a00 ^ d0;
            Vector256<ulong> b10 = Rol(a01 ^ d1, 1);
            Vector256<ulong> b20 = Rol(a02 ^ d2, 62);
            Vector256<ulong> b05 = Rol(a03 ^ d3, 28);
            Vector256<ulong> b15 = Rol(a04 ^ d4, 27);
            Vector256<ulong> b16 = Rol(a05 ^ d0, 36);
            Vector256<ulong> b01 = Rol(a06 ^ d1, 44);
            Vector256<ulong> b11 = Rol(a07 ^ d2, 6);
            Vector256<ulong> b21 = Rol(a08 ^ d3, 55);
            Vector256<ulong> b06 = Rol(a09 ^ d4, 20);
            Vector256<ulong> b07 = Rol(a10 ^ d0, 3);
            Vector256<ulong> b17 = Rol(a11 ^ d1, 10);
            Vector256<ulong> b02 = Rol(a12 ^ d2, 43);
            Vector256<ulong> b12 = Rol(a13 ^ d3, 25);
            Vector256<ulong> b22 = Rol(a14 ^ d4, 39);
            Vector256<ulong> b23 = Rol(a15 ^ d0, 41);
            Vector256<ulong> b08 = Rol(a16 ^ d1, 45);
            Vector256<ulong> b18 = Rol(a17 ^ d2, 15);
            Vector256<ulong> b03 = Rol(a18 ^ d3, 21);
            Vector256<ulong> b13 = Rol(a19 ^ d4, 8);
            Vector256<ulong> b14 = Rol(a20 ^ d0, 18);
            Vector256<ulong> b24 = Rol(a21 ^ d1, 2);
            Vector256<ulong> b09 = Rol(a22 ^ d2, 61);
            Vector256<ulong> b19 = Rol(a23 ^ d3, 56);
            Vector256<ulong> b04 = Rol(a24 ^ d4, 14);

            // χ and ι
            a00 = b00 ^ Avx2.AndNot(b01, b02) ^ Vector256.Create(rc[round]);
            a01 = b01 ^ Avx2.AndNot(b02, b03);
            a02 = b02 ^ Avx2.AndNot(b03, b04);
            a03 = b03 ^ Avx2.AndNot(b04, b00);
            a04 = b04 ^ Avx2.AndNot(b00, b01);
            a05 = b05 ^ Avx2.AndNot(b06, b07);
            a06 = b06 ^ Avx2.AndNot(b07, b08);
            a07 = b07 ^ Avx2.AndNot(b08, b09);
            a08 = b08 ^ Avx2.AndNot(b09, b05);
            a09 = b09 ^ Avx2.AndNot(b05, b06);
            a10 = b10 ^ Avx2.AndNot(b11, b12);
            a11 = b11 ^ Avx2.AndNot(b12, b13);
            a12 = b12 ^ Avx2.AndNot(b13, b14);
            a13 = b13 ^ Avx2.AndNot(b14, b10);
            a14 = b14 ^ Avx2.AndNot(b10, b11);
            a15 = b15 ^ Avx2.AndNot(b16, b17);
            a16 = b16 ^ Avx2.AndNot(b17, b18);
            a17 = b17 ^ Avx2.AndNot(b18, b19);
            a18 = b18 ^ Avx2.AndNot(b19, b15);
            a19 = b19 ^ Avx2.AndNot(b15, b16);
            a20 = b20 ^ Avx2.AndNot(b21, b22);
            a21 = b21 ^ Avx2.AndNot(b22, b23);
            a22 = b22 ^ Avx2.AndNot(b23, b24);
            a23 = b23 ^ Avx2.AndNot(b24, b20);
            a24 = b24 ^ Avx2.AndNot(b20, b21);
        }

        a[0] = a00; a[1] = a01; a[2] = a02; a[3] = a03; a[4] = a04;
        a[5] = a05; a[6] = a06; a[7] = a07; a[8] = a08; a[9] = a09;
        a[10] = a10; a[11] = a11; a[12] = a12; a[13] = a13; a[14] = a14;
        a[15] = a15; a[16] = a16; a[17] = a17; a[18] = a18; a[19] = a19;
        a[20] = a20; a[21] = a21; a[22] = a22; a[23] = a23; a[24] = a24;
    }
}
