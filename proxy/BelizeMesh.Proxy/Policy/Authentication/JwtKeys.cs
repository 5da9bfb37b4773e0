using System.Text;

namespace BelizeMesh.Proxy.Policy.Authentication;

/// <summary>
/// The keys a provider verifies with at one moment, with each key's <c>kid</c> as UTF-8: one immutable object, so a
/// key set replaced by a fetch is seen whole or not at all by a validation that reads it once.
/// </summary>
internal sealed class JwtKeys
{
    /// <summary>No keys: every token of the issuer fails with "Jwks doesn't have key to match kid or alg from Jwt".</summary>
    public static readonly JwtKeys Empty = new([]);

    public JwtKeys(JsonWebKey[] keys)
    {
        Keys = keys;
        KidsUtf8 = new byte[keys.Length][];
        for (int i = 0; i < keys.Length; i++)
        {
            KidsUtf8[i] = keys[i].Kid is { } kid ? Encoding.UTF8.GetBytes(kid) : [];
        }
    }

    public JsonWebKey[] Keys { get; }

    public byte[][] KidsUtf8 { get; }

    public static JwtKeys From(JsonWebKeySet? set) => set is null ? Empty : new JwtKeys(set.Keys);
}
