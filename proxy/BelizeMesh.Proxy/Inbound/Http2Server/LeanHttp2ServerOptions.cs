namespace BelizeMesh.Proxy.Inbound.Http2Server;

/// <summary>Limits of the lean HTTP/2 server (<see cref="LeanHttp2Server"/>); the defaults are Kestrel's.</summary>
internal sealed class LeanHttp2ServerOptions
{
    /// <summary>SETTINGS_MAX_CONCURRENT_STREAMS: a stream opened above it is refused (RST_STREAM REFUSED_STREAM).</summary>
    public int MaxConcurrentStreams { get; init; } = 100;

    /// <summary>Our receive window per stream (request bodies), SETTINGS_INITIAL_WINDOW_SIZE.</summary>
    public int InitialStreamWindowSize { get; init; } = 768 * 1024;

    /// <summary>Our receive window for the whole connection (at least 65,535, the initial window RFC 9113 fixes).</summary>
    public int InitialConnectionWindowSize { get; init; } = 1024 * 1024;

    /// <summary>The largest decoded request header list (names + values + 32 per field, RFC 9113 §6.5.2), advertised as
    /// SETTINGS_MAX_HEADER_LIST_SIZE. A request over it is answered 431 without running the application; a raw header
    /// block over twice this ends the connection (ENHANCE_YOUR_CALM).</summary>
    public int MaxHeaderListSize { get; init; } = 32 * 1024;

    /// <summary>No open stream for this long: GOAWAY NO_ERROR and close. <see cref="Timeout.InfiniteTimeSpan"/>: never.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(130);

    /// <summary>The preface and first SETTINGS, and a header block once started (HEADERS without END_HEADERS), must
    /// complete within this. <see cref="Timeout.InfiniteTimeSpan"/>: no limit.</summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Extended CONNECT (RFC 8441: WebSockets over HTTP/2): advertise SETTINGS_ENABLE_CONNECT_PROTOCOL and accept
    /// <c>:protocol</c>, offering <see cref="Microsoft.AspNetCore.Http.Features.IHttpExtendedConnectFeature"/>. Off: a
    /// <c>:protocol</c> pseudo-header makes the request malformed (RST_STREAM PROTOCOL_ERROR). The sidecar turns it on:
    /// WebSockets cross the PQ channel as extended CONNECTs.</summary>
    public bool EnableExtendedConnect { get; init; }

    /// <summary>Throws when a value cannot work (at start-up, not on the first connection).</summary>
    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentStreams, 1, nameof(MaxConcurrentStreams));
        ArgumentOutOfRangeException.ThrowIfLessThan(InitialStreamWindowSize, 1, nameof(InitialStreamWindowSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(InitialConnectionWindowSize, 65_535, nameof(InitialConnectionWindowSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxHeaderListSize, 1024, nameof(MaxHeaderListSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxHeaderListSize, 1024 * 1024, nameof(MaxHeaderListSize));
        if (KeepAliveTimeout <= TimeSpan.Zero && KeepAliveTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(KeepAliveTimeout), KeepAliveTimeout, "The keep-alive timeout must be positive or infinite.");
        }

        if (RequestHeadersTimeout <= TimeSpan.Zero && RequestHeadersTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(RequestHeadersTimeout), RequestHeadersTimeout, "The request headers timeout must be positive or infinite.");
        }
    }
}
