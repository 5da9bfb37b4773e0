using System.Security.Cryptography;
using System.Text.Json;

namespace BelizeMesh.Proxy.Policy.Authentication;

/// <summary>The JWS algorithms the sidecar verifies (RFC 7518 §3). Anything else — <c>none</c>, HMAC — is refused.</summary>
internal enum JwtAlgorithm : byte
{
    Unsupported,
    ES256,
    ES384,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
}

/// <summary>One public key of a JWKS: an EC (P-256/P-384) or RSA key, with its optional <c>kid</c> and <c>alg</c>.</summary>
internal sealed class JsonWebKey
{
    private JsonWebKey(string? kid, JwtAlgorithm alg, ECDsa? ec, ECCurve curve, RSA? rsa)
    {
        Kid = kid;
        Algorithm = alg;
        EcKey = ec;
        Curve = curve;
        RsaKey = rsa;
    }

    public string? Kid { get; }

    /// <summary>The key's <c>alg</c>, or <see cref="JwtAlgorithm.Unsupported"/> when the JWKS does not pin one.</summary>
    public JwtAlgorithm Algorithm { get; }

    public ECDsa? EcKey { get; }

    public ECCurve Curve { get; }

    public RSA? RsaKey { get; }

    /// <summary>Whether this key can verify a token signed with <paramref name="alg"/>: the key type and curve fit, and
    /// the key's own <c>alg</c>, when given, is that one (so an RSA key never checks an ES256 token and vice versa).</summary>
    public bool Fits(JwtAlgorithm alg)
    {
        if (Algorithm != JwtAlgorithm.Unsupported && Algorithm != alg)
        {
            return false;
        }

        return alg switch
        {
            JwtAlgorithm.ES256 => EcKey is not null && Curve.Oid.Value == ECCurve.NamedCurves.nistP256.Oid.Value,
            JwtAlgorithm.ES384 => EcKey is not null && Curve.Oid.Value == ECCurve.NamedCurves.nistP384.Oid.Value,
            JwtAlgorithm.Unsupported => false,
            _ => RsaKey is not null,
        };
    }

    /// <summary>Verifies a JWS signature over <paramref name="signingInput"/> (<c>header.payload</c> as ASCII).</summary>
    public bool Verify(JwtAlgorithm alg, ReadOnlySpan<byte> signingInput, ReadOnlySpan<byte> signature) => alg switch
    {
        // JWS ES256/ES384 signatures are R || S, fixed width: .NET's IEEE P1363 format (the default).
        JwtAlgorithm.ES256 => signature.Length == 64 && EcKey!.VerifyData(signingInput, signature, HashAlgorithmName.SHA256),
        JwtAlgorithm.ES384 => signature.Length == 96 && EcKey!.VerifyData(signingInput, signature, HashAlgorithmName.SHA384),
        JwtAlgorithm.RS256 => RsaKey!.VerifyData(signingInput, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
        JwtAlgorithm.RS384 => RsaKey!.VerifyData(signingInput, signature, HashAlgorithmName.SHA384, RSASignaturePadding.Pkcs1),
        JwtAlgorithm.RS512 => RsaKey!.VerifyData(signingInput, signature, HashAlgorithmName.SHA512, RSASignaturePadding.Pkcs1),
        JwtAlgorithm.PS256 => RsaKey!.VerifyData(signingInput, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss),
        JwtAlgorithm.PS384 => RsaKey!.VerifyData(signingInput, signature, HashAlgorithmName.SHA384, RSASignaturePadding.Pss),
        JwtAlgorithm.PS512 => RsaKey!.VerifyData(signingInput, signature, HashAlgorithmName.SHA512, RSASignaturePadding.Pss),
        _ => false,
    };

    public static JwtAlgorithm ParseAlgorithm(ReadOnlySpan<char> name) => name switch
    {
        "ES256" => JwtAlgorithm.ES256,
        "ES384" => JwtAlgorithm.ES384,
        "RS256" => JwtAlgorithm.RS256,
        "RS384" => JwtAlgorithm.RS384,
        "RS512" => JwtAlgorithm.RS512,
        "PS256" => JwtAlgorithm.PS256,
        "PS384" => JwtAlgorithm.PS384,
        "PS512" => JwtAlgorithm.PS512,
        _ => JwtAlgorithm.Unsupported,
    };

    internal static JsonWebKey CreateEc(string? kid, JwtAlgorithm alg, ECCurve curve, byte[] x, byte[] y)
    {
        var key = ECDsa.Create(new ECParameters { Curve = curve, Q = new ECPoint { X = x, Y = y } });
        return new JsonWebKey(kid, alg, key, curve, null);
    }

    internal static JsonWebKey CreateRsa(string? kid, JwtAlgorithm alg, byte[] n, byte[] e)
    {
        var key = RSA.Create(new RSAParameters { Modulus = n, Exponent = e });
        return new JsonWebKey(kid, alg, null, default, key);
    }
}

/// <summary>
/// A JSON Web Key Set (RFC 7517) read for signature verification: <c>{"keys":[...]}</c>, or a single key object.
/// EC keys (<c>crv</c> P-256 or P-384, <c>x</c>, <c>y</c>) and RSA keys (<c>n</c>, <c>e</c>, at least 2048 bits) are used;
/// keys of other types (<c>oct</c>, <c>OKP</c>) and keys marked <c>"use":"enc"</c> are skipped; a malformed EC or RSA
/// key, or a set without one usable key, is an error — so a typo never silently leaves an issuer without keys.
/// </summary>
internal sealed class JsonWebKeySet
{
    /// <summary>The most bytes of JWKS JSON read (inline or from a file).</summary>
    public const int MaxBytes = 1024 * 1024;

    private JsonWebKeySet(JsonWebKey[] keys) => Keys = keys;

    public JsonWebKey[] Keys { get; }

    /// <summary>Parses a JWKS; on failure <paramref name="error"/> says what is wrong and how to fix it.</summary>
    public static JsonWebKeySet? TryParse(ReadOnlySpan<byte> json, out string? error)
    {
        error = null;
        if (json.Length > MaxBytes)
        {
            error = $"the JWKS is {json.Length} bytes; at most {MaxBytes} are read";
            return null;
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = "a JWKS must be a JSON object {\"keys\": [...]}";
                return null;
            }

            var keys = new List<JsonWebKey>();
            if (root.TryGetProperty("keys", out JsonElement list))
            {
                if (list.ValueKind != JsonValueKind.Array)
                {
                    error = "\"keys\" must be a JSON array of keys";
                    return null;
                }

                int index = 0;
                foreach (JsonElement item in list.EnumerateArray())
                {
                    if (!TryReadKey(item, $"keys[{index}]", keys, out error))
                    {
                        return null;
                    }

                    index++;
                }
            }
            else if (root.TryGetProperty("kty", out _))
            {
                if (!TryReadKey(root, "the key", keys, out error))
                {
                    return null;
                }
            }
            else
            {
                error = "a JWKS must have a \"keys\" array (e.g. {\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"...\",\"y\":\"...\"}]})";
                return null;
            }

            if (keys.Count == 0)
            {
                error = "the JWKS has no usable signing key (EC P-256/P-384 or RSA with \"use\" absent or \"sig\")";
                return null;
            }

            return new JsonWebKeySet([.. keys]);
        }
        catch (JsonException ex)
        {
            error = $"the JWKS is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}); write a JSON object {{\"keys\": [...]}}";
            return null;
        }
    }

    private static bool TryReadKey(JsonElement key, string where, List<JsonWebKey> keys, out string? error)
    {
        error = null;
        if (key.ValueKind != JsonValueKind.Object)
        {
            error = $"{where}: expected a JSON object";
            return false;
        }

        string? kty = String(key, "kty");
        string? use = String(key, "use");
        if (kty is not ("EC" or "RSA") || use is "enc")
        {
            return true; // not a signing key the sidecar verifies with: skipped, as Envoy does
        }

        string? kid = String(key, "kid");
        string? algText = String(key, "alg");
        JwtAlgorithm alg = JwtAlgorithm.Unsupported;
        if (algText is not null)
        {
            alg = JsonWebKey.ParseAlgorithm(algText);
            if (alg == JwtAlgorithm.Unsupported)
            {
                return true; // e.g. an RSA key for RSA-OAEP: not usable for JWS verification here
            }
        }

        string name = kid is null ? where : $"{where} (kid \"{kid}\")";
        try
        {
            if (kty == "EC")
            {
                string? crv = String(key, "crv");
                (ECCurve curve, int size, JwtAlgorithm fits) = crv switch
                {
                    "P-256" => (ECCurve.NamedCurves.nistP256, 32, JwtAlgorithm.ES256),
                    "P-384" => (ECCurve.NamedCurves.nistP384, 48, JwtAlgorithm.ES384),
                    _ => (default, 0, JwtAlgorithm.Unsupported),
                };
                if (size == 0)
                {
                    error = $"{name}: EC curve \"{crv}\" is not supported; use P-256 (ES256) or P-384 (ES384)";
                    return false;
                }

                if (alg != JwtAlgorithm.Unsupported && alg != fits)
                {
                    error = $"{name}: \"alg\": \"{algText}\" does not fit curve {crv}";
                    return false;
                }

                byte[]? x = Bytes(key, "x"), y = Bytes(key, "y");
                if (x is null || y is null || x.Length != size || y.Length != size)
                {
                    error = $"{name}: \"x\" and \"y\" must be base64url coordinates of {size} bytes each";
                    return false;
                }

                keys.Add(JsonWebKey.CreateEc(kid, alg, curve, x, y));
                return true;
            }

            if (alg is JwtAlgorithm.ES256 or JwtAlgorithm.ES384)
            {
                error = $"{name}: \"alg\": \"{algText}\" does not fit an RSA key";
                return false;
            }

            byte[]? n = Bytes(key, "n"), e = Bytes(key, "e");
            if (n is null || e is null || e.Length == 0 || n.Length == 0)
            {
                error = $"{name}: an RSA key needs \"n\" and \"e\", base64url";
                return false;
            }

            int bits = (n.Length - LeadingZeros(n)) * 8;
            if (bits < 2048)
            {
                error = $"{name}: the RSA modulus has {bits} bits; at least 2048 are required";
                return false;
            }

            keys.Add(JsonWebKey.CreateRsa(kid, alg, n.AsSpan(LeadingZeros(n)).ToArray(), e));
            return true;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            error = $"{name}: not a valid public key ({ex.Message.TrimEnd('.')})";
            return false;
        }
    }

    private static int LeadingZeros(byte[] value)
    {
        int i = 0;
        while (i < value.Length - 1 && value[i] == 0)
        {
            i++;
        }

        return i;
    }

    private static string? String(JsonElement obj, string name)
        => obj.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static byte[]? Bytes(JsonElement obj, string name) => String(obj, name) is { } text ? Base64Url.Decode(text) : null;
}
