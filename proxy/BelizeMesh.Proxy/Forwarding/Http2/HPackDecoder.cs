namespace BelizeMesh.Proxy.Forwarding.Http2;

/// <summary>Receives the fields <see cref="HPackDecoder.Decode"/> decodes, once per field, in order.</summary>
internal interface IHPackHeaderSink
{
    /// <summary>
    /// One decoded field. <paramref name="staticIndex"/>: the RFC 7541 static-table index when the field's name came from
    /// the static table (1 to 61, for an indexed field or a literal with an indexed name referring to the static table),
    /// else 0. The spans are valid only during the call.
    /// </summary>
    void OnHeader(int staticIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value);
}

/// <summary>A header block that is not valid HPACK: a connection error of type COMPRESSION_ERROR (RFC 9113 §4.3).</summary>
internal sealed class HPackDecodingException : Exception
{
    /// <summary>Creates the exception; the message says what was wrong.</summary>
    public HPackDecodingException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// The decoding side of one HTTP/2 connection's HPACK compression context (RFC 7541): decodes complete header blocks in
/// the order they arrive, keeping the dynamic table across blocks. Not thread-safe (a connection decodes one block at a
/// time, in order, as RFC 9113 §4.3 requires).
/// </summary>
/// <remarks>
/// The dynamic table keeps its entries' bytes (name then value) contiguously, oldest first, in one byte array that grows
/// up to twice the advertised table size: eviction advances the start, insertion appends, and when the end is reached the
/// live bytes move back to the front (at most the table size, at most once per table size appended). Decoding indexed
/// fields and raw literals allocates nothing; Huffman-coded literals decode into a scratch buffer kept between calls.
/// </remarks>
internal sealed class HPackDecoder
{
    /// <summary>The per-entry overhead of the table size rule (RFC 7541 §4.1), also the per-field overhead of the header
    /// list size (RFC 9113 §6.5.2).</summary>
    private const int EntryOverhead = 32;

    /// <summary>An integer up to <see cref="int.MaxValue"/> takes at most 5 continuation bytes (5 × 7 bits ≥ 31 bits).</summary>
    private const int MaxIntegerContinuationBytes = 5;

    private const int MinByteCapacity = 256;
    private const int MinEntryCapacity = 8;

    private readonly int _maxDynamicTableSize;
    private readonly int _maxHeaderListSize;

    /// <summary>The maximum the encoder set with its last dynamic table size update (RFC 7541 §4.2).</summary>
    private int _tableMaxSize;

    /// <summary>The table's size by the RFC 7541 §4.1 rule (name + value + 32 per entry).</summary>
    private int _tableSize;

    /// <summary>The entries' bytes, oldest first, in [<see cref="_bytesStart"/>, <see cref="_bytesEnd"/>).</summary>
    private byte[] _bytes = [];
    private int _bytesStart;
    private int _bytesEnd;

    /// <summary>A ring of the entries, oldest at <see cref="_oldest"/>.</summary>
    private Entry[] _entries = [];
    private int _oldest;
    private int _count;

    /// <summary>Huffman-decoded strings, and a name copied out of the table when its entry may be evicted.</summary>
    private byte[] _scratch = [];

    // The block being decoded by DecodeWithinLimit: the header list went over the limit (fields are no longer passed on),
    // and the field being read has a string too long to keep (it is skipped, and cannot enter the table).
    private bool _continuePastLimit;
    private bool _overLimit;
    private bool _fieldTooLong;

    /// <summary>Creates a decoder.</summary>
    /// <param name="maxDynamicTableSize">The SETTINGS_HEADER_TABLE_SIZE this endpoint advertised: the table starts with this
    /// maximum, and a dynamic table size update above it is an error.</param>
    /// <param name="maxHeaderListSize">The largest header list accepted, as the sum over its fields of name length + value
    /// length + 32 (RFC 9113 §6.5.2); a larger block is an error.</param>
    public HPackDecoder(int maxDynamicTableSize = 4096, int maxHeaderListSize = 64 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDynamicTableSize);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxDynamicTableSize, int.MaxValue / 4);
        ArgumentOutOfRangeException.ThrowIfNegative(maxHeaderListSize);
        _maxDynamicTableSize = maxDynamicTableSize;
        _maxHeaderListSize = maxHeaderListSize;
        _tableMaxSize = maxDynamicTableSize;
    }

    /// <summary>The dynamic table's current size in RFC 7541 §4.1 bytes (name + value + 32 per entry).</summary>
    public int DynamicTableSize => _tableSize;

    /// <summary>The number of entries in the dynamic table.</summary>
    public int DynamicTableCount => _count;

    /// <summary>
    /// Decodes one complete header block (HEADERS or PUSH_PROMISE plus its CONTINUATION fragments, concatenated) and
    /// calls <paramref name="sink"/> once per field, in order. After an exception the compression context is unusable (the
    /// connection must end with COMPRESSION_ERROR).
    /// </summary>
    /// <exception cref="HPackDecodingException">The block is not valid HPACK, ends in the middle of a representation, or
    /// its header list is larger than the limit.</exception>
    public void Decode(ReadOnlySpan<byte> headerBlock, IHPackHeaderSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        _continuePastLimit = false;
        _overLimit = false;
        _fieldTooLong = false;
        DecodeBlock(headerBlock, sink);
    }

    /// <summary>
    /// <see cref="Decode"/>, except that a header list over the limit is not an error: the whole block is still decoded, so
    /// the dynamic table stays in step with the encoder's (the connection and its other streams go on), but from the field
    /// that goes over the limit on nothing more is passed to <paramref name="sink"/>. False when that happened: the caller
    /// fails only this block's stream. Invalid HPACK still throws.
    /// </summary>
    /// <exception cref="HPackDecodingException">The block is not valid HPACK or ends in the middle of a representation.</exception>
    public bool DecodeWithinLimit(ReadOnlySpan<byte> headerBlock, IHPackHeaderSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        _continuePastLimit = true;
        _overLimit = false;
        _fieldTooLong = false;
        try
        {
            DecodeBlock(headerBlock, sink);
            return !_overLimit;
        }
        finally
        {
            _continuePastLimit = false;
        }
    }

    private void DecodeBlock(ReadOnlySpan<byte> headerBlock, IHPackHeaderSink sink)
    {
        int pos = 0;
        int listSize = 0;
        bool fieldSeen = false;
        while (pos < headerBlock.Length)
        {
            byte first = headerBlock[pos];
            if ((first & 0x80) != 0)
            {
                // RFC 7541 §6.1: indexed header field, 7-bit prefix index.
                int index = ReadInteger(headerBlock, ref pos, 7);
                int staticIndex = 0;
                ReadOnlySpan<byte> name;
                ReadOnlySpan<byte> value;
                if (index == 0)
                {
                    throw new HPackDecodingException("HPACK: an indexed header field has index 0, which is not valid (RFC 7541 §6.1).");
                }

                if (index <= HPackStaticTable.Count)
                {
                    staticIndex = index;
                    name = HPackStaticTable.Name(index);
                    value = HPackStaticTable.Value(index);
                }
                else
                {
                    Entry entry = DynamicEntry(index);
                    name = _bytes.AsSpan(entry.Offset, entry.NameLength);
                    value = _bytes.AsSpan(entry.Offset + entry.NameLength, entry.ValueLength);
                }

                if (AddToListSize(ref listSize, name.Length, value.Length))
                {
                    sink.OnHeader(staticIndex, name, value);
                }
            }
            else if ((first & 0x40) != 0)
            {
                // RFC 7541 §6.2.1: literal header field with incremental indexing, 6-bit prefix name index.
                DecodeLiteral(headerBlock, ref pos, 6, addToTable: true, ref listSize, sink);
            }
            else if ((first & 0x20) != 0)
            {
                // RFC 7541 §6.3: dynamic table size update, 5-bit prefix; only at the beginning of a block (§4.2).
                if (fieldSeen)
                {
                    throw new HPackDecodingException("HPACK: a dynamic table size update follows a header field in the same block; it is only allowed at the beginning of a block (RFC 7541 §4.2).");
                }

                int size = ReadInteger(headerBlock, ref pos, 5);
                if (size > _maxDynamicTableSize)
                {
                    throw new HPackDecodingException($"HPACK: a dynamic table size update to {size} exceeds the advertised SETTINGS_HEADER_TABLE_SIZE of {_maxDynamicTableSize} (RFC 7541 §6.3).");
                }

                _tableMaxSize = size;
                EvictToFit(0);
                continue;
            }
            else
            {
                // RFC 7541 §6.2.2 (0000xxxx) and §6.2.3 (0001xxxx, never indexed): 4-bit prefix name index, no table change.
                DecodeLiteral(headerBlock, ref pos, 4, addToTable: false, ref listSize, sink);
            }

            fieldSeen = true;
        }
    }

    /// <summary>Decodes a literal header field (RFC 7541 §6.2) starting at <paramref name="pos"/>.</summary>
    private void DecodeLiteral(ReadOnlySpan<byte> block, ref int pos, int prefixBits, bool addToTable, ref int listSize, IHPackHeaderSink sink)
    {
        int nameIndex = ReadInteger(block, ref pos, prefixBits);
        int scratchUsed = 0;
        int staticIndex = 0;
        ReadOnlySpan<byte> name;
        if (nameIndex == 0)
        {
            name = ReadString(block, ref pos, ref scratchUsed);
        }
        else if (nameIndex <= HPackStaticTable.Count)
        {
            staticIndex = nameIndex;
            name = HPackStaticTable.Name(nameIndex);
        }
        else
        {
            Entry entry = DynamicEntry(nameIndex);
            name = _bytes.AsSpan(entry.Offset, entry.NameLength);
            if (addToTable)
            {
                // Inserting may evict this very entry, or move the table's bytes, before the name is copied (RFC 7541 §4.4).
                EnsureScratch(name.Length);
                name.CopyTo(_scratch);
                name = _scratch.AsSpan(0, name.Length);
                scratchUsed = name.Length;
            }
        }

        ReadOnlySpan<byte> value = ReadString(block, ref pos, ref scratchUsed);
        if (_fieldTooLong)
        {
            // DecodeWithinLimit: a string longer than both the limit and the table was checked but not kept; the list is
            // over the limit, and the entry (larger than the table) empties the table instead of entering it (§4.4)
            _fieldTooLong = false;
            if (addToTable)
            {
                EvictToFit(_tableMaxSize + 1);
            }

            return;
        }

        bool withinLimit = AddToListSize(ref listSize, name.Length, value.Length);
        if (addToTable)
        {
            Insert(name, value);
        }

        if (withinLimit)
        {
            sink.OnHeader(staticIndex, name, value);
        }
    }

    /// <summary>Reads a string literal (RFC 7541 §5.2): raw, as a slice of the block, or Huffman-decoded into the scratch
    /// buffer after its first <paramref name="scratchUsed"/> bytes.</summary>
    private ReadOnlySpan<byte> ReadString(ReadOnlySpan<byte> block, scoped ref int pos, scoped ref int scratchUsed)
    {
        if (pos >= block.Length)
        {
            throw Truncated("a string literal");
        }

        bool huffman = (block[pos] & 0x80) != 0;
        int length = ReadInteger(block, ref pos, 7);
        if (length > block.Length - pos)
        {
            throw new HPackDecodingException($"HPACK: a string literal of {length} bytes runs past the end of the header block ({block.Length - pos} bytes left).");
        }

        ReadOnlySpan<byte> raw = block.Slice(pos, length);
        pos += length;
        if (!huffman)
        {
            return raw;
        }

        // One field's name and value never exceed the header list limit, which bounds the scratch buffer. Past the limit
        // (DecodeWithinLimit) a string is kept while it could still enter the table; a longer one is only checked.
        int room = Math.Max(0, _maxHeaderListSize - scratchUsed);
        if (_continuePastLimit)
        {
            room = Math.Max(room, _maxDynamicTableSize);
        }

        int capacity = Math.Min(HPackHuffman.GetMaxDecodedLength(length), room);
        EnsureScratch(scratchUsed + capacity);
        if (!HPackHuffman.TryDecode(raw, _scratch.AsSpan(scratchUsed, capacity), out int written))
        {
            if (!_continuePastLimit)
            {
                throw ListTooLarge();
            }

            _ = HPackHuffman.GetDecodedLength(raw); // still valid Huffman, or the block is not valid HPACK
            _overLimit = true;
            _fieldTooLong = true;
            return default;
        }

        ReadOnlySpan<byte> decoded = _scratch.AsSpan(scratchUsed, written);
        scratchUsed += written;
        return decoded;
    }

    /// <summary>
    /// Reads an integer with a <paramref name="prefixBits"/>-bit prefix (RFC 7541 §5.1) starting at <paramref name="pos"/>
    /// and moves <paramref name="pos"/> past it; the bits above the prefix are ignored.
    /// </summary>
    /// <exception cref="HPackDecodingException">The block ends inside the integer, or it is above <see cref="int.MaxValue"/>
    /// or spelled with more continuation bytes than that needs.</exception>
    public static int ReadInteger(ReadOnlySpan<byte> block, ref int pos, int prefixBits)
    {
        if ((uint)pos >= (uint)block.Length)
        {
            throw Truncated("an integer");
        }

        int mask = (1 << prefixBits) - 1;
        int value = block[pos++] & mask;
        if (value < mask)
        {
            return value;
        }

        long result = value;
        int shift = 0;
        for (int i = 0; ; i++)
        {
            if (pos >= block.Length)
            {
                throw Truncated("an integer");
            }

            if (i == MaxIntegerContinuationBytes)
            {
                throw IntegerOverflow();
            }

            byte b = block[pos++];
            result += (long)(b & 0x7F) << shift;
            if (result > int.MaxValue)
            {
                throw IntegerOverflow();
            }

            if ((b & 0x80) == 0)
            {
                return (int)result;
            }

            shift += 7;
        }
    }

    /// <summary>Adds a field to the header list's size; false once the list is over the limit (only in
    /// <see cref="DecodeWithinLimit"/>: <see cref="Decode"/> throws).</summary>
    private bool AddToListSize(ref int listSize, int nameLength, int valueLength)
    {
        if (_overLimit)
        {
            return false;
        }

        // Each term is bounded by the block or scratch sizes and the running total by the limit, so long avoids overflow.
        long total = (long)listSize + nameLength + valueLength + EntryOverhead;
        if (total > _maxHeaderListSize)
        {
            if (!_continuePastLimit)
            {
                throw ListTooLarge();
            }

            _overLimit = true;
            return false;
        }

        listSize = (int)total;
        return true;
    }

    /// <summary>The dynamic table entry of absolute index <paramref name="index"/> (above the static table; the newest entry
    /// is <see cref="HPackStaticTable.Count"/> + 1, RFC 7541 §2.3.3).</summary>
    private Entry DynamicEntry(int index)
    {
        int age = index - HPackStaticTable.Count; // 1 = newest
        if (age > _count)
        {
            throw new HPackDecodingException($"HPACK: index {index} is beyond the static and dynamic tables ({HPackStaticTable.Count + _count} entries).");
        }

        int slot = _oldest + _count - age;
        if (slot >= _entries.Length)
        {
            slot -= _entries.Length;
        }

        return _entries[slot];
    }

    /// <summary>Adds an entry at the front of the dynamic table, evicting from the end first (RFC 7541 §4.4).</summary>
    private void Insert(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        int length = name.Length + value.Length; // bounded by the header list limit, checked before
        if (length + EntryOverhead > _tableMaxSize)
        {
            // An entry larger than the table empties it and is not added.
            EvictToFit(_tableMaxSize + 1);
            return;
        }

        EvictToFit(length + EntryOverhead);
        EnsureByteRoom(length);
        name.CopyTo(_bytes.AsSpan(_bytesEnd));
        value.CopyTo(_bytes.AsSpan(_bytesEnd + name.Length));
        if (_count == _entries.Length)
        {
            GrowEntries();
        }

        int slot = _oldest + _count;
        if (slot >= _entries.Length)
        {
            slot -= _entries.Length;
        }

        _entries[slot] = new Entry(_bytesEnd, name.Length, value.Length);
        _count++;
        _bytesEnd += length;
        _tableSize += length + EntryOverhead;
    }

    /// <summary>Evicts the oldest entries until <paramref name="incoming"/> more bytes fit under the maximum (RFC 7541 §4.3,
    /// §4.4); more than the maximum empties the table.</summary>
    private void EvictToFit(int incoming)
    {
        while (_count > 0 && _tableSize + incoming > _tableMaxSize)
        {
            Entry oldest = _entries[_oldest];
            int length = oldest.NameLength + oldest.ValueLength;
            _tableSize -= length + EntryOverhead;
            _bytesStart += length;
            _count--;
            if (++_oldest == _entries.Length)
            {
                _oldest = 0;
            }
        }

        if (_count == 0)
        {
            _oldest = 0;
            _bytesStart = 0;
            _bytesEnd = 0;
        }
    }

    /// <summary>Makes room for <paramref name="length"/> bytes after <see cref="_bytesEnd"/>: moves the live bytes to the
    /// front, growing the array when they would fill more than half of it (up to twice the advertised table size).</summary>
    private void EnsureByteRoom(int length)
    {
        if (_bytesEnd + length <= _bytes.Length)
        {
            return;
        }

        int live = _bytesEnd - _bytesStart;
        int needed = live + length; // at most the table size, so at most half the largest array
        byte[] target = _bytes;
        if (needed > _bytes.Length / 2 && _bytes.Length < 2 * _maxDynamicTableSize)
        {
            int capacity = Math.Max(MinByteCapacity, Math.Max(_bytes.Length, needed) * 2);
            target = new byte[Math.Min(capacity, 2 * _maxDynamicTableSize)];
        }

        _bytes.AsSpan(_bytesStart, live).CopyTo(target);
        _bytes = target;
        int shift = _bytesStart;
        for (int i = 0, slot = _oldest; i < _count; i++)
        {
            ref Entry entry = ref _entries[slot];
            entry = entry with { Offset = entry.Offset - shift };
            if (++slot == _entries.Length)
            {
                slot = 0;
            }
        }

        _bytesStart = 0;
        _bytesEnd = live;
    }

    private void GrowEntries()
    {
        var entries = new Entry[Math.Max(MinEntryCapacity, _entries.Length * 2)];
        for (int i = 0, slot = _oldest; i < _count; i++)
        {
            entries[i] = _entries[slot];
            if (++slot == _entries.Length)
            {
                slot = 0;
            }
        }

        _entries = entries;
        _oldest = 0;
    }

    private void EnsureScratch(int size)
    {
        if (_scratch.Length < size)
        {
            // Spans into the previous array stay valid (the garbage collector keeps it while they exist).
            _scratch = new byte[Math.Max(size, Math.Max(MinByteCapacity, Math.Min(_scratch.Length * 2, _maxHeaderListSize)))];
        }
    }

    private static HPackDecodingException Truncated(string what) =>
        new($"HPACK: the header block ends in the middle of {what}.");

    private static HPackDecodingException IntegerOverflow() =>
        new("HPACK: an integer is larger than 2^31 - 1 or uses more continuation bytes than that needs (RFC 7541 §5.1).");

    private HPackDecodingException ListTooLarge() =>
        new($"HPACK: the header list is larger than the limit of {_maxHeaderListSize} bytes (name + value + 32 per field, RFC 9113 §6.5.2).");

    /// <summary>A dynamic table entry: its name then value bytes at <see cref="Offset"/> in the byte array.</summary>
    private readonly record struct Entry(int Offset, int NameLength, int ValueLength);
}
