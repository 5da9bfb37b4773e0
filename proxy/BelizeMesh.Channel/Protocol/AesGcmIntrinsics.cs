using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using X86Aes = System.Runtime.Intrinsics.X86.Aes;

namespace BelizeMesh.Channel.Protocol;

/// <summary>
/// AES-256-GCM (NIST SP 800-38D) with a 96-bit nonce and a 128-bit tag, on the CPU's AES-NI and PCLMULQDQ instructions,
/// for every record of the channel. .NET's <see cref="AesGcm"/> goes through OpenSSL's EVP interface: five to six
/// interop calls per record, ~1.3 µs for a 300-byte record where this takes ~0.3 µs (perf/README.md, "data path,
/// eleventh session"); with eight blocks per step (AESENC's latency hidden behind eight independent blocks) and GHASH
/// on VPCLMULQDQ where the CPU has it, it is also faster than OpenSSL's bulk code up to the largest (16 KiB) record
/// (twelfth session).
/// <para>
/// Constant time: AES rounds are <c>AESENC</c>/<c>AESENCLAST</c> (no tables), GHASH multiplies with <c>PCLMULQDQ</c>
/// (or <c>VPCLMULQDQ</c>, chosen by the CPU alone);
/// the only branches depend on lengths. The tag is compared with <see cref="CryptographicOperations.FixedTimeEquals"/>,
/// and a record that fails authentication leaves its destination zeroed. Round keys and powers of H are zeroed on
/// <see cref="Dispose"/>.
/// </para>
/// <para>
/// GHASH works in the byte-reversed domain of Gueron and Kounavis ("Intel Carry-Less Multiplication Instruction and its
/// Usage for Computing the GCM Mode"): each block is byte-swapped so that its bit-reflected polynomial sits in one
/// 128-bit integer, the carry-less product is shifted left by one bit and reduced modulo x^128 + x^7 + x^2 + x + 1.
/// Both steps are linear, so eight products (by H^8, …, H) — or four, or one at the tail — are summed before one shift
/// and reduction.
/// </para>
/// Nothing changes after construction but <see cref="Dispose"/>: encrypt and decrypt calls may run concurrently.
/// </summary>
internal sealed class AesGcmIntrinsics : IDisposable
{
    public const int KeyLength = 32;
    public const int NonceLength = 12;
    public const int TagLength = 16;

    private const int Rounds = 14; // AES-256, FIPS 197 §5 (Nr = 14)

    private static readonly Vector128<byte> s_reverse = Vector128.Create((byte)15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);

    private readonly Vector128<byte>[] _roundKeys = new Vector128<byte>[Rounds + 1];
    private readonly Vector128<ulong>[] _hPowers = new Vector128<ulong>[8]; // H, H^2, …, H^8, byte-reversed
    // (H^2, H), (H^4, H^3), (H^6, H^5), (H^8, H^7) for VPCLMULQDQ; empty where it is not available (the AOT build).
    private readonly Vector256<ulong>[] _hPowerPairs = Pclmulqdq.V256.IsSupported ? new Vector256<ulong>[4] : [];
    private readonly bool _wideMultiply;
    private bool _disposed;

    /// <summary>True where the CPU has AES-NI, PCLMULQDQ and SSSE3 (every x86-64-v3 processor the sidecar ships for).</summary>
    public static bool IsSupported => X86Aes.IsSupported && Pclmulqdq.IsSupported && Ssse3.IsSupported;

    public AesGcmIntrinsics(ReadOnlySpan<byte> key)
        : this(key, wideMultiply: true)
    {
    }

    /// <summary>
    /// <paramref name="wideMultiply"/> false keeps GHASH on 128-bit PCLMULQDQ even where VPCLMULQDQ exists (tests: both
    /// paths checked on one CPU).
    /// </summary>
    internal AesGcmIntrinsics(ReadOnlySpan<byte> key, bool wideMultiply)
    {
        _wideMultiply = wideMultiply;
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException("AES-NI and PCLMULQDQ are not available on this CPU");
        }

        if (key.Length != KeyLength)
        {
            throw new ArgumentException($"an AES-256 key is {KeyLength} bytes, not {key.Length}", nameof(key));
        }

        ExpandKey(key, _roundKeys);

        // SP 800-38D §6.4 (Algorithm 4, step 1): H = CIPH_K(0^128).
        Vector128<ulong> h = Reflect(EncryptBlock(Vector128<byte>.Zero));
        _hPowers[0] = h;
        for (int p = 1; p < _hPowers.Length; p++)
        {
            _hPowers[p] = Multiply(_hPowers[p - 1], h);
        }

        for (int p = 0; p < _hPowerPairs.Length; p++)
        {
            // The lower lane multiplies the earlier block of a pair, which takes the higher power.
            _hPowerPairs[p] = Vector256.Create(_hPowers[(2 * p) + 1], _hPowers[2 * p]);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(_roundKeys.AsSpan()));
        CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(_hPowers.AsSpan()));
        CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(_hPowerPairs.AsSpan()));
    }

    /// <summary>GCM-AE (SP 800-38D Algorithm 4). <paramref name="ciphertext"/> may be <paramref name="plaintext"/> itself.</summary>
    public void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        CheckArguments(nonce, plaintext.Length, ciphertext.Length, tag.Length);
        Vector128<byte> s = Crypt(nonce, plaintext, ciphertext, associatedData, encrypting: true, out Vector128<byte> tagMask);
        (s ^ tagMask).CopyTo(tag);
    }

    /// <summary>
    /// GCM-AD (SP 800-38D Algorithm 5). <paramref name="plaintext"/> may be <paramref name="ciphertext"/> itself; on a
    /// tag mismatch it is zeroed and <see cref="AuthenticationTagMismatchException"/> thrown.
    /// </summary>
    public void Decrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        CheckArguments(nonce, plaintext.Length, ciphertext.Length, tag.Length);
        Vector128<byte> s = Crypt(nonce, ciphertext, plaintext, associatedData, encrypting: false, out Vector128<byte> tagMask);
        Span<byte> expected = stackalloc byte[TagLength];
        (s ^ tagMask).CopyTo(expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, tag))
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw new AuthenticationTagMismatchException();
        }
    }

    private void CheckArguments(ReadOnlySpan<byte> nonce, int inputLength, int outputLength, int tagLength)
    {
        // After Dispose the round keys are zero: refuse rather than encrypt under a known key.
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (nonce.Length != NonceLength)
        {
            throw new ArgumentException($"the nonce is {NonceLength} bytes, not {nonce.Length}", nameof(nonce));
        }

        if (tagLength != TagLength)
        {
            throw new ArgumentException($"the tag is {TagLength} bytes, not {tagLength}", "tag");
        }

        if (inputLength != outputLength)
        {
            throw new ArgumentException($"input ({inputLength} bytes) and output ({outputLength} bytes) must have the same length");
        }
    }

    /// <summary>
    /// GCTR over <paramref name="input"/> from inc32(J0) and GHASH over A || 0^v || C || 0^u || [len(A)]64 || [len(C)]64
    /// (SP 800-38D Algorithm 4 steps 2–6, Algorithm 5 steps 3–7); returns S in block byte order and, in
    /// <paramref name="tagMask"/>, CIPH_K(J0).
    /// </summary>
    private Vector128<byte> Crypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> input, Span<byte> output, ReadOnlySpan<byte> associatedData, bool encrypting, out Vector128<byte> tagMask)
    {
        // J0 = IV || 0^31 || 1 for a 96-bit IV. The counter is kept byte-reversed, so inc32 is an add to lane 0.
        Span<byte> j0 = stackalloc byte[16];
        nonce.CopyTo(j0);
        j0[12] = 0;
        j0[13] = 0;
        j0[14] = 0;
        j0[15] = 1;
        Vector128<int> counter = Ssse3.Shuffle(Vector128.Create((ReadOnlySpan<byte>)j0), s_reverse).AsInt32();
        Vector128<int> one = Vector128.Create(1, 0, 0, 0);
        tagMask = EncryptBlock(Ssse3.Shuffle(counter.AsByte(), s_reverse));

        Vector128<byte>[] rk = _roundKeys;
        Vector128<ulong>[] hp = _hPowers;
        Vector128<ulong> h1 = hp[0], h2 = hp[1], h3 = hp[2], h4 = hp[3];
        Vector256<ulong>[] hp2 = _hPowerPairs;
        Vector128<ulong> x = GhashPadded(Vector128<ulong>.Zero, associatedData, h1);

        int length = input.Length;
        ref byte source = ref MemoryMarshal.GetReference(input);
        ref byte destination = ref MemoryMarshal.GetReference(output);
        int i = 0;
        for (; i + 128 <= length; i += 128)
        {
            // Eight blocks at once: AESENC's latency is several cycles, and eight independent blocks keep its units busy.
            Vector128<byte> k = rk[0];
            Vector128<byte> b0 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            Vector128<byte> b1 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            Vector128<byte> b2 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            Vector128<byte> b3 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            Vector128<byte> b4 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            Vector128<byte> b5 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            Vector128<byte> b6 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            Vector128<byte> b7 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            for (int r = 1; r < Rounds; r++)
            {
                k = rk[r];
                b0 = X86Aes.Encrypt(b0, k);
                b1 = X86Aes.Encrypt(b1, k);
                b2 = X86Aes.Encrypt(b2, k);
                b3 = X86Aes.Encrypt(b3, k);
                b4 = X86Aes.Encrypt(b4, k);
                b5 = X86Aes.Encrypt(b5, k);
                b6 = X86Aes.Encrypt(b6, k);
                b7 = X86Aes.Encrypt(b7, k);
            }

            k = rk[Rounds];
            ref byte from = ref Unsafe.Add(ref source, i);
            ref byte to = ref Unsafe.Add(ref destination, i);
            Vector128<byte> in0 = Vector128.LoadUnsafe(ref from, 0);
            Vector128<byte> in1 = Vector128.LoadUnsafe(ref from, 16);
            Vector128<byte> in2 = Vector128.LoadUnsafe(ref from, 32);
            Vector128<byte> in3 = Vector128.LoadUnsafe(ref from, 48);
            Vector128<byte> in4 = Vector128.LoadUnsafe(ref from, 64);
            Vector128<byte> in5 = Vector128.LoadUnsafe(ref from, 80);
            Vector128<byte> in6 = Vector128.LoadUnsafe(ref from, 96);
            Vector128<byte> in7 = Vector128.LoadUnsafe(ref from, 112);
            Vector128<byte> out0 = X86Aes.EncryptLast(b0, k) ^ in0;
            Vector128<byte> out1 = X86Aes.EncryptLast(b1, k) ^ in1;
            Vector128<byte> out2 = X86Aes.EncryptLast(b2, k) ^ in2;
            Vector128<byte> out3 = X86Aes.EncryptLast(b3, k) ^ in3;
            Vector128<byte> out4 = X86Aes.EncryptLast(b4, k) ^ in4;
            Vector128<byte> out5 = X86Aes.EncryptLast(b5, k) ^ in5;
            Vector128<byte> out6 = X86Aes.EncryptLast(b6, k) ^ in6;
            Vector128<byte> out7 = X86Aes.EncryptLast(b7, k) ^ in7;
            out0.StoreUnsafe(ref to, 0);
            out1.StoreUnsafe(ref to, 16);
            out2.StoreUnsafe(ref to, 32);
            out3.StoreUnsafe(ref to, 48);
            out4.StoreUnsafe(ref to, 64);
            out5.StoreUnsafe(ref to, 80);
            out6.StoreUnsafe(ref to, 96);
            out7.StoreUnsafe(ref to, 112);

            // X = (X ^ C0)·H^8 ^ C1·H^7 ^ … ^ C7·H, one reduction for the eight products.
            Vector128<ulong> lo, mid, hi;
            if (Pclmulqdq.V256.IsSupported && _wideMultiply)
            {
                // VPCLMULQDQ: two blocks per instruction, each 128-bit lane with its own power of H.
                Vector256<ulong> lo2 = default, mid2 = default, hi2 = default;
                MultiplyAccumulate(Pair(x ^ Reflect(encrypting ? out0 : in0), Reflect(encrypting ? out1 : in1)), hp2[3], ref lo2, ref mid2, ref hi2);
                MultiplyAccumulate(Pair(Reflect(encrypting ? out2 : in2), Reflect(encrypting ? out3 : in3)), hp2[2], ref lo2, ref mid2, ref hi2);
                MultiplyAccumulate(Pair(Reflect(encrypting ? out4 : in4), Reflect(encrypting ? out5 : in5)), hp2[1], ref lo2, ref mid2, ref hi2);
                MultiplyAccumulate(Pair(Reflect(encrypting ? out6 : in6), Reflect(encrypting ? out7 : in7)), hp2[0], ref lo2, ref mid2, ref hi2);
                lo = lo2.GetLower() ^ lo2.GetUpper();
                mid = mid2.GetLower() ^ mid2.GetUpper();
                hi = hi2.GetLower() ^ hi2.GetUpper();
            }
            else
            {
                lo = default;
                mid = default;
                hi = default;
                MultiplyAccumulate(x ^ Reflect(encrypting ? out0 : in0), hp[7], ref lo, ref mid, ref hi);
                MultiplyAccumulate(Reflect(encrypting ? out1 : in1), hp[6], ref lo, ref mid, ref hi);
                MultiplyAccumulate(Reflect(encrypting ? out2 : in2), hp[5], ref lo, ref mid, ref hi);
                MultiplyAccumulate(Reflect(encrypting ? out3 : in3), hp[4], ref lo, ref mid, ref hi);
                MultiplyAccumulate(Reflect(encrypting ? out4 : in4), h4, ref lo, ref mid, ref hi);
                MultiplyAccumulate(Reflect(encrypting ? out5 : in5), h3, ref lo, ref mid, ref hi);
                MultiplyAccumulate(Reflect(encrypting ? out6 : in6), h2, ref lo, ref mid, ref hi);
                MultiplyAccumulate(Reflect(encrypting ? out7 : in7), h1, ref lo, ref mid, ref hi);
            }

            x = Reduce(lo, mid, hi);
        }

        for (; i + 64 <= length; i += 64)
        {
            Vector128<byte> k = rk[0];
            Vector128<byte> b0 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            Vector128<byte> b1 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            Vector128<byte> b2 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            Vector128<byte> b3 = Ssse3.Shuffle((counter += one).AsByte(), s_reverse) ^ k;
            for (int r = 1; r < Rounds; r++)
            {
                k = rk[r];
                b0 = X86Aes.Encrypt(b0, k);
                b1 = X86Aes.Encrypt(b1, k);
                b2 = X86Aes.Encrypt(b2, k);
                b3 = X86Aes.Encrypt(b3, k);
            }

            k = rk[Rounds];
            Vector128<byte> in0 = Vector128.LoadUnsafe(ref source, (nuint)i);
            Vector128<byte> in1 = Vector128.LoadUnsafe(ref source, (nuint)(i + 16));
            Vector128<byte> in2 = Vector128.LoadUnsafe(ref source, (nuint)(i + 32));
            Vector128<byte> in3 = Vector128.LoadUnsafe(ref source, (nuint)(i + 48));
            Vector128<byte> out0 = X86Aes.EncryptLast(b0, k) ^ in0;
            Vector128<byte> out1 = X86Aes.EncryptLast(b1, k) ^ in1;
            Vector128<byte> out2 = X86Aes.EncryptLast(b2, k) ^ in2;
            Vector128<byte> out3 = X86Aes.EncryptLast(b3, k) ^ in3;
            out0.StoreUnsafe(ref destination, (nuint)i);
            out1.StoreUnsafe(ref destination, (nuint)(i + 16));
            out2.StoreUnsafe(ref destination, (nuint)(i + 32));
            out3.StoreUnsafe(ref destination, (nuint)(i + 48));

            // X = (((X ^ C0)·H ^ C1)·H ^ C2)·H ^ C3)·H = (X ^ C0)·H^4 ^ C1·H^3 ^ C2·H^2 ^ C3·H
            Vector128<ulong> lo = default, mid = default, hi = default;
            MultiplyAccumulate(x ^ Reflect(encrypting ? out0 : in0), h4, ref lo, ref mid, ref hi);
            MultiplyAccumulate(Reflect(encrypting ? out1 : in1), h3, ref lo, ref mid, ref hi);
            MultiplyAccumulate(Reflect(encrypting ? out2 : in2), h2, ref lo, ref mid, ref hi);
            MultiplyAccumulate(Reflect(encrypting ? out3 : in3), h1, ref lo, ref mid, ref hi);
            x = Reduce(lo, mid, hi);
        }

        for (; i + 16 <= length; i += 16)
        {
            Vector128<byte> block = Vector128.LoadUnsafe(ref source, (nuint)i);
            Vector128<byte> result = EncryptBlock(Ssse3.Shuffle((counter += one).AsByte(), s_reverse)) ^ block;
            result.StoreUnsafe(ref destination, (nuint)i);
            x = Multiply(x ^ Reflect(encrypting ? result : block), h1);
        }

        if (i < length)
        {
            // The partial last block: MSB_u of the key stream (GCTR step 4); GHASH sees the ciphertext padded with zeros.
            int tail = length - i;
            Span<byte> last = stackalloc byte[16];
            last.Clear();
            input[i..].CopyTo(last);
            Vector128<byte> block = Vector128.Create((ReadOnlySpan<byte>)last);
            Vector128<byte> result = EncryptBlock(Ssse3.Shuffle((counter += one).AsByte(), s_reverse)) ^ block;
            result.CopyTo(last);
            last[..tail].CopyTo(output[i..]);
            last[tail..].Clear();
            Vector128<byte> cipherBlock = encrypting ? Vector128.Create((ReadOnlySpan<byte>)last) : block;
            CryptographicOperations.ZeroMemory(last);
            x = Multiply(x ^ Reflect(cipherBlock), h1);
        }

        // [len(A)]64 || [len(C)]64, byte-reversed: len(C) in the low lane.
        Vector128<ulong> lengths = Vector128.Create((ulong)length * 8, (ulong)associatedData.Length * 8);
        x = Multiply(x ^ lengths, h1);
        return Ssse3.Shuffle(x.AsByte(), s_reverse);
    }

    /// <summary>GHASH over <paramref name="data"/> padded with zeros to whole blocks (SP 800-38D Algorithm 2).</summary>
    private static Vector128<ulong> GhashPadded(Vector128<ulong> x, ReadOnlySpan<byte> data, Vector128<ulong> h)
    {
        int full = data.Length & ~15;
        ref byte start = ref MemoryMarshal.GetReference(data);
        for (int i = 0; i < full; i += 16)
        {
            x = Multiply(x ^ Reflect(Vector128.LoadUnsafe(ref start, (nuint)i)), h);
        }

        if (full < data.Length)
        {
            Span<byte> last = stackalloc byte[16];
            last.Clear();
            data[full..].CopyTo(last);
            x = Multiply(x ^ Reflect(Vector128.Create((ReadOnlySpan<byte>)last)), h);
        }

        return x;
    }

    /// <summary>AES-256 key expansion (FIPS 197 §5.2, KeyExpansion) with AESKEYGENASSIST: 15 round keys.</summary>
    private static void ExpandKey(ReadOnlySpan<byte> key, Vector128<byte>[] rk)
    {
        Vector128<byte> even = Vector128.Create(key[..16]);
        Vector128<byte> odd = Vector128.Create(key[16..]);
        rk[0] = even;
        rk[1] = odd;
        rk[2] = even = NextEven(even, X86Aes.KeygenAssist(odd, 0x01));
        rk[3] = odd = NextOdd(odd, X86Aes.KeygenAssist(even, 0));
        rk[4] = even = NextEven(even, X86Aes.KeygenAssist(odd, 0x02));
        rk[5] = odd = NextOdd(odd, X86Aes.KeygenAssist(even, 0));
        rk[6] = even = NextEven(even, X86Aes.KeygenAssist(odd, 0x04));
        rk[7] = odd = NextOdd(odd, X86Aes.KeygenAssist(even, 0));
        rk[8] = even = NextEven(even, X86Aes.KeygenAssist(odd, 0x08));
        rk[9] = odd = NextOdd(odd, X86Aes.KeygenAssist(even, 0));
        rk[10] = even = NextEven(even, X86Aes.KeygenAssist(odd, 0x10));
        rk[11] = odd = NextOdd(odd, X86Aes.KeygenAssist(even, 0));
        rk[12] = even = NextEven(even, X86Aes.KeygenAssist(odd, 0x20));
        rk[13] = NextOdd(odd, X86Aes.KeygenAssist(even, 0));
        rk[14] = NextEven(even, X86Aes.KeygenAssist(rk[13], 0x40));
    }

    /// <summary>The first four words of an 8-word group: w[i] = w[i-8] ^ SubWord(RotWord(w[i-1])) ^ Rcon, and on.</summary>
    private static Vector128<byte> NextEven(Vector128<byte> previous, Vector128<byte> assist) =>
        ExpandWords(previous, Sse2.Shuffle(assist.AsInt32(), 0xFF).AsByte());

    /// <summary>The last four (Nk = 8): w[i] = w[i-8] ^ SubWord(w[i-1]), and on.</summary>
    private static Vector128<byte> NextOdd(Vector128<byte> previous, Vector128<byte> assist) =>
        ExpandWords(previous, Sse2.Shuffle(assist.AsInt32(), 0xAA).AsByte());

    /// <summary>Each word of <paramref name="previous"/> xored with all words before it, then with the broadcast <paramref name="word"/>.</summary>
    private static Vector128<byte> ExpandWords(Vector128<byte> previous, Vector128<byte> word)
    {
        previous ^= Sse2.ShiftLeftLogical128BitLane(previous, 4);
        previous ^= Sse2.ShiftLeftLogical128BitLane(previous, 4);
        previous ^= Sse2.ShiftLeftLogical128BitLane(previous, 4);
        return previous ^ word;
    }

    /// <summary>CIPH_K of one block (FIPS 197 §5.1, Cipher).</summary>
    private Vector128<byte> EncryptBlock(Vector128<byte> block)
    {
        Vector128<byte>[] rk = _roundKeys;
        block ^= rk[0];
        for (int r = 1; r < Rounds; r++)
        {
            block = X86Aes.Encrypt(block, rk[r]);
        }

        return X86Aes.EncryptLast(block, rk[Rounds]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Reflect(Vector128<byte> block) => Ssse3.Shuffle(block, s_reverse).AsUInt64();

    /// <summary>The 256-bit carry-less product a·b added into lo, mid (the two cross terms) and hi, unreduced.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MultiplyAccumulate(Vector128<ulong> a, Vector128<ulong> b, ref Vector128<ulong> lo, ref Vector128<ulong> mid, ref Vector128<ulong> hi)
    {
        lo ^= Pclmulqdq.CarrylessMultiply(a, b, 0x00);
        hi ^= Pclmulqdq.CarrylessMultiply(a, b, 0x11);
        mid ^= Pclmulqdq.CarrylessMultiply(a, b, 0x01) ^ Pclmulqdq.CarrylessMultiply(a, b, 0x10);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Pair(Vector128<ulong> first, Vector128<ulong> second) => Vector256.Create(first, second);

    /// <summary>Two carry-less products at once (VPCLMULQDQ), lane by lane, added into lo, mid and hi unreduced.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MultiplyAccumulate(Vector256<ulong> a, Vector256<ulong> b, ref Vector256<ulong> lo, ref Vector256<ulong> mid, ref Vector256<ulong> hi)
    {
        lo ^= Pclmulqdq.V256.CarrylessMultiply(a, b, 0x00);
        hi ^= Pclmulqdq.V256.CarrylessMultiply(a, b, 0x11);
        mid ^= Pclmulqdq.V256.CarrylessMultiply(a, b, 0x01) ^ Pclmulqdq.V256.CarrylessMultiply(a, b, 0x10);
    }

    private static Vector128<ulong> Multiply(Vector128<ulong> a, Vector128<ulong> b)
    {
        Vector128<ulong> lo = default, mid = default, hi = default;
        MultiplyAccumulate(a, b, ref lo, ref mid, ref hi);
        return Reduce(lo, mid, hi);
    }

    /// <summary>
    /// hi:lo (with the cross terms in mid) shifted left one bit — the product of two bit-reflected operands is reflected
    /// one place short — and reduced modulo the GCM polynomial in its reflected form.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Reduce(Vector128<ulong> lo, Vector128<ulong> mid, Vector128<ulong> hi)
    {
        Vector128<uint> low = (lo ^ Sse2.ShiftLeftLogical128BitLane(mid.AsByte(), 8).AsUInt64()).AsUInt32();
        Vector128<uint> high = (hi ^ Sse2.ShiftRightLogical128BitLane(mid.AsByte(), 8).AsUInt64()).AsUInt32();

        // 256-bit shift left by one, across the 32-bit lanes and from low into high.
        Vector128<uint> lowCarry = Sse2.ShiftRightLogical(low, 31);
        Vector128<uint> highCarry = Sse2.ShiftRightLogical(high, 31);
        Vector128<uint> across = Sse2.ShiftRightLogical128BitLane(lowCarry.AsByte(), 12).AsUInt32();
        low = Sse2.ShiftLeftLogical(low, 1) | Sse2.ShiftLeftLogical128BitLane(lowCarry.AsByte(), 4).AsUInt32();
        high = Sse2.ShiftLeftLogical(high, 1) | Sse2.ShiftLeftLogical128BitLane(highCarry.AsByte(), 4).AsUInt32() | across;

        // Fold the low half by x^128 = x^7 + x^2 + x + 1: first the bits that cross into the next words (<< 31, 30, 25),
        // then the shifts by 1, 2 and 7 with those carries.
        Vector128<uint> fold = Sse2.ShiftLeftLogical(low, 31) ^ Sse2.ShiftLeftLogical(low, 30) ^ Sse2.ShiftLeftLogical(low, 25);
        Vector128<uint> foldCarry = Sse2.ShiftRightLogical128BitLane(fold.AsByte(), 4).AsUInt32();
        low ^= Sse2.ShiftLeftLogical128BitLane(fold.AsByte(), 12).AsUInt32();
        low ^= Sse2.ShiftRightLogical(low, 1) ^ Sse2.ShiftRightLogical(low, 2) ^ Sse2.ShiftRightLogical(low, 7) ^ foldCarry;
        return (high ^ low).AsUInt64();
    }
}
