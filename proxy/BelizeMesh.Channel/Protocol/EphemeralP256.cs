using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace BelizeMesh.Channel.Protocol;

/// <summary>
/// The handshake's ephemeral P-256 ECDH key (docs/protocol.md 3.1: <c>ecdh_share</c> is an uncompressed point,
/// the shared secret its x-coordinate). One instance per handshake side; not thread-safe.
/// </summary>
/// <remarks>
/// <para>
/// On Linux it drives the OpenSSL libcrypto that .NET itself uses, through four calls: generate (one fixed-base
/// multiplication), export the point, decode the peer's point (<c>EC_POINT_oct2point</c>: coordinates below p and
/// on the curve, checked again with <c>EC_POINT_is_on_curve</c>), and <c>ECDH_compute_key</c> (one variable-base
/// multiplication). <see cref="ECDiffieHellman"/> costs ~4.5× that per handshake (measured: 227 vs 47 µs CPU) because
/// every import runs OpenSSL's full public-key check, which multiplies the point by the group order (twice per
/// handshake: on import and again in <c>EVP_PKEY_derive_set_peer</c>), and its key generation checks the new key the
/// same way. P-256 has cofactor 1, so a point that decodes and is on the curve is in the prime-order group (SP 800-56A
/// rev. 3, 5.6.2.3.4 partial validation suffices for ephemeral keys); the order multiplications add no check.
/// </para>
/// <para>
/// Where libcrypto cannot be found (not Linux, or neither <c>libcrypto.so.3</c> nor <c>libcrypto.so.1.1</c>), or when
/// <c>BELIZEMESH_ECDH=managed</c> is set, the same operations run through <see cref="ECDiffieHellman"/>: same
/// results, same checks, more CPU. The private key never leaves libcrypto (<c>EC_KEY_free</c> clears it); the
/// caller zeroes the shared secret.
/// </para>
/// </remarks>
internal sealed class EphemeralP256 : IDisposable
{
    /// <summary>0x04 ‖ X ‖ Y.</summary>
    public const int ShareLength = 65;

    /// <summary>The x-coordinate.</summary>
    public const int SecretLength = 32;

    private readonly SafeEcKeyHandle? _native;
    private readonly ECDiffieHellman? _managed;

    private EphemeralP256(SafeEcKeyHandle? native, ECDiffieHellman? managed)
    {
        _native = native;
        _managed = managed;
    }

    /// <summary>True when the OpenSSL fast path is in use (for tests and the perf harness).</summary>
    public static bool UsesLibcrypto => LibCrypto.Available;

    /// <summary>A fresh key pair.</summary>
    public static EphemeralP256 Generate()
    {
        if (!LibCrypto.Available)
        {
            return new EphemeralP256(null, ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256));
        }

        SafeEcKeyHandle key = LibCrypto.Generate();
        return new EphemeralP256(key, null);
    }

    /// <summary>Test seam: a key on the <see cref="ECDiffieHellman"/> path, whatever <see cref="UsesLibcrypto"/> says.</summary>
    internal static EphemeralP256 GenerateManaged() => new(null, ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256));

    /// <summary>Writes this side's share, 0x04 ‖ X ‖ Y (65 bytes).</summary>
    public void ExportShare(Span<byte> destination)
    {
        if (destination.Length != ShareLength)
        {
            throw new ArgumentException($"an ecdh_share is {ShareLength} bytes", nameof(destination));
        }

        if (_native is not null)
        {
            LibCrypto.ExportPublic(_native, destination);
            return;
        }

        ECParameters p = _managed!.ExportParameters(includePrivateParameters: false);
        destination[0] = 0x04;
        p.Q.X.AsSpan().CopyTo(destination[1..]);
        p.Q.Y.AsSpan().CopyTo(destination[33..]);
    }

    /// <summary>The x-coordinate of this key times the peer's point (32 bytes).</summary>
    /// <exception cref="CryptographicException"><paramref name="peerShare"/> is not an uncompressed point of P-256.</exception>
    public void DeriveSecret(ReadOnlySpan<byte> peerShare, Span<byte> secret)
    {
        if (peerShare.Length != ShareLength || peerShare[0] != 0x04)
        {
            throw new CryptographicException("not an uncompressed P-256 point (65 bytes starting 0x04)");
        }

        if (secret.Length != SecretLength)
        {
            throw new ArgumentException($"the P-256 shared secret is {SecretLength} bytes", nameof(secret));
        }

        if (_native is not null)
        {
            LibCrypto.Derive(_native, peerShare, secret);
            return;
        }

        var parameters = new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = peerShare.Slice(1, 32).ToArray(), Y = peerShare.Slice(33, 32).ToArray() },
        };
        using var peer = ECDiffieHellman.Create(parameters);
        byte[] raw = _managed!.DeriveRawSecretAgreement(peer.PublicKey);
        raw.CopyTo(secret);
        CryptographicOperations.ZeroMemory(raw);
    }

    public void Dispose()
    {
        _native?.Dispose();
        _managed?.Dispose();
    }

    /// <summary>An OpenSSL <c>EC_KEY*</c>, freed (private scalar cleared) by <c>EC_KEY_free</c>.</summary>
    private sealed class SafeEcKeyHandle : SafeHandle
    {
        public SafeEcKeyHandle()
            : base(IntPtr.Zero, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == IntPtr.Zero;

        internal void Set(IntPtr value) => SetHandle(value);

        protected override bool ReleaseHandle()
        {
            LibCrypto.Free(handle);
            return true;
        }
    }

    /// <summary>The few libcrypto entry points, resolved once from the library .NET loads (OpenSSL 3 or 1.1).</summary>
    private static unsafe class LibCrypto
    {
        private const int NidX962Prime256v1 = 415;
        private const int PointConversionUncompressed = 4;

        private static readonly delegate* unmanaged<int, IntPtr> s_keyNewByCurveName;
        private static readonly delegate* unmanaged<IntPtr, int> s_keyGenerate;
        private static readonly delegate* unmanaged<IntPtr, IntPtr> s_keyGroup;
        private static readonly delegate* unmanaged<IntPtr, IntPtr> s_keyPublic;
        private static readonly delegate* unmanaged<IntPtr, void> s_keyFree;
        private static readonly delegate* unmanaged<IntPtr, IntPtr, int, byte*, nuint, IntPtr, nuint> s_pointToOctets;
        private static readonly delegate* unmanaged<IntPtr, IntPtr> s_pointNew;
        private static readonly delegate* unmanaged<IntPtr, IntPtr, byte*, nuint, IntPtr, int> s_octetsToPoint;
        private static readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr, int> s_pointIsOnCurve;
        private static readonly delegate* unmanaged<IntPtr, void> s_pointFree;
        private static readonly delegate* unmanaged<byte*, nuint, IntPtr, IntPtr, IntPtr, int> s_computeKey;
        private static readonly delegate* unmanaged<void> s_clearError;

        static LibCrypto()
        {
            if (!OperatingSystem.IsLinux() || string.Equals(Environment.GetEnvironmentVariable("BELIZEMESH_ECDH"), "managed", StringComparison.OrdinalIgnoreCase))
            {
                return;
            }

            // Make sure .NET's own OpenSSL initialisation has run (it picks the library version) before we call in.
            // Where that fails, the managed path reports the real problem on first use; this type must not.
            try
            {
                using (ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256))
                {
                }
            }
            catch (Exception ex) when (ex is CryptographicException or PlatformNotSupportedException or TypeInitializationException or DllNotFoundException)
            {
                return;
            }

            IntPtr library = IntPtr.Zero;
            foreach (string name in (ReadOnlySpan<string>)["libcrypto.so.3", "libcrypto.so.1.1"])
            {
                if (NativeLibrary.TryLoad(name, out library))
                {
                    break;
                }
            }

            if (library == IntPtr.Zero)
            {
                return;
            }

            IntPtr keyNew = Export(library, "EC_KEY_new_by_curve_name");
            IntPtr keyGenerate = Export(library, "EC_KEY_generate_key");
            IntPtr keyGroup = Export(library, "EC_KEY_get0_group");
            IntPtr keyPublic = Export(library, "EC_KEY_get0_public_key");
            IntPtr keyFree = Export(library, "EC_KEY_free");
            IntPtr pointToOctets = Export(library, "EC_POINT_point2oct");
            IntPtr pointNew = Export(library, "EC_POINT_new");
            IntPtr octetsToPoint = Export(library, "EC_POINT_oct2point");
            IntPtr pointIsOnCurve = Export(library, "EC_POINT_is_on_curve");
            IntPtr pointFree = Export(library, "EC_POINT_free");
            IntPtr computeKey = Export(library, "ECDH_compute_key");
            IntPtr clearError = Export(library, "ERR_clear_error");
            if (keyNew == 0 || keyGenerate == 0 || keyGroup == 0 || keyPublic == 0 || keyFree == 0 || pointToOctets == 0 || pointNew == 0 ||
                octetsToPoint == 0 || pointIsOnCurve == 0 || pointFree == 0 || computeKey == 0 || clearError == 0)
            {
                return;
            }

            s_keyNewByCurveName = (delegate* unmanaged<int, IntPtr>)keyNew;
            s_keyGenerate = (delegate* unmanaged<IntPtr, int>)keyGenerate;
            s_keyGroup = (delegate* unmanaged<IntPtr, IntPtr>)keyGroup;
            s_keyPublic = (delegate* unmanaged<IntPtr, IntPtr>)keyPublic;
            s_keyFree = (delegate* unmanaged<IntPtr, void>)keyFree;
            s_pointToOctets = (delegate* unmanaged<IntPtr, IntPtr, int, byte*, nuint, IntPtr, nuint>)pointToOctets;
            s_pointNew = (delegate* unmanaged<IntPtr, IntPtr>)pointNew;
            s_octetsToPoint = (delegate* unmanaged<IntPtr, IntPtr, byte*, nuint, IntPtr, int>)octetsToPoint;
            s_pointIsOnCurve = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, int>)pointIsOnCurve;
            s_pointFree = (delegate* unmanaged<IntPtr, void>)pointFree;
            s_computeKey = (delegate* unmanaged<byte*, nuint, IntPtr, IntPtr, IntPtr, int>)computeKey;
            s_clearError = (delegate* unmanaged<void>)clearError;
            Available = true;
        }

        public static bool Available { get; }

        public static SafeEcKeyHandle Generate()
        {
            var handle = new SafeEcKeyHandle();
            IntPtr key = s_keyNewByCurveName(NidX962Prime256v1);
            if (key == IntPtr.Zero)
            {
                throw Failure("EC_KEY_new_by_curve_name(P-256)");
            }

            handle.Set(key);
            if (s_keyGenerate(key) != 1)
            {
                handle.Dispose();
                throw Failure("EC_KEY_generate_key");
            }

            return handle;
        }

        public static void ExportPublic(SafeEcKeyHandle key, Span<byte> destination)
        {
            bool added = false;
            key.DangerousAddRef(ref added);
            try
            {
                IntPtr k = key.DangerousGetHandle();
                fixed (byte* d = destination)
                {
                    if (s_pointToOctets(s_keyGroup(k), s_keyPublic(k), PointConversionUncompressed, d, (nuint)destination.Length, IntPtr.Zero) != ShareLength)
                    {
                        throw Failure("EC_POINT_point2oct");
                    }
                }
            }
            finally
            {
                key.DangerousRelease();
            }
        }

        public static void Derive(SafeEcKeyHandle key, ReadOnlySpan<byte> peerShare, Span<byte> secret)
        {
            bool added = false;
            key.DangerousAddRef(ref added);
            IntPtr point = IntPtr.Zero;
            try
            {
                IntPtr k = key.DangerousGetHandle();
                IntPtr group = s_keyGroup(k);
                point = s_pointNew(group);
                if (point == IntPtr.Zero)
                {
                    throw Failure("EC_POINT_new");
                }

                fixed (byte* share = peerShare)
                {
                    // Rejects coordinates ≥ p and points off the curve; checked once more below, cheaply.
                    if (s_octetsToPoint(group, point, share, (nuint)peerShare.Length, IntPtr.Zero) != 1)
                    {
                        throw Failure("the point does not decode (a coordinate is not below p, or it is not on the curve)");
                    }
                }

                if (s_pointIsOnCurve(group, point, IntPtr.Zero) != 1)
                {
                    throw Failure("the point is not on the curve");
                }

                fixed (byte* s = secret)
                {
                    if (s_computeKey(s, (nuint)secret.Length, point, k, IntPtr.Zero) != SecretLength)
                    {
                        throw Failure("ECDH_compute_key");
                    }
                }
            }
            finally
            {
                if (point != IntPtr.Zero)
                {
                    s_pointFree(point);
                }

                key.DangerousRelease();
            }
        }

        public static void Free(IntPtr key) => s_keyFree(key);

        private static CryptographicException Failure(string what)
        {
            // Leave no error behind on this thread's OpenSSL queue for .NET's next call to find.
            s_clearError();
            return new CryptographicException($"P-256: {what}");
        }

        private static IntPtr Export(IntPtr library, string name) => NativeLibrary.TryGetExport(library, name, out IntPtr address) ? address : IntPtr.Zero;
    }
}
