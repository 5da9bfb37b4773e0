using System.Text;
using BelizeMesh.Proxy.Forwarding.Http2;

namespace BelizeMesh.Proxy.Tests.Upstream;

/// <summary>
/// The HPACK codec (RFC 7541): the static table, the Huffman code, the decoder against the examples of Appendix C (the
/// oracle), the encoder's representations read back by the decoder, and the decoding errors a peer can provoke.
/// </summary>
public sealed class HPackTests
{
    /// <summary>RFC 7541 Appendix B, every symbol's (code as hex, length in bits), symbols 0 to 256 (EOS).</summary>
    private static readonly (uint Code, int Length)[] s_appendixB =
    [
        (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28), (0xfffffe4, 28), (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28),
        (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28), (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28),
        (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28), (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
        (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28), (0xffffff8, 28), (0xffffff9, 28), (0xffffffa, 28), (0xffffffb, 28),
        (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12), (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11),
        (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11), (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
        (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6), (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6),
        (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8), (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10),
        (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7), (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
        (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7), (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7),
        (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7), (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7),
        (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13), (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
        (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5), (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6),
        (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7), (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5),
        (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5), (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
        (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15), (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28),
        (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20), (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23),
        (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23), (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
        (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23), (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23),
        (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23), (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24),
        (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22), (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
        (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24), (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23),
        (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21), (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23),
        (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22), (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
        (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19), (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25),
        (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27), (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25),
        (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27), (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
        (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26), (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27),
        (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21), (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23),
        (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25), (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
        (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26), (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27),
        (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27), (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26),
        (0x3fffffff, 30)
    ];

    private static readonly byte[] s_c31 = Hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    private static readonly byte[] s_c32 = Hex("8286 84be 5808 6e6f 2d63 6163 6865");
    private static readonly byte[] s_c33 = Hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65");
    private static readonly byte[] s_c41 = Hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
    private static readonly byte[] s_c42 = Hex("8286 84be 5886 a8eb 1064 9cbf");
    private static readonly byte[] s_c43 = Hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");

    private static readonly byte[] s_c51 = Hex(
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d"
        + "546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");

    private static readonly byte[] s_c52 = Hex("4803 3330 37c1 c0bf");

    private static readonly byte[] s_c53 = Hex(
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f"
        + "6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b"
        + "2076 6572 7369 6f6e 3d31");

    private static readonly byte[] s_c61 = Hex(
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7"
        + "8f0b 97c8 e9ae 82ae 43d3");

    private static readonly byte[] s_c62 = Hex("4883 640e ffc1 c0bf");

    private static readonly byte[] s_c63 = Hex(
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335"
        + "dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07");

    [Fact]
    public void Static_table_holds_the_61_entries_of_appendix_a_and_its_constants_name_the_right_ones()
    {
        Assert.Equal(61, HPackStaticTable.Count);
        AssertEntry(1, ":authority", string.Empty);
        AssertEntry(2, ":method", "GET");
        AssertEntry(3, ":method", "POST");
        AssertEntry(4, ":path", "/");
        AssertEntry(5, ":path", "/index.html");
        AssertEntry(6, ":scheme", "http");
        AssertEntry(7, ":scheme", "https");
        AssertEntry(8, ":status", "200");
        AssertEntry(14, ":status", "500");
        AssertEntry(16, "accept-encoding", "gzip, deflate");
        AssertEntry(20, "access-control-allow-origin", string.Empty);
        AssertEntry(24, "cache-control", string.Empty);
        AssertEntry(33, "date", string.Empty);
        AssertEntry(46, "location", string.Empty);
        AssertEntry(55, "set-cookie", string.Empty);
        AssertEntry(61, "www-authenticate", string.Empty);

        AssertEntry(HPackStaticTable.Authority, ":authority", string.Empty);
        AssertEntry(HPackStaticTable.MethodGet, ":method", "GET");
        AssertEntry(HPackStaticTable.MethodPost, ":method", "POST");
        AssertEntry(HPackStaticTable.PathRoot, ":path", "/");
        AssertEntry(HPackStaticTable.SchemeHttp, ":scheme", "http");
        AssertEntry(HPackStaticTable.SchemeHttps, ":scheme", "https");
        AssertEntry(HPackStaticTable.Status200, ":status", "200");

        Assert.Throws<ArgumentOutOfRangeException>(() => HPackStaticTable.Name(0).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => HPackStaticTable.Name(62).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => HPackStaticTable.Value(0).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => HPackStaticTable.Value(62).Length);

        static void AssertEntry(int index, string name, string value)
        {
            Assert.Equal(name, Encoding.ASCII.GetString(HPackStaticTable.Name(index)));
            Assert.Equal(value, Encoding.ASCII.GetString(HPackStaticTable.Value(index)));
        }
    }

    [Fact]
    public void Static_name_index_finds_the_lowest_index_of_every_name_and_zero_for_anything_else()
    {
        for (int index = 1; index <= HPackStaticTable.Count; index++)
        {
            string name = Encoding.ASCII.GetString(HPackStaticTable.Name(index));
            int lowest = Enumerable.Range(1, index).First(i => Encoding.ASCII.GetString(HPackStaticTable.Name(i)) == name);
            Assert.Equal(lowest, HPackStaticTable.NameIndex(name));
        }

        Assert.Equal(8, HPackStaticTable.NameIndex(":status"));
        Assert.Equal(0, HPackStaticTable.NameIndex(string.Empty));
        Assert.Equal(0, HPackStaticTable.NameIndex("x-custom"));
        Assert.Equal(0, HPackStaticTable.NameIndex("Content-Type")); // names are given lower-case
        Assert.Equal(0, HPackStaticTable.NameIndex("content-typf"));
        Assert.Equal(0, HPackStaticTable.NameIndex("access-control-allow-originx"));
    }

    [Fact]
    public void Huffman_codes_derived_canonically_from_the_lengths_are_the_codes_of_appendix_b()
    {
        for (int symbol = 0; symbol <= HPackHuffman.Eos; symbol++)
        {
            uint code = HPackHuffman.GetCode(symbol, out int length);
            Assert.Equal(s_appendixB[symbol], (code, length));
        }

        // A few rows read straight off the RFC, in case the table above were copied wrong too.
        Assert.Equal((0x0u, 5), Code('0'));
        Assert.Equal((0x3u, 5), Code('a'));
        Assert.Equal((0x14u, 6), Code(' '));
        Assert.Equal((0x1ff8u, 13), Code(0));
        Assert.Equal((0x3ffffffcu, 30), Code(10));
        Assert.Equal((0x7fff0u, 19), Code('\\'));
        Assert.Equal((0x3ffffeeu, 26), Code(255));
        Assert.Equal((0x3fffffffu, 30), Code(HPackHuffman.Eos));

        static (uint Code, int Length) Code(int symbol)
        {
            uint code = HPackHuffman.GetCode(symbol, out int length);
            return (code, length);
        }
    }

    [Fact]
    public void Huffman_code_is_complete_its_kraft_sum_is_exactly_one()
    {
        long sum = 0;
        for (int symbol = 0; symbol <= HPackHuffman.Eos; symbol++)
        {
            HPackHuffman.GetCode(symbol, out int length);
            Assert.InRange(length, HPackHuffman.MinCodeLength, HPackHuffman.MaxCodeLength);
            sum += 1L << (HPackHuffman.MaxCodeLength - length);
        }

        Assert.Equal(1L << HPackHuffman.MaxCodeLength, sum);
    }

    [Fact]
    public void Huffman_round_trips_every_byte_value_alone_and_together()
    {
        for (int b = 0; b < 256; b++)
        {
            AssertHuffmanRoundTrip([(byte)b]);
            AssertHuffmanRoundTrip([(byte)b, (byte)b, (byte)b]);
        }

        byte[] all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        AssertHuffmanRoundTrip(all);
        AssertHuffmanRoundTrip(all.Reverse().ToArray());
        AssertHuffmanRoundTrip([]);
    }

    [Fact]
    public void Huffman_round_trips_random_strings()
    {
        var random = new Random(7541);
        for (int i = 0; i < 2000; i++)
        {
            byte[] value = new byte[random.Next(0, 300)];
            if (i % 2 == 0)
            {
                random.NextBytes(value);
            }
            else
            {
                // header-like text: mostly short codes
                const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_/.:;=, ";
                for (int j = 0; j < value.Length; j++)
                {
                    value[j] = (byte)alphabet[random.Next(alphabet.Length)];
                }
            }

            AssertHuffmanRoundTrip(value);
        }
    }

    [Fact]
    public void Huffman_encodes_the_strings_of_appendix_c4_and_c6()
    {
        Assert.Equal(Hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"), HuffmanEncode("www.example.com"));
        Assert.Equal(Hex("a8eb 1064 9cbf"), HuffmanEncode("no-cache"));
        Assert.Equal(Hex("25a8 49e9 5ba9 7d7f"), HuffmanEncode("custom-key"));
        Assert.Equal(Hex("25a8 49e9 5bb8 e8b4 bf"), HuffmanEncode("custom-value"));
        Assert.Equal(Hex("6402"), HuffmanEncode("302"));
        Assert.Equal(Hex("aec3 771a 4b"), HuffmanEncode("private"));
        Assert.Equal(Hex("9bd9 ab"), HuffmanEncode("gzip"));
    }

    [Fact]
    public void Huffman_decode_rejects_eos_long_or_wrong_padding_and_a_short_destination()
    {
        byte[] destination = new byte[64];

        // 32 one bits: the first 30 are EOS.
        AssertDecodingError(() => HPackHuffman.Decode(Hex("ffff ffff"), destination), "EOS");

        // 'a' (00011), then EOS (30 ones), then 5 bits of padding.
        AssertDecodingError(() => HPackHuffman.Decode(Hex("1fff ffff ff"), destination), "EOS");

        // '0' (00000) then 11 one bits: padding longer than 7 bits.
        AssertDecodingError(() => HPackHuffman.Decode(Hex("07ff"), destination), "padding");

        // '0' (00000) then 000: padding that is not the top bits of EOS.
        AssertDecodingError(() => HPackHuffman.Decode(Hex("00"), destination), "padding");

        // '0' then 110: not all ones either.
        AssertDecodingError(() => HPackHuffman.Decode(Hex("06"), destination), "padding");

        // A whole byte of ones after a complete code is 8 bits of padding.
        byte[] cache = HuffmanEncode("no-cache");
        AssertDecodingError(() => HPackHuffman.Decode([.. cache, 0xff], destination), "padding");

        // "no-cache" is 8 bytes: 7 do not hold it.
        AssertDecodingError(() => HPackHuffman.Decode(cache, new byte[7]), "bytes");
        Assert.Equal(8, HPackHuffman.Decode(cache, new byte[8]));
        Assert.False(HPackHuffman.TryDecode(cache, new byte[7], out _));

        // Padding of up to 7 ones is fine: '0' + 111, and symbol 199 (25 bits) + 7 ones.
        Assert.Equal(1, HPackHuffman.Decode(Hex("07"), destination));
        Assert.Equal((byte)'0', destination[0]);
        Assert.Equal(1, HPackHuffman.Decode(Hex("ffff f67f"), destination));
        Assert.Equal(199, destination[0]);
    }

    [Fact]
    public void Huffman_max_decoded_length_bounds_every_decoding()
    {
        Assert.Equal(0, HPackHuffman.GetMaxDecodedLength(0));
        Assert.Equal(8, HPackHuffman.GetMaxDecodedLength(5));
        Assert.Equal(int.MaxValue, HPackHuffman.GetMaxDecodedLength(int.MaxValue));

        // '0' is the shortest code (5 bits): n of them reach the bound.
        for (int n = 0; n < 50; n++)
        {
            byte[] zeros = Enumerable.Repeat((byte)'0', n).ToArray();
            byte[] encoded = HuffmanEncode(zeros);
            Assert.True(n <= HPackHuffman.GetMaxDecodedLength(encoded.Length));
        }
    }

    [Fact]
    public void Encoder_writes_the_integers_of_appendix_c1()
    {
        byte[] buffer = new byte[8];
        Assert.Equal(1, HPackEncoder.WriteInteger(10, 5, 0x00, buffer));
        Assert.Equal(Hex("0a"), buffer[..1]);

        Assert.Equal(3, HPackEncoder.WriteInteger(1337, 5, 0x00, buffer));
        Assert.Equal(Hex("1f9a 0a"), buffer[..3]);

        Assert.Equal(1, HPackEncoder.WriteInteger(42, 8, 0x00, buffer));
        Assert.Equal(Hex("2a"), buffer[..1]);

        // the flags above the prefix are kept
        Assert.Equal(3, HPackEncoder.WriteInteger(1337, 5, 0xe0, buffer));
        Assert.Equal(Hex("ff9a 0a"), buffer[..3]);

        Assert.Throws<ArgumentException>(() => HPackEncoder.WriteInteger(1, 5, 0x10, buffer)); // flags inside the prefix

        int pos = 0;
        Assert.Equal(1337, HPackDecoder.ReadInteger(Hex("1f9a 0a"), ref pos, 5));
        Assert.Equal(3, pos);
        pos = 0;
        Assert.Equal(10, HPackDecoder.ReadInteger(Hex("ea"), ref pos, 5));
        pos = 0;
        Assert.Equal(42, HPackDecoder.ReadInteger(Hex("2a"), ref pos, 8));
    }

    [Fact]
    public void Integers_round_trip_at_every_prefix_up_to_int_max_and_short_buffers_return_minus_one()
    {
        int[] values = [0, 1, 2, 14, 15, 16, 30, 31, 32, 62, 63, 64, 126, 127, 128, 254, 255, 256, 1337, 16383, 16384, 2_097_151, 2_097_152, 268_435_455, 268_435_456, int.MaxValue - 1, int.MaxValue];
        var random = new Random(5);
        values = [.. values, .. Enumerable.Range(0, 200).Select(_ => random.Next())];
        byte[] buffer = new byte[HPackEncoder.MaxIntegerLength];
        for (int prefix = 1; prefix <= 8; prefix++)
        {
            foreach (int value in values)
            {
                int written = HPackEncoder.WriteInteger(value, prefix, 0x00, buffer);
                Assert.Equal(HPackEncoder.GetIntegerLength(value, prefix), written);
                Assert.InRange(written, 1, HPackEncoder.MaxIntegerLength);
                int pos = 0;
                Assert.Equal(value, HPackDecoder.ReadInteger(buffer.AsSpan(0, written), ref pos, prefix));
                Assert.Equal(written, pos);
                for (int shorter = 0; shorter < written; shorter++)
                {
                    Assert.Equal(-1, HPackEncoder.WriteInteger(value, prefix, 0x00, buffer.AsSpan(0, shorter)));
                }
            }
        }
    }

    [Fact]
    public void Decoder_rejects_integers_above_int_max_or_with_too_many_continuation_bytes()
    {
        // int.MaxValue + 1 with a 5-bit prefix: 31 + (2^31 - 31) spelled in 7-bit groups.
        AssertIntegerError(Hex("1f e1 ff ff ff 07"));
        AssertIntegerError(Hex("1f ff ff ff ff ff ff"));
        AssertIntegerError(Hex("1f 80 80 80 80 80 00")); // a small value with 6 continuation bytes
        int pos = 0;
        Assert.Equal(int.MaxValue, HPackDecoder.ReadInteger(Hex("1f e0 ff ff ff 07"), ref pos, 5));
        pos = 0;
        Assert.Equal(31, HPackDecoder.ReadInteger(Hex("1f 80 80 80 80 00"), ref pos, 5)); // 5 continuation bytes are allowed

        // The same inside blocks: a never-indexed name index, a size update, an indexed field, a string length.
        AssertDecodeError(new HPackDecoder(), Hex("1f ff ff ff ff ff ff"), "integer");
        AssertDecodeError(new HPackDecoder(), Hex("3f ff ff ff ff ff ff"), "integer");
        AssertDecodeError(new HPackDecoder(), Hex("ff ff ff ff ff ff ff"), "integer");
        AssertDecodeError(new HPackDecoder(), Hex("00 7f ff ff ff ff ff 07"), "integer");

        static void AssertIntegerError(byte[] bytes)
        {
            AssertDecodingError(
                () =>
                {
                    int pos = 0;
                    HPackDecoder.ReadInteger(bytes, ref pos, 5);
                },
                "integer");
        }
    }

    [Fact]
    public void Decoder_reads_the_single_fields_of_rfc7541_c2()
    {
        // C.2.1: literal with incremental indexing, literal name.
        var decoder = new HPackDecoder();
        Assert.Equal([(0, "custom-key", "custom-header")], Decode(decoder, Hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")));
        AssertTable(decoder, 55, ("custom-key", "custom-header"));

        // C.2.2: literal without indexing, indexed name.
        decoder = new HPackDecoder();
        Assert.Equal([(4, ":path", "/sample/path")], Decode(decoder, Hex("040c 2f73 616d 706c 652f 7061 7468")));
        AssertTable(decoder, 0);

        // C.2.3: literal never indexed, literal name.
        decoder = new HPackDecoder();
        Assert.Equal([(0, "password", "secret")], Decode(decoder, Hex("1008 7061 7373 776f 7264 0673 6563 7265 74")));
        AssertTable(decoder, 0);

        // C.2.4: indexed field.
        decoder = new HPackDecoder();
        Assert.Equal([(2, ":method", "GET")], Decode(decoder, Hex("82")));
        AssertTable(decoder, 0);
    }

    [Fact]
    public void Decoder_reads_rfc7541_c3_requests_without_huffman_and_keeps_the_dynamic_table_across_blocks()
    {
        AssertAppendixRequests(s_c31, s_c32, s_c33);
    }

    [Fact]
    public void Decoder_reads_rfc7541_c4_requests_with_huffman_like_c3()
    {
        AssertAppendixRequests(s_c41, s_c42, s_c43);
    }

    [Fact]
    public void Decoder_reads_rfc7541_c5_responses_without_huffman_evicting_from_a_256_byte_table()
    {
        AssertAppendixResponses(s_c51, s_c52, s_c53);
    }

    [Fact]
    public void Decoder_reads_rfc7541_c6_responses_with_huffman_evicting_like_c5()
    {
        AssertAppendixResponses(s_c61, s_c62, s_c63);
    }

    [Fact]
    public void Encoder_output_reads_back_through_the_decoder_for_every_literal_form()
    {
        byte[] latin1 = Enumerable.Range(0x80, 0x80).Select(i => (byte)i).ToArray();
        string latin1Text = Encoding.Latin1.GetString(latin1);
        string longValue = new('v', 1337);
        string veryLongValue = new('w', 70_000);
        byte[] longName = Encoding.ASCII.GetBytes("x-" + new string('n', 200));
        (Writer Write, int StaticIndex, string Name, string Value)[] fields =
        [
            (d => HPackEncoder.WriteIndexed(HPackStaticTable.MethodPost, d), 3, ":method", "POST"),
            (d => HPackEncoder.WriteIndexed(HPackStaticTable.SchemeHttps, d), 7, ":scheme", "https"),
            (d => HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.NameIndex(":path"), "/a/b?c=d"u8, d), 4, ":path", "/a/b?c=d"),
            (d => HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.Authority, "example.test:8443".AsSpan(), d), 1, ":authority", "example.test:8443"),
            (d => HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.NameIndex("cache-control"), ""u8, d), 24, "cache-control", string.Empty),
            (d => HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.NameIndex("user-agent"), string.Empty.AsSpan(), d), 58, "user-agent", string.Empty),
            (d => HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.NameIndex("www-authenticate"), longValue.AsSpan(), d), 61, "www-authenticate", longValue),
            (d => HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.NameIndex("cookie"), latin1, d), 32, "cookie", latin1Text),
            (d => HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.NameIndex("referer"), latin1Text.AsSpan(), d), 51, "referer", latin1Text),
            (d => HPackEncoder.WriteLiteralWithoutIndexingNewName("x-empty"u8, ""u8, d), 0, "x-empty", string.Empty),
            (d => HPackEncoder.WriteLiteralWithoutIndexingNewName("x-latin1"u8, latin1, d), 0, "x-latin1", latin1Text),
            (d => HPackEncoder.WriteLiteralWithoutIndexingNewName("x-latin1-chars"u8, latin1Text.AsSpan(), d), 0, "x-latin1-chars", latin1Text),
            (d => HPackEncoder.WriteLiteralWithoutIndexingNewName(longName, veryLongValue.AsSpan(), d), 0, Encoding.ASCII.GetString(longName), veryLongValue),
            (d => HPackEncoder.WriteLiteralWithoutIndexingNewName("Kept-As-Given"u8, "1"u8, d), 0, "Kept-As-Given", "1"),
            (d => HPackEncoder.WriteLiteralWithoutIndexingLowerCasedName("X-Mixed-CASE", "Value é", d), 0, "x-mixed-case", "Value é"),
            (d => HPackEncoder.WriteLiteralWithoutIndexingLowerCasedName(string.Empty, string.Empty, d), 0, string.Empty, string.Empty),
        ];

        Assert.Throws<ArgumentException>(() => HPackEncoder.WriteLiteralWithoutIndexingLowerCasedName("x-é", "v", new byte[16]));

        byte[] block = new byte[200_000];
        int pos = 0;
        foreach ((Writer write, int staticIndex, string name, string value) in fields)
        {
            int written = write(block.AsSpan(pos));
            Assert.True(written > 0);
            Assert.InRange(written, 1, HPackEncoder.MaxLiteralLength(staticIndex == 0 ? name.Length : 0, value.Length));

            // The same bytes into a buffer of exactly that size, and -1 (nothing else) into every shorter one near it.
            Assert.Equal(written, write(new byte[written]));
            for (int shorter = Math.Max(0, written - 8); shorter < written; shorter++)
            {
                Assert.Equal(-1, write(new byte[shorter]));
            }

            pos += written;
        }

        var decoder = new HPackDecoder(maxHeaderListSize: 1 << 20);
        Assert.Equal(fields.Select(f => (f.StaticIndex, f.Name, f.Value)).ToList(), Decode(decoder, block[..pos]));
        AssertTable(decoder, 0);
    }

    [Fact]
    public void Encoder_max_literal_length_covers_every_form_and_the_integer_boundaries()
    {
        int[] lengths = [0, 1, 126, 127, 128, 254, 255, 16_510, 16_511, 16_512];
        foreach (int nameLength in lengths)
        {
            foreach (int valueLength in lengths)
            {
                byte[] name = new byte[nameLength];
                char[] value = new char[valueLength];
                int bound = HPackEncoder.MaxLiteralLength(nameLength, valueLength);
                byte[] dest = new byte[bound];
                Assert.InRange(HPackEncoder.WriteLiteralWithoutIndexingNewName(name, value, dest), 1, bound);
                Assert.InRange(HPackEncoder.WriteLiteralWithoutIndexingNewName(name, new byte[valueLength], dest), 1, bound);
                int staticBound = HPackEncoder.MaxLiteralLength(0, valueLength);
                Assert.InRange(HPackEncoder.WriteLiteralWithoutIndexing(61, value, new byte[staticBound]), 1, staticBound);
            }
        }
    }

    [Fact]
    public void Encoder_and_decoder_round_trip_random_header_lists()
    {
        var random = new Random(20_150_501);
        var decoder = new HPackDecoder();
        byte[] block = new byte[64 * 1024];
        for (int round = 0; round < 300; round++)
        {
            var expected = new List<(int StaticIndex, string Name, string Value)>();
            int pos = 0;
            int count = random.Next(0, 20);
            for (int i = 0; i < count; i++)
            {
                string value = RandomLatin1(random, random.Next(0, 3) == 0 ? random.Next(0, 2000) : random.Next(0, 40));
                int written;
                switch (random.Next(4))
                {
                    case 0:
                        int index = random.Next(1, HPackStaticTable.Count + 1);
                        written = HPackEncoder.WriteIndexed(index, block.AsSpan(pos));
                        expected.Add((index, Ascii(HPackStaticTable.Name(index)), Ascii(HPackStaticTable.Value(index))));
                        break;
                    case 1:
                        int nameIndex = random.Next(1, HPackStaticTable.Count + 1);
                        written = HPackEncoder.WriteLiteralWithoutIndexing(nameIndex, value.AsSpan(), block.AsSpan(pos));
                        expected.Add((nameIndex, Ascii(HPackStaticTable.Name(nameIndex)), value));
                        break;
                    case 2:
                        string name = RandomToken(random);
                        written = HPackEncoder.WriteLiteralWithoutIndexingNewName(Encoding.ASCII.GetBytes(name), Encoding.Latin1.GetBytes(value), block.AsSpan(pos));
                        expected.Add((0, name, value));
                        break;
                    default:
                        string token = RandomToken(random);
                        written = HPackEncoder.WriteLiteralWithoutIndexingLowerCasedName(token.ToUpperInvariant(), value, block.AsSpan(pos));
                        expected.Add((0, token, value));
                        break;
                }

                Assert.True(written > 0);
                pos += written;
            }

            Assert.Equal(expected, Decode(decoder, block[..pos]));
        }

        AssertTable(decoder, 0);
    }

    [Fact]
    public void Decoder_rejects_index_zero_and_indexes_beyond_the_tables()
    {
        AssertDecodeError(new HPackDecoder(), Hex("80"), "index 0");
        AssertDecodeError(new HPackDecoder(), Hex("be"), "index 62 is beyond the static and dynamic tables (61 entries)");

        var decoder = new HPackDecoder();
        Decode(decoder, s_c31);
        Assert.Equal([(0, ":authority", "www.example.com")], Decode(decoder, Hex("be")));
        AssertDecodeError(decoder, Hex("bf"), "index 63 is beyond the static and dynamic tables (62 entries)");

        // A literal's name index beyond the tables: with incremental indexing (6-bit prefix) and without (4-bit prefix).
        AssertDecodeError(new HPackDecoder(), Hex("7e 0161"), "index 62");
        AssertDecodeError(new HPackDecoder(), Hex("0f 2f 0161"), "index 62");
        AssertDecodeError(new HPackDecoder(), Hex("1f 2f 0161"), "index 62");
        Assert.Equal([(61, "www-authenticate", "a")], Decode(new HPackDecoder(), Hex("0f 2e 0161")));
    }

    [Fact]
    public void Decoder_rejects_a_size_update_above_the_advertised_maximum_or_after_a_field()
    {
        AssertDecodeError(new HPackDecoder(256), Hex("3f e2 01"), "257");
        AssertDecodeError(new HPackDecoder(), Hex("3f e2 1f"), "4097");
        AssertDecodeError(new HPackDecoder(0), Hex("21"), "size update");

        var decoder = new HPackDecoder(256);
        Assert.Empty(Decode(decoder, Hex("3f e1 01"))); // exactly 256
        Assert.Equal([(2, ":method", "GET")], Decode(decoder, Hex("20 3f e1 01 82"))); // two updates at the beginning

        AssertDecodeError(new HPackDecoder(), Hex("82 20"), "beginning");
        AssertDecodeError(new HPackDecoder(), Hex("20 82 3f e1 01"), "beginning");
    }

    [Fact]
    public void Decoder_size_update_evicts_down_to_the_new_maximum_and_zero_empties_the_table()
    {
        var decoder = new HPackDecoder();
        Decode(decoder, s_c31);
        Decode(decoder, s_c32);
        Decode(decoder, s_c33);
        AssertTable(decoder, 164, ("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com"));

        Assert.Empty(Decode(decoder, Hex("3f 1a"))); // 57: only the newest entry (54) fits
        AssertTable(decoder, 54, ("custom-key", "custom-value"));

        Assert.Empty(Decode(decoder, Hex("20")));
        AssertTable(decoder, 0);

        // With a maximum of 0, an indexed literal is still emitted but never stored.
        Assert.Equal([(0, "a", "b")], Decode(decoder, Hex("40 0161 0162")));
        AssertTable(decoder, 0);

        // Back up to the advertised 4096.
        Assert.Equal([(0, "a", "b")], Decode(decoder, Hex("3f e1 1f 40 0161 0162")));
        AssertTable(decoder, 34, ("a", "b"));
    }

    [Fact]
    public void Decoder_empties_the_table_for_an_entry_larger_than_it()
    {
        var decoder = new HPackDecoder(100);
        Decode(decoder, Hex("40 0161 0162"));
        AssertTable(decoder, 34, ("a", "b"));

        // 1 + 68 + 32 = 101 > 100 (RFC 7541 §4.4): emitted, and the table is empty.
        string value = new('v', 68);
        Assert.Equal([(0, "n", value)], Decode(decoder, [.. Hex("40 016e 44"), .. Encoding.ASCII.GetBytes(value)]));
        AssertTable(decoder, 0);

        // 67 fits exactly.
        value = new('v', 67);
        Decode(decoder, [.. Hex("40 016e 43"), .. Encoding.ASCII.GetBytes(value)]);
        AssertTable(decoder, 100, ("n", value));
    }

    [Fact]
    public void Decoder_literal_with_incremental_indexing_may_name_the_entry_its_insertion_evicts()
    {
        // RFC 7541 §4.4: the name of the new entry refers to the entry evicted to make room for it.
        var decoder = new HPackDecoder(100);
        string a = new('a', 30);
        string b = new('b', 30);
        string c = new('c', 10);
        Decode(decoder, [.. Hex("40 1e"), .. Encoding.ASCII.GetBytes(a), 0x1e, .. Encoding.ASCII.GetBytes(b)]);
        AssertTable(decoder, 92, (a, b));

        Assert.Equal([(0, a, c)], Decode(decoder, [.. Hex("7e 0a"), .. Encoding.ASCII.GetBytes(c)]));
        AssertTable(decoder, 72, (a, c));

        // The same with a Huffman-coded value.
        byte[] huffman = HuffmanEncode("dddd");
        Assert.Equal([(0, a, "dddd")], Decode(decoder, [0x7e, (byte)(0x80 | huffman.Length), .. huffman]));
        AssertTable(decoder, 66, (a, "dddd"));
    }

    [Fact]
    public void Decoder_dynamic_table_matches_a_reference_model_over_random_blocks()
    {
        var random = new Random(7541_4);
        const int advertised = 512;
        var decoder = new HPackDecoder(advertised);
        var model = new List<(string Name, string Value)>(); // newest first
        int maxSize = advertised;
        for (int round = 0; round < 1500; round++)
        {
            var block = new List<byte>();
            var expected = new List<(int StaticIndex, string Name, string Value)>();
            if (random.Next(10) == 0)
            {
                maxSize = random.Next(4) == 0 ? advertised : random.Next(0, advertised + 1);
                AppendInteger(block, maxSize, 5, 0x20);
                Evict(model, maxSize, 0);
            }

            int count = random.Next(0, 8);
            for (int i = 0; i < count; i++)
            {
                int kind = random.Next(5);
                if (kind == 0 && model.Count > 0)
                {
                    int age = random.Next(1, model.Count + 1);
                    AppendInteger(block, HPackStaticTable.Count + age, 7, 0x80);
                    expected.Add((0, model[age - 1].Name, model[age - 1].Value));
                    continue;
                }

                string value = RandomLatin1(random, random.Next(0, 5) == 0 ? random.Next(0, 600) : random.Next(0, 40));
                int nameChoice = random.Next(3);
                (int prefix, byte flags) = kind switch
                {
                    1 => (4, (byte)0x00),
                    2 => (4, (byte)0x10),
                    _ => (6, (byte)0x40),
                };
                int staticIndex = 0;
                string name;
                if (nameChoice == 0)
                {
                    staticIndex = random.Next(1, HPackStaticTable.Count + 1);
                    name = Ascii(HPackStaticTable.Name(staticIndex));
                    AppendInteger(block, staticIndex, prefix, flags);
                }
                else if (nameChoice == 1 && model.Count > 0)
                {
                    int age = random.Next(1, model.Count + 1);
                    name = model[age - 1].Name;
                    AppendInteger(block, HPackStaticTable.Count + age, prefix, flags);
                }
                else
                {
                    name = RandomToken(random);
                    AppendInteger(block, 0, prefix, flags);
                    AppendString(block, name, random.Next(2) == 0);
                }

                AppendString(block, value, random.Next(2) == 0);
                expected.Add((staticIndex, name, value));
                if (prefix == 6)
                {
                    int entrySize = name.Length + value.Length + 32;
                    if (entrySize > maxSize)
                    {
                        model.Clear();
                    }
                    else
                    {
                        Evict(model, maxSize, entrySize);
                        model.Insert(0, (name, value));
                    }
                }
            }

            Assert.Equal(expected, Decode(decoder, block.ToArray()));
            AssertTable(decoder, model.Sum(e => e.Name.Length + e.Value.Length + 32), [.. model]);
        }

        static void Evict(List<(string Name, string Value)> model, int maxSize, int incoming)
        {
            while (model.Count > 0 && model.Sum(e => e.Name.Length + e.Value.Length + 32) + incoming > maxSize)
            {
                model.RemoveAt(model.Count - 1);
            }
        }
    }

    [Fact]
    public void Decoder_rejects_a_block_cut_inside_a_field_and_reads_one_cut_between_fields()
    {
        AssertCuts([s_c31, s_c32], s_c33, [0, 1, 2, 3, 4]);
        AssertCuts([s_c41, s_c42], s_c43, [0, 1, 2, 3, 4]);
        AssertCuts([s_c51, s_c52], s_c53, [0, 1, 2, 33, 34, 40]);
        AssertCuts([s_c61, s_c62], s_c63, [0, 1, 2, 26, 27, 32]);
        AssertCuts([], Hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"), [0]);
        AssertCuts([], Hex("3f e1 01 82"), [0, 3]);

        static void AssertCuts(byte[][] before, byte[] block, int[] boundaries)
        {
            List<(int, string, string)> all = Decode(Prepared(before), block);
            for (int cut = 0; cut < block.Length; cut++)
            {
                HPackDecoder decoder = Prepared(before);
                int boundary = Array.IndexOf(boundaries, cut);
                if (boundary >= 0)
                {
                    List<(int, string, string)> fields = Decode(decoder, block[..cut]);
                    Assert.True(fields.Count < all.Count);
                    Assert.Equal(all.Take(fields.Count), fields);
                }
                else
                {
                    Assert.Throws<HPackDecodingException>(() => decoder.Decode(block.AsSpan(0, cut), new Fields()));
                }
            }
        }

        static HPackDecoder Prepared(byte[][] blocks)
        {
            var decoder = new HPackDecoder(256);
            foreach (byte[] block in blocks)
            {
                decoder.Decode(block, new Fields());
            }

            return decoder;
        }
    }

    [Fact]
    public void Decoder_rejects_malformed_huffman_strings_in_a_block()
    {
        AssertDecodeError(new HPackDecoder(), Hex("04 84 ffff ffff"), "EOS");
        AssertDecodeError(new HPackDecoder(), Hex("04 81 00"), "padding");
        AssertDecodeError(new HPackDecoder(), Hex("04 82 07ff"), "padding");
        AssertDecodeError(new HPackDecoder(), Hex("00 81 06 0161"), "padding"); // in the name
        Assert.Equal([(4, ":path", "0")], Decode(new HPackDecoder(), Hex("04 81 07")));
        Assert.Equal([(4, ":path", string.Empty)], Decode(new HPackDecoder(), Hex("04 80")));
    }

    [Fact]
    public void Decoder_rejects_a_header_list_larger_than_the_limit()
    {
        // name 10 + value 58 + 32 = 100: exactly the limit.
        string name = new('n', 10);
        byte[] fits = [0x00, 0x0a, .. Encoding.ASCII.GetBytes(name), 58, .. new byte[58]];
        Assert.Single(Decode(new HPackDecoder(maxHeaderListSize: 100), fits));
        byte[] over = [0x00, 0x0a, .. Encoding.ASCII.GetBytes(name), 59, .. new byte[59]];
        AssertDecodeError(new HPackDecoder(maxHeaderListSize: 100), over, "header list");

        // The sum over fields: :method GET is 7 + 3 + 32 = 42; two fit, three do not.
        Assert.Equal(2, Decode(new HPackDecoder(maxHeaderListSize: 100), Hex("82 82")).Count);
        AssertDecodeError(new HPackDecoder(maxHeaderListSize: 100), Hex("82 82 82"), "larger than the limit of 100 bytes");

        // A Huffman-coded value that decodes past the limit (200 bytes from 125).
        byte[] huffman = HuffmanEncode(new string('0', 200));
        Assert.Equal(125, huffman.Length);
        byte[] block = [0x04, (byte)(0x80 | huffman.Length), .. huffman];
        AssertDecodeError(new HPackDecoder(maxHeaderListSize: 100), block, "header list");
        AssertDecodeError(new HPackDecoder(maxHeaderListSize: 236), block, "header list");
        Assert.Single(Decode(new HPackDecoder(maxHeaderListSize: 237), block)); // ":path" 5 + 200 + 32

        // A fresh count for every block.
        var decoder = new HPackDecoder(maxHeaderListSize: 100);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(2, Decode(decoder, Hex("82 82")).Count);
        }
    }

    [Fact]
    public void Decoding_within_the_limit_reads_the_whole_block_past_the_limit_and_keeps_the_dynamic_table_in_step()
    {
        var decoder = new HPackDecoder(maxDynamicTableSize: 256, maxHeaderListSize: 100);
        byte[] huffman = HuffmanEncode(new string('0', 300)); // longer than the limit and the table: checked, not kept
        var block = new List<byte> { 0x40, 5 };
        block.AddRange("x-old"u8.ToArray());
        block.AddRange([1, (byte)'1']); // x-old: 1 with incremental indexing (38 bytes)
        AppendInteger(block, 4, 6, 0x40); // :path with incremental indexing, a Huffman value of 300 bytes: over the limit
        AppendInteger(block, huffman.Length, 7, 0x80);
        block.AddRange(huffman);
        block.AddRange([0x40, 5, .. "x-new"u8.ToArray(), 1, (byte)'2']); // added to the table after the limit
        block.Add(0x82);

        var fields = new Fields();
        Assert.False(decoder.DecodeWithinLimit(block.ToArray(), fields));
        Assert.Equal([(0, "x-old", "1")], fields.List); // nothing from the field that went over the limit on
        AssertTable(decoder, 38, ("x-new", "2")); // the long entry emptied the table (larger than it), then x-new entered

        fields = new Fields();
        Assert.True(decoder.DecodeWithinLimit(Hex("be 82"), fields));
        Assert.Equal([(0, "x-new", "2"), (HPackStaticTable.MethodGet, ":method", "GET")], fields.List);

        // invalid Huffman past the limit is still a decoding error
        byte[] eos = [0x04, 0x85, 0x07, 0xff, 0xff, 0xff, 0xff]; // "0", then EOS
        Assert.Throws<HPackDecodingException>(() => new HPackDecoder(maxDynamicTableSize: 0, maxHeaderListSize: 0).DecodeWithinLimit(eos, new Fields()));
    }

    [Fact]
    public void Decoder_allocates_nothing_per_block_once_warm()
    {
        var sink = new CountingSink();
        var plain = new HPackDecoder(256);
        var huffman = new HPackDecoder(256);
        for (int i = 0; i < 200; i++)
        {
            Cycle();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            Cycle();
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1000, $"{allocated} bytes allocated over 6000 blocks");
        Assert.True(sink.Bytes > 0);

        void Cycle()
        {
            plain.Decode(s_c51, sink);
            plain.Decode(s_c52, sink);
            plain.Decode(s_c53, sink);
            huffman.Decode(s_c61, sink);
            huffman.Decode(s_c62, sink);
            huffman.Decode(s_c63, sink);
        }
    }

    /// <summary>RFC 7541 C.3 / C.4: the three requests, and the dynamic table after each as the RFC lists it.</summary>
    private static void AssertAppendixRequests(byte[] first, byte[] second, byte[] third)
    {
        var decoder = new HPackDecoder();
        Assert.Equal(
            [(2, ":method", "GET"), (6, ":scheme", "http"), (4, ":path", "/"), (1, ":authority", "www.example.com")],
            Decode(decoder, first));
        AssertTable(decoder, 57, (":authority", "www.example.com"));

        Assert.Equal(
            [(2, ":method", "GET"), (6, ":scheme", "http"), (4, ":path", "/"), (0, ":authority", "www.example.com"), (24, "cache-control", "no-cache")],
            Decode(decoder, second));
        AssertTable(decoder, 110, ("cache-control", "no-cache"), (":authority", "www.example.com"));

        Assert.Equal(
            [(2, ":method", "GET"), (7, ":scheme", "https"), (5, ":path", "/index.html"), (0, ":authority", "www.example.com"), (0, "custom-key", "custom-value")],
            Decode(decoder, third));
        AssertTable(decoder, 164, ("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com"));
    }

    /// <summary>RFC 7541 C.5 / C.6 (SETTINGS_HEADER_TABLE_SIZE 256): the three responses, and the dynamic table after
    /// each, evictions included, as the RFC lists it.</summary>
    private static void AssertAppendixResponses(byte[] first, byte[] second, byte[] third)
    {
        const string date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
        const string date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
        const string location = "https://www.example.com";
        const string cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
        var decoder = new HPackDecoder(256);
        Assert.Equal(
            [(8, ":status", "302"), (24, "cache-control", "private"), (33, "date", date1), (46, "location", location)],
            Decode(decoder, first));
        AssertTable(decoder, 222, ("location", location), ("date", date1), ("cache-control", "private"), (":status", "302"));

        Assert.Equal(
            [(8, ":status", "307"), (0, "cache-control", "private"), (0, "date", date1), (0, "location", location)],
            Decode(decoder, second));
        AssertTable(decoder, 222, (":status", "307"), ("location", location), ("date", date1), ("cache-control", "private"));

        Assert.Equal(
            [(8, ":status", "200"), (0, "cache-control", "private"), (33, "date", date2), (0, "location", location), (26, "content-encoding", "gzip"), (55, "set-cookie", cookie)],
            Decode(decoder, third));
        AssertTable(decoder, 215, ("set-cookie", cookie), ("content-encoding", "gzip"), ("date", date2));
    }

    private static List<(int StaticIndex, string Name, string Value)> Decode(HPackDecoder decoder, byte[] block)
    {
        var fields = new Fields();
        decoder.Decode(block, fields);
        return fields.List;
    }

    /// <summary>The dynamic table's size, count and entries (newest first), read back through indexed fields, which do not
    /// change it.</summary>
    private static void AssertTable(HPackDecoder decoder, int size, params (string Name, string Value)[] entries)
    {
        Assert.Equal(size, decoder.DynamicTableSize);
        Assert.Equal(entries.Length, decoder.DynamicTableCount);
        Assert.Equal(size, entries.Sum(e => e.Name.Length + e.Value.Length + 32));
        var block = new List<byte>();
        for (int age = 1; age <= entries.Length; age++)
        {
            AppendInteger(block, HPackStaticTable.Count + age, 7, 0x80);
        }

        var fields = new Fields();
        decoder.Decode(block.ToArray(), fields);
        Assert.Equal(entries, fields.List.Select(f => (f.Name, f.Value)).ToArray());
        Assert.All(fields.List, f => Assert.Equal(0, f.StaticIndex));
        Assert.Equal(size, decoder.DynamicTableSize);
    }

    private static void AssertDecodeError(HPackDecoder decoder, byte[] block, string expected)
    {
        HPackDecodingException e = Assert.Throws<HPackDecodingException>(() => decoder.Decode(block, new Fields()));
        Assert.StartsWith("HPACK: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    private static void AssertDecodingError(Action action, string expected)
    {
        HPackDecodingException e = Assert.Throws<HPackDecodingException>(action);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    private static void AssertHuffmanRoundTrip(byte[] value)
    {
        byte[] encoded = HuffmanEncode(value);
        if (encoded.Length > 0)
        {
            Assert.Equal(-1, HPackHuffman.Encode(value, new byte[encoded.Length - 1]));
        }

        byte[] decoded = new byte[HPackHuffman.GetMaxDecodedLength(encoded.Length)];
        int written = HPackHuffman.Decode(encoded, decoded);
        Assert.Equal(value, decoded[..written]);
    }

    private static byte[] HuffmanEncode(string value) => HuffmanEncode(Encoding.Latin1.GetBytes(value));

    private static byte[] HuffmanEncode(byte[] value)
    {
        byte[] encoded = new byte[HPackHuffman.GetEncodedLength(value)];
        Assert.Equal(encoded.Length, HPackHuffman.Encode(value, encoded));
        return encoded;
    }

    private static void AppendInteger(List<byte> block, int value, int prefixBits, byte flags)
    {
        byte[] buffer = new byte[HPackEncoder.MaxIntegerLength];
        int written = HPackEncoder.WriteInteger(value, prefixBits, flags, buffer);
        block.AddRange(buffer.AsSpan(0, written).ToArray());
    }

    private static void AppendString(List<byte> block, string value, bool huffman)
    {
        byte[] bytes = Encoding.Latin1.GetBytes(value);
        if (huffman)
        {
            bytes = HuffmanEncode(bytes);
        }

        AppendInteger(block, bytes.Length, 7, huffman ? (byte)0x80 : (byte)0x00);
        block.AddRange(bytes);
    }

    private static string RandomLatin1(Random random, int length)
    {
        var chars = new char[length];
        for (int i = 0; i < length; i++)
        {
            chars[i] = random.Next(4) == 0 ? (char)random.Next(0, 256) : (char)random.Next('a', 'z' + 1);
        }

        return new string(chars);
    }

    private static string RandomToken(Random random)
    {
        const string tokenChars = "abcdefghijklmnopqrstuvwxyz0123456789-_";
        var chars = new char[random.Next(1, 30)];
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = tokenChars[random.Next(tokenChars.Length)];
        }

        return new string(chars);
    }

    private static string Ascii(ReadOnlySpan<byte> bytes) => Encoding.ASCII.GetString(bytes);

    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", string.Empty, StringComparison.Ordinal));

    /// <summary>Writes one representation into the span, returning the bytes written or -1.</summary>
    private delegate int Writer(Span<byte> dest);

    /// <summary>Collects the decoded fields as (static index, name, value) with Latin-1 strings.</summary>
    private sealed class Fields : IHPackHeaderSink
    {
        public List<(int StaticIndex, string Name, string Value)> List { get; } = [];

        public void OnHeader(int staticIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) =>
            List.Add((staticIndex, Encoding.Latin1.GetString(name), Encoding.Latin1.GetString(value)));
    }

    /// <summary>Counts the decoded bytes without allocating.</summary>
    private sealed class CountingSink : IHPackHeaderSink
    {
        public long Bytes { get; private set; }

        public void OnHeader(int staticIndex, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value) => Bytes += name.Length + value.Length + staticIndex;
    }
}
