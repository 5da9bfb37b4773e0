using System.Buffers;
using System.Globalization;
using System.Net.Http;
using System.Net.Http.Headers;

namespace BelizeMesh.Proxy.Forwarding.Http2;

/// <summary>
/// Writes a request's HTTP/2 header block (HPACK, RFC 7541, no dynamic table) from an <see cref="HttpRequestMessage"/>'s
/// headers as YARP copied them, not re-validated, or declines a request the lean HTTP/2 client does not take.
/// </summary>
/// <remarks>
/// <c>:authority</c> is the request's <c>Host</c> as it arrived (no parse of it, unlike <c>SocketsHttpHandler</c>, which
/// validates it as a host name on every request), or the endpoint's authority. Connection-specific headers (RFC 9113
/// §8.2.2) are dropped, <c>TE</c> kept only as <c>trailers</c>; names are lower-cased; a header with several values goes
/// as one field per value. Declined (left to <c>SocketsHttpHandler</c>): <c>Expect</c>, a header name that is not a token,
/// a value with CR, LF, NUL or a character above U+00FF, a method that is not a token, a path outside printable ASCII.
/// </remarks>
internal static class LeanHttp2RequestWriter
{
    private const int MaxNameLength = 256;

    /// <summary>Writes the block into <paramref name="buffer"/> (rented from <see cref="ArrayPool{T}.Shared"/>; replaced by
    /// a larger rented one when it does not fit). False: the request is not one the lean client takes.</summary>
    public static bool TryWrite(HttpRequestMessage request, string defaultAuthority, ref byte[] buffer, out int length)
    {
        length = 0;
        int pos = 0;
        HttpMethod method = request.Method;
        string pathAndQuery = request.RequestUri!.PathAndQuery;
        if (pathAndQuery.Length == 0 || pathAndQuery.AsSpan().ContainsAnyExceptInRange('!', '~') || method.Method.AsSpan().ContainsAnyExcept(LeanHttp1RequestWriter.TokenChars))
        {
            return false;
        }

        // :method, :scheme, :authority, :path (RFC 9113 §8.3.1), before every regular field
        if (ReferenceEquals(method, HttpMethod.Get))
        {
            pos += HPackEncoder.WriteIndexed(HPackStaticTable.MethodGet, Reserve(ref buffer, pos, 1));
        }
        else if (ReferenceEquals(method, HttpMethod.Post))
        {
            pos += HPackEncoder.WriteIndexed(HPackStaticTable.MethodPost, Reserve(ref buffer, pos, 1));
        }
        else
        {
            pos += HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.MethodGet, method.Method, Reserve(ref buffer, pos, HPackEncoder.MaxLiteralLength(0, method.Method.Length)));
        }

        pos += HPackEncoder.WriteIndexed(HPackStaticTable.SchemeHttp, Reserve(ref buffer, pos, 1));

        string authority = defaultAuthority;
        if (request.Headers.NonValidated.TryGetValues("Host", out HeaderStringValues host))
        {
            if (host.Count != 1)
            {
                return false;
            }

            authority = host.ToString();
            if (authority.Length == 0 || authority.AsSpan().ContainsAnyExceptInRange('!', '~'))
            {
                return false;
            }
        }

        pos += HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.Authority, authority, Reserve(ref buffer, pos, HPackEncoder.MaxLiteralLength(0, authority.Length)));
        pos += pathAndQuery.Length == 1 && pathAndQuery[0] == '/'
            ? HPackEncoder.WriteIndexed(HPackStaticTable.PathRoot, Reserve(ref buffer, pos, 1))
            : HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.PathRoot, pathAndQuery, Reserve(ref buffer, pos, HPackEncoder.MaxLiteralLength(0, pathAndQuery.Length)));

        foreach (KeyValuePair<string, HeaderStringValues> header in request.Headers.NonValidated)
        {
            string name = header.Key;
            switch (name.Length)
            {
                case 2 when name.Equals("TE", StringComparison.OrdinalIgnoreCase):
                    foreach (string value in header.Value)
                    {
                        if (value.Trim().Equals("trailers", StringComparison.OrdinalIgnoreCase))
                        {
                            pos += HPackEncoder.WriteLiteralWithoutIndexingNewName("te"u8, "trailers"u8, Reserve(ref buffer, pos, HPackEncoder.MaxLiteralLength(2, 8)));
                            break;
                        }
                    }

                    continue;
                case 4 when name.Equals("Host", StringComparison.OrdinalIgnoreCase):
                case 7 when name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase):
                case 10 when name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase):
                case 16 when name.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase):
                case 17 when name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase):
                    continue;
                case 6 when name.Equals("Expect", StringComparison.OrdinalIgnoreCase):
                    return false;
            }

            if (!WriteField(ref buffer, ref pos, name, header.Value))
            {
                return false;
            }
        }

        if (request.Content is { } content)
        {
            bool hasLength = false;
            foreach (KeyValuePair<string, HeaderStringValues> header in content.Headers.NonValidated)
            {
                hasLength |= header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase);
                if (!WriteField(ref buffer, ref pos, header.Key, header.Value))
                {
                    return false;
                }
            }

            if (!hasLength && content.Headers.ContentLength is long computed)
            {
                // a content that knows its length (not YARP's streamed body, whose length comes as a copied header)
                string value = computed.ToString(CultureInfo.InvariantCulture);
                pos += HPackEncoder.WriteLiteralWithoutIndexing(HPackStaticTable.NameIndex("content-length"), value, Reserve(ref buffer, pos, HPackEncoder.MaxLiteralLength(0, value.Length)));
            }
        }

        length = pos;
        return true;
    }

    /// <summary>One field per value; the name lower-cased, by static index when the table has it.</summary>
    private static bool WriteField(ref byte[] buffer, ref int pos, string name, HeaderStringValues values)
    {
        if (name.Length == 0 || name.Length > MaxNameLength || name.AsSpan().ContainsAnyExcept(LeanHttp1RequestWriter.TokenChars))
        {
            return false;
        }

        Span<char> lower = stackalloc char[name.Length];
        System.Text.Ascii.ToLower(name, lower, out _);
        int index = HPackStaticTable.NameIndex(lower);
        foreach (string value in values)
        {
            ReadOnlySpan<char> span = value;
            if (span.IndexOfAny('\r', '\n', '\0') >= 0 || span.ContainsAnyExceptInRange('\0', '\u00ff'))
            {
                return false;
            }

            Span<byte> destination = Reserve(ref buffer, pos, HPackEncoder.MaxLiteralLength(index > 0 ? 0 : name.Length, span.Length));
            pos += index > 0
                ? HPackEncoder.WriteLiteralWithoutIndexing(index, span, destination)
                : HPackEncoder.WriteLiteralWithoutIndexingLowerCasedName(name, span, destination);
        }

        return true;
    }

    /// <summary>The buffer from <paramref name="pos"/> with at least <paramref name="count"/> bytes.</summary>
    private static Span<byte> Reserve(ref byte[] buffer, int pos, int count)
    {
        LeanHttp1RequestWriter.Reserve(ref buffer, pos, count);
        return buffer.AsSpan(pos);
    }
}
