namespace BelizeMesh.Proxy.Forwarding.Http2;

/// <summary>
/// The HPACK static table (RFC 7541 §2.3.1, Appendix A): 61 fixed (name, value) entries, indexes 1 to 61. Names and
/// values are ASCII byte literals in the assembly's data, so a lookup allocates nothing.
/// </summary>
internal static class HPackStaticTable
{
    /// <summary>The number of entries; the dynamic table's indexes start after it (RFC 7541 §2.3.3).</summary>
    public const int Count = 61;

    /// <summary><c>:authority</c> (no value).</summary>
    public const int Authority = 1;

    /// <summary><c>:method: GET</c>.</summary>
    public const int MethodGet = 2;

    /// <summary><c>:method: POST</c>.</summary>
    public const int MethodPost = 3;

    /// <summary><c>:path: /</c>.</summary>
    public const int PathRoot = 4;

    /// <summary><c>:path: /index.html</c>.</summary>
    public const int PathIndexHtml = 5;

    /// <summary><c>:scheme: http</c>.</summary>
    public const int SchemeHttp = 6;

    /// <summary><c>:scheme: https</c>.</summary>
    public const int SchemeHttps = 7;

    /// <summary><c>:status: 200</c>, the first of the seven <c>:status</c> entries (8 to 14).</summary>
    public const int Status200 = 8;

    /// <summary>The name of entry <paramref name="index"/> (1 to <see cref="Count"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside 1 to <see cref="Count"/>.</exception>
    public static ReadOnlySpan<byte> Name(int index) => index switch
    {
        1 => ":authority"u8,
        2 => ":method"u8,
        3 => ":method"u8,
        4 => ":path"u8,
        5 => ":path"u8,
        6 => ":scheme"u8,
        7 => ":scheme"u8,
        8 => ":status"u8,
        9 => ":status"u8,
        10 => ":status"u8,
        11 => ":status"u8,
        12 => ":status"u8,
        13 => ":status"u8,
        14 => ":status"u8,
        15 => "accept-charset"u8,
        16 => "accept-encoding"u8,
        17 => "accept-language"u8,
        18 => "accept-ranges"u8,
        19 => "accept"u8,
        20 => "access-control-allow-origin"u8,
        21 => "age"u8,
        22 => "allow"u8,
        23 => "authorization"u8,
        24 => "cache-control"u8,
        25 => "content-disposition"u8,
        26 => "content-encoding"u8,
        27 => "content-language"u8,
        28 => "content-length"u8,
        29 => "content-location"u8,
        30 => "content-range"u8,
        31 => "content-type"u8,
        32 => "cookie"u8,
        33 => "date"u8,
        34 => "etag"u8,
        35 => "expect"u8,
        36 => "expires"u8,
        37 => "from"u8,
        38 => "host"u8,
        39 => "if-match"u8,
        40 => "if-modified-since"u8,
        41 => "if-none-match"u8,
        42 => "if-range"u8,
        43 => "if-unmodified-since"u8,
        44 => "last-modified"u8,
        45 => "link"u8,
        46 => "location"u8,
        47 => "max-forwards"u8,
        48 => "proxy-authenticate"u8,
        49 => "proxy-authorization"u8,
        50 => "range"u8,
        51 => "referer"u8,
        52 => "refresh"u8,
        53 => "retry-after"u8,
        54 => "server"u8,
        55 => "set-cookie"u8,
        56 => "strict-transport-security"u8,
        57 => "transfer-encoding"u8,
        58 => "user-agent"u8,
        59 => "vary"u8,
        60 => "via"u8,
        61 => "www-authenticate"u8,
        _ => throw OutOfRange(index),
    };

    /// <summary>The value of entry <paramref name="index"/> (1 to <see cref="Count"/>); empty for the entries that only
    /// name a header.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside 1 to <see cref="Count"/>.</exception>
    public static ReadOnlySpan<byte> Value(int index) => index switch
    {
        2 => "GET"u8,
        3 => "POST"u8,
        4 => "/"u8,
        5 => "/index.html"u8,
        6 => "http"u8,
        7 => "https"u8,
        8 => "200"u8,
        9 => "204"u8,
        10 => "206"u8,
        11 => "304"u8,
        12 => "400"u8,
        13 => "404"u8,
        14 => "500"u8,
        16 => "gzip, deflate"u8,
        >= 1 and <= Count => ReadOnlySpan<byte>.Empty,
        _ => throw OutOfRange(index),
    };

    /// <summary>
    /// The lowest index whose name is <paramref name="lowercaseName"/> (already lower-case, as HTTP/2 field names are), or
    /// 0 when no static entry has that name. Dispatches on the length, then compares against the few names of that length.
    /// </summary>
    public static int NameIndex(ReadOnlySpan<char> lowercaseName)
    {
        switch (lowercaseName.Length)
        {
            case 3:
                return lowercaseName switch
                {
                    "age" => 21,
                    "via" => 60,
                    _ => 0,
                };
            case 4:
                return lowercaseName switch
                {
                    "date" => 33,
                    "etag" => 34,
                    "from" => 37,
                    "host" => 38,
                    "link" => 45,
                    "vary" => 59,
                    _ => 0,
                };
            case 5:
                return lowercaseName switch
                {
                    ":path" => 4,
                    "allow" => 22,
                    "range" => 50,
                    _ => 0,
                };
            case 6:
                return lowercaseName switch
                {
                    "accept" => 19,
                    "cookie" => 32,
                    "expect" => 35,
                    "server" => 54,
                    _ => 0,
                };
            case 7:
                return lowercaseName switch
                {
                    ":method" => 2,
                    ":scheme" => 6,
                    ":status" => 8,
                    "expires" => 36,
                    "referer" => 51,
                    "refresh" => 52,
                    _ => 0,
                };
            case 8:
                return lowercaseName switch
                {
                    "if-match" => 39,
                    "if-range" => 42,
                    "location" => 46,
                    _ => 0,
                };
            case 10:
                return lowercaseName switch
                {
                    ":authority" => 1,
                    "set-cookie" => 55,
                    "user-agent" => 58,
                    _ => 0,
                };
            case 11:
                return lowercaseName switch
                {
                    "retry-after" => 53,
                    _ => 0,
                };
            case 12:
                return lowercaseName switch
                {
                    "content-type" => 31,
                    "max-forwards" => 47,
                    _ => 0,
                };
            case 13:
                return lowercaseName switch
                {
                    "accept-ranges" => 18,
                    "authorization" => 23,
                    "cache-control" => 24,
                    "content-range" => 30,
                    "if-none-match" => 41,
                    "last-modified" => 44,
                    _ => 0,
                };
            case 14:
                return lowercaseName switch
                {
                    "accept-charset" => 15,
                    "content-length" => 28,
                    _ => 0,
                };
            case 15:
                return lowercaseName switch
                {
                    "accept-encoding" => 16,
                    "accept-language" => 17,
                    _ => 0,
                };
            case 16:
                return lowercaseName switch
                {
                    "content-encoding" => 26,
                    "content-language" => 27,
                    "content-location" => 29,
                    "www-authenticate" => 61,
                    _ => 0,
                };
            case 17:
                return lowercaseName switch
                {
                    "if-modified-since" => 40,
                    "transfer-encoding" => 57,
                    _ => 0,
                };
            case 18:
                return lowercaseName switch
                {
                    "proxy-authenticate" => 48,
                    _ => 0,
                };
            case 19:
                return lowercaseName switch
                {
                    "content-disposition" => 25,
                    "if-unmodified-since" => 43,
                    "proxy-authorization" => 49,
                    _ => 0,
                };
            case 25:
                return lowercaseName switch
                {
                    "strict-transport-security" => 56,
                    _ => 0,
                };
            case 27:
                return lowercaseName switch
                {
                    "access-control-allow-origin" => 20,
                    _ => 0,
                };
            default:
                return 0;
        }
    }

    private static ArgumentOutOfRangeException OutOfRange(int index) =>
        new(nameof(index), index, $"HPACK static table indexes are 1 to {Count}.");
}
