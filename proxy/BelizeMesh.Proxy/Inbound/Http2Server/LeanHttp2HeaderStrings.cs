using System.Buffers;
using System.Text;
using BelizeMesh.Proxy.Forwarding;
using BelizeMesh.Proxy.Forwarding.Http2;
using Microsoft.AspNetCore.Http;

namespace BelizeMesh.Proxy.Inbound.Http2Server;

/// <summary>
/// Strings for the decoded request fields of one connection without allocating the ones seen before: names from the
/// HPACK static table and a list of common names are interned; a value equal to the one at the same position of the
/// previous request on the connection (the same client sends much the same headers each time) is reused.
/// </summary>
internal sealed class LeanHttp2HeaderStrings
{
    private const int Positions = 32;

    /// <summary>The bytes of a lower-case field name (RFC 9110 token characters without A-Z).</summary>
    internal static readonly SearchValues<byte> LowerCaseTokenBytes = SearchValues.Create("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"u8);

    private static readonly string[] s_staticNames = CreateStaticNames();

    private static readonly string[] s_commonNames =
    [
        "traceparent", "tracestate", "baggage", "x-request-id", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
        "x-envoy-peer-metadata", "x-envoy-peer-metadata-id", "x-envoy-attempt-count", "x-b3-traceid", "x-b3-spanid",
        "x-b3-parentspanid", "x-b3-sampled", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "te", "origin",
        "pragma", "x-real-ip", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol", "sec-websocket-extensions",
    ];

    private readonly string?[] _names = new string?[Positions];
    private readonly string?[] _values = new string?[Positions];
    private string? _authority;
    private string? _path;

    /// <summary>The name of a field; <paramref name="staticIndex"/> is the HPACK static entry of its name, or 0.</summary>
    public string Name(int staticIndex, int position, ReadOnlySpan<byte> name)
    {
        if (staticIndex > 0)
        {
            return s_staticNames[staticIndex];
        }

        if (position < Positions && _names[position] is { } cached && Ascii.Equals(name, cached))
        {
            return cached;
        }

        string result = Common(name) ?? Encoding.ASCII.GetString(name);
        if (position < Positions)
        {
            _names[position] = result;
        }

        return result;
    }

    /// <summary>The value of the field at <paramref name="position"/> (Latin-1: HTTP field values are octets).</summary>
    public string Value(int position, ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty)
        {
            return string.Empty;
        }

        if (position < Positions && _values[position] is { } cached && Ascii.Equals(value, cached))
        {
            return cached;
        }

        string result = LeanResponseHeaderCache.Latin1(value);
        if (position < Positions)
        {
            _values[position] = result;
        }

        return result;
    }

    public static string Method(ReadOnlySpan<byte> value) => value.Length switch
    {
        3 when value.SequenceEqual("GET"u8) => HttpMethods.Get,
        3 when value.SequenceEqual("PUT"u8) => HttpMethods.Put,
        4 when value.SequenceEqual("POST"u8) => HttpMethods.Post,
        4 when value.SequenceEqual("HEAD"u8) => HttpMethods.Head,
        5 when value.SequenceEqual("PATCH"u8) => HttpMethods.Patch,
        5 when value.SequenceEqual("TRACE"u8) => HttpMethods.Trace,
        6 when value.SequenceEqual("DELETE"u8) => HttpMethods.Delete,
        7 when value.SequenceEqual("OPTIONS"u8) => HttpMethods.Options,
        7 when value.SequenceEqual("CONNECT"u8) => HttpMethods.Connect,
        _ => Encoding.ASCII.GetString(value),
    };

    public static string Scheme(ReadOnlySpan<byte> value)
        => value.SequenceEqual("http"u8) ? "http" : value.SequenceEqual("https"u8) ? "https" : Encoding.ASCII.GetString(value);

    public string Authority(ReadOnlySpan<byte> value)
        => _authority is { } cached && Ascii.Equals(value, cached) ? cached : (_authority = Encoding.ASCII.GetString(value));

    public string Path(ReadOnlySpan<byte> value)
        => _path is { } cached && Ascii.Equals(value, cached) ? cached : (_path = Encoding.ASCII.GetString(value));

    private static string? Common(ReadOnlySpan<byte> name)
    {
        foreach (string known in s_commonNames)
        {
            if (known.Length == name.Length && Ascii.Equals(name, known))
            {
                return known;
            }
        }

        return null;
    }

    private static string[] CreateStaticNames()
    {
        var names = new string[HPackStaticTable.Count + 1];
        names[0] = "";
        for (int i = 1; i <= HPackStaticTable.Count; i++)
        {
            names[i] = Encoding.ASCII.GetString(HPackStaticTable.Name(i));
        }

        return names;
    }
}
