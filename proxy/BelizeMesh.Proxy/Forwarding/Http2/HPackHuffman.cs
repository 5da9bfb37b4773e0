namespace BelizeMesh.Proxy.Forwarding.Http2;

/// <summary>
/// The HPACK Huffman code for string literals (RFC 7541 §5.2, Appendix B). The code is canonical: only the 257 code
/// lengths are stored, and the codes follow from them (RFC 7541 Appendix B lists exactly the codes this derivation gives;
/// a test checks every one of them). Decoding finds each code's length by comparing the next 32 input bits, left-aligned,
/// with the upper bound of each length's codes, then indexes the symbols of that length; nothing is allocated per call.
/// </summary>
internal static class HPackHuffman
{
    /// <summary>The end-of-string symbol (RFC 7541 §5.2): never encoded; a string is padded with the top bits of its code.</summary>
    public const int Eos = 256;

    /// <summary>The shortest code length, which bounds a decoded string's length (<see cref="GetMaxDecodedLength"/>).</summary>
    public const int MinCodeLength = 5;

    /// <summary>The longest code length (EOS and three control characters).</summary>
    public const int MaxCodeLength = 30;

    private static readonly CanonicalCode s_code = new();

    /// <summary>The code length in bits of each symbol 0 to 256, from RFC 7541 Appendix B.</summary>
    private static ReadOnlySpan<byte> CodeLengths =>
    [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
        28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 32-47
        5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 48-63
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 64-79
        7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 80-95
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 96-111
        6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 112-127
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
        24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
        21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
        19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
        26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
        30, // 256 (EOS)
    ];

    /// <summary>The code of <paramref name="symbol"/> (0 to 256), right-aligned as in Appendix B's "code as hex" column.</summary>
    public static uint GetCode(int symbol, out int bitLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(symbol);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(symbol, Eos);
        bitLength = CodeLengths[symbol];
        return s_code.Codes[symbol];
    }

    /// <summary>An upper bound of the decoded length of <paramref name="encodedLength"/> Huffman-coded bytes: every code
    /// is at least <see cref="MinCodeLength"/> bits.</summary>
    public static int GetMaxDecodedLength(int encodedLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(encodedLength);
        return (int)Math.Min(int.MaxValue, (long)encodedLength * 8 / MinCodeLength);
    }

    /// <summary>The number of bytes <see cref="Encode"/> writes for <paramref name="source"/>.</summary>
    public static int GetEncodedLength(ReadOnlySpan<byte> source)
    {
        ReadOnlySpan<byte> lengths = CodeLengths;
        long bits = 0;
        foreach (byte b in source)
        {
            bits += lengths[b];
        }

        return checked((int)((bits + 7) / 8));
    }

    /// <summary>
    /// Huffman-codes <paramref name="source"/> into <paramref name="destination"/>, padding the last byte with the most
    /// significant bits of EOS (ones, RFC 7541 §5.2). Returns the bytes written, or -1 when <paramref name="destination"/>
    /// is too small (its contents are then unspecified); <see cref="GetEncodedLength"/> gives the size needed.
    /// </summary>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ReadOnlySpan<byte> lengths = CodeLengths;
        uint[] codes = s_code.Codes;
        ulong bits = 0; // the pending bits are the low bitCount bits (at most 7 + 30)
        int bitCount = 0;
        int written = 0;
        foreach (byte b in source)
        {
            int length = lengths[b];
            bits = (bits << length) | codes[b];
            bitCount += length;
            while (bitCount >= 8)
            {
                if (written == destination.Length)
                {
                    return -1;
                }

                bitCount -= 8;
                destination[written++] = (byte)(bits >> bitCount);
            }
        }

        if (bitCount > 0)
        {
            if (written == destination.Length)
            {
                return -1;
            }

            destination[written++] = (byte)((bits << (8 - bitCount)) | (0xFFu >> bitCount));
        }

        return written;
    }

    /// <summary>
    /// Decodes the Huffman-coded string <paramref name="source"/> into <paramref name="destination"/> and returns the bytes
    /// written (<see cref="GetMaxDecodedLength"/> of the source length always suffices).
    /// </summary>
    /// <exception cref="HPackDecodingException">The string contains EOS, its padding is longer than 7 bits or not the most
    /// significant bits of EOS (RFC 7541 §5.2), or <paramref name="destination"/> is too small.</exception>
    public static int Decode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (!TryDecode(source, destination, out int written))
        {
            throw new HPackDecodingException($"HPACK: a Huffman-coded string of {source.Length} bytes decodes to more than the {destination.Length} bytes available.");
        }

        return written;
    }

    /// <summary>
    /// <see cref="Decode"/>, except that a <paramref name="destination"/> too small returns false (the caller knows why
    /// it bounded the destination and says so); a malformed string still throws.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> source, Span<byte> destination, out int written)
        => DecodeCore(source, destination, countPastEnd: false, out written);

    /// <summary>The length <paramref name="source"/> decodes to, checking it as <see cref="Decode"/> does but keeping
    /// nothing: for a string too long to be kept that must still be valid.</summary>
    public static int GetDecodedLength(ReadOnlySpan<byte> source)
    {
        DecodeCore(source, default, countPastEnd: true, out int length);
        return length;
    }

    /// <summary>Decodes into <paramref name="destination"/>; when it is full, returns false at once, or with
    /// <paramref name="countPastEnd"/> goes on checking and counting (<paramref name="written"/> is then the whole length).</summary>
    private static bool DecodeCore(ReadOnlySpan<byte> source, Span<byte> destination, bool countPastEnd, out int written)
    {
        CanonicalCode code = s_code;
        ulong[] limits = code.Limits;
        uint[] firstCodes = code.FirstCodes;
        int[] firstPositions = code.FirstPositions;
        ushort[] symbols = code.SymbolsInCodeOrder;
        ulong bits = 0; // the unread bits are the low bitCount bits
        int bitCount = 0;
        int read = 0;
        written = 0;
        while (true)
        {
            while (bitCount <= 56 && read < source.Length)
            {
                bits = (bits << 8) | source[read++];
                bitCount += 8;
            }

            if (bitCount == 0)
            {
                break;
            }

            // The next 32 bits, left-aligned; past the end of the input, ones (what padding must be).
            uint window = bitCount >= 32
                ? (uint)(bits >> (bitCount - 32))
                : (uint)(bits << (32 - bitCount)) | (uint.MaxValue >> bitCount);
            int length = MinCodeLength;
            while (window >= limits[length])
            {
                length++; // ends by length 30: the code is complete (Kraft sum 1), so limits[30] is 2^32
            }

            if (length > bitCount)
            {
                break; // the input is exhausted (a refill keeps more than 30 bits otherwise): what is left is padding
            }

            int symbol = symbols[firstPositions[length] + (int)((window >> (32 - length)) - firstCodes[length])];
            if (symbol == Eos)
            {
                throw new HPackDecodingException("HPACK: a Huffman-coded string contains the EOS symbol (RFC 7541 §5.2).");
            }

            if (written < destination.Length)
            {
                destination[written] = (byte)symbol;
            }
            else if (!countPastEnd)
            {
                return false;
            }

            written++;
            bitCount -= length;
        }

        // RFC 7541 §5.2: padding longer than 7 bits, or not the most significant bits of EOS, is a decoding error.
        if (bitCount > 7)
        {
            throw new HPackDecodingException($"HPACK: a Huffman-coded string ends with {bitCount} bits that are not a complete code (padding is at most 7 bits, RFC 7541 §5.2).");
        }

        ulong padMask = (1UL << bitCount) - 1;
        if ((bits & padMask) != padMask)
        {
            throw new HPackDecodingException("HPACK: a Huffman-coded string's padding is not the most significant bits of EOS (all ones, RFC 7541 §5.2).");
        }

        return written <= destination.Length;
    }

    /// <summary>
    /// The canonical code derived from <see cref="CodeLengths"/>: symbols are ordered by (length, symbol), the first code
    /// of each length is the previous length's first code plus its count, shifted left once, and codes of one length are
    /// consecutive.
    /// </summary>
    private sealed class CanonicalCode
    {
        public CanonicalCode()
        {
            ReadOnlySpan<byte> lengths = CodeLengths;
            Span<int> counts = stackalloc int[MaxCodeLength + 1];
            foreach (byte length in lengths)
            {
                counts[length]++;
            }

            int position = 0;
            uint next = 0;
            for (int length = 1; length <= MaxCodeLength; length++)
            {
                next = (next + (uint)counts[length - 1]) << 1;
                FirstCodes[length] = next;
                FirstPositions[length] = position;
                Limits[length] = ((ulong)next + (uint)counts[length]) << (32 - length);
                position += counts[length];
            }

            Span<int> nextPosition = stackalloc int[MaxCodeLength + 1];
            FirstPositions.AsSpan().CopyTo(nextPosition);
            for (int symbol = 0; symbol <= Eos; symbol++)
            {
                int length = lengths[symbol];
                int rank = nextPosition[length]++;
                SymbolsInCodeOrder[rank] = (ushort)symbol;
                Codes[symbol] = FirstCodes[length] + (uint)(rank - FirstPositions[length]);
            }
        }

        /// <summary>Each symbol's code, right-aligned.</summary>
        public uint[] Codes { get; } = new uint[Eos + 1];

        /// <summary>The symbols in code order (by length, then symbol).</summary>
        public ushort[] SymbolsInCodeOrder { get; } = new ushort[Eos + 1];

        /// <summary>Per length: the first code of that length.</summary>
        public uint[] FirstCodes { get; } = new uint[MaxCodeLength + 1];

        /// <summary>Per length: where that length's symbols start in <see cref="SymbolsInCodeOrder"/>.</summary>
        public int[] FirstPositions { get; } = new int[MaxCodeLength + 1];

        /// <summary>Per length: one past its last code, left-aligned on 32 bits; a left-aligned window below it (and not
        /// below the previous length's limit) starts with a code of that length.</summary>
        public ulong[] Limits { get; } = new ulong[MaxCodeLength + 1];
    }
}
