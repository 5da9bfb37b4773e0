using System.Security.Cryptography;

namespace BelizeMesh.Proxy.Hosting;

/// <summary>
/// Loads OpenSSL (libssl, libcrypto) and the algorithms the PQ channel takes from it a little after the
/// sidecar is ready, so that its first connection does not pay for it. Nothing before <c>/healthz/ready</c> uses OpenSSL
/// any more (the start-up hashes are <see cref="BelizeMesh.Quantum.Sha256"/>, certificate extensions and names are
/// read without .NET's OID lookups): loading and initialising it took ~8 ms of a ~55 ms start on a paravirtualised VM
/// (perf/README.md, "footprint, round 11"). The idle footprint is unchanged: the libraries are mapped either way.
/// </summary>
internal static class CryptoWarmUp
{
    /// <summary>The environment variable that sets <see cref="Delay"/> in milliseconds (0 to 60,000; anything else keeps 300).</summary>
    internal const string DelayVariable = "BELIZEMESH_CRYPTO_WARMUP_MS";

    /// <summary>
    /// How long after ready the libraries load: past the readiness answer, before traffic normally arrives. 300 ms unless
    /// <see cref="DelayVariable"/> says otherwise (NativeStartupTests sets seconds, so a stalled test machine cannot
    /// mistake the warm-up for a load before ready).
    /// </summary>
    internal static TimeSpan Delay { get; } = ReadDelay(Environment.GetEnvironmentVariable(DelayVariable));

    internal static TimeSpan ReadDelay(string? value) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int ms) && ms <= 60_000
            ? TimeSpan.FromMilliseconds(ms)
            : TimeSpan.FromMilliseconds(300);

    internal static async Task RunAfterDelayAsync(CancellationToken stopping)
    {
        try
        {
            await Task.Delay(Delay, stopping).ConfigureAwait(false);
            Run();
        }
        catch (OperationCanceledException)
        {
        }
        catch (CryptographicException)
        {
            // OpenSSL is missing or broken: the first handshake reports it, with the connection it failed.
        }
    }

    /// <summary>
    /// The OpenSSL primitives of the channel once each: SHA-384 (handshake transcript, HKDF), ECDH P-256 (handshake),
    /// AES-256-GCM (the records' cipher only where the CPU lacks AES-NI — elsewhere every record uses
    /// <c>AesGcmIntrinsics</c> —; warmed anyway, as it costs one small context once).
    /// </summary>
    internal static void Run()
    {
        Span<byte> digest = stackalloc byte[SHA384.HashSizeInBytes];
        SHA384.HashData(ReadOnlySpan<byte>.Empty, digest);
        Span<byte> key = stackalloc byte[32];
        Span<byte> nonce = stackalloc byte[12];
        Span<byte> tag = stackalloc byte[16];
        key.Clear();
        nonce.Clear();
        using (var aes = new AesGcm(key, tag.Length))
        {
            aes.Encrypt(nonce, ReadOnlySpan<byte>.Empty, Span<byte>.Empty, tag);
        }

        using var ecdh = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        _ = ecdh.PublicKey.ExportSubjectPublicKeyInfo();
    }
}
