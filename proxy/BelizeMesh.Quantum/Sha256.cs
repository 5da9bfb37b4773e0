using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace BelizeMesh.Quantum;

/// <summary>
/// SHA-256 (FIPS 180-4, section 6.2) in managed code, for the fingerprints and content hashes the sidecar computes while it
/// starts: the policy text (<c>WatchedStore.Fingerprint</c>) and the certificate files (and, when asked for, a
/// certificate's fingerprint). .NET's <see cref="SHA256"/> goes through OpenSSL, whose first use loads and initialises libssl and
/// libcrypto (~8 ms of a ~55 ms start on a paravirtualised VM, perf/README.md "footprint, round 11"); with these hashes
/// managed, nothing before <c>/healthz/ready</c> needs OpenSSL and it loads after. The output is SHA-256's, byte for byte
/// (Sha256Tests compares it with .NET's and with FIPS 180-4's examples).
/// </summary>
/// <remarks>
/// The compression function has no data-dependent branches or table lookups (the round constants are indexed by the
/// round number only), and <see cref="Dispose"/> zeroes the state and the buffered input: one of the inputs is the
/// private key's file. The ACVP runner's SHA-224 (<c>MLDsaExtraHashes</c>) uses the same compression function.
/// </remarks>
public sealed class Sha256 : IDisposable
{
    /// <summary>The digest size in bytes.</summary>
    public const int HashSizeInBytes = 32;

    private const int BlockSize = 64;

    // FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
    private static readonly uint[] s_roundConstants =
    [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    private readonly uint[] _state = new uint[8];
    private readonly byte[] _block = new byte[BlockSize];
    private int _buffered;
    private long _length;

    /// <summary>A hash with nothing appended yet.</summary>
    public Sha256() => Reset();

    /// <summary>SHA-256 of <paramref name="data"/>.</summary>
    public static byte[] HashData(ReadOnlySpan<byte> data)
    {
        using var hash = new Sha256();
        hash.Append(data);
        return hash.GetHashAndReset();
    }

    /// <summary>Adds <paramref name="data"/> to the message.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        _length += data.Length;
        if (_buffered > 0)
        {
            int take = Math.Min(BlockSize - _buffered, data.Length);
            data[..take].CopyTo(_block.AsSpan(_buffered));
            _buffered += take;
            data = data[take..];
            if (_buffered < BlockSize)
            {
                return;
            }

            Compress(_state, _block);
            _buffered = 0;
        }

        while (data.Length >= BlockSize)
        {
            Compress(_state, data[..BlockSize]);
            data = data[BlockSize..];
        }

        data.CopyTo(_block);
        _buffered = data.Length;
    }

    /// <summary>The digest of everything appended (FIPS 180-4 section 5.1.1 padding), after which the hash starts over.</summary>
    public byte[] GetHashAndReset()
    {
        byte[] digest = new byte[HashSizeInBytes];
        long bitLength = _length * 8;
        _block[_buffered++] = 0x80;
        if (_buffered > BlockSize - 8)
        {
            _block.AsSpan(_buffered).Clear();
            Compress(_state, _block);
            _buffered = 0;
        }

        _block.AsSpan(_buffered, BlockSize - 8 - _buffered).Clear();
        BinaryPrimitives.WriteInt64BigEndian(_block.AsSpan(BlockSize - 8), bitLength);
        Compress(_state, _block);
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(digest.AsSpan(4 * i), _state[i]);
        }

        Reset();
        return digest;
    }

    /// <summary>Zeroes the state and the buffered input.</summary>
    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_state.AsSpan()));
        CryptographicOperations.ZeroMemory(_block);
        _buffered = 0;
        _length = 0;
    }

    private void Reset()
    {
        // FIPS 180-4 section 5.3.3: the initial hash value.
        _state[0] = 0x6a09e667;
        _state[1] = 0xbb67ae85;
        _state[2] = 0x3c6ef372;
        _state[3] = 0xa54ff53a;
        _state[4] = 0x510e527f;
        _state[5] = 0x9b05688c;
        _state[6] = 0x1f83d9ab;
        _state[7] = 0x5be0cd19;
        CryptographicOperations.ZeroMemory(_block);
        _buffered = 0;
        _length = 0;
    }

    /// <summary>FIPS 180-4 section 6.2.2: one 512-bit block into the state (SHA-224 shares it, section 6.3).</summary>
    internal static void Compress(Span<uint> state, ReadOnlySpan<byte> block)
    {
        Span<uint> w = stackalloc uint[64];
        for (int t = 0; t < 16; t++)
        {
            w[t] = BinaryPrimitives.ReadUInt32BigEndian(block[(4 * t)..]);
        }

        for (int t = 16; t < 64; t++)
        {
            uint s0 = BitOperations.RotateRight(w[t - 15], 7) ^ BitOperations.RotateRight(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint s1 = BitOperations.RotateRight(w[t - 2], 17) ^ BitOperations.RotateRight(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }

        uint a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
        for (int t = 0; t < 64; t++)
        {
            uint sum1 = BitOperations.RotateRight(e, 6) ^ BitOperations.RotateRight(e, 11) ^ BitOperations.RotateRight(e, 25);
            uint choose = (e & f) ^ (~e & g);
            uint t1 = h + sum1 + choose + s_roundConstants[t] + w[t];
            uint sum0 = BitOperations.RotateRight(a, 2) ^ BitOperations.RotateRight(a, 13) ^ BitOperations.RotateRight(a, 22);
            uint majority = (a & b) ^ (a & c) ^ (b & c);
            uint t2 = sum0 + majority;
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }

        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        state[5] += f;
        state[6] += g;
        state[7] += h;
        CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(w));
    }
}
