using System.Buffers;
using System.Text;

namespace BelizeMesh.Proxy.Inbound.Http2Server;

/// <summary>
/// <see cref="Microsoft.AspNetCore.Http.HttpRequest.Path"/> from the <c>:path</c> as received, the way Kestrel makes it:
/// percent-escapes decoded except <c>%2F</c> (an escaped slash is not a separator, so it stays escaped), the result
/// read as UTF-8, then dot segments removed (RFC 3986 §5.2.4). The policy's path rules match this form.
/// </summary>
internal static class LeanHttp2RequestPath
{
    /// <summary>The decoded path of <paramref name="path"/> (origin form, no query). Returns the same string when there is
    /// nothing to decode or remove, the common case, so it allocates nothing then.</summary>
    public static string Decode(string path)
    {
        bool escaped = path.Contains('%');
        if (!escaped && !HasDotSegment(path))
        {
            return path;
        }

        string decoded = escaped ? Unescape(path) : path;
        return HasDotSegment(decoded) ? RemoveDotSegments(decoded) : decoded;
    }

    private static bool HasDotSegment(string path)
    {
        for (int i = path.IndexOf("/.", StringComparison.Ordinal); i >= 0; i = path.IndexOf("/.", i + 1, StringComparison.Ordinal))
        {
            int next = i + 2;
            if (next == path.Length || path[next] == '/' || (path[next] == '.' && (next + 1 == path.Length || path[next + 1] == '/')))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Decodes %XX (except %2F) into bytes and reads them as UTF-8; a path whose decoded bytes are not UTF-8 is left
    /// as it was received.</summary>
    private static string Unescape(string path)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(path.Length);
        try
        {
            int length = 0;
            for (int i = 0; i < path.Length; i++)
            {
                char c = path[i];
                if (c == '%' && i + 2 < path.Length && char.IsAsciiHexDigit(path[i + 1]) && char.IsAsciiHexDigit(path[i + 2]))
                {
                    int value = (HexValue(path[i + 1]) << 4) | HexValue(path[i + 2]);
                    if (value != '/')
                    {
                        rented[length++] = (byte)value;
                        i += 2;
                        continue;
                    }
                }

                rented[length++] = (byte)c; // :path is printable ASCII (checked when decoded)
            }

            ReadOnlySpan<byte> bytes = rented.AsSpan(0, length);
            return System.Text.Unicode.Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : path;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    /// <summary>RFC 3986 §5.2.4 on an absolute path: "." segments go, ".." removes the segment before it (never above
    /// the root); a path ending in a dot segment keeps its trailing slash.</summary>
    private static string RemoveDotSegments(string path)
    {
        var output = new StringBuilder(path.Length);
        int i = 0;
        while (i < path.Length)
        {
            // path[i] == '/': the segment runs to the next '/'
            int end = path.IndexOf('/', i + 1);
            if (end < 0)
            {
                end = path.Length;
            }

            ReadOnlySpan<char> segment = path.AsSpan(i + 1, end - i - 1);
            bool last = end == path.Length;
            if (segment is ".")
            {
                if (last)
                {
                    output.Append('/');
                }
            }
            else if (segment is "..")
            {
                int cut = output.Length == 0 ? 0 : LastSlash(output);
                output.Length = cut;
                if (last)
                {
                    output.Append('/');
                }
            }
            else
            {
                output.Append('/').Append(segment);
            }

            i = end;
        }

        return output.Length == 0 ? "/" : output.ToString();

        static int LastSlash(StringBuilder builder)
        {
            for (int j = builder.Length - 1; j >= 0; j--)
            {
                if (builder[j] == '/')
                {
                    return j;
                }
            }

            return 0;
        }
    }
}
