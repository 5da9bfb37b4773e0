using System.Security.Cryptography;

namespace BelizeMesh.Quantum.Tests;

/// <summary>The public ML-KEM API: round trips, implicit rejection, the FIPS 203 section 7 input checks, key lifetime.</summary>
public class MLKemKeyTests
{
    public static TheoryData<string> ParameterSets => new() { "ML-KEM-512", "ML-KEM-768", "ML-KEM-1024" };

    private static MLKemParameterSet Set(string name) => MLKemParameterSet.FromName(name)!;

    [Theory]
    [MemberData(nameof(ParameterSets))]
    public void Encapsulation_to_the_exported_key_decapsulates_to_the_same_secret_for_random_seeds(string name)
    {
        var algorithm = Set(name);
        var rng = new Random(name.GetHashCode(StringComparison.Ordinal));
        byte[] seed = new byte[64], ek = new byte[algorithm.EncapsulationKeySizeInBytes], dk = new byte[algorithm.DecapsulationKeySizeInBytes];
        byte[] c = new byte[algorithm.CiphertextSizeInBytes], k1 = new byte[32], k2 = new byte[32], k3 = new byte[32];
        for (int i = 0; i < 40; i++)
        {
            rng.NextBytes(seed);
            using var key = MLKemKey.ImportPrivateSeed(algorithm, seed);
            key.ExportEncapsulationKey(ek);
            key.ExportDecapsulationKey(dk);

            using var publicKey = MLKemKey.ImportEncapsulationKey(algorithm, ek);
            Assert.False(publicKey.HasPrivateKey);
            publicKey.Encapsulate(c, k1);
            key.Decapsulate(c, k2);
            Assert.Equal(k1, k2);

            using var expanded = MLKemKey.ImportDecapsulationKey(algorithm, dk);
            Assert.True(expanded.HasPrivateKey);
            expanded.Decapsulate(c, k3);
            Assert.Equal(k1, k3);

            byte[] again = new byte[algorithm.DecapsulationKeySizeInBytes];
            expanded.ExportDecapsulationKey(again);
            Assert.Equal(dk, again);
            byte[] seedOut = new byte[64];
            key.ExportPrivateSeed(seedOut);
            Assert.Equal(seed, seedOut);
        }
    }

    [Theory]
    [MemberData(nameof(ParameterSets))]
    public void Generate_makes_distinct_working_keys(string name)
    {
        var algorithm = Set(name);
        using var a = MLKemKey.Generate(algorithm);
        using var b = MLKemKey.Generate(algorithm);
        byte[] ekA = new byte[algorithm.EncapsulationKeySizeInBytes], ekB = new byte[algorithm.EncapsulationKeySizeInBytes];
        a.ExportEncapsulationKey(ekA);
        b.ExportEncapsulationKey(ekB);
        Assert.NotEqual(ekA, ekB);
        byte[] c = new byte[algorithm.CiphertextSizeInBytes], k1 = new byte[32], k2 = new byte[32];
        a.Encapsulate(c, k1);
        a.Decapsulate(c, k2);
        Assert.Equal(k1, k2);
        b.Decapsulate(c, k2);
        Assert.NotEqual(k1, k2);
    }

    [Theory]
    [MemberData(nameof(ParameterSets))]
    public void A_modified_ciphertext_decapsulates_to_J_of_z_and_c(string name)
    {
        var algorithm = Set(name);
        var rng = new Random(11);
        byte[] seed = new byte[64];
        rng.NextBytes(seed);
        using var key = MLKemKey.ImportPrivateSeed(algorithm, seed);
        byte[] c = new byte[algorithm.CiphertextSizeInBytes], k = new byte[32], rejected = new byte[32];
        key.Encapsulate(c, k);
        for (int i = 0; i < 25; i++)
        {
            byte[] tampered = (byte[])c.Clone();
            tampered[rng.Next(tampered.Length)] ^= (byte)(1 << rng.Next(8));

            key.Decapsulate(tampered, rejected);

            // K̄ = J(z‖c) = SHAKE256(z‖c, 32), computed here with the platform's SHAKE256.
            byte[] expected = Shake256.HashData([.. seed.AsSpan(32), .. tampered], 32);
            Assert.Equal(expected, rejected);
            Assert.NotEqual(k, rejected);
        }
    }

    [Theory]
    [MemberData(nameof(ParameterSets))]
    public void Every_wrong_length_of_ek_dk_c_and_seed_is_rejected(string name)
    {
        // Go's TestBadLengths: every shorter length and one longer.
        var algorithm = Set(name);
        using var key = MLKemKey.Generate(algorithm);
        byte[] ek = new byte[algorithm.EncapsulationKeySizeInBytes + 1];
        byte[] dk = new byte[algorithm.DecapsulationKeySizeInBytes + 1];
        byte[] c = new byte[algorithm.CiphertextSizeInBytes + 1];
        byte[] seed = new byte[MLKemParameterSet.PrivateSeedSizeInBytes + 1];
        key.ExportEncapsulationKey(ek.AsSpan(..^1));
        key.ExportDecapsulationKey(dk.AsSpan(..^1));
        key.Encapsulate(c.AsSpan(..^1), new byte[32]);
        key.ExportPrivateSeed(seed.AsSpan(..^1));
        byte[] k = new byte[32];

        for (int length = 0; length <= ek.Length; length++)
        {
            if (length != algorithm.EncapsulationKeySizeInBytes)
            {
                var e = Assert.Throws<CryptographicException>(() => MLKemKey.ImportEncapsulationKey(algorithm, ek.AsSpan(0, length)));
                Assert.Equal($"{name} encapsulation key must be {algorithm.EncapsulationKeySizeInBytes} bytes, got {length} (FIPS 203 section 7.2 length check).", e.Message);
            }
        }

        for (int length = 0; length <= dk.Length; length++)
        {
            if (length != algorithm.DecapsulationKeySizeInBytes)
            {
                var e = Assert.Throws<CryptographicException>(() => MLKemKey.ImportDecapsulationKey(algorithm, dk.AsSpan(0, length)));
                Assert.Equal($"{name} decapsulation key must be {algorithm.DecapsulationKeySizeInBytes} bytes, got {length} (FIPS 203 section 7.3 length check).", e.Message);
            }
        }

        for (int length = 0; length <= c.Length; length++)
        {
            if (length != algorithm.CiphertextSizeInBytes)
            {
                var e = Assert.Throws<CryptographicException>(() => key.Decapsulate(c.AsSpan(0, length), k));
                Assert.Equal($"{name} ciphertext must be {algorithm.CiphertextSizeInBytes} bytes, got {length} (FIPS 203 section 7.3 ciphertext type check).", e.Message);
            }
        }

        for (int length = 0; length <= seed.Length; length++)
        {
            if (length != MLKemParameterSet.PrivateSeedSizeInBytes)
            {
                var e = Assert.Throws<CryptographicException>(() => MLKemKey.ImportPrivateSeed(algorithm, seed.AsSpan(0, length)));
                Assert.Equal($"{name} private seed must be 64 bytes (d‖z), got {length}.", e.Message);
            }
        }
    }

    [Theory]
    [MemberData(nameof(ParameterSets))]
    public void Encapsulation_key_with_a_coefficient_of_q_fails_the_modulus_check(string name)
    {
        var algorithm = Set(name);
        using var key = MLKemKey.Generate(algorithm);
        byte[] ek = new byte[algorithm.EncapsulationKeySizeInBytes];
        key.ExportEncapsulationKey(ek);
        // The last coefficient of t̂[k−1] is the top 12 bits of the three bytes before ρ: set it to q = 3329 = 0xD01.
        int offset = (384 * (ek.Length / 384)) - 3;
        ek[offset + 1] = (byte)((ek[offset + 1] & 0x0F) | 0x10);
        ek[offset + 2] = 0xD0;

        var e = Assert.Throws<CryptographicException>(() => MLKemKey.ImportEncapsulationKey(algorithm, ek));
        Assert.Equal($"{name} encapsulation key fails the modulus check: a coefficient of t̂ is not below q = 3329 (FIPS 203 section 7.2).", e.Message);
    }

    [Theory]
    [MemberData(nameof(ParameterSets))]
    public void Decapsulation_key_with_a_wrong_hash_fails_the_hash_check(string name)
    {
        var algorithm = Set(name);
        using var key = MLKemKey.Generate(algorithm);
        byte[] dk = new byte[algorithm.DecapsulationKeySizeInBytes];
        key.ExportDecapsulationKey(dk);
        dk[^40] ^= 1; // inside H(ek), which sits before the 32 bytes of z

        var e = Assert.Throws<CryptographicException>(() => MLKemKey.ImportDecapsulationKey(algorithm, dk));
        Assert.Equal($"{name} decapsulation key fails the hash check: the stored H(ek) does not match its encapsulation key (FIPS 203 section 7.3).", e.Message);

        dk[^40] ^= 1;
        dk[algorithm.DecapsulationKeySizeInBytes - 96 - 33] ^= 1; // inside ek: H no longer matches either
        Assert.Throws<CryptographicException>(() => MLKemKey.ImportDecapsulationKey(algorithm, dk));
    }

    [Fact]
    public void A_public_key_cannot_decapsulate_or_export_private_parts()
    {
        var algorithm = MLKemParameterSet.MLKem1024;
        using var key = MLKemKey.Generate(algorithm);
        byte[] ek = new byte[algorithm.EncapsulationKeySizeInBytes];
        key.ExportEncapsulationKey(ek);
        using var publicKey = MLKemKey.ImportEncapsulationKey(algorithm, ek);

        var e = Assert.Throws<CryptographicException>(() => publicKey.Decapsulate(new byte[algorithm.CiphertextSizeInBytes], new byte[32]));
        Assert.Equal("Cannot decapsulate: this ML-KEM-1024 key is an encapsulation key only (no private part).", e.Message);
        e = Assert.Throws<CryptographicException>(() => publicKey.ExportDecapsulationKey(new byte[algorithm.DecapsulationKeySizeInBytes]));
        Assert.Equal("Cannot export a decapsulation key: this ML-KEM-1024 key is an encapsulation key only (no private part).", e.Message);
        e = Assert.Throws<CryptographicException>(() => publicKey.ExportPrivateSeed(new byte[64]));
        Assert.Equal("Cannot export a private seed: this ML-KEM-1024 key is an encapsulation key only (no private part).", e.Message);
    }

    [Fact]
    public void A_key_imported_from_an_expanded_dk_has_no_seed_to_export()
    {
        var algorithm = MLKemParameterSet.MLKem768;
        using var key = MLKemKey.Generate(algorithm);
        byte[] dk = new byte[algorithm.DecapsulationKeySizeInBytes];
        key.ExportDecapsulationKey(dk);
        using var expanded = MLKemKey.ImportDecapsulationKey(algorithm, dk);

        var e = Assert.Throws<CryptographicException>(() => expanded.ExportPrivateSeed(new byte[64]));
        Assert.Equal("This ML-KEM-768 key was imported from an expanded decapsulation key, which does not contain the seed d‖z; export the decapsulation key instead.", e.Message);
    }

    [Fact]
    public void Destinations_of_the_wrong_size_are_rejected()
    {
        var algorithm = MLKemParameterSet.MLKem512;
        using var key = MLKemKey.Generate(algorithm);
        var e = Assert.Throws<ArgumentException>(() => key.Encapsulate(new byte[algorithm.CiphertextSizeInBytes - 1], new byte[32]));
        Assert.Equal("ciphertext", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => key.Encapsulate(new byte[algorithm.CiphertextSizeInBytes], new byte[31]));
        Assert.Equal("sharedSecret", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => key.ExportEncapsulationKey(new byte[algorithm.EncapsulationKeySizeInBytes + 1]));
        Assert.Equal("Destination must be exactly 800 bytes, got 801. (Parameter 'destination')", e.Message);
    }

    [Fact]
    public void A_disposed_key_refuses_every_operation()
    {
        var algorithm = MLKemParameterSet.MLKem1024;
        var key = MLKemKey.Generate(algorithm);
        key.Dispose();
        Assert.Throws<ObjectDisposedException>(() => key.Encapsulate(new byte[algorithm.CiphertextSizeInBytes], new byte[32]));
        Assert.Throws<ObjectDisposedException>(() => key.Decapsulate(new byte[algorithm.CiphertextSizeInBytes], new byte[32]));
        Assert.Throws<ObjectDisposedException>(() => key.ExportEncapsulationKey(new byte[algorithm.EncapsulationKeySizeInBytes]));
        Assert.Throws<ObjectDisposedException>(() => key.ExportDecapsulationKey(new byte[algorithm.DecapsulationKeySizeInBytes]));
        Assert.Throws<ObjectDisposedException>(() => key.ExportPrivateSeed(new byte[64]));
        key.Dispose(); // twice is fine
    }

    [Fact]
    public void Dispose_zeroes_the_key_material()
    {
        var key = MLKemKey.Generate(MLKemParameterSet.MLKem768);
        var fields = typeof(MLKemKey).GetFields(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)
            .Where(f => f.FieldType.IsArray)
            .Select(f => (f.Name, Value: (Array)f.GetValue(key)!))
            .ToList();
        Assert.Contains(fields, f => f.Name == "_seed");
        Assert.Contains(fields, f => f.Name == "_sHat");
        Assert.All(fields, f => Assert.Contains(f.Value.Cast<object>(), v => Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture) != 0));

        key.Dispose();

        Assert.All(fields, f => Assert.All(f.Value.Cast<object>(), v => Assert.Equal(0, Convert.ToInt32(v, System.Globalization.CultureInfo.InvariantCulture))));
    }

    [Theory]
    [MemberData(nameof(ParameterSets))]
    public void Encapsulate_and_Decapsulate_allocate_nothing(string name)
    {
        var algorithm = Set(name);
        using var key = MLKemKey.Generate(algorithm);
        byte[] c = new byte[algorithm.CiphertextSizeInBytes], k = new byte[32];
        key.Encapsulate(c, k);
        key.Decapsulate(c, k);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            key.Encapsulate(c, k);
            key.Decapsulate(c, k);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
