using System.Buffers;
using System.Collections;
using System.IO.Pipelines;
using System.Net;
using BelizeMesh.Proxy.Forwarding.Http2;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace BelizeMesh.Proxy.Inbound.Http2Server;

/// <summary>
/// The request's feature collection is the stream itself: the features below are fields (returned without a lookup, and
/// replaceable with <see cref="Set{TFeature}"/>, as <c>Metrics/BodyCounter</c> replaces the response body), any other
/// type set during the request goes to a small list, and a type never set falls back to the connection's features (the
/// PQ channel's peer, the listener's role). <see cref="IHttpUpgradeFeature"/> is not offered (no upgrade in HTTP/2);
/// <see cref="IHttpExtendedConnectFeature"/> only on an extended CONNECT request, when the options allow them.
/// </summary>
internal sealed partial class LeanHttp2ServerStream
    : IFeatureCollection,
      IHttpRequestFeature,
      IHttpRequestBodyDetectionFeature,
      IHttpResponseFeature,
      IHttpResponseBodyFeature,
      IHttpResponseTrailersFeature,
      IHttpRequestTrailersFeature,
      IHttpRequestLifetimeFeature,
      IHttpResetFeature,
      IHttpConnectionFeature,
      IHttpRequestIdentifierFeature,
      IHttpMaxRequestBodySizeFeature,
      IHttpExtendedConnectFeature
{
    private int _revision;
    private object? _requestFeature;
    private object? _bodyDetectionFeature;
    private object? _responseFeature;
    private object? _responseBodyFeature;
    private object? _responseTrailersFeature;
    private object? _requestTrailersFeature;
    private object? _lifetimeFeature;
    private object? _resetFeature;
    private object? _connectionFeature;
    private object? _identifierFeature;
    private object? _maxBodySizeFeature;
    private object? _extendedConnectFeature;
    private string? _connectProtocol;
    private List<KeyValuePair<Type, object>>? _extra;

    // IHttpRequestFeature
    private string _method = HttpMethods.Get;
    private string _scheme = "http";
    private string _path = "/";
    private string _pathBase = string.Empty;
    private string _queryString = string.Empty;
    private string _rawTarget = "/";
    private string _protocol = "HTTP/2";
    private IHeaderDictionary _requestHeadersCurrent = null!;
    private Stream _requestBodyCurrent = null!;
    private bool _canHaveBody;

    // IHttpResponseFeature
    private int _statusCode = StatusCodes.Status200OK;
    private string? _reasonPhrase;
    private IHeaderDictionary _responseHeadersCurrent = null!;
    private Stream? _responseBodyOverride;
    private IHeaderDictionary? _responseTrailersCurrent;

    // the rest
    private bool _trailersAvailable;
    private long? _maxRequestBodySize;
    private bool _bodyStarted;
    private string? _traceIdentifier;
    private string? _connectionId;
    private IPAddress? _remoteIp;
    private IPAddress? _localIp;
    private int _remotePort;
    private int _localPort;

    private void ResetFeatures()
    {
        _revision++;
        _requestFeature = _bodyDetectionFeature = _responseFeature = _responseBodyFeature = _responseTrailersFeature = this;
        _requestTrailersFeature = _lifetimeFeature = _resetFeature = _connectionFeature = _identifierFeature = _maxBodySizeFeature = this;
        _extra?.Clear();
        _extendedConnectFeature = null;
        _connectProtocol = null;
        _method = HttpMethods.Get;
        _scheme = "http";
        _path = "/";
        _pathBase = string.Empty;
        _queryString = string.Empty;
        _rawTarget = "/";
        _protocol = "HTTP/2";
        _requestHeadersCurrent = _requestHeaders;
        _requestBodyCurrent = _requestBody;
        _canHaveBody = false;
        _statusCode = StatusCodes.Status200OK;
        _reasonPhrase = null;
        _responseHeadersCurrent = _responseHeaders;
        _responseBodyOverride = null;
        _responseTrailersCurrent = _responseTrailers;
        _trailersAvailable = false;
        _maxRequestBodySize = null;
        _bodyStarted = false;
        _traceIdentifier = null;
        _connectionId = null;
        _remoteIp = _localIp = null;
        _remotePort = _localPort = 0;
    }

    // ---- IFeatureCollection ----

    bool IFeatureCollection.IsReadOnly => false;

    int IFeatureCollection.Revision => _revision;

    object? IFeatureCollection.this[Type key]
    {
        get => GetFeature(key);
        set => SetFeature(key, value);
    }

    public TFeature? Get<TFeature>() => (TFeature?)GetFeature(typeof(TFeature));

    public void Set<TFeature>(TFeature? instance) => SetFeature(typeof(TFeature), instance);

    private object? GetFeature(Type key)
    {
        if (key == typeof(IHttpRequestFeature))
        {
            return _requestFeature;
        }

        if (key == typeof(IHttpResponseFeature))
        {
            return _responseFeature;
        }

        if (key == typeof(IHttpResponseBodyFeature))
        {
            return _responseBodyFeature;
        }

        if (key == typeof(IHttpRequestBodyDetectionFeature))
        {
            return _bodyDetectionFeature;
        }

        if (key == typeof(IHttpRequestLifetimeFeature))
        {
            return _lifetimeFeature;
        }

        if (key == typeof(IHttpConnectionFeature))
        {
            return _connectionFeature;
        }

        if (key == typeof(IHttpResponseTrailersFeature))
        {
            return _responseTrailersFeature;
        }

        if (key == typeof(IHttpResetFeature))
        {
            return _resetFeature;
        }

        if (key == typeof(IHttpRequestTrailersFeature))
        {
            return _requestTrailersFeature;
        }

        if (key == typeof(IHttpRequestIdentifierFeature))
        {
            return _identifierFeature;
        }

        if (key == typeof(IHttpMaxRequestBodySizeFeature))
        {
            return _maxBodySizeFeature;
        }

        if (_extra is { Count: > 0 } extra)
        {
            foreach (KeyValuePair<Type, object> entry in extra)
            {
                if (entry.Key == key)
                {
                    return entry.Value;
                }
            }
        }

        if (key == typeof(IHttpExtendedConnectFeature))
        {
            return _extendedConnectFeature;
        }

        if (key == typeof(IHttpUpgradeFeature))
        {
            return null;
        }

        return _connection.Context.Features[key];
    }

    private void SetFeature(Type key, object? value)
    {
        _revision++;
        if (key == typeof(IHttpRequestFeature))
        {
            _requestFeature = value;
        }
        else if (key == typeof(IHttpResponseFeature))
        {
            _responseFeature = value;
        }
        else if (key == typeof(IHttpResponseBodyFeature))
        {
            _responseBodyFeature = value;
        }
        else if (key == typeof(IHttpRequestBodyDetectionFeature))
        {
            _bodyDetectionFeature = value;
        }
        else if (key == typeof(IHttpRequestLifetimeFeature))
        {
            _lifetimeFeature = value;
        }
        else if (key == typeof(IHttpConnectionFeature))
        {
            _connectionFeature = value;
        }
        else if (key == typeof(IHttpResponseTrailersFeature))
        {
            _responseTrailersFeature = value;
        }
        else if (key == typeof(IHttpResetFeature))
        {
            _resetFeature = value;
        }
        else if (key == typeof(IHttpRequestTrailersFeature))
        {
            _requestTrailersFeature = value;
        }
        else if (key == typeof(IHttpRequestIdentifierFeature))
        {
            _identifierFeature = value;
        }
        else if (key == typeof(IHttpMaxRequestBodySizeFeature))
        {
            _maxBodySizeFeature = value;
        }
        else if (key == typeof(IHttpExtendedConnectFeature))
        {
            _extendedConnectFeature = value;
        }
        else
        {
            List<KeyValuePair<Type, object>> extra = _extra ??= new List<KeyValuePair<Type, object>>(4);
            for (int i = 0; i < extra.Count; i++)
            {
                if (extra[i].Key == key)
                {
                    if (value is null)
                    {
                        extra.RemoveAt(i);
                    }
                    else
                    {
                        extra[i] = new KeyValuePair<Type, object>(key, value);
                    }

                    return;
                }
            }

            if (value is not null)
            {
                extra.Add(new KeyValuePair<Type, object>(key, value));
            }
        }
    }

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator()
    {
        var seen = new HashSet<Type>();
        foreach (KeyValuePair<Type, object> feature in OwnFeatures())
        {
            seen.Add(feature.Key);
            yield return feature;
        }

        foreach (KeyValuePair<Type, object> feature in _connection.Context.Features)
        {
            if (seen.Add(feature.Key))
            {
                yield return feature;
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private List<KeyValuePair<Type, object>> OwnFeatures()
    {
        var features = new List<KeyValuePair<Type, object>>();
        Add(typeof(IHttpRequestFeature), _requestFeature);
        Add(typeof(IHttpResponseFeature), _responseFeature);
        Add(typeof(IHttpResponseBodyFeature), _responseBodyFeature);
        Add(typeof(IHttpRequestBodyDetectionFeature), _bodyDetectionFeature);
        Add(typeof(IHttpRequestLifetimeFeature), _lifetimeFeature);
        Add(typeof(IHttpConnectionFeature), _connectionFeature);
        Add(typeof(IHttpResponseTrailersFeature), _responseTrailersFeature);
        Add(typeof(IHttpResetFeature), _resetFeature);
        Add(typeof(IHttpRequestTrailersFeature), _requestTrailersFeature);
        Add(typeof(IHttpRequestIdentifierFeature), _identifierFeature);
        Add(typeof(IHttpMaxRequestBodySizeFeature), _maxBodySizeFeature);
        Add(typeof(IHttpExtendedConnectFeature), _extendedConnectFeature);
        if (_extra is not null)
        {
            features.AddRange(_extra);
        }

        return features;

        void Add(Type type, object? value)
        {
            if (value is not null)
            {
                features.Add(new KeyValuePair<Type, object>(type, value));
            }
        }
    }

    // ---- IHttpRequestFeature ----

    string IHttpRequestFeature.Protocol { get => _protocol; set => _protocol = value; }

    string IHttpRequestFeature.Scheme { get => _scheme; set => _scheme = value; }

    string IHttpRequestFeature.Method { get => _method; set => _method = value; }

    string IHttpRequestFeature.PathBase { get => _pathBase; set => _pathBase = value; }

    string IHttpRequestFeature.Path { get => _path; set => _path = value; }

    string IHttpRequestFeature.QueryString { get => _queryString; set => _queryString = value; }

    string IHttpRequestFeature.RawTarget { get => _rawTarget; set => _rawTarget = value; }

    IHeaderDictionary IHttpRequestFeature.Headers { get => _requestHeadersCurrent; set => _requestHeadersCurrent = value; }

    Stream IHttpRequestFeature.Body { get => _requestBodyCurrent; set => _requestBodyCurrent = value; }

    // ---- IHttpRequestBodyDetectionFeature ----

    bool IHttpRequestBodyDetectionFeature.CanHaveBody => _canHaveBody;

    // ---- IHttpResponseFeature ----

    int IHttpResponseFeature.StatusCode
    {
        get => _statusCode;
        set
        {
            if (_hasStarted)
            {
                throw new InvalidOperationException("StatusCode cannot be set because the response has already started.");
            }

            _statusCode = value;
        }
    }

    string? IHttpResponseFeature.ReasonPhrase
    {
        get => _reasonPhrase;
        set
        {
            if (_hasStarted)
            {
                throw new InvalidOperationException("ReasonPhrase cannot be set because the response has already started.");
            }

            _reasonPhrase = value; // HTTP/2 has no reason phrase: kept for the application, never sent
        }
    }

    IHeaderDictionary IHttpResponseFeature.Headers { get => _responseHeadersCurrent; set => _responseHeadersCurrent = value; }

    [Obsolete("Use IHttpResponseBodyFeature.Stream.")]
    Stream IHttpResponseFeature.Body { get => _responseBodyOverride ?? _responseBody; set => _responseBodyOverride = value; }

    bool IHttpResponseFeature.HasStarted => _hasStarted;

    void IHttpResponseFeature.OnStarting(Func<object, Task> callback, object state)
    {
        if (_hasStarted)
        {
            throw new InvalidOperationException("OnStarting cannot be registered because the response has already started.");
        }

        (_onStarting ??= []).Add(new KeyValuePair<Func<object, Task>, object>(callback, state));
    }

    void IHttpResponseFeature.OnCompleted(Func<object, Task> callback, object state)
        => (_onCompleted ??= []).Add(new KeyValuePair<Func<object, Task>, object>(callback, state));

    // ---- IHttpResponseBodyFeature ----

    Stream IHttpResponseBodyFeature.Stream => _responseBody;

    PipeWriter IHttpResponseBodyFeature.Writer => _writer ??= PipeWriter.Create(_responseBody, s_writerOptions);

    void IHttpResponseBodyFeature.DisableBuffering()
    {
        // nothing is buffered beyond the connection's output, which every write flushes
    }

    Task IHttpResponseBodyFeature.StartAsync(CancellationToken cancellationToken) => FlushBodyAsync();

    async Task IHttpResponseBodyFeature.SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0, useAsync: true);
        await using (file.ConfigureAwait(false))
        {
            file.Seek(offset, SeekOrigin.Begin);
            long left = count ?? (file.Length - offset);
            byte[] buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
            try
            {
                while (left > 0)
                {
                    int read = await file.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, left)), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        throw new EndOfStreamException($"The file '{path}' ended before {count} bytes from {offset}.");
                    }

                    await WriteBodyAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    left -= read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    Task IHttpResponseBodyFeature.CompleteAsync() => EndResponseAsync(null);

    // ---- trailers ----

    IHeaderDictionary IHttpResponseTrailersFeature.Trailers
    {
        get => _responseTrailersCurrent ??= _responseTrailers;
        set => _responseTrailersCurrent = value;
    }

    bool IHttpRequestTrailersFeature.Available => _trailersAvailable;

    IHeaderDictionary IHttpRequestTrailersFeature.Trailers
        => _trailersAvailable || _requestEnded
            ? _requestTrailers
            : throw new InvalidOperationException("The request trailers are not available yet: the request body has not been read to its end.");

    // ---- lifetime and reset ----

    CancellationToken IHttpRequestLifetimeFeature.RequestAborted
    {
        get => _aborted.Token;
        set => throw new NotSupportedException("RequestAborted is the stream's own token.");
    }

    void IHttpRequestLifetimeFeature.Abort() => Reset(Http2ErrorCode.InternalError);

    void IHttpResetFeature.Reset(int errorCode) => Reset((Http2ErrorCode)(uint)errorCode);

    private void Reset(Http2ErrorCode code)
    {
        lock (Sync)
        {
            ResetLocal(code);
            CheckClosed();
        }

        _ = _connection.FlushAsync();
    }

    // ---- extended CONNECT (RFC 8441) ----

    bool IHttpExtendedConnectFeature.IsExtendedConnect => _connectProtocol is not null;

    string? IHttpExtendedConnectFeature.Protocol => _connectProtocol;

    async ValueTask<Stream> IHttpExtendedConnectFeature.AcceptAsync()
    {
        if (_connectProtocol is null)
        {
            throw new InvalidOperationException("The request is not an extended CONNECT.");
        }

        if (!_hasStarted)
        {
            _statusCode = StatusCodes.Status200OK;
        }

        await FlushBodyAsync().ConfigureAwait(false);
        return new LeanHttp2TunnelStream(this);
    }

    // ---- connection, identifier, body size ----

    string IHttpConnectionFeature.ConnectionId
    {
        get => _connectionId ??= _connection.Context.ConnectionId;
        set => _connectionId = value;
    }

    IPAddress? IHttpConnectionFeature.RemoteIpAddress { get => _remoteIp; set => _remoteIp = value; }

    IPAddress? IHttpConnectionFeature.LocalIpAddress { get => _localIp; set => _localIp = value; }

    int IHttpConnectionFeature.RemotePort { get => _remotePort; set => _remotePort = value; }

    int IHttpConnectionFeature.LocalPort { get => _localPort; set => _localPort = value; }

    string IHttpRequestIdentifierFeature.TraceIdentifier
    {
        get => _traceIdentifier ??= string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{_connection.Context.ConnectionId}:{Id:X8}");
        set => _traceIdentifier = value;
    }

    bool IHttpMaxRequestBodySizeFeature.IsReadOnly => _bodyStarted;

    long? IHttpMaxRequestBodySizeFeature.MaxRequestBodySize
    {
        get => _maxRequestBodySize;
        set
        {
            if (_bodyStarted)
            {
                throw new InvalidOperationException("The maximum request body size cannot be changed after the body was read.");
            }

            ArgumentOutOfRangeException.ThrowIfNegative(value ?? 0, nameof(value));
            _maxRequestBodySize = value;
        }
    }
}
