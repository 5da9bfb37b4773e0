namespace BelizeMesh.Proxy.Configuration;

/// <summary>
/// <c>spec.inbound.appProtocol</c> / <c>spec.inbound.apps[].appProtocol</c>: the protocol the inbound speaks to the
/// local app, as Istio picks it from the Service port's <c>appProtocol</c> or name prefix.
/// </summary>
public enum AppProtocol
{
    /// <summary><c>http</c> (default): HTTP/1.1 to the app.</summary>
    Http,

    /// <summary><c>http2</c>: HTTP/2 with prior knowledge (cleartext h2c) to the app.</summary>
    Http2,

    /// <summary><c>grpc</c>: a gRPC server; HTTP/2 with prior knowledge to the app.</summary>
    Grpc,

    /// <summary><c>h2c</c>: HTTP/2 with prior knowledge to the app.</summary>
    H2c,
}

/// <summary>Helpers for <see cref="AppProtocol"/>.</summary>
public static class AppProtocols
{
    /// <summary>True when the app is reached with HTTP/2 prior knowledge.</summary>
    public static bool IsHttp2(this AppProtocol protocol) => protocol != AppProtocol.Http;
}
