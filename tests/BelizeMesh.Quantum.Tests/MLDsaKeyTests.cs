using System.Security.Cryptography;
using FsCheck.Xunit;

namespace BelizeMesh.Quantum.Tests;

/// <summary>The public ML-DSA API: round trips, tampering, malformed encodings and argument checks.</summary>
public class MLDsaKeyTests
{
    public static TheoryData<string> Algorithms => new() { "ML-DSA-44", "ML-DSA-65", "ML-DSA-87" };

    private static MLDsaParameterSet Alg(string name) => MLDsaParameterSet.FromName(name)!;

    private static MLDsaKey KeyFromSeed(MLDsaParameterSet algorithm, byte label)
    {
        byte[] seed = SHA256.HashData([label, (byte)algorithm.SignatureSizeInBytes]);
        return MLDsaKey.ImportPrivateSeed(algorithm, seed);
    }

    private static byte[] PublicKeyOf(MLDsaKey key)
    {
        byte[] pk = new byte[key.Algorithm.PublicKeySizeInBytes];
        key.ExportPublicKey(pk);
        return pk;
    }

    private static byte[] Sign(MLDsaKey key, byte[] message, byte[]? context = null)
    {
        byte[] signature = new byte[key.Algorithm.SignatureSizeInBytes];
        key.SignData(message, signature, context);
        return signature;
    }

    [Fact]
    public void Parameter_sets_have_the_sizes_of_FIPS_204_table_2()
    {
        Assert.Equal((1312, 2560, 2420), (MLDsaParameterSet.MLDsa44.PublicKeySizeInBytes, MLDsaParameterSet.MLDsa44.PrivateKeySizeInBytes, MLDsaParameterSet.MLDsa44.SignatureSizeInBytes));
        Assert.Equal((1952, 4032, 3309), (MLDsaParameterSet.MLDsa65.PublicKeySizeInBytes, MLDsaParameterSet.MLDsa65.PrivateKeySizeInBytes, MLDsaParameterSet.MLDsa65.SignatureSizeInBytes));
        Assert.Equal((2592, 4896, 4627), (MLDsaParameterSet.MLDsa87.PublicKeySizeInBytes, MLDsaParameterSet.MLDsa87.PrivateKeySizeInBytes, MLDsaParameterSet.MLDsa87.SignatureSizeInBytes));
        Assert.Equal((78, 196, 120), (MLDsaParameterSet.MLDsa44.Beta, MLDsaParameterSet.MLDsa65.Beta, MLDsaParameterSet.MLDsa87.Beta));
        Assert.Null(MLDsaParameterSet.FromName("ML-DSA-99"));
    }

    [Property(MaxTest = 15)]
    public bool Signatures_over_random_seeds_messages_and_contexts_verify(byte[] seedMaterial, byte[] message, byte[] contextMaterial, byte which)
    {
        var algorithm = new[] { MLDsaParameterSet.MLDsa44, MLDsaParameterSet.MLDsa65, MLDsaParameterSet.MLDsa87 }[which % 3];
        byte[] context = contextMaterial.Take(255).ToArray();
        using var key = MLDsaKey.ImportPrivateSeed(algorithm, SHA256.HashData(seedMaterial));
        using var publicKey = MLDsaKey.ImportPublicKey(algorithm, PublicKeyOf(key));
        byte[] signature = Sign(key, message, context);
        byte[] deterministic = new byte[algorithm.SignatureSizeInBytes];
        key.SignDataDeterministic(message, deterministic, context);
        return publicKey.VerifyData(message, signature, context)
            && publicKey.VerifyData(message, deterministic, context)
            && key.VerifyData(message, signature, context)
            && !publicKey.VerifyData([.. message, 0], signature, context)
            && !publicKey.VerifyData(message, signature, [.. context, 1]);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Keys_round_trip_through_seed_expanded_and_public_encodings(string name)
    {
        var algorithm = Alg(name);
        using var key = KeyFromSeed(algorithm, 1);
        byte[] seed = new byte[32], sk = new byte[algorithm.PrivateKeySizeInBytes];
        key.ExportPrivateSeed(seed);
        key.ExportPrivateKey(sk);
        byte[] pk = PublicKeyOf(key);

        using var fromSeed = MLDsaKey.ImportPrivateSeed(algorithm, seed);
        using var fromSk = MLDsaKey.ImportPrivateKey(algorithm, sk);
        Assert.Equal(pk, PublicKeyOf(fromSeed));
        Assert.Equal(pk, PublicKeyOf(fromSk));
        Assert.True(fromSk.HasPrivateKey);
        Assert.False(fromSk.HasPrivateSeed);

        // The same key signs the same deterministic signature whichever way it was imported.
        byte[] message = "rotate the mesh CA"u8.ToArray();
        byte[] a = new byte[algorithm.SignatureSizeInBytes], b = new byte[algorithm.SignatureSizeInBytes];
        fromSeed.SignDataDeterministic(message, a, "ctx"u8);
        fromSk.SignDataDeterministic(message, b, "ctx"u8);
        Assert.Equal(a, b);

        var error = Assert.Throws<InvalidOperationException>(() => fromSk.ExportPrivateSeed(seed));
        Assert.Equal($"This {name} key has no private seed: it was imported from an expanded private key, and the seed cannot be recovered from either.", error.Message);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Hedged_signatures_differ_and_deterministic_ones_repeat(string name)
    {
        var algorithm = Alg(name);
        using var key = KeyFromSeed(algorithm, 2);
        byte[] message = [1, 2, 3];
        Assert.NotEqual(Sign(key, message), Sign(key, message));
        byte[] a = new byte[algorithm.SignatureSizeInBytes], b = new byte[algorithm.SignatureSizeInBytes];
        key.SignDataDeterministic(message, a);
        key.SignDataDeterministic(message, b);
        Assert.Equal(a, b);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Any_single_bit_flip_in_signature_message_context_or_key_fails_verification(string name)
    {
        var algorithm = Alg(name);
        using var key = KeyFromSeed(algorithm, 3);
        byte[] pk = PublicKeyOf(key);
        byte[] message = "GET /healthz"u8.ToArray();
        byte[] context = "belizemesh"u8.ToArray();
        byte[] signature = Sign(key, message, context);
        using var publicKey = MLDsaKey.ImportPublicKey(algorithm, pk);
        Assert.True(publicKey.VerifyData(message, signature, context));

        var random = new Random(name.GetHashCode(StringComparison.Ordinal));
        // Every region of the signature: c̃, each z polynomial, the hint bytes.
        int[] positions = [0, algorithm.SignatureSizeInBytes / 4, algorithm.SignatureSizeInBytes / 2, algorithm.SignatureSizeInBytes - 200, .. Enumerable.Range(0, 40).Select(_ => random.Next(algorithm.SignatureSizeInBytes))];
        foreach (int position in positions)
        {
            byte[] tampered = (byte[])signature.Clone();
            tampered[position] ^= (byte)(1 << random.Next(8));
            Assert.False(publicKey.VerifyData(message, tampered, context), $"signature byte {position}");
        }

        for (int i = 0; i < message.Length; i++)
        {
            byte[] tampered = (byte[])message.Clone();
            tampered[i] ^= 0x01;
            Assert.False(publicKey.VerifyData(tampered, signature, context));
        }

        Assert.False(publicKey.VerifyData(message, signature, "belizemesH"u8));
        Assert.False(publicKey.VerifyData(message, signature));

        foreach (int position in new[] { 0, 31, 32, 500, pk.Length - 1 })
        {
            byte[] tamperedKey = (byte[])pk.Clone();
            tamperedKey[position] ^= 0x80;
            using var other = MLDsaKey.ImportPublicKey(algorithm, tamperedKey);
            Assert.False(other.VerifyData(message, signature, context), $"public key byte {position}");
        }
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Every_wrong_length_is_rejected_with_a_clear_error_or_false(string name)
    {
        var algorithm = Alg(name);
        using var key = KeyFromSeed(algorithm, 4);
        byte[] message = [42];
        byte[] signature = Sign(key, message);
        using var publicKey = MLDsaKey.ImportPublicKey(algorithm, PublicKeyOf(key));

        foreach (int length in new[] { 0, 1, algorithm.SignatureSizeInBytes - 1, algorithm.SignatureSizeInBytes + 1 })
        {
            byte[] wrong = new byte[length];
            signature.AsSpan(0, Math.Min(length, signature.Length)).CopyTo(wrong);
            Assert.False(publicKey.VerifyData(message, wrong));
            Assert.False(publicKey.VerifyMu(new byte[64], wrong));
            Assert.False(publicKey.VerifyPreHash(new byte[64], wrong, "2.16.840.1.101.3.4.2.3"));
        }

        var e = Assert.Throws<ArgumentException>(() => MLDsaKey.ImportPublicKey(algorithm, new byte[algorithm.PublicKeySizeInBytes - 1]));
        Assert.Equal($"An {name} public key is {algorithm.PublicKeySizeInBytes} bytes, got {algorithm.PublicKeySizeInBytes - 1}. (Parameter 'publicKey')", e.Message);
        e = Assert.Throws<ArgumentException>(() => MLDsaKey.ImportPrivateKey(algorithm, new byte[algorithm.PrivateKeySizeInBytes + 1]));
        Assert.Equal($"An {name} private key is {algorithm.PrivateKeySizeInBytes} bytes, got {algorithm.PrivateKeySizeInBytes + 1}. (Parameter 'privateKey')", e.Message);
        e = Assert.Throws<ArgumentException>(() => MLDsaKey.ImportPrivateSeed(algorithm, new byte[31]));
        Assert.Equal($"An {name} private seed is 32 bytes, got 31. (Parameter 'seed')", e.Message);
        e = Assert.Throws<ArgumentException>(() => key.SignData(message, new byte[algorithm.SignatureSizeInBytes - 1]));
        Assert.Equal($"An {name} signature is {algorithm.SignatureSizeInBytes} bytes; the destination has {algorithm.SignatureSizeInBytes - 1}. (Parameter 'destination')", e.Message);
        e = Assert.Throws<ArgumentException>(() => key.ExportPublicKey(new byte[algorithm.PublicKeySizeInBytes + 1]));
        Assert.Equal($"An {name} public key is {algorithm.PublicKeySizeInBytes} bytes; the destination has {algorithm.PublicKeySizeInBytes + 1}. (Parameter 'destination')", e.Message);
        e = Assert.Throws<ArgumentException>(() => key.SignMu(new byte[63], new byte[algorithm.SignatureSizeInBytes]));
        Assert.Equal("µ is 64 bytes, got 63. (Parameter 'mu')", e.Message);
        Assert.False(publicKey.VerifyMu(new byte[63], signature));
    }

    [Fact]
    public void Contexts_longer_than_255_bytes_are_refused_when_signing_and_fail_verification()
    {
        using var key = KeyFromSeed(MLDsaParameterSet.MLDsa44, 5);
        byte[] signature = new byte[MLDsaParameterSet.MLDsa44.SignatureSizeInBytes];
        key.SignData([1], signature, new byte[255]);
        Assert.True(key.VerifyData([1], signature, new byte[255]));

        var e = Assert.Throws<ArgumentException>(() => key.SignData([1], signature, new byte[256]));
        Assert.Equal("An ML-DSA context string is at most 255 bytes (FIPS 204, section 5.2), got 256. (Parameter 'context')", e.Message);
        Assert.False(key.VerifyData([1], signature, new byte[256]));
    }

    [Fact]
    public void Public_keys_cannot_sign_or_export_private_material()
    {
        using var key = KeyFromSeed(MLDsaParameterSet.MLDsa87, 6);
        using var publicKey = MLDsaKey.ImportPublicKey(MLDsaParameterSet.MLDsa87, PublicKeyOf(key));
        Assert.False(publicKey.HasPrivateKey);
        var e = Assert.Throws<InvalidOperationException>(() => publicKey.SignData([1], new byte[MLDsaParameterSet.MLDsa87.SignatureSizeInBytes]));
        Assert.StartsWith("This ML-DSA-87 key is a public key only;", e.Message);
        Assert.Throws<InvalidOperationException>(() => publicKey.ExportPrivateKey(new byte[MLDsaParameterSet.MLDsa87.PrivateKeySizeInBytes]));
        e = Assert.Throws<InvalidOperationException>(() => publicKey.ExportPrivateSeed(new byte[32]));
        Assert.Equal("This ML-DSA-87 key has no private seed: it was imported from a public key, and the seed cannot be recovered from either.", e.Message);
    }

    [Fact]
    public void Disposed_keys_refuse_every_operation()
    {
        var key = KeyFromSeed(MLDsaParameterSet.MLDsa65, 7);
        byte[] signature = Sign(key, [9]);
        key.Dispose();
        key.Dispose();
        Assert.Throws<ObjectDisposedException>(() => key.SignData([9], signature));
        Assert.Throws<ObjectDisposedException>(() => key.VerifyData([9], signature));
        Assert.Throws<ObjectDisposedException>(() => key.ExportPrivateKey(new byte[MLDsaParameterSet.MLDsa65.PrivateKeySizeInBytes]));
        Assert.Throws<ObjectDisposedException>(() => key.ExportPrivateSeed(new byte[32]));
    }

    [Fact]
    public void Dispose_zeroes_the_private_key_the_seed_and_the_expanded_secrets()
    {
        var key = KeyFromSeed(MLDsaParameterSet.MLDsa44, 8);
        _ = Sign(key, [1]); // forces NTT(s1), NTT(s2), NTT(t0) to be computed
        var flags = System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance;
        byte[] sk = (byte[])typeof(MLDsaKey).GetField("_privateKey", flags)!.GetValue(key)!;
        byte[] seed = (byte[])typeof(MLDsaKey).GetField("_seed", flags)!.GetValue(key)!;
        int[] secrets = (int[])typeof(MLDsaKey).GetField("_secretsHat", flags)!.GetValue(key)!;
        Assert.Contains(sk, b => b != 0);
        Assert.Contains(secrets, x => x != 0);
        key.Dispose();
        Assert.All(sk, b => Assert.Equal(0, b));
        Assert.All(seed, b => Assert.Equal(0, b));
        Assert.All(secrets, x => Assert.Equal(0, x));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Inconsistent_or_out_of_range_private_keys_are_refused(string name)
    {
        var algorithm = Alg(name);
        using var key = KeyFromSeed(algorithm, 9);
        byte[] sk = new byte[algorithm.PrivateKeySizeInBytes];
        key.ExportPrivateKey(sk);

        byte[] wrongTr = (byte[])sk.Clone();
        wrongTr[64] ^= 1;
        var e = Assert.Throws<CryptographicException>(() => MLDsaKey.ImportPrivateKey(algorithm, wrongTr));
        Assert.Equal($"The {name} private key is inconsistent: its t0 or tr does not match the public key derived from s1 and s2 (FIPS 204, Algorithm 6).", e.Message);

        byte[] wrongT0 = (byte[])sk.Clone();
        wrongT0[^1] ^= 1;
        Assert.Throws<CryptographicException>(() => MLDsaKey.ImportPrivateKey(algorithm, wrongT0));

        // First s1 coefficient = η − 0b111 (η = 2) or η − 0b1111 (η = 4): below −η.
        byte[] outOfRange = (byte[])sk.Clone();
        outOfRange[128] |= (byte)(algorithm.Eta == 2 ? 0x07 : 0x0F);
        e = Assert.Throws<CryptographicException>(() => MLDsaKey.ImportPrivateKey(algorithm, outOfRange));
        Assert.Equal($"The {name} private key is malformed: a coefficient of s1 or s2 lies outside [-{algorithm.Eta}, {algorithm.Eta}] (FIPS 204, skDecode).", e.Message);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Pre_hash_and_external_mu_signatures_verify_only_in_their_own_form(string name)
    {
        var algorithm = Alg(name);
        using var key = KeyFromSeed(algorithm, 10);
        byte[] message = "policy bundle v7"u8.ToArray();
        byte[] hash = SHA512.HashData(message);
        const string Sha512 = "2.16.840.1.101.3.4.2.3";
        byte[] signature = new byte[algorithm.SignatureSizeInBytes];

        key.SignPreHash(hash, signature, Sha512, "ctx"u8);
        Assert.True(key.VerifyPreHash(hash, signature, Sha512, "ctx"u8));
        Assert.False(key.VerifyPreHash(hash, signature, "2.16.840.1.101.3.4.2.10", "ctx"u8)); // SHA3-512 OID
        Assert.False(key.VerifyPreHash(hash, signature, Sha512, "ctX"u8));
        Assert.False(key.VerifyPreHash(hash, signature, "1.2.3", "ctx"u8));
        Assert.False(key.VerifyPreHash(hash[..32], signature, Sha512, "ctx"u8));
        Assert.False(key.VerifyData(hash, signature, "ctx"u8)); // domain separation: 1 vs 0 prefix

        var e = Assert.Throws<ArgumentException>(() => key.SignPreHash(hash[..32], signature, Sha512));
        Assert.Equal("A SHA2-512 hash (2.16.840.1.101.3.4.2.3) is 64 bytes, got 32. (Parameter 'hash')", e.Message);
        e = Assert.Throws<ArgumentException>(() => key.SignPreHash(hash, signature, "1.2.3"));
        Assert.StartsWith("HashML-DSA hash OID \"1.2.3\" is not supported", e.Message);

        // External µ: µ computed by ComputeMu signs to something VerifyData accepts, and vice versa.
        byte[] mu = new byte[64];
        key.ComputeMu(message, mu, "ctx"u8);
        key.SignMu(mu, signature);
        Assert.True(key.VerifyData(message, signature, "ctx"u8));
        key.SignData(message, signature, "ctx"u8);
        Assert.True(key.VerifyMu(mu, signature));
        mu[0] ^= 1;
        Assert.False(key.VerifyMu(mu, signature));
    }

    [Fact]
    public void Exceeding_the_signing_loop_bound_throws_a_clear_error()
    {
        var p = MLDsaParameterSet.MLDsa44;
        int[] aHat = new int[p.K * p.L * 256], s1 = new int[p.L * 256], s2 = new int[p.K * 256], t0 = new int[p.K * 256];
        var e = Assert.Throws<CryptographicException>(() => BelizeMesh.Quantum.Dsa.MLDsaCore.SignInternal(
            p, aHat, s1, s2, t0, new byte[32], new byte[64], new byte[32], new byte[p.SignatureSizeInBytes], maxIterations: 0));
        Assert.Equal(
            "ML-DSA-44 signing found no signature within 0 iterations of the rejection loop (FIPS 204, Appendix C); " +
            "this has negligible probability for a valid key: check the private key.", e.Message);
        Assert.Equal(814, BelizeMesh.Quantum.Dsa.MLDsaCore.MaxSigningIterations);
    }

    [Fact]
    public void Generated_keys_are_fresh_and_work()
    {
        using var a = MLDsaKey.Generate(MLDsaParameterSet.MLDsa87);
        using var b = MLDsaKey.Generate(MLDsaParameterSet.MLDsa87);
        Assert.NotEqual(PublicKeyOf(a), PublicKeyOf(b));
        Assert.True(a.HasPrivateSeed);
        byte[] signature = Sign(a, [5]);
        Assert.True(a.VerifyData([5], signature));
        Assert.False(b.VerifyData([5], signature));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void One_shot_verification_from_a_raw_public_key_returns_false_for_every_malformed_input(string name)
    {
        var algorithm = Alg(name);
        using var key = KeyFromSeed(algorithm, 11);
        byte[] pk = PublicKeyOf(key);
        byte[] message = "leaf certificate TBS"u8.ToArray();
        byte[] signature = Sign(key, message, "x509"u8.ToArray());

        Assert.True(MLDsaKey.VerifyData(algorithm, pk, message, signature, "x509"u8));
        Assert.False(MLDsaKey.VerifyData(algorithm, pk, message, signature, "x50"u8));
        Assert.False(MLDsaKey.VerifyData(algorithm, pk, message, signature, new byte[256]));
        foreach (int length in new[] { 0, 32, pk.Length - 1, pk.Length + 1 })
        {
            byte[] wrong = new byte[length];
            pk.AsSpan(0, Math.Min(length, pk.Length)).CopyTo(wrong);
            Assert.False(MLDsaKey.VerifyData(algorithm, wrong, message, signature, "x509"u8), $"public key of {length} bytes");
        }

        foreach (int length in new[] { 0, signature.Length - 1, signature.Length + 1 })
        {
            byte[] wrong = new byte[length];
            signature.AsSpan(0, Math.Min(length, signature.Length)).CopyTo(wrong);
            Assert.False(MLDsaKey.VerifyData(algorithm, pk, message, wrong, "x509"u8), $"signature of {length} bytes");
        }

        var other = algorithm == MLDsaParameterSet.MLDsa44 ? MLDsaParameterSet.MLDsa65 : MLDsaParameterSet.MLDsa44;
        Assert.False(MLDsaKey.VerifyData(other, pk, message, signature, "x509"u8));
    }

    /// <summary>
    /// Folds 30 derived key pairs and deterministic signatures per parameter set into one SHA-256 (the shape of Go's
    /// TestAccumulated). The expected digests were computed with @noble/post-quantum 0.7.1 (keygen(seed), sign(msg, sk,
    /// { context, extraEntropy: false })) over the same derivation: seed_i = SHA-256([id, i]), msg_i = SHA-512(seed_i)
    /// truncated to (7i mod 65) bytes, ctx_i = seed_i truncated to (i mod 33) bytes; digest = SHA-256(pk_0 ‖ σ_0 ‖ …).
    /// </summary>
    [Theory]
    [InlineData("ML-DSA-44", 44, "F15FE1E6ECA0C2D73DA29BD383705C9D28AFF4BBDC7D18C816DB8FDF80A7569C")]
    [InlineData("ML-DSA-65", 65, "A4A375573AA77500530824EBC30055F06E115A1CB2BA33DEB630DDC4EB341202")]
    [InlineData("ML-DSA-87", 87, "553DDF6DD2B9BB04AEEF1E65D2784F238F61F88E7F373B060EA1D621F4D4B9E5")]
    public void Accumulated_deterministic_signatures_match_an_independent_implementation(string name, byte id, string expected)
    {
        var algorithm = Alg(name);
        using var accumulator = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] signature = new byte[algorithm.SignatureSizeInBytes];
        for (int i = 0; i < 30; i++)
        {
            byte[] seed = SHA256.HashData([id, (byte)i]);
            byte[] message = SHA512.HashData(seed)[..((i * 7) % 65)];
            byte[] context = seed[..(i % 33)];
            using var key = MLDsaKey.ImportPrivateSeed(algorithm, seed);
            key.SignDataDeterministic(message, signature, context);
            accumulator.AppendData(PublicKeyOf(key));
            accumulator.AppendData(signature);
        }

        Assert.Equal(expected, Convert.ToHexString(accumulator.GetHashAndReset()));
    }
}
