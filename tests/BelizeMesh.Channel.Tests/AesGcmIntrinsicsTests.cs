using System.Security.Cryptography;
using BelizeMesh.Channel.Protocol;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace BelizeMesh.Channel.Tests;

/// <summary>
/// The record cipher's AES-256-GCM on AES-NI and PCLMULQDQ, against the GCM specification's AES-256 test cases and two
/// independent implementations: .NET's <see cref="AesGcm"/> (OpenSSL) and BouncyCastle's <see cref="GcmBlockCipher"/>.
/// </summary>
public sealed class AesGcmIntrinsicsTests
{
    private sealed class IntrinsicsFactAttribute : FactAttribute
    {
        public IntrinsicsFactAttribute()
        {
            if (!AesGcmIntrinsics.IsSupported)
            {
                Skip = "this CPU has no AES-NI/PCLMULQDQ: the record layer uses .NET's AesGcm alone here";
            }
        }
    }

    private sealed class IntrinsicsTheoryAttribute : TheoryAttribute
    {
        public IntrinsicsTheoryAttribute()
        {
            if (!AesGcmIntrinsics.IsSupported)
            {
                Skip = "this CPU has no AES-NI/PCLMULQDQ: the record layer uses .NET's AesGcm alone here";
            }
        }
    }

    // McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, test cases 13-16 (AES-256).
    [IntrinsicsTheory]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b")]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919")]
    [InlineData("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255", "",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad", "b094dac5d93471bdec1a502270e3cc6c")]
    [InlineData("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662", "76fc6ece0f4e1768cddf8853bb2d551b")]
    public void Encrypts_the_gcm_specification_aes256_test_cases(string key, string nonce, string plaintext, string aad, string ciphertext, string tag)
    {
        using var gcm = new AesGcmIntrinsics(Convert.FromHexString(key));
        byte[] p = Convert.FromHexString(plaintext);
        byte[] c = new byte[p.Length];
        byte[] t = new byte[16];
        gcm.Encrypt(Convert.FromHexString(nonce), p, c, t, Convert.FromHexString(aad));
        Assert.Equal(ciphertext, Convert.ToHexStringLower(c));
        Assert.Equal(tag, Convert.ToHexStringLower(t));

        byte[] back = new byte[c.Length];
        gcm.Decrypt(Convert.FromHexString(nonce), c, t, back, Convert.FromHexString(aad));
        Assert.Equal(plaintext, Convert.ToHexStringLower(back));
    }

    [IntrinsicsFact]
    public void Agrees_with_openssl_for_every_length_up_to_1100_bytes_and_random_longer_ones()
        => AgreesWithOpenSsl(wideMultiply: true);

    [IntrinsicsFact]
    public void Agrees_with_openssl_with_ghash_on_128_bit_carry_less_multiplies_too()
    {
        // Where the CPU has VPCLMULQDQ the test above checks the two-blocks-per-instruction GHASH; this one the
        // PCLMULQDQ path that CPUs without it take, on the same CPU.
        AgreesWithOpenSsl(wideMultiply: false);
    }

    private static void AgreesWithOpenSsl(bool wideMultiply)
    {
        var random = new Random(20261205);
        for (int trial = 0; trial < 1600; trial++)
        {
            int length = trial <= 1100 ? trial : random.Next(1101, ProtocolConstants.MaxPlaintext + 1);
            (byte[] key, byte[] nonce, byte[] plaintext, byte[] aad) = RandomCase(random, length, random.Next(0, 70));
            byte[] expectedCiphertext = new byte[length], expectedTag = new byte[16];
            using (var platform = new AesGcm(key, 16))
            {
                platform.Encrypt(nonce, plaintext, expectedCiphertext, expectedTag, aad);
            }

            using var gcm = new AesGcmIntrinsics(key, wideMultiply);
            byte[] ciphertext = new byte[length], tag = new byte[16];
            gcm.Encrypt(nonce, plaintext, ciphertext, tag, aad);
            Assert.True(expectedCiphertext.AsSpan().SequenceEqual(ciphertext), $"ciphertext differs from OpenSSL's: {length} bytes, {aad.Length} bytes of AAD");
            Assert.True(expectedTag.AsSpan().SequenceEqual(tag), $"tag differs from OpenSSL's: {length} bytes, {aad.Length} bytes of AAD");

            byte[] back = new byte[length];
            gcm.Decrypt(nonce, expectedCiphertext, expectedTag, back, aad);
            Assert.True(plaintext.AsSpan().SequenceEqual(back), $"decryption of OpenSSL's ciphertext differs: {length} bytes");
        }
    }

    [IntrinsicsFact]
    public void Agrees_with_bouncy_castle_in_both_directions()
    {
        var random = new Random(17);
        for (int trial = 0; trial < 400; trial++)
        {
            int length = trial < 300 ? trial : random.Next(300, 5000);
            (byte[] key, byte[] nonce, byte[] plaintext, byte[] aad) = RandomCase(random, length, random.Next(0, 40));
            var bouncy = new GcmBlockCipher(new AesEngine());
            bouncy.Init(forEncryption: true, new AeadParameters(new KeyParameter(key), 128, nonce, aad));
            byte[] sealedByBouncy = new byte[bouncy.GetOutputSize(length)];
            int written = bouncy.ProcessBytes(plaintext, 0, length, sealedByBouncy, 0);
            bouncy.DoFinal(sealedByBouncy, written);

            using var gcm = new AesGcmIntrinsics(key);
            byte[] ciphertext = new byte[length], tag = new byte[16];
            gcm.Encrypt(nonce, plaintext, ciphertext, tag, aad);
            Assert.Equal(Convert.ToHexString(sealedByBouncy), Convert.ToHexString(ciphertext) + Convert.ToHexString(tag));

            // Ours opens BouncyCastle's record, BouncyCastle opens ours.
            byte[] back = new byte[length];
            gcm.Decrypt(nonce, sealedByBouncy.AsSpan(0, length), sealedByBouncy.AsSpan(length), back, aad);
            Assert.True(plaintext.AsSpan().SequenceEqual(back));
            bouncy.Init(forEncryption: false, new AeadParameters(new KeyParameter(key), 128, nonce, aad));
            byte[] opened = new byte[bouncy.GetOutputSize(length + 16)];
            int read = bouncy.ProcessBytes([.. ciphertext, .. tag], 0, length + 16, opened, 0);
            read += bouncy.DoFinal(opened, read);
            Assert.True(plaintext.AsSpan().SequenceEqual(opened.AsSpan(0, read)));
        }
    }

    [IntrinsicsFact]
    public void Works_in_place_in_both_directions()
    {
        var random = new Random(3);
        foreach (int length in (int[])[0, 1, 15, 16, 17, 63, 64, 65, 300, 1400, ProtocolConstants.MaxPlaintext])
        {
            (byte[] key, byte[] nonce, byte[] plaintext, byte[] aad) = RandomCase(random, length, 5);
            using var gcm = new AesGcmIntrinsics(key);
            byte[] expected = new byte[length], tag = new byte[16], inPlaceTag = new byte[16];
            gcm.Encrypt(nonce, plaintext, expected, tag, aad);
            byte[] buffer = (byte[])plaintext.Clone();
            gcm.Encrypt(nonce, buffer, buffer, inPlaceTag, aad);
            Assert.True(expected.AsSpan().SequenceEqual(buffer));
            Assert.True(tag.AsSpan().SequenceEqual(inPlaceTag));
            gcm.Decrypt(nonce, buffer, tag, buffer, aad);
            Assert.True(plaintext.AsSpan().SequenceEqual(buffer));
        }
    }

    [IntrinsicsFact]
    public void Any_flipped_bit_of_tag_ciphertext_aad_or_nonce_fails_authentication_and_leaves_nothing_decrypted()
    {
        var random = new Random(11);
        (byte[] key, byte[] nonce, byte[] plaintext, byte[] aad) = RandomCase(random, 200, 5);
        using var gcm = new AesGcmIntrinsics(key);
        byte[] ciphertext = new byte[plaintext.Length], tag = new byte[16];
        gcm.Encrypt(nonce, plaintext, ciphertext, tag, aad);

        void Rejects(byte[] n, byte[] c, byte[] t, byte[] a, string what)
        {
            byte[] output = new byte[c.Length];
            output.AsSpan().Fill(0xA5);
            Assert.Throws<AuthenticationTagMismatchException>(() => gcm.Decrypt(n, c, t, output, a));
            Assert.True(output.AsSpan().IndexOfAnyExcept((byte)0) < 0, $"{what}: plaintext left in the output after a failed tag");
        }

        for (int bit = 0; bit < 128; bit++)
        {
            Rejects(nonce, ciphertext, Flip(tag, bit), aad, $"tag bit {bit}");
        }

        for (int bit = 0; bit < ciphertext.Length * 8; bit += 7)
        {
            Rejects(nonce, Flip(ciphertext, bit), tag, aad, $"ciphertext bit {bit}");
        }

        for (int bit = 0; bit < aad.Length * 8; bit++)
        {
            Rejects(nonce, ciphertext, tag, Flip(aad, bit), $"aad bit {bit}");
        }

        for (int bit = 0; bit < nonce.Length * 8; bit++)
        {
            Rejects(Flip(nonce, bit), ciphertext, tag, aad, $"nonce bit {bit}");
        }

        Rejects(nonce, ciphertext[..^1], tag, aad, "truncated ciphertext");
        Rejects(nonce, ciphertext, tag, [], "missing aad");
    }

    [IntrinsicsFact]
    public void Wrong_sizes_are_refused_with_what_was_expected()
    {
        Assert.Contains("32 bytes, not 16", Assert.Throws<ArgumentException>(() => new AesGcmIntrinsics(new byte[16])).Message);
        using var gcm = new AesGcmIntrinsics(new byte[32]);
        Assert.Contains("12 bytes, not 16", Assert.Throws<ArgumentException>(() => gcm.Encrypt(new byte[16], new byte[4], new byte[4], new byte[16], [])).Message);
        Assert.Contains("16 bytes, not 12", Assert.Throws<ArgumentException>(() => gcm.Encrypt(new byte[12], new byte[4], new byte[4], new byte[12], [])).Message);
        Assert.Contains("same length", Assert.Throws<ArgumentException>(() => gcm.Decrypt(new byte[12], new byte[4], new byte[16], new byte[5], [])).Message);
    }

    [IntrinsicsFact]
    public void Dispose_zeroes_the_round_keys_and_the_powers_of_h_and_refuses_further_use()
    {
        var gcm = new AesGcmIntrinsics(RandomNumberGenerator.GetBytes(32));
        var roundKeys = (System.Runtime.Intrinsics.Vector128<byte>[])typeof(AesGcmIntrinsics).GetField("_roundKeys", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(gcm)!;
        var powers = (System.Runtime.Intrinsics.Vector128<ulong>[])typeof(AesGcmIntrinsics).GetField("_hPowers", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(gcm)!;
        var pairs = (System.Runtime.Intrinsics.Vector256<ulong>[])typeof(AesGcmIntrinsics).GetField("_hPowerPairs", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(gcm)!;
        Assert.Contains(roundKeys, k => k != default);
        Assert.All(powers, h => Assert.NotEqual(default, h));
        Assert.All(pairs, h => Assert.NotEqual(default, h));
        gcm.Dispose();
        Assert.All(roundKeys, k => Assert.Equal(default, k));
        Assert.All(powers, h => Assert.Equal(default, h));
        Assert.All(pairs, h => Assert.Equal(default, h));
        Assert.Throws<ObjectDisposedException>(() => gcm.Encrypt(new byte[12], new byte[4], new byte[4], new byte[16], []));
        Assert.Throws<ObjectDisposedException>(() => gcm.Decrypt(new byte[12], new byte[4], new byte[16], new byte[4], []));
    }

    private static (byte[] Key, byte[] Nonce, byte[] Plaintext, byte[] Aad) RandomCase(Random random, int length, int aadLength)
    {
        byte[] key = new byte[32], nonce = new byte[12], plaintext = new byte[length], aad = new byte[aadLength];
        random.NextBytes(key);
        random.NextBytes(nonce);
        random.NextBytes(plaintext);
        random.NextBytes(aad);
        return (key, nonce, plaintext, aad);
    }

    private static byte[] Flip(byte[] data, int bit)
    {
        byte[] copy = (byte[])data.Clone();
        copy[bit / 8] ^= (byte)(1 << (bit % 8));
        return copy;
    }
}
