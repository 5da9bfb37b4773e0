using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Kems;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Security;

namespace BelizeMesh.Quantum.Tests;

/// <summary>
/// BouncyCastle 2.7.0 as a third implementation, independent of ours, of OpenSSL's and of noble's: on random seeds,
/// keys, ciphertexts, shared secrets (implicit rejection included) and deterministic signatures must agree byte for
/// byte, in both directions. Seeded: a failure names its case.
/// </summary>
public sealed class BouncyCastleOracleTests
{
    private const int Cases = 25;

    public static TheoryData<string> KemSets => ["ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"];

    public static TheoryData<string> DsaSets => ["ML-DSA-44", "ML-DSA-65", "ML-DSA-87"];

    private static MLKemParameters BcKem(string name) => name switch
    {
        "ML-KEM-512" => MLKemParameters.ml_kem_512,
        "ML-KEM-768" => MLKemParameters.ml_kem_768,
        _ => MLKemParameters.ml_kem_1024,
    };

    private static MLDsaParameters BcDsa(string name) => name switch
    {
        "ML-DSA-44" => MLDsaParameters.ml_dsa_44,
        "ML-DSA-65" => MLDsaParameters.ml_dsa_65,
        _ => MLDsaParameters.ml_dsa_87,
    };

    /// <summary>A SecureRandom that hands out exactly the bytes given (the encapsulation randomness m).</summary>
    private sealed class FixedRandom(byte[] bytes) : SecureRandom
    {
        private int _offset;

        public override void NextBytes(byte[] buf) => NextBytes(buf, 0, buf.Length);

        public override void NextBytes(byte[] buf, int off, int len) => NextBytes(buf.AsSpan(off, len));

        public override void NextBytes(Span<byte> buffer)
        {
            bytes.AsSpan(_offset, buffer.Length).CopyTo(buffer);
            _offset += buffer.Length;
        }
    }

    [Theory]
    [MemberData(nameof(KemSets))]
    public void MLKem_keys_ciphertexts_and_secrets_match_BouncyCastle_on_random_seeds(string name)
    {
        MLKemParameterSet algorithm = MLKemParameterSet.FromName(name)!;
        var rng = new Random(HashCode.Combine(203, name.Length, name[^1]));
        for (int i = 0; i < Cases; i++)
        {
            byte[] seed = new byte[64], m = new byte[32];
            rng.NextBytes(seed);
            rng.NextBytes(m);
            using MLKemKey ours = MLKemKey.ImportPrivateSeed(algorithm, seed);
            var theirs = MLKemPrivateKeyParameters.FromSeed(BcKem(name), seed);

            byte[] ek = new byte[algorithm.EncapsulationKeySizeInBytes], dk = new byte[algorithm.DecapsulationKeySizeInBytes];
            ours.ExportEncapsulationKey(ek);
            ours.ExportDecapsulationKey(dk);
            Assert.True(theirs.GetPublicKeyEncoded().AsSpan().SequenceEqual(ek), $"{name} case {i}: ek");
            Assert.True(theirs.GetEncoded().AsSpan().SequenceEqual(dk), $"{name} case {i}: dk");

            // Encapsulation with the same m: the same ciphertext and key (FIPS 203, Algorithm 17).
            byte[] c = new byte[algorithm.CiphertextSizeInBytes], k = new byte[32];
            ours.EncapsulateInternal(m, c, k);
            var encapsulator = new MLKemEncapsulator(BcKem(name));
            encapsulator.Init(new ParametersWithRandom(theirs.GetPublicKey(), new FixedRandom(m)));
            byte[] bcC = new byte[encapsulator.EncapsulationLength], bcK = new byte[encapsulator.SecretLength];
            encapsulator.Encapsulate(bcC, 0, bcC.Length, bcK, 0, bcK.Length);
            Assert.True(bcC.AsSpan().SequenceEqual(c), $"{name} case {i}: ciphertext");
            Assert.True(bcK.AsSpan().SequenceEqual(k), $"{name} case {i}: shared secret");

            // Each decapsulates the other's ciphertext (a fresh one from BouncyCastle's own randomness)...
            var fresh = new MLKemEncapsulator(BcKem(name));
            fresh.Init(new ParametersWithRandom(theirs.GetPublicKey(), new SecureRandom()));
            fresh.Encapsulate(bcC, 0, bcC.Length, bcK, 0, bcK.Length);
            byte[] decapsulated = new byte[32];
            ours.Decapsulate(bcC, decapsulated);
            Assert.True(bcK.AsSpan().SequenceEqual(decapsulated), $"{name} case {i}: decapsulating BouncyCastle's ciphertext");

            // ...and a tampered ciphertext gives the same implicit-rejection key K̄ = J(z ‖ c) on both sides (Algorithm 18).
            bcC[rng.Next(bcC.Length)] ^= (byte)(1 << rng.Next(8));
            var decapsulator = new MLKemDecapsulator(BcKem(name));
            decapsulator.Init(theirs);
            byte[] bcRejected = new byte[decapsulator.SecretLength];
            decapsulator.Decapsulate(bcC, 0, bcC.Length, bcRejected, 0, bcRejected.Length);
            ours.Decapsulate(bcC, decapsulated);
            Assert.True(bcRejected.AsSpan().SequenceEqual(decapsulated), $"{name} case {i}: implicit rejection");
            Assert.False(bcK.AsSpan().SequenceEqual(decapsulated), $"{name} case {i}: the tampered ciphertext must not give the real key");
        }
    }

    [Theory]
    [MemberData(nameof(DsaSets))]
    public void MLDsa_keys_and_deterministic_signatures_match_BouncyCastle_on_random_seeds(string name)
    {
        MLDsaParameterSet algorithm = MLDsaParameterSet.FromName(name)!;
        var rng = new Random(HashCode.Combine(204, name.Length, name[^1]));
        for (int i = 0; i < Cases; i++)
        {
            byte[] seed = new byte[32], message = new byte[rng.Next(0, 300)], context = new byte[rng.Next(0, 4) == 0 ? rng.Next(1, 256) : 0];
            rng.NextBytes(seed);
            rng.NextBytes(message);
            rng.NextBytes(context);
            using MLDsaKey ours = MLDsaKey.ImportPrivateSeed(algorithm, seed);
            var theirs = MLDsaPrivateKeyParameters.FromSeed(BcDsa(name), seed);

            byte[] pk = new byte[algorithm.PublicKeySizeInBytes];
            ours.ExportPublicKey(pk);
            Assert.True(theirs.GetPublicKeyEncoded().AsSpan().SequenceEqual(pk), $"{name} case {i}: pk");

            // Deterministic signing (rnd = 0^32, FIPS 204 Algorithm 2 with the hedged variant off): identical bytes.
            byte[] signature = new byte[algorithm.SignatureSizeInBytes];
            ours.SignDataDeterministic(message, signature, context);
            var signer = new MLDsaSigner(BcDsa(name), deterministic: true);
            signer.Init(true, context.Length == 0 ? theirs : new ParametersWithContext(theirs, context));
            signer.BlockUpdate(message, 0, message.Length);
            byte[] bcSignature = signer.GenerateSignature();
            Assert.True(bcSignature.AsSpan().SequenceEqual(signature), $"{name} case {i}: deterministic signature");

            // Each verifies the other's hedged signature; a flipped bit fails on both.
            using MLDsaKey ourPublic = MLDsaKey.ImportPublicKey(algorithm, pk);
            var hedged = new MLDsaSigner(BcDsa(name), deterministic: false);
            var withRandom = new ParametersWithRandom(theirs, new SecureRandom());
            hedged.Init(true, context.Length == 0 ? withRandom : new ParametersWithContext(withRandom, context));
            hedged.BlockUpdate(message, 0, message.Length);
            byte[] theirSignature = hedged.GenerateSignature();
            Assert.True(ourPublic.VerifyData(message, theirSignature, context), $"{name} case {i}: we verify BouncyCastle's signature");

            ours.SignData(message, signature, context);
            var verifier = new MLDsaSigner(BcDsa(name), deterministic: false);
            ICipherParameters publicParameters = context.Length == 0 ? theirs.GetPublicKey() : new ParametersWithContext(theirs.GetPublicKey(), context);
            verifier.Init(false, publicParameters);
            verifier.BlockUpdate(message, 0, message.Length);
            Assert.True(verifier.VerifySignature(signature), $"{name} case {i}: BouncyCastle verifies ours");

            signature[rng.Next(signature.Length)] ^= (byte)(1 << rng.Next(8));
            Assert.False(ourPublic.VerifyData(message, signature, context), $"{name} case {i}: we reject a tampered signature");
            verifier.Init(false, publicParameters);
            verifier.BlockUpdate(message, 0, message.Length);
            Assert.False(verifier.VerifySignature(signature), $"{name} case {i}: BouncyCastle rejects a tampered signature");
        }
    }
}
