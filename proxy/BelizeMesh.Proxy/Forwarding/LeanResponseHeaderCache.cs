using System.Net.Http;
using System.Text;

namespace BelizeMesh.Proxy.Forwarding;

/// <summary>
/// Turns a response header's bytes into the strings an <see cref="HttpResponseMessage"/> holds, reusing the strings of
/// the same position in the previous response on the connection when the bytes are equal: consecutive responses from one
/// upstream mostly repeat their headers, so most responses allocate no header string. One per connection; used only by
/// the code that parses that connection's responses (one at a time), so it takes no lock.
/// </summary>
internal sealed class LeanResponseHeaderCache
{
    /// <summary>How many header positions are remembered.</summary>
    public const int Size = 32;

    private readonly string?[] _names = new string?[Size];
    private readonly string?[] _values = new string?[Size];

    /// <summary>Adds the header at position <paramref name="index"/> of a response head to <paramref name="response"/>'s
    /// headers, or to its content's headers when it is a content header (or the response headers refuse it).</summary>
    public void Add(HttpResponseMessage response, int index, ReadOnlySpan<byte> nameBytes, ReadOnlySpan<byte> valueBytes)
    {
        string name;
        string value;
        bool isContent;
        if (index < Size && _names[index] is { } cachedName && Ascii.EqualsIgnoreCase(nameBytes, cachedName))
        {
            name = cachedName;
            value = _values[index] is { } cachedValue && Ascii.Equals(valueBytes, cachedValue) ? cachedValue : Latin1(valueBytes);
            isContent = LeanHttp1HeaderNames.IsContentHeader(name);
        }
        else
        {
            name = LeanHttp1HeaderNames.Get(nameBytes, out isContent);
            value = Latin1(valueBytes);
        }

        if (index < Size)
        {
            _names[index] = name;
            _values[index] = value;
        }

        if (isContent || !response.Headers.TryAddWithoutValidation(name, value))
        {
            response.Content.Headers.TryAddWithoutValidation(name, value);
        }
    }

    /// <summary>Bytes as Latin-1 text (HTTP field values are octets; Latin-1 keeps every one).</summary>
    public static string Latin1(ReadOnlySpan<byte> bytes) => bytes.IsEmpty ? string.Empty : Encoding.Latin1.GetString(bytes);
}
