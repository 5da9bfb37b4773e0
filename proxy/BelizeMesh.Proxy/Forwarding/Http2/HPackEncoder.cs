using System.Buffers;
using System.Text;

namespace BelizeMesh.Proxy.Forwarding.Http2;

/// <summary>
/// Writes HPACK representations (RFC 7541 §5, §6) for a client that never uses the dynamic table: indexed fields and
/// literals without indexing, strings raw (H bit 0, no Huffman). Every writer returns the number of bytes written, or -1
/// when <c>dest</c> is too small; <c>dest</c>'s contents are then unspecified and nothing else has changed, so the caller
/// can retry with a larger buffer (<see cref="MaxLiteralLength"/> gives a size that always suffices for a literal).
/// </summary>
internal static class HPackEncoder
{
    /// <summary>The most bytes an integer takes with any prefix: the first byte and 5 continuation bytes (31 bits).</summary>
    public const int MaxIntegerLength = 6;

    /// <summary>The number of bytes <see cref="WriteInteger"/> writes for <paramref name="value"/> with an N-bit prefix.</summary>
    public static int GetIntegerLength(int value, int prefixBits)
    {
        ValidateInteger(value, prefixBits);
        int mask = (1 << prefixBits) - 1;
        if (value < mask)
        {
            return 1;
        }

        int length = 2;
        for (int rest = value - mask; rest >= 0x80; rest >>= 7)
        {
            length++;
        }

        return length;
    }

    /// <summary>
    /// An upper bound of the bytes any literal of this class takes with a <paramref name="nameLength"/>-byte literal name
    /// (0 when the name is a static index) and a <paramref name="valueLength"/>-byte value, so a caller can reserve space.
    /// </summary>
    public static int MaxLiteralLength(int nameLength, int valueLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nameLength);
        ArgumentOutOfRangeException.ThrowIfNegative(valueLength);

        // The first byte with a static name index (at most 61: two bytes with a 4-bit prefix), or 0x00 then the name string.
        int nameLengthBound = Math.Max(2, checked(1 + GetIntegerLength(nameLength, 7) + nameLength));
        return checked(nameLengthBound + GetIntegerLength(valueLength, 7) + valueLength);
    }

    /// <summary>
    /// Writes <paramref name="value"/> as an integer with a <paramref name="prefixBits"/>-bit prefix (RFC 7541 §5.1);
    /// <paramref name="firstByteFlags"/> are the bits above the prefix in the first byte (the representation's pattern).
    /// </summary>
    public static int WriteInteger(int value, int prefixBits, byte firstByteFlags, Span<byte> dest)
    {
        ValidateInteger(value, prefixBits);
        int mask = (1 << prefixBits) - 1;
        if ((firstByteFlags & mask) != 0)
        {
            throw new ArgumentException($"The flags 0x{firstByteFlags:x2} overlap the {prefixBits}-bit prefix.", nameof(firstByteFlags));
        }

        if (dest.IsEmpty)
        {
            return -1;
        }

        if (value < mask)
        {
            dest[0] = (byte)(firstByteFlags | value);
            return 1;
        }

        dest[0] = (byte)(firstByteFlags | mask);
        int rest = value - mask;
        int pos = 1;
        while (rest >= 0x80)
        {
            if (pos == dest.Length)
            {
                return -1;
            }

            dest[pos++] = (byte)((rest & 0x7F) | 0x80);
            rest >>= 7;
        }

        if (pos == dest.Length)
        {
            return -1;
        }

        dest[pos++] = (byte)rest;
        return pos;
    }

    /// <summary>An indexed header field (RFC 7541 §6.1): the whole field is entry <paramref name="index"/> (1 or more).</summary>
    public static int WriteIndexed(int index, Span<byte> dest)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(index, 1);
        return WriteInteger(index, 7, 0x80, dest);
    }

    /// <summary>A literal header field without indexing (RFC 7541 §6.2.2) whose name is static entry
    /// <paramref name="staticNameIndex"/> (1 to 61).</summary>
    public static int WriteLiteralWithoutIndexing(int staticNameIndex, ReadOnlySpan<byte> value, Span<byte> dest)
    {
        int pos = WriteStaticNamePrefix(staticNameIndex, dest);
        return pos < 0 ? -1 : Add(pos, WriteString(value, dest.Slice(pos)));
    }

    /// <summary><see cref="WriteLiteralWithoutIndexing(int, ReadOnlySpan{byte}, Span{byte})"/> with the value as Latin-1
    /// characters (each at most 0xFF; the caller has validated them), narrowed straight into <paramref name="dest"/>.</summary>
    public static int WriteLiteralWithoutIndexing(int staticNameIndex, ReadOnlySpan<char> value, Span<byte> dest)
    {
        int pos = WriteStaticNamePrefix(staticNameIndex, dest);
        return pos < 0 ? -1 : Add(pos, WriteString(value, dest.Slice(pos)));
    }

    /// <summary>A literal header field without indexing (RFC 7541 §6.2.2) with a literal name, written as given (HTTP/2
    /// names are lower-case: the caller lower-cases).</summary>
    public static int WriteLiteralWithoutIndexingNewName(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, Span<byte> dest)
    {
        int pos = WriteNewNamePrefix(name, dest);
        return pos < 0 ? -1 : Add(pos, WriteString(value, dest.Slice(pos)));
    }

    /// <summary><see cref="WriteLiteralWithoutIndexingNewName(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/> with
    /// the value as Latin-1 characters (each at most 0xFF; the caller has validated them).</summary>
    public static int WriteLiteralWithoutIndexingNewName(ReadOnlySpan<byte> name, ReadOnlySpan<char> value, Span<byte> dest)
    {
        int pos = WriteNewNamePrefix(name, dest);
        return pos < 0 ? -1 : Add(pos, WriteString(value, dest.Slice(pos)));
    }

    /// <summary>
    /// A literal header field without indexing (RFC 7541 §6.2.2) with a literal name given as characters, written
    /// lower-cased (ASCII) as HTTP/2 requires, and the value as Latin-1 characters: a header straight from its strings.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> has a non-ASCII character.</exception>
    public static int WriteLiteralWithoutIndexingLowerCasedName(ReadOnlySpan<char> name, ReadOnlySpan<char> value, Span<byte> dest)
    {
        if (dest.IsEmpty)
        {
            return -1;
        }

        dest[0] = 0x00; // §6.2.2 with name index 0: the name follows as a string
        int lengthBytes = WriteInteger(name.Length, 7, 0x00, dest.Slice(1));
        if (lengthBytes < 0 || dest.Length - 1 - lengthBytes < name.Length)
        {
            return -1;
        }

        int pos = 1 + lengthBytes;
        OperationStatus status = Ascii.ToLower(name, dest.Slice(pos, name.Length), out int written);
        if (status != OperationStatus.Done || written != name.Length)
        {
            throw new ArgumentException("A header name must be ASCII.", nameof(name));
        }

        pos += name.Length;
        return Add(pos, WriteString(value, dest.Slice(pos)));
    }

    /// <summary>A string literal (RFC 7541 §5.2), raw: H bit 0, the 7-bit-prefix length, the bytes.</summary>
    private static int WriteString(ReadOnlySpan<byte> value, Span<byte> dest)
    {
        int pos = WriteInteger(value.Length, 7, 0x00, dest);
        if (pos < 0 || dest.Length - pos < value.Length)
        {
            return -1;
        }

        value.CopyTo(dest.Slice(pos));
        return pos + value.Length;
    }

    /// <summary><see cref="WriteString(ReadOnlySpan{byte}, Span{byte})"/> from Latin-1 characters, one byte each.</summary>
    private static int WriteString(ReadOnlySpan<char> value, Span<byte> dest)
    {
        int pos = WriteInteger(value.Length, 7, 0x00, dest);
        if (pos < 0 || dest.Length - pos < value.Length)
        {
            return -1;
        }

        Encoding.Latin1.GetBytes(value, dest.Slice(pos, value.Length));
        return pos + value.Length;
    }

    /// <summary>The first bytes of §6.2.2 with an indexed name: 0000 and the index on a 4-bit prefix.</summary>
    private static int WriteStaticNamePrefix(int staticNameIndex, Span<byte> dest)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(staticNameIndex, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(staticNameIndex, HPackStaticTable.Count);
        return WriteInteger(staticNameIndex, 4, 0x00, dest);
    }

    /// <summary>The first bytes of §6.2.2 with a literal name: 0x00, then the name string.</summary>
    private static int WriteNewNamePrefix(ReadOnlySpan<byte> name, Span<byte> dest)
    {
        if (dest.IsEmpty)
        {
            return -1;
        }

        dest[0] = 0x00;
        int nameBytes = WriteString(name, dest.Slice(1));
        return nameBytes < 0 ? -1 : 1 + nameBytes;
    }

    private static int Add(int pos, int written) => written < 0 ? -1 : pos + written;

    private static void ValidateInteger(int value, int prefixBits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefixBits, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixBits, 8);
    }
}
