namespace BelizeMesh.Proxy.Policy.Authentication;

/// <summary>The outcome of validating the JWTs of one request, in the order Envoy's <c>jwt_authn</c> checks.</summary>
internal enum JwtStatus : byte
{
    /// <summary>Every token found is valid (or the sidecar has no <c>jwtRules</c>).</summary>
    Ok,

    /// <summary>No token at any configured location: allowed through, with no request principal (Istio semantics).</summary>
    Missing,

    BadFormat,
    BadHeader,
    UnsupportedAlgorithm,
    BadPayload,
    BadSignatureEncoding,
    UnknownIssuer,
    NotYetValid,
    Expired,
    AudienceNotAllowed,
    NoMatchingKey,
    BadSignature,

    /// <summary>The issuer's <c>jwksUri</c> has not been fetched successfully yet: no keys, the token is refused (fail closed).</summary>
    JwksFetchFailed,
}

internal static class JwtStatusText
{
    /// <summary>The HTTP status Envoy answers: 403 for a disallowed audience, 401 for every other invalid token.</summary>
    public static int HttpStatus(this JwtStatus status) => status == JwtStatus.AudienceNotAllowed ? 403 : 401;

    /// <summary>The metric label (<c>belizemesh_proxy_jwt_failures_total{reason}</c>).</summary>
    public static string Reason(this JwtStatus status) => status switch
    {
        JwtStatus.BadFormat => "malformed",
        JwtStatus.BadHeader => "bad_header",
        JwtStatus.UnsupportedAlgorithm => "unsupported_alg",
        JwtStatus.BadPayload => "bad_payload",
        JwtStatus.BadSignatureEncoding => "malformed",
        JwtStatus.UnknownIssuer => "unknown_issuer",
        JwtStatus.NotYetValid => "not_yet_valid",
        JwtStatus.Expired => "expired",
        JwtStatus.AudienceNotAllowed => "audience",
        JwtStatus.NoMatchingKey => "unknown_key",
        JwtStatus.BadSignature => "bad_signature",
        JwtStatus.JwksFetchFailed => "jwks_fetch_failed",
        _ => "none",
    };

    /// <summary>The response body, Envoy's wording (google/jwt_verify_lib status strings); never any token content.</summary>
    public static string Message(this JwtStatus status) => status switch
    {
        JwtStatus.BadFormat => "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
        JwtStatus.BadHeader => "Jwt header is an invalid Base64url encoded or invalid JSON",
        JwtStatus.UnsupportedAlgorithm => "Jwt header [alg] is not supported",
        JwtStatus.BadPayload => "Jwt payload is an invalid Base64url encoded or invalid JSON",
        JwtStatus.BadSignatureEncoding => "Jwt signature is an invalid Base64url encoded",
        JwtStatus.UnknownIssuer => "Jwt issuer is not configured",
        JwtStatus.NotYetValid => "Jwt not yet valid",
        JwtStatus.Expired => "Jwt is expired",
        JwtStatus.AudienceNotAllowed => "Audiences in Jwt are not allowed",
        JwtStatus.NoMatchingKey => "Jwks doesn't have key to match kid or alg from Jwt",
        JwtStatus.BadSignature => "Jwt verification fails",
        JwtStatus.JwksFetchFailed => "Jwks remote fetch is failed",
        JwtStatus.Missing => "Jwt is missing",
        _ => "OK",
    };
}
