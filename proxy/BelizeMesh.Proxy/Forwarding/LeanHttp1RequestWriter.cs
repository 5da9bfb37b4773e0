using System.Buffers;
using System.Buffers.Text;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>How a request's body is framed on the wire.</summary>
internal enum LeanBodyFraming : byte
{
    None,
    ContentLength,
    Chunked,
}

/// <summary>What <see cref="LeanHttp1RequestWriter"/> learned while writing a request head.</summary>
internal readonly record struct LeanRequestHead(int Length, LeanBodyFraming Framing, long ContentLength, bool ConnectionClose, bool IsHead);

/// <summary>
/// Writes an HTTP/1.1 request head from an <see cref="HttpRequestMessage"/>'s headers (as YARP copied them, not
/// re-validated) straight into a byte buffer, or declines a request the lean client does not take.
/// </summary>
internal static class LeanHttp1RequestWriter
{
    /// <summary>The characters of an HTTP token (RFC 9110 §5.6.2): method and field names. Shared with the HTTP/2 writer.</summary>
    internal static readonly SearchValues<char> TokenChars = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary>Writes the head into <paramref name="buffer"/> (rented from <see cref="ArrayPool{T}.Shared"/>; replaced by a
    /// larger rented one when it does not fit). False: the request is not one the lean client takes (nothing to undo).</summary>
    public static bool TryWrite(HttpRequestMessage request, byte[] hostLine, ref byte[] buffer, out LeanRequestHead head)
    {
        head = default;
        int pos = 0;
        string method = request.Method.Method;
        string pathAndQuery = request.RequestUri!.PathAndQuery;
        if (pathAndQuery.Length == 0 || pathAndQuery.AsSpan().ContainsAnyExceptInRange('!', '~') || method.AsSpan().ContainsAnyExcept(TokenChars))
        {
            return false;
        }

        WriteAscii(ref buffer, ref pos, method);
        WriteByte(ref buffer, ref pos, (byte)' ');
        WriteAscii(ref buffer, ref pos, pathAndQuery);
        WriteBytes(ref buffer, ref pos, " HTTP/1.1\r\n"u8);

        bool hasHost = false;
        bool chunkedHeader = false;
        bool connectionClose = false;
        long contentLength = -1;
        foreach (KeyValuePair<string, HeaderStringValues> header in request.Headers.NonValidated)
        {
            string name = header.Key;
            switch (name.Length)
            {
                case 4 when name.Equals("Host", StringComparison.OrdinalIgnoreCase):
                    if (header.Value.Count != 1)
                    {
                        return false;
                    }

                    hasHost = true;
                    break;
                case 6 when name.Equals("Expect", StringComparison.OrdinalIgnoreCase):
                case 7 when name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase):
                    return false;
                case 10 when name.Equals("Connection", StringComparison.OrdinalIgnoreCase):
                    foreach (string value in header.Value)
                    {
                        if (value.Contains("upgrade", StringComparison.OrdinalIgnoreCase))
                        {
                            return false;
                        }

                        connectionClose |= value.Contains("close", StringComparison.OrdinalIgnoreCase);
                    }

                    break;
                case 17 when name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase):
                    if (header.Value.Count != 1 || !header.Value.ToString().Trim().Equals("chunked", StringComparison.OrdinalIgnoreCase))
                    {
                        return false;
                    }

                    chunkedHeader = true;
                    break;
            }

            if (!WriteHeader(ref buffer, ref pos, name, header.Value))
            {
                return false;
            }
        }

        if (!hasHost)
        {
            WriteBytes(ref buffer, ref pos, hostLine);
        }

        HttpContent? content = request.Content;
        LeanBodyFraming framing = LeanBodyFraming.None;
        if (content is null)
        {
            if (chunkedHeader)
            {
                return false;
            }

            if (MustHaveRequestBody(request.Method))
            {
                WriteBytes(ref buffer, ref pos, "Content-Length: 0\r\n"u8);
            }

            contentLength = 0;
        }
        else
        {
            foreach (KeyValuePair<string, HeaderStringValues> header in content.Headers.NonValidated)
            {
                string name = header.Key;
                if (name.Length == 14 && name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    if (header.Value.Count != 1 || !TryParseLength(header.Value.ToString(), out contentLength))
                    {
                        return false;
                    }
                }

                if (!WriteHeader(ref buffer, ref pos, name, header.Value))
                {
                    return false;
                }
            }

            if (contentLength >= 0)
            {
                if (chunkedHeader)
                {
                    return false; // both framings: let SocketsHttpHandler decide
                }

                framing = LeanBodyFraming.ContentLength;
            }
            else if (chunkedHeader)
            {
                framing = LeanBodyFraming.Chunked;
            }
            else if (content.Headers.ContentLength is long computed)
            {
                // a content that knows its length (not YARP's streamed body, whose length comes as a copied header)
                contentLength = computed;
                framing = LeanBodyFraming.ContentLength;
                WriteBytes(ref buffer, ref pos, "Content-Length: "u8);
                Reserve(ref buffer, pos, 20);
                Utf8Formatter.TryFormat(computed, buffer.AsSpan(pos), out int written);
                pos += written;
                WriteBytes(ref buffer, ref pos, "\r\n"u8);
            }
            else
            {
                framing = LeanBodyFraming.Chunked;
                WriteBytes(ref buffer, ref pos, "Transfer-Encoding: chunked\r\n"u8);
            }
        }

        WriteBytes(ref buffer, ref pos, "\r\n"u8);
        bool isHead = ReferenceEquals(request.Method, HttpMethod.Head) || method.Equals("HEAD", StringComparison.OrdinalIgnoreCase);
        head = new LeanRequestHead(pos, framing, contentLength, connectionClose, isHead);
        return true;
    }

    /// <summary>SocketsHttpHandler's rule: a request without content still says <c>Content-Length: 0</c> unless its
    /// method has no body by definition.</summary>
    private static bool MustHaveRequestBody(HttpMethod method)
    {
        if (ReferenceEquals(method, HttpMethod.Get) || ReferenceEquals(method, HttpMethod.Head) || ReferenceEquals(method, HttpMethod.Options) || ReferenceEquals(method, HttpMethod.Delete))
        {
            return false;
        }

        string m = method.Method;
        return !(m.Equals("GET", StringComparison.OrdinalIgnoreCase) || m.Equals("HEAD", StringComparison.OrdinalIgnoreCase)
            || m.Equals("OPTIONS", StringComparison.OrdinalIgnoreCase) || m.Equals("DELETE", StringComparison.OrdinalIgnoreCase));
    }

    private static bool TryParseLength(string value, out long length)
    {
        ReadOnlySpan<char> span = value.AsSpan().Trim();
        length = -1;
        if (span.IsEmpty || span.Length > 18 || span.ContainsAnyExceptInRange('0', '9'))
        {
            return false;
        }

        long result = 0;
        foreach (char c in span)
        {
            result = (result * 10) + (c - '0');
        }

        length = result;
        return true;
    }

    private static bool WriteHeader(ref byte[] buffer, ref int pos, string name, HeaderStringValues values)
    {
        if (name.Length == 0 || name.AsSpan().ContainsAnyExcept(TokenChars))
        {
            return false;
        }

        WriteAscii(ref buffer, ref pos, name);
        WriteBytes(ref buffer, ref pos, ": "u8);
        bool first = true;
        ReadOnlySpan<byte> separator = name.Equals("Cookie", StringComparison.OrdinalIgnoreCase) ? "; "u8 : ", "u8;
        foreach (string value in values)
        {
            if (!first)
            {
                WriteBytes(ref buffer, ref pos, separator);
            }

            first = false;
            ReadOnlySpan<char> span = value;
            if (span.IndexOfAny('\r', '\n', '\0') >= 0 || span.ContainsAnyExceptInRange('\0', '\u00ff'))
            {
                return false;
            }

            Reserve(ref buffer, pos, span.Length);
            pos += Encoding.Latin1.GetBytes(span, buffer.AsSpan(pos));
        }

        WriteBytes(ref buffer, ref pos, "\r\n"u8);
        return true;
    }

    private static void WriteAscii(ref byte[] buffer, ref int pos, string value)
    {
        Reserve(ref buffer, pos, value.Length);
        pos += Encoding.Latin1.GetBytes(value, buffer.AsSpan(pos));
    }

    private static void WriteBytes(ref byte[] buffer, ref int pos, ReadOnlySpan<byte> bytes)
    {
        Reserve(ref buffer, pos, bytes.Length);
        bytes.CopyTo(buffer.AsSpan(pos));
        pos += bytes.Length;
    }

    private static void WriteByte(ref byte[] buffer, ref int pos, byte value)
    {
        Reserve(ref buffer, pos, 1);
        buffer[pos++] = value;
    }

    /// <summary>Makes room for <paramref name="count"/> bytes after the first <paramref name="pos"/> of a buffer rented from
    /// <see cref="ArrayPool{T}.Shared"/>: a larger rented one replaces it (the old one returned) when it does not fit.
    /// Shared with the HTTP/2 writer and connection.</summary>
    internal static void Reserve(ref byte[] buffer, int pos, int count)
    {
        if (buffer.Length - pos >= count)
        {
            return;
        }

        byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(buffer.Length * 2, pos + count));
        buffer.AsSpan(0, pos).CopyTo(larger);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        buffer = larger;
    }
}
