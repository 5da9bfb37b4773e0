using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using BelizeMesh.Channel.Protocol;
using BelizeMesh.Quantum;

namespace BelizeMesh.Perf.Channel;

/// <summary>
/// <c>handshake-crypto</c>: the cryptography of one bm1 server handshake, in-process, step by step, with the channel's
/// own code (<see cref="EphemeralP256"/>, <see cref="MLKemKey"/>, <see cref="KeySchedule"/>, <see cref="RecordProtector"/>):
/// how much of <c>handshake-servers</c>' server CPU per handshake is cryptography and how much is the connection.
/// CPU time of this process per operation, median of 7 rounds. Runs JIT: set <c>DOTNET_TieredCompilation=0</c> to
/// measure optimised code from the first call, and <c>DOTNET_EnableAVX2=0</c> to see the scalar ML-KEM paths that an
/// AOT build for x86-64-v2 runs.
/// </summary>
internal static class HandshakeCryptoBenchmark
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int n = quick ? 100 : 400;
        Console.WriteLine($"handshake-crypto: server side of one bm1 handshake, CPU µs per operation (median of 7 × {n}); " +
            $"AVX2 {(System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "on" : "off")}, libcrypto ECDH {(EphemeralP256.UsesLibcrypto ? "on" : "off")}");

        var rows = new List<(string Name, double Micros)>();
        void Add(string name, Action action) => rows.Add((name, Measure(action, n)));

        // P-256: the server generates its share and derives with the client's.
        using var clientEcdh = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        ECParameters clientPoint = clientEcdh.ExportParameters(includePrivateParameters: false);
        byte[] clientShare = [0x04, .. clientPoint.Q.X!, .. clientPoint.Q.Y!];
        byte[] share = new byte[EphemeralP256.ShareLength];
        byte[] dh = new byte[EphemeralP256.SecretLength];
        Add("P-256 ECDH (EphemeralP256: generate, export, derive)", () =>
        {
            using EphemeralP256 key = EphemeralP256.Generate();
            key.ExportShare(share);
            key.DeriveSecret(clientShare, dh);
        });
        Add("P-256 ECDH (ECDiffieHellman, the code before)", () =>
        {
            using var key = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
            using var peer = ECDiffieHellman.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = clientPoint.Q });
            key.DeriveRawSecretAgreement(peer.PublicKey);
            key.ExportParameters(includePrivateParameters: false);
        });

        // ML-KEM-1024: encapsulate to the ephemeral key (imported from the ClientHello), decapsulate with our static
        // key, encapsulate to the client certificate's key (imported, or cached by the validator).
        var kem = MLKemParameterSet.MLKem1024;
        using MLKemKey own = MLKemKey.Generate(kem);
        using MLKemKey ephemeral = MLKemKey.Generate(kem);
        using MLKemKey client = MLKemKey.Generate(kem);
        byte[] ephemeralEk = new byte[kem.EncapsulationKeySizeInBytes];
        byte[] clientEk = new byte[kem.EncapsulationKeySizeInBytes];
        ephemeral.ExportEncapsulationKey(ephemeralEk);
        client.ExportEncapsulationKey(clientEk);
        byte[] ciphertext = new byte[kem.CiphertextSizeInBytes];
        byte[] toOwn = new byte[kem.CiphertextSizeInBytes];
        byte[] shared = new byte[32];
        own.Encapsulate(toOwn, shared);
        using MLKemKey cachedClient = MLKemKey.ImportEncapsulationKey(kem, clientEk);
        Add("ML-KEM-1024 import ek (7.2 check, Â, H(ek))", () => MLKemKey.ImportEncapsulationKey(kem, ephemeralEk).Dispose());
        Add("ML-KEM-1024 encapsulate", () => cachedClient.Encapsulate(ciphertext, shared));
        Add("ML-KEM-1024 decapsulate", () => own.Decapsulate(toOwn, shared));
        Add("ML-KEM, server per handshake (peer key cached)", () =>
        {
            using (MLKemKey e = MLKemKey.ImportEncapsulationKey(kem, ephemeralEk))
            {
                e.Encapsulate(ciphertext, shared);
            }

            own.Decapsulate(toOwn, shared);
            cachedClient.Encapsulate(ciphertext, shared);
        });

        // The key schedule as the server runs it: HS, AHS, MS, two Finished, application secrets, six protectors.
        byte[] secret = new byte[ProtocolConstants.HashLength];
        byte[] hash = RandomNumberGenerator.GetBytes(ProtocolConstants.HashLength);
        byte[] ikm = RandomNumberGenerator.GetBytes(ProtocolConstants.EcdhSecretLength + ProtocolConstants.KemSharedSecretLength);
        byte[] traffic = new byte[ProtocolConstants.HashLength];
        byte[] verify = new byte[ProtocolConstants.HashLength];
        Add("key schedule (HKDF-SHA-384, HMAC, 6 AES-GCM contexts)", () =>
        {
            KeySchedule.Extract(stackalloc byte[ProtocolConstants.HashLength], ikm, secret);
            Protectors(secret, hash, traffic, KeySchedule.ClientHandshakeTraffic, KeySchedule.ServerHandshakeTraffic);
            KeySchedule.Advance(secret, ikm.AsSpan(0, 32));
            Protectors(secret, hash, traffic, KeySchedule.ClientAuthHandshakeTraffic, KeySchedule.ServerAuthHandshakeTraffic);
            KeySchedule.Advance(secret, ikm.AsSpan(0, 32));
            KeySchedule.ComputeFinished(secret, KeySchedule.ServerFinished, hash, verify);
            KeySchedule.ComputeFinished(secret, KeySchedule.ClientFinished, hash, verify);
            Protectors(secret, hash, traffic, KeySchedule.ClientAppTraffic, KeySchedule.ServerAppTraffic);
        });

        // The transcript: SHA-384 over the eight messages (sizes of a real handshake with ML-DSA-87 leaves).
        int[] sizes = [1676, 1674, 6700, 1571, 6700, 1571, 49, 49];
        byte[] message = new byte[6700];
        Add("transcript SHA-384 (~20 KB, 5 intermediate hashes)", () =>
        {
            using var transcript = IncrementalHash.CreateHash(HashAlgorithmName.SHA384);
            for (int i = 0; i < sizes.Length; i++)
            {
                transcript.AppendData(message, 0, sizes[i]);
                if (i is 1 or 3 or 5 or 6 or 7)
                {
                    transcript.GetCurrentHash(hash);
                }
            }
        });

        foreach (var (name, micros) in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-58} {micros,8:0.0} µs"));
        }

        double total = rows.Where(r => r.Name.StartsWith("P-256 ECDH (Ephemeral", StringComparison.Ordinal) || r.Name.StartsWith("ML-KEM, server", StringComparison.Ordinal) ||
            r.Name.StartsWith("key schedule", StringComparison.Ordinal) || r.Name.StartsWith("transcript", StringComparison.Ordinal)).Sum(r => r.Micros);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"server handshake cryptography (ECDH + ML-KEM + schedule + transcript)",-58} {total,8:0.0} µs"));
        return 0;
    }

    private static void Protectors(byte[] secret, byte[] hash, byte[] traffic, ReadOnlySpan<byte> clientLabel, ReadOnlySpan<byte> serverLabel)
    {
        KeySchedule.DeriveSecret(secret, clientLabel, hash, traffic);
        using (new RecordProtector(traffic))
        {
        }

        KeySchedule.DeriveSecret(secret, serverLabel, hash, traffic);
        using (new RecordProtector(traffic))
        {
        }
    }

    private static double Measure(Action action, int n)
    {
        for (int i = 0; i < Math.Max(50, n / 4); i++)
        {
            action();
        }

        var samples = new double[7];
        using var process = Process.GetCurrentProcess();
        for (int r = 0; r < samples.Length; r++)
        {
            process.Refresh();
            TimeSpan before = process.TotalProcessorTime;
            for (int i = 0; i < n; i++)
            {
                action();
            }

            process.Refresh();
            samples[r] = (process.TotalProcessorTime - before).TotalMicroseconds / n;
        }

        Array.Sort(samples);
        return samples[samples.Length / 2];
    }
}
