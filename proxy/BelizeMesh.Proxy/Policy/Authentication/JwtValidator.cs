using System.Buffers;
using System.Text;
using System.Text.Json;

namespace BelizeMesh.Proxy.Policy.Authentication;

/// <summary>
/// One <c>jwtRules</c> entry compiled: the issuer, its audiences (normalized) and its keys — fixed (inline or a file's
/// last good set) or those a <see cref="RemoteJwks"/> fetcher holds now (<c>jwksUri</c>).
/// </summary>
internal sealed class JwtProvider
{
    private readonly JwtKeys _fixedKeys;
    private readonly RemoteJwks? _remote;

    public JwtProvider(string issuer, IReadOnlyList<string> audiences, JsonWebKeySet? keys, bool forwardOriginalToken)
    {
        Issuer = issuer;
        IssuerUtf8 = Encoding.UTF8.GetBytes(issuer);
        Audiences = new byte[audiences.Count][];
        for (int i = 0; i < Audiences.Length; i++)
        {
            Audiences[i] = Encoding.UTF8.GetBytes(NormalizeAudience(audiences[i]));
        }

        _fixedKeys = JwtKeys.From(keys);
        ForwardOriginalToken = forwardOriginalToken;
    }

    /// <summary>A provider whose keys come from <paramref name="remote"/> (<c>jwksUri</c>), read at every validation.</summary>
    public JwtProvider(string issuer, IReadOnlyList<string> audiences, RemoteJwks remote, bool forwardOriginalToken)
        : this(issuer, audiences, (JsonWebKeySet?)null, forwardOriginalToken)
    {
        _remote = remote;
    }

    /// <summary>The keys in force; null while a <c>jwksUri</c> has not been fetched successfully yet (tokens get 401).</summary>
    public JwtKeys? CurrentKeys => _remote is null ? _fixedKeys : _remote.Current;

    public string Issuer { get; }

    public byte[] IssuerUtf8 { get; }

    public byte[][] Audiences { get; }

    public bool ForwardOriginalToken { get; }

    /// <summary>As Envoy's audience check: a leading <c>http://</c> or <c>https://</c> and a trailing <c>/</c> do not count.</summary>
    public static string NormalizeAudience(string audience)
    {
        ReadOnlySpan<char> a = audience;
        if (a.StartsWith("https://", StringComparison.Ordinal))
        {
            a = a[8..];
        }
        else if (a.StartsWith("http://", StringComparison.Ordinal))
        {
            a = a[7..];
        }

        return a.EndsWith('/') ? a[..^1].ToString() : a.ToString();
    }

    internal static ReadOnlySpan<byte> NormalizeAudience(ReadOnlySpan<byte> a)
    {
        if (a.StartsWith("https://"u8))
        {
            a = a[8..];
        }
        else if (a.StartsWith("http://"u8))
        {
            a = a[7..];
        }

        return a.EndsWith("/"u8) ? a[..^1] : a;
    }
}

/// <summary>
/// Validates one compact-serialized JWS token against a set of providers, with the checks and order of Envoy's
/// <c>jwt_authn</c> filter: format (three strict base64url parts), header (<c>alg</c> supported — never <c>none</c>,
/// no <c>crit</c>), issuer configured, <c>nbf</c>/<c>exp</c> with clock skew, audiences, then the signature with the keys
/// whose <c>kid</c> (when both sides have one), type and <c>alg</c> fit. Claims read are refused when duplicated. Decoding
/// uses pooled buffers; a success allocates the request principal <c>iss/sub</c> only (none without <c>sub</c>).
/// </summary>
internal static class JwtValidator
{
    /// <summary>Envoy's default clock skew (<c>clock_skew_seconds</c>), which Istio does not change.</summary>
    public const long ClockSkewSeconds = 60;

    /// <summary>The longest token read; longer ones are refused as malformed.</summary>
    public const int MaxTokenLength = 16 * 1024;

    public static JwtStatus Validate(ReadOnlySpan<char> token, JwtProvider[] providers, long nowSeconds, out int providerIndex, out string? principal)
    {
        providerIndex = -1;
        principal = null;
        if (token.Length == 0 || token.Length > MaxTokenLength)
        {
            return JwtStatus.BadFormat;
        }

        int dot1 = token.IndexOf('.');
        int dot2 = dot1 < 0 ? -1 : token[(dot1 + 1)..].IndexOf('.');
        if (dot1 <= 0 || dot2 <= 0)
        {
            return JwtStatus.BadFormat;
        }

        dot2 += dot1 + 1;
        ReadOnlySpan<char> headerText = token[..dot1];
        ReadOnlySpan<char> payloadText = token[(dot1 + 1)..dot2];
        ReadOnlySpan<char> signatureText = token[(dot2 + 1)..];
        if (signatureText.Length == 0 || signatureText.Contains('.'))
        {
            return JwtStatus.BadFormat;
        }

        int headerLength = Base64Url.DecodedLength(headerText.Length);
        int payloadLength = Base64Url.DecodedLength(payloadText.Length);
        int signatureLength = Base64Url.DecodedLength(signatureText.Length);
        if (headerLength < 0)
        {
            return JwtStatus.BadHeader;
        }

        if (payloadLength < 0)
        {
            return JwtStatus.BadPayload;
        }

        if (signatureLength < 0)
        {
            return JwtStatus.BadSignatureEncoding;
        }

        byte[] buffer = ArrayPool<byte>.Shared.Rent(headerLength + payloadLength + signatureLength + dot2);
        try
        {
            Span<byte> header = buffer.AsSpan(0, headerLength);
            Span<byte> payload = buffer.AsSpan(headerLength, payloadLength);
            Span<byte> signature = buffer.AsSpan(headerLength + payloadLength, signatureLength);
            Span<byte> signingInput = buffer.AsSpan(headerLength + payloadLength + signatureLength, dot2);
            if (!Base64Url.TryDecode(headerText, header, out _))
            {
                return JwtStatus.BadHeader;
            }

            if (!System.Text.Unicode.Utf8.IsValid(header))
            {
                return JwtStatus.BadHeader;
            }

            if (!ReadHeader(header, out JwtAlgorithm alg, out int kidStart, out int kidLength, out JwtStatus headerStatus))
            {
                return headerStatus;
            }

            if (!Base64Url.TryDecode(payloadText, payload, out _))
            {
                return JwtStatus.BadPayload;
            }

            if (!Base64Url.TryDecode(signatureText, signature, out _))
            {
                return JwtStatus.BadSignatureEncoding;
            }

            if (!System.Text.Unicode.Utf8.IsValid(payload) || !ReadPayload(payload, providers, out int index, out Claims claims))
            {
                return JwtStatus.BadPayload;
            }

            if (index < 0)
            {
                return JwtStatus.UnknownIssuer;
            }

            providerIndex = index;
            JwtProvider provider = providers[index];
            if (claims.HasNbf && nowSeconds + ClockSkewSeconds < claims.Nbf)
            {
                return JwtStatus.NotYetValid;
            }

            if (claims.HasExp && nowSeconds > claims.Exp + ClockSkewSeconds)
            {
                return JwtStatus.Expired;
            }

            if (provider.Audiences.Length > 0 && !AudienceAllowedSafe(payload, provider))
            {
                return JwtStatus.AudienceNotAllowed;
            }

            for (int i = 0; i < dot2; i++)
            {
                signingInput[i] = (byte)token[i]; // base64url and '.': ASCII, checked by the decoders above
            }

            // As Envoy: the key set is looked at after the claims, so an expired token or a wrong audience is reported
            // as such even while a jwksUri has not been fetched; other tokens then get "Jwks remote fetch is failed".
            JwtKeys? keys = provider.CurrentKeys;
            if (keys is null)
            {
                return JwtStatus.JwksFetchFailed;
            }

            ReadOnlySpan<byte> kid = kidStart < 0 ? default : header.Slice(kidStart, kidLength);
            bool tried = false;
            for (int i = 0; i < keys.Keys.Length; i++)
            {
                JsonWebKey key = keys.Keys[i];
                if (kidStart >= 0 && key.Kid is not null && !kid.SequenceEqual(keys.KidsUtf8[i]))
                {
                    continue;
                }

                if (!key.Fits(alg))
                {
                    continue;
                }

                tried = true;
                if (key.Verify(alg, signingInput, signature))
                {
                    // As Istio: a request principal only when the token has both iss and sub.
                    principal = claims.Subject is null ? null : string.Concat(provider.Issuer, "/", claims.Subject);
                    return JwtStatus.Ok;
                }
            }

            return tried ? JwtStatus.BadSignature : JwtStatus.NoMatchingKey;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static JwtAlgorithm ParseAlgorithm(ReadOnlySpan<byte> name)
    {
        Span<char> chars = stackalloc char[8];
        return name.Length <= 8 && System.Text.Ascii.IsValid(name)
            ? JsonWebKey.ParseAlgorithm(chars[..Encoding.ASCII.GetChars(name, chars)])
            : JwtAlgorithm.Unsupported;
    }

    /// <summary>The claims read; <c>exp</c>/<c>nbf</c> are finite (a number too large for a double, read as infinity,
    /// is refused: it would make a token that never expires or is valid since forever).</summary>
    private struct Claims
    {
        public bool HasExp;
        public bool HasNbf;
        public double Exp;
        public double Nbf;
        public string? Subject;
    }

    /// <summary>Reads <c>alg</c> and <c>kid</c>; <paramref name="kidStart"/> indexes the unescaped kid bytes in the header (-1: none).</summary>
    private static bool ReadHeader(ReadOnlySpan<byte> json, out JwtAlgorithm alg, out int kidStart, out int kidLength, out JwtStatus status)
    {
        alg = JwtAlgorithm.Unsupported;
        kidStart = -1;
        kidLength = 0;
        status = JwtStatus.BadHeader;
        bool seenAlg = false, seenKid = false;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("alg"u8))
                {
                    if (seenAlg || !reader.Read() || reader.TokenType != JsonTokenType.String)
                    {
                        return false;
                    }

                    seenAlg = true;
                    alg = reader.ValueIsEscaped ? JwtAlgorithm.Unsupported : ParseAlgorithm(reader.ValueSpan);
                }
                else if (reader.ValueTextEquals("kid"u8))
                {
                    if (seenKid || !reader.Read() || reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped)
                    {
                        return false;
                    }

                    seenKid = true;
                    kidStart = (int)reader.TokenStartIndex + 1;
                    kidLength = reader.ValueSpan.Length;
                }
                else if (reader.ValueTextEquals("crit"u8))
                {
                    return false; // no extension is understood, so a critical one must be refused (RFC 7515 §4.1.11)
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return false;
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string that is not valid UTF-8 / UTF-16 once unescaped (fuzz tests).
            return false;
        }

        if (alg == JwtAlgorithm.Unsupported)
        {
            status = JwtStatus.UnsupportedAlgorithm;
            return false;
        }

        return true;
    }

    /// <summary>Reads the payload's claims: <paramref name="providerIndex"/> is the provider whose issuer is <c>iss</c> (-1: none).</summary>
    private static bool ReadPayload(ReadOnlySpan<byte> json, JwtProvider[] providers, out int providerIndex, out Claims claims)
    {
        providerIndex = -1;
        claims = default;
        bool seenIss = false, seenSub = false, seenAud = false;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("iss"u8))
                {
                    if (seenIss || !reader.Read() || reader.TokenType != JsonTokenType.String)
                    {
                        return false;
                    }

                    seenIss = true;
                    for (int i = 0; i < providers.Length; i++)
                    {
                        if (reader.ValueTextEquals(providers[i].IssuerUtf8))
                        {
                            providerIndex = i;
                            break;
                        }
                    }
                }
                else if (reader.ValueTextEquals("sub"u8))
                {
                    if (seenSub || !reader.Read() || reader.TokenType != JsonTokenType.String)
                    {
                        return false;
                    }

                    seenSub = true;
                    claims.Subject = reader.GetString();
                }
                else if (reader.ValueTextEquals("exp"u8))
                {
                    if (claims.HasExp || !reader.Read() || reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out claims.Exp) || !double.IsFinite(claims.Exp))
                    {
                        return false;
                    }

                    claims.HasExp = true;
                }
                else if (reader.ValueTextEquals("nbf"u8))
                {
                    if (claims.HasNbf || !reader.Read() || reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out claims.Nbf) || !double.IsFinite(claims.Nbf))
                    {
                        return false;
                    }

                    claims.HasNbf = true;
                }
                else if (reader.ValueTextEquals("aud"u8))
                {
                    if (seenAud || !reader.Read())
                    {
                        return false;
                    }

                    seenAud = true;
                    if (reader.TokenType == JsonTokenType.StartArray)
                    {
                        while (reader.Read() && reader.TokenType == JsonTokenType.String)
                        {
                        }

                        if (reader.TokenType != JsonTokenType.EndArray)
                        {
                            return false;
                        }
                    }
                    else if (reader.TokenType != JsonTokenType.String)
                    {
                        return false;
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            return reader.TokenType == JsonTokenType.EndObject && !reader.Read();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string that is not valid UTF-8 / UTF-16 once unescaped (fuzz tests).
            return false;
        }
    }

    private static bool AudienceAllowedSafe(ReadOnlySpan<byte> json, JwtProvider provider)
    {
        try
        {
            return AudienceAllowed(json, provider);
        }
        catch (InvalidOperationException)
        {
            return false; // an escaped audience that does not unescape to valid text
        }
    }

    /// <summary>Whether any <c>aud</c> of the (already well-formed) payload is one of the provider's audiences.</summary>
    private static bool AudienceAllowed(ReadOnlySpan<byte> json, JwtProvider provider)
    {
        var reader = new Utf8JsonReader(json);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!reader.ValueTextEquals("aud"u8))
            {
                reader.Read();
                reader.Skip();
                continue;
            }

            reader.Read();
            if (reader.TokenType == JsonTokenType.String)
            {
                return AudienceMatches(ref reader, provider);
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.String)
            {
                if (AudienceMatches(ref reader, provider))
                {
                    return true;
                }
            }

            return false;
        }

        return false; // no "aud" while the rule names audiences
    }

    private static bool AudienceMatches(ref Utf8JsonReader reader, JwtProvider provider)
    {
        ReadOnlySpan<byte> value;
        if (reader.ValueIsEscaped)
        {
            value = Encoding.UTF8.GetBytes(reader.GetString()!); // rare: escaped characters in an audience
        }
        else
        {
            value = reader.ValueSpan;
        }

        value = JwtProvider.NormalizeAudience(value);
        for (int i = 0; i < provider.Audiences.Length; i++)
        {
            if (value.SequenceEqual(provider.Audiences[i]))
            {
                return true;
            }
        }

        return false;
    }
}
